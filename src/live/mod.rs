//! Live cameras: what runs beside the engine while cameras stream. [`segments`] is the
//! on-disk layout of a camera's recording (segments, index, holds, crash recovery) and
//! [`retention`] prunes it by age and free space.

pub mod retention;
pub mod segments;

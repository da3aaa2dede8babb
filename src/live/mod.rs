//! Live cameras: configuration ([`config`]), the camera runner that feeds each RTSP camera
//! through the engine to the restream and the recorder ([`camera`]), the on-disk layout of a
//! recording ([`segments`]: segments, index, holds, crash recovery), retention by age and free
//! space ([`retention`]), Prometheus metrics with health ([`metrics`]), and a log line when a
//! camera falls behind ([`lag`]). The `veilcam live` command itself: [`commands`].

pub mod camera;
pub mod commands;
pub mod config;
pub mod lag;
pub mod metrics;
pub mod retention;
pub mod segments;

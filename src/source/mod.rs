//! Sources: where frames come from. A source yields decoded I420 [`Frame`]s in stream order
//! with their original timestamps, and ends with `Ok(None)` only at a clean end of stream.

pub mod file;
pub mod integrity;
pub mod realtime;
pub mod rtsp;

pub use integrity::{Damage, Gap};

use crate::error::Result;
use crate::frame::Frame;

/// Something that yields frames one by one.
pub trait FrameSource: Send {
    /// The next frame, `Ok(None)` at a clean end of stream, or the error that ended decoding.
    fn next_frame(&mut self) -> Result<Option<Frame>>;
}

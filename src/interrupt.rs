//! Interruption by a signal, handled on the same path as any other error.
//!
//! The signal handler only raises a flag ([`request`]). Every stage that waits — the decoder's
//! pull loop, the detection hand-off, the encoder's queue, the file commit — looks at the flag
//! ([`check`]) and unwinds with [`Error::Interrupted`]; the temp files are removed by the same
//! drop handlers as after a failure, and `main` exits with code 130 once every thread has
//! stopped. Nothing is removed from under a thread that is still writing, and no exit runs
//! while GStreamer or ONNX Runtime are mid-call.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Asks every running stage to stop. Called from the signal handler.
pub fn request() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// `Err(Error::Interrupted)` once a stop was asked for.
pub fn check() -> Result<()> {
    if requested() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}

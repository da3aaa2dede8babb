//! Interruption by a signal, handled on the same path as any other error.
//!
//! The signal handler only raises a flag ([`request`]). Every stage that waits — the decoder's
//! pull loop, the detection hand-off, the encoder's queue, the file commit — looks at the flag
//! ([`check`]) and unwinds with [`Error::Interrupted`]; the temp files are removed by the same
//! drop handlers as after a failure, and `main` exits with code 130 once every thread has
//! stopped. Nothing is removed from under a thread that is still writing, and no exit runs
//! while GStreamer or ONNX Runtime are mid-call.
//!
//! The signals are handled, and the process ended when the stages do not unwind in time, by
//! [`crate::process::stop_on_signal`].

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

/// Locks a list of unfinished outputs (temp files, staging directories, holds) to change it
/// with the disk, taking a list poisoned by a panic as it is: it must still be cleaned up.
pub fn lock_list<T>(list: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    list.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long the process, ending at once after a second signal, waits for a thread to finish
/// changing a list of unfinished things (one file or marker rewrite: milliseconds).
const LIST_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Locks a list of unfinished outputs as the process ends at once: waits at most
/// `LIST_WAIT` for the thread changing it, so a thread stuck with the lock cannot keep the
/// process from ending (`None` then), and takes a list poisoned by a panic as it is.
pub fn lock_when_ending<T>(list: &std::sync::Mutex<T>) -> Option<std::sync::MutexGuard<'_, T>> {
    let deadline = std::time::Instant::now() + LIST_WAIT;
    loop {
        match list.try_lock() {
            Ok(guard) => return Some(guard),
            Err(std::sync::TryLockError::Poisoned(e)) => return Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            Err(std::sync::TryLockError::WouldBlock) => return None,
        }
    }
}

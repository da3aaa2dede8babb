//! What a veilcam process does to itself at start, before any command runs: [`harden`] it (no
//! core dumps, no death by a file-size limit), [`raise_open_file_limit`], and [`stop_on_signal`]
//! (Ctrl-C, SIGTERM and the other [`STOP_SIGNALS`]), after which it exits with [`INTERRUPTED`].
//!
//! It sits beside [`crate::interrupt`], which it uses: the signal thread started here only raises
//! that module's flag ([`crate::interrupt::request`]), and every stage, checking the flag, unwinds
//! like after any error. Only when the stages do not unwind in time, or a second signal comes,
//! does this module end the process itself, removing the unfinished outputs first.

use std::time::Duration;

/// Exit code after Ctrl-C, SIGTERM, SIGHUP or another of [`STOP_SIGNALS`] (128 + SIGINT, as shells
/// report an interrupt).
pub const INTERRUPTED: u8 = 130;
/// How long the stages may take to unwind after a signal before the process is ended anyway.
pub const UNWIND_GRACE: Duration = Duration::from_secs(10);
/// How often a second signal is looked for while the stages unwind.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Signals that end the process unless handled: each asks every stage to stop like Ctrl-C.
/// Ctrl-\ (SIGQUIT) and the user and timer signals would otherwise kill it without cleanup
/// (and SIGQUIT would dump its memory, raw frames included).
pub const STOP_SIGNALS: [i32; 8] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGVTALRM,
];

/// Ctrl-C, SIGTERM, SIGHUP and the other [`STOP_SIGNALS`] ask every stage to stop
/// ([`crate::interrupt`]); the run then unwinds like after any error, its temp files are
/// removed by their owners, and `main` exits with code 130. Should the stages not have unwound
/// after [`UNWIND_GRACE`], or should a second signal come, the unfinished files are removed and
/// the process ends at once.
///
/// One thread, started here, does all of it: no thread need start once a signal has come
/// (found by hostile use: under a memory limit the grace timer's thread could not start, the
/// panic took the signal thread with it, and a run hung in GStreamer ignored every signal).
pub fn stop_on_signal() {
    let handled = STOP_SIGNALS.into_iter().filter(|&signal| !(signal == libc::SIGHUP && inherited_ignored(signal)));
    let mut signals = match signal_hook::iterator::Signals::new(handled) {
        Ok(signals) => signals,
        Err(e) => {
            tracing::warn!("cannot handle interrupt signals ({e}): an interrupted run may leave hidden .part files");
            return;
        }
    };
    let watch = move || {
        if signals.forever().next().is_none() {
            return;
        }
        if crate::interrupt::requested() {
            end_now();
        }
        crate::interrupt::request();
        let deadline = std::time::Instant::now() + UNWIND_GRACE;
        while std::time::Instant::now() < deadline {
            if signals.pending().next().is_some() {
                end_now();
            }
            std::thread::sleep(SIGNAL_POLL);
        }
        end_now();
    };
    if let Err(e) = std::thread::Builder::new().name("veilcam-signals".into()).spawn(watch) {
        tracing::warn!("cannot handle interrupt signals ({e}): an interrupted run may leave hidden .part files");
    }
}

/// Whether `signal` was ignored by the process that started this one: `nohup` ignores SIGHUP so
/// that a run outlives its terminal, and handling it would undo that (found by hostile use: a
/// `nohup veilcam batch` ended at logout).
fn inherited_ignored(signal: i32) -> bool {
    // SAFETY: reads the signal's disposition without changing it (a null new action).
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// What no run may do whatever happens to it: dump its memory, which holds raw frames, in a
/// core file (a crash, or a core handler such as systemd-coredump), or be killed by a file-size
/// limit (SIGXFSZ) instead of failing the write like a full disk, which removes the temp files.
pub fn harden() {
    // SAFETY: plain system calls on this process, with valid arguments.
    unsafe {
        let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::setrlimit(libc::RLIMIT_CORE, &no_core) != 0 || libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 {
            tracing::warn!("cannot turn core dumps off: a crash could write raw frames to disk");
        }
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// The fewest open files a run is let start with: a redaction with a sidecar and a preview
/// holds 27 at its peak.
pub const MIN_OPEN_FILES: u64 = 64;

/// Raises the soft limit on open files to the hard one (GStreamer, ONNX Runtime and the outputs
/// hold many), and refuses to start below [`MIN_OPEN_FILES`] (found by hostile use: under
/// `ulimit -n 24` GStreamer could not make its poll descriptors, wrote a million warnings in 20 s
/// while spinning, and after 5 minutes blamed the encoder).
pub fn raise_open_file_limit() -> Result<(), String> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit on this process, with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Ok(()); // cannot tell: let the run find out
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    if limit.rlim_cur < MIN_OPEN_FILES {
        return Err(format!(
            "the open-file limit is {} (ulimit -n), and veilcam needs at least {MIN_OPEN_FILES}; raise it and run again",
            limit.rlim_cur
        ));
    }
    Ok(())
}

/// Removes the unfinished outputs and ends the process without running exit handlers (other
/// threads may still be inside GStreamer or ONNX Runtime).
fn end_now() -> ! {
    let files = crate::output::remove_pending();
    crate::export::run::remove_pending();
    let removed = files + crate::leftover::remove_pending();
    crate::export::hold::remove_pending();
    say!("veilcam: interrupted; {removed} unfinished file(s) removed, no output written");
    // SAFETY: `_exit` ends the process at once; nothing of this process runs after it.
    unsafe { libc::_exit(INTERRUPTED as i32) }
}

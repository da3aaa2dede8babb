//! ONNX Runtime: finding the shared library, one process-wide environment, and sessions.
//!
//! `ort` is built with `load-dynamic`: `libonnxruntime.so` is opened at run time from, in order,
//! `--ort-lib`, `$VEILCAM_ORT_LIB`, `$ORT_DYLIB_PATH`, then the first of these that exists:
//! beside the executable (`<exe dir>/`, `<exe dir>/../lib/veilcam/`, where `scripts/install`
//! puts it), `/usr/local/lib/veilcam/`, `/usr/lib/veilcam/`, and the cache that
//! `scripts/fetch-onnxruntime` fills. A missing library is a clear error, never a panic.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;

use crate::error::{Error, Result};

/// The ONNX Runtime release veilcam is built and tested against (ort 2.0.0-rc.15).
pub const ORT_VERSION: &str = "1.31.1";

static ENVIRONMENT: OnceLock<std::result::Result<(PathBuf, Environment), String>> = OnceLock::new();

/// Where the ONNX Runtime library is looked for when nothing names it.
pub fn cached_library_path() -> PathBuf {
    let cache = std::env::var_os("VEILCAM_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"))
            .join("veilcam")
    });
    cache.join(format!("onnxruntime-{ORT_VERSION}")).join(format!("libonnxruntime.so.{ORT_VERSION}"))
}

/// File name of the library veilcam installs and looks for.
pub fn library_name() -> String {
    format!("libonnxruntime.so.{ORT_VERSION}")
}

/// Where the library is looked for when neither the flag nor the environment names it, in
/// order: beside the executable `exe`, its prefix, the system library directories, the cache.
pub fn library_candidates(exe: Option<&Path>) -> Vec<PathBuf> {
    let name = library_name();
    let mut out = Vec::new();
    if let Some(dir) = exe.and_then(Path::parent) {
        out.push(dir.join(&name));
        out.push(dir.join("../lib/veilcam").join(&name));
    }
    out.extend(["/usr/local/lib/veilcam", "/usr/lib/veilcam"].iter().map(|d| Path::new(d).join(&name)));
    out.push(cached_library_path());
    out
}

/// Resolves the library path from the flag, the environment, or the first of
/// [`library_candidates`] that exists (the cache path when none does, so that the error names
/// where `scripts/fetch-onnxruntime` would put it).
pub fn locate_library(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("VEILCAM_ORT_LIB").map(PathBuf::from))
        .or_else(|| std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from))
        .unwrap_or_else(|| {
            let candidates = library_candidates(std::env::current_exe().ok().as_deref());
            candidates.iter().find(|p| p.is_file()).cloned().unwrap_or_else(cached_library_path)
        })
}

/// Variable that turns ONNX Runtime's telemetry off on Linux, read once when it starts.
const TELEMETRY_OFF: &str = "ORT_DISABLE_TELEMETRY";

/// Turns ONNX Runtime's telemetry off for this process, unless the user's environment says
/// otherwise. Since 1.29 ONNX Runtime on Linux logs a `ProcessInfo` event (the program's path,
/// the OS, a device id) as its environment is created, before the API can turn telemetry off,
/// keeps it in `~/.cache/Microsoft/DeveloperTools/.onnxruntime/` and uploads it when it can
/// (found by hostile use). Only this variable, set before the library starts, stops it all.
/// Call it first thing in `main`, before any thread starts (changing the environment is not
/// safe while another thread reads it).
pub fn keep_telemetry_off() {
    if std::env::var_os(TELEMETRY_OFF).is_none() {
        std::env::set_var(TELEMETRY_OFF, "1");
    }
}

/// The process-wide ONNX Runtime environment, loading the library on first use.
pub fn environment(library: &Path) -> Result<&'static Environment> {
    let loaded = ENVIRONMENT.get_or_init(|| {
        if !library.is_file() {
            return Err(format!(
                "not found (run scripts/fetch-onnxruntime or scripts/install, or point --ort-lib / VEILCAM_ORT_LIB at libonnxruntime.so {ORT_VERSION}; without them it is looked for beside the executable, in ../lib/veilcam/, /usr/local/lib/veilcam/, /usr/lib/veilcam/ and the cache)"
            ));
        }
        let env = ort::init_from(library)
            .map_err(|e| e.to_string())?
            .with_name("veilcam")
            // The events after start-up ([`keep_telemetry_off`] stops the one at start-up).
            .with_telemetry(false)
            .build()
            .map_err(|e| e.to_string())?;
        Ok((library.to_path_buf(), env))
    });
    match loaded {
        Ok((_, env)) => Ok(env),
        Err(message) => Err(Error::Runtime { path: library.to_path_buf(), message: message.clone() }),
    }
}

/// Builds one inference session; each worker owns its own.
pub fn session(library: &Path, model: &Path, intra_threads: usize) -> Result<Session> {
    let env = environment(library)?;
    if !model.is_file() {
        return Err(Error::Model { path: model.to_path_buf(), message: "no such file".into() });
    }
    build_session(env, model, intra_threads)
        .map_err(|e| Error::Model { path: model.to_path_buf(), message: e.to_string() })
}

/// The tensor names a detector feeds and reads, to tell a model file of another kind from a
/// broken input before any frame is read.
pub struct Signature<'a> {
    /// What the model should be, in words ("a CenterFace face model").
    pub kind: &'a str,
    pub input: &'a str,
    pub outputs: &'a [&'a str],
}

/// Builds a session as [`session`] does and checks it is the model `signature` describes (found
/// by hostile use: `--model` given the person model failed on frame 0 with "Invalid input name:
/// input.1", blamed on the input file).
pub fn session_checked(library: &Path, model: &Path, intra_threads: usize, signature: &Signature<'_>) -> Result<Session> {
    let session = session(library, model, intra_threads)?;
    check_signature(&session, signature).map_err(|message| Error::Model { path: model.to_path_buf(), message })?;
    Ok(session)
}

fn check_signature(session: &Session, signature: &Signature<'_>) -> std::result::Result<(), String> {
    let names = |outlets: &[ort::value::Outlet]| outlets.iter().map(|o| o.name().to_string()).collect::<Vec<_>>();
    let (inputs, outputs) = (names(session.inputs()), names(session.outputs()));
    let missing: Vec<&str> = std::iter::once(signature.input)
        .filter(|i| !inputs.iter().any(|n| n == i))
        .chain(signature.outputs.iter().copied().filter(|o| !outputs.iter().any(|n| n == o)))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "not {}: it lacks the tensor(s) {} (its inputs: {}; outputs: {})",
        signature.kind,
        missing.join(", "),
        inputs.join(", "),
        outputs.join(", ")
    ))
}

// `ort::Error<SessionBuilder>` is not Send + Sync; convert it to a plain `ort::Error` here.
fn build_session(env: &Environment, model: &Path, intra_threads: usize) -> ort::Result<Session> {
    let builder = Session::builder(env)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(plain)?
        .with_intra_threads(intra_threads.max(1))
        .map_err(plain)?
        // Threads that wait for work sleep instead of spinning. ORT's pool spins by default, so
        // the audit (one session with a thread per core) kept both cores busy while waiting
        // between operators: without spinning a 2 s 1080p night audit takes 15 % less CPU time
        // and 9 % less wall time, with the same findings (docs/performance.md, "The audit's
        // threads"). With one thread (redaction's default) there is no pool to spin.
        .with_intra_op_spinning(false)
        .map_err(plain)?
        // No memory pattern: ORT would plan and keep one block per input shape it has seen, and
        // the closer look feeds tiles of many shapes. Off, a 1080p live camera takes ~30 MiB
        // less; interleaved A/B runs on vtest.avi showed no difference in detection time.
        .with_memory_pattern(false)
        .map_err(plain)?;
    let mut builder = builder;
    builder.commit_from_file(model)
}

fn plain(e: ort::Error<ort::session::builder::SessionBuilder>) -> ort::Error {
    ort::Error::new(e.message().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_is_looked_for_beside_the_executable_before_the_cache() {
        let list = library_candidates(Some(Path::new("/opt/vc/bin/veilcam")));
        let name = library_name();
        assert_eq!(list[0], Path::new("/opt/vc/bin").join(&name));
        assert_eq!(list[1], Path::new("/opt/vc/bin/../lib/veilcam").join(&name));
        assert_eq!(list.last(), Some(&cached_library_path()));
    }
}

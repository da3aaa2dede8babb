//! Legal-request export (`veilcam export`): exactly the time range and camera a request covers,
//! redacted by the same engine as every other run, placed on legal hold, reported and bundled.
//!
//! One export, in the order the modules run:
//! [`select`] picks the recorded segments of a camera that cover a UTC range (or `--input`
//! files), checks each one's SHA-256 against the recording index and finds the gaps;
//! [`hold`] places the segments on legal hold (`NAME.mp4.hold`) so retention never deletes
//! them; [`chain`] decodes the selected files one after another as one stream with continuous
//! timestamps, trimmed frame-exactly to the range; [`run`] feeds that stream through
//! [`crate::pipeline::run_stages`] into the working copy and its sidecar; [`report`] writes
//! what was received, what was done and what came out.
//!
//! The evidence side: [`keys`] (the Ed25519 signing key), [`bundle`] (the zip with
//! `manifest.json` and its signature), [`minisig`] (the signature format), [`verify`] (checks a
//! bundle) and [`audit`] (the hash-chained audit log).

pub mod audit;
pub mod bundle;
pub mod chain;
pub mod checks;
pub mod commands;
pub mod credentials;
pub mod hold;
pub mod keys;
pub mod minisig;
pub mod report;
pub mod run;
pub mod select;
pub mod verify;

use std::path::{Path, PathBuf};

/// What can go wrong in an export, beyond the errors of the engine itself. Each names the file,
/// camera or case it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("case id '{case}' is not usable: {why}")]
    BadCase { case: String, why: &'static str },

    #[error("{0}")]
    BadRange(String),

    #[error("unknown camera '{camera}': no directory {dir} (cameras recorded under {root}: {known})")]
    UnknownCamera { camera: String, dir: PathBuf, root: PathBuf, known: String },

    #[error("--camera '{camera}' is not a camera name: give the camera's name as in the config ([cameras.NAME]), which is the name of its directory under the recordings directory {root}, not a path (cameras recorded there: {known})")]
    CameraNotAName { camera: String, root: PathBuf, known: String },

    #[error("{path}: given twice with --input (as {first} and as {path}, the same file): a file is one part of an export once; give it once")]
    SameInput { path: PathBuf, first: PathBuf },

    #[error("camera '{camera}' has no recordings between {from} and {to} (recorded: {recorded})")]
    NoRecordings { camera: String, from: String, to: String, recorded: String },

    #[error("{path}: the segment does not match its index entry ({why}): it was altered or damaged after it was recorded; nothing exported")]
    SegmentMismatch { path: PathBuf, why: String },

    #[error("{path}: the picture format changes here ({what}); export the parts before and after it separately")]
    FormatChanged { path: PathBuf, what: String },

    #[error("case '{case}' was already exported ({record}); an export is never overwritten or replaced: export again under a new case id (for example '{case}-2') and say in --basis why")]
    CaseExported { case: String, record: PathBuf },

    #[error("{path}: already exists; an export never overwrites a bundle")]
    BundleExists { path: PathBuf },

    #[error("no recordings directory: pass --recordings DIR, or --config with a [live] recordings entry")]
    NoRecordingsDir,

    #[error("{path}: Content Credentials (C2PA): {why}")]
    ContentCredentials { path: PathBuf, why: String },

    #[error("{path}: legal hold: {why}")]
    Hold { path: PathBuf, why: String },
}

/// Checks a case id: it names files (the working copy, the register of exported cases), so it
/// may hold only letters, digits, `-`, `_` and `.`, and must not start with a dot.
pub fn check_case_id(case: &str) -> Result<(), ExportError> {
    let bad = |why| Err(ExportError::BadCase { case: case.to_string(), why });
    if case.is_empty() || case.len() > 100 {
        return bad("it must be 1 to 100 characters long");
    }
    if case.starts_with('.') {
        return bad("it must not start with a dot");
    }
    if !case.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return bad("only letters, digits, '-', '_' and '.' are allowed");
    }
    Ok(())
}

/// The file that records that `case` was exported (its presence refuses a second export);
/// `home` is veilcam's data directory ([`keys::data_dir`]).
pub fn case_record(home: &Path, case: &str) -> PathBuf {
    home.join("exports").join(format!("{case}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_that_could_leave_a_directory_are_refused() {
        assert!(check_case_id("2026-117").is_ok());
        assert!(check_case_id("SAR_2026.4").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "a b", "é"] {
            assert!(check_case_id(bad).is_err(), "{bad:?} accepted");
        }
    }
}

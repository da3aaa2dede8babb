//! The completion manifest of a batch: `<output>/.veilcam-batch.jsonl`, one JSON line per event.
//!
//! Before a job writes anything, a `claimed` line names the outputs it is about to write; after
//! all of its outputs were committed, a `done` line repeats them with the input's identity (size
//! and modification time). Each line is flushed to disk before the run goes on. A re-run trusts
//! only this record: an output is "already done" when the last line for its input names the same
//! input identity and the same outputs, and they all exist (a `claimed` job whose outputs all
//! exist finished them, as outputs appear only complete: a signal cut off its `done` line).
//! A `done` line also records each output's identity as committed, so an output replaced or
//! changed since is not taken for done either. Anything else found at an output path was not
//! written by veilcam batch (or belongs to another input state), and is never taken for done.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// File name of the manifest inside the output directory (hidden, so a walk never takes it for
/// an input).
pub const MANIFEST_NAME: &str = ".veilcam-batch.jsonl";

/// What a manifest line says about its job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// The job is about to write its outputs (they are veilcam's from now on).
    Claimed,
    /// Every output of the job was committed.
    Done,
}

/// Which version of an input a job redacted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub size: u64,
    pub mtime_s: i64,
    pub mtime_ns: i64,
}

impl Identity {
    /// The identity of the file at `path` now (following symlinks).
    pub fn of(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        Ok(Identity::from_meta(&meta))
    }

    /// The identity of whatever is at `path` itself (a link is not followed), if anything is.
    pub fn of_entry(path: &Path) -> Option<Self> {
        path.symlink_metadata().ok().map(|meta| Identity::from_meta(&meta))
    }

    fn from_meta(meta: &std::fs::Metadata) -> Self {
        Identity { size: meta.len(), mtime_s: meta.mtime(), mtime_ns: meta.mtime_nsec() }
    }
}

/// A path as the manifest records it. A UTF-8 path is its text, as every build wrote it; any
/// other is `{"bytes_hex": …, "shown": …}`: its bytes in hex, which are what is read back, and
/// the path escaped for a reader (found by hostile use: `n\xff.mp4` and `n\xfe.mp4` were both
/// recorded as `n\u{fffd}.mp4`, shared one record, and every re-run failed one of them as
/// changed).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Name(OsString);

impl Name {
    pub fn new(path: &Path) -> Self {
        Name(path.as_os_str().to_os_string())
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Self {
        Name(text.into())
    }
}

/// The path escaped as [`crate::one_line_path`] shows it.
impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::one_line_path(Path::new(&self.0)))
    }
}

/// How a [`Name`] is written in a line.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StoredName {
    Text(String),
    Bytes {
        bytes_hex: String,
        #[serde(default)]
        shown: String,
    },
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let stored = match self.0.to_str() {
            Some(text) => StoredName::Text(text.into()),
            None => StoredName::Bytes { bytes_hex: crate::export::keys::hex(self.0.as_bytes()), shown: self.to_string() },
        };
        stored.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        match StoredName::deserialize(deserializer)? {
            StoredName::Text(text) => Ok(Name(text.into())),
            StoredName::Bytes { bytes_hex, .. } => {
                from_hex(&bytes_hex).map(|bytes| Name(OsString::from_vec(bytes))).ok_or_else(|| serde::de::Error::custom("bytes_hex is not hex"))
            }
        }
    }
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect()
}

/// One line of the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub state: State,
    /// Input path relative to the input directory.
    pub input: Name,
    #[serde(flatten)]
    pub identity: Identity,
    /// Every output of the job: relative to the output directory when inside it, else absolute.
    pub outputs: Vec<Name>,
    /// On a `done` line, each output's identity as committed, in the order of `outputs` (empty
    /// on a `claimed` line, and on the lines of older builds, which did not record them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub written: Vec<Identity>,
    /// veilcam version that wrote the line.
    pub veilcam: String,
}

/// The manifest of one output directory: what earlier runs recorded, and the file new lines go
/// to.
#[derive(Debug)]
pub struct Manifest {
    path: PathBuf,
    /// The last record of each input, as read at open.
    last: HashMap<Name, Record>,
    file: Mutex<File>,
}

impl Manifest {
    /// Reads the manifest in `output_dir` (if any) and opens it for appending. A line that does
    /// not parse (the tail of a line cut short when a run was killed) is ignored.
    pub fn open(output_dir: &Path) -> Result<Self> {
        let path = output_dir.join(MANIFEST_NAME);
        // Never through a symbolic link, and only a regular file (found by hostile use: a link
        // in a shared output directory made the batch append its records to any file).
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => Error::io(&path, std::io::Error::other("is a symbolic link; the batch record must be a regular file")),
                _ => Error::io(&path, e),
            })?;
        if !file.metadata().map_err(|e| Error::io(&path, e))?.is_file() {
            return Err(Error::io(&path, std::io::Error::other("is not a regular file; the batch record must be one")));
        }
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(|e| Error::io(&path, e))?;
        let mut last = HashMap::new();
        for line in text.lines() {
            if let Ok(record) = serde_json::from_str::<Record>(line) {
                last.insert(record.input.clone(), record);
            }
        }
        // A line cut short must not swallow the next one.
        if !text.is_empty() && !text.ends_with('\n') {
            file.seek(SeekFrom::End(0)).and_then(|_| file.write_all(b"\n")).map_err(|e| Error::io(&path, e))?;
        }
        Ok(Manifest { path, last, file: Mutex::new(file) })
    }

    /// The last record an earlier run wrote for `input` (relative path key).
    pub fn last(&self, input: &Name) -> Option<&Record> {
        self.last.get(input)
    }

    /// Appends `record` and flushes it to disk; a line cut short is taken back ([`crate::append`]).
    pub fn append(&self, record: &Record) -> Result<()> {
        let mut line = serde_json::to_string(record).map_err(|e| Error::io(&self.path, std::io::Error::other(e)))?;
        line.push('\n');
        let file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let before = file.metadata().map_err(|e| Error::io(&self.path, e))?.len();
        crate::append::line(&file, &self.path, before, line.as_bytes(), || Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(input: &str, state: State) -> Record {
        Record {
            state,
            input: input.into(),
            identity: Identity { size: 1, mtime_s: 2, mtime_ns: 3 },
            outputs: vec![Name::from(format!("{input}.mp4").as_str())],
            written: Vec::new(),
            veilcam: "test".into(),
        }
    }

    #[test]
    fn the_last_record_of_each_input_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest::open(dir.path()).unwrap();
        m.append(&record("a", State::Claimed)).unwrap();
        m.append(&record("b", State::Claimed)).unwrap();
        m.append(&record("a", State::Done)).unwrap();
        drop(m);
        let m = Manifest::open(dir.path()).unwrap();
        assert_eq!(m.last(&"a".into()), Some(&record("a", State::Done)));
        assert_eq!(m.last(&"b".into()), Some(&record("b", State::Claimed)));
        assert_eq!(m.last(&"c".into()), None);
    }

    #[test]
    fn a_line_cut_short_by_a_kill_does_not_swallow_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let full = serde_json::to_string(&record("a", State::Done)).unwrap();
        std::fs::write(dir.path().join(MANIFEST_NAME), format!("{full}\n{}", &full[..20])).unwrap();
        let m = Manifest::open(dir.path()).unwrap();
        m.append(&record("b", State::Done)).unwrap();
        drop(m);
        let m = Manifest::open(dir.path()).unwrap();
        assert!(m.last(&"a".into()).is_some() && m.last(&"b".into()).is_some());
    }

    #[test]
    fn names_that_are_not_utf8_are_read_back_byte_for_byte_and_text_names_are_written_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest::open(dir.path()).unwrap();
        let ff = Name::new(Path::new(std::ffi::OsStr::from_bytes(b"n\xff.mp4")));
        let fe = Name::new(Path::new(std::ffi::OsStr::from_bytes(b"n\xfe.mp4")));
        for name in [&ff, &fe] {
            m.append(&Record { input: name.clone(), outputs: vec![name.clone()], ..record("x", State::Done) }).unwrap();
        }
        m.append(&record("a", State::Done)).unwrap();
        drop(m);
        let text = std::fs::read_to_string(dir.path().join(MANIFEST_NAME)).unwrap();
        assert!(text.contains(r#""input":{"bytes_hex":"6eff2e6d7034","shown":"n\\xff.mp4"}"#), "{text}");
        assert!(text.contains(r#""input":"a","#), "{text}");
        let m = Manifest::open(dir.path()).unwrap();
        assert_eq!(m.last(&ff).unwrap().outputs, vec![ff.clone()]);
        assert_eq!(m.last(&fe).unwrap().outputs, vec![fe.clone()]);
        assert_eq!(ff.to_string(), "n\\xff.mp4");
    }
}

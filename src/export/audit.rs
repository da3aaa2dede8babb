//! The audit log: an append-only, hash-chained record of every export, verify, hold, release,
//! key creation and live start/stop, with who, when and what.
//!
//! `audit.jsonl` holds one JSON object per line:
//! ```text
//! {"seq":N,"time":"…Z","user":"…","uid":N,"host":"…","action":"…","details":{…},"prev":"<hex>","hash":"<hex>"}
//! ```
//! - `hash` is the SHA-256 of the line's bytes before `,"hash":` (everything but the hash
//!   itself), so any change to an entry changes its hash;
//! - `prev` is the previous entry's `hash` (64 zeros for the first), so editing, deleting,
//!   inserting or moving an entry breaks the chain at that point;
//! - a `checkpoint` entry signs the chain head (`head_seq`, `head`) with the signing key
//!   ([`super::keys`]): every [`CHECKPOINT_EVERY`] entries, on [`AuditLog::seal`] and when a
//!   log that was appended to is closed or dropped. Whoever rewrites the whole chain without
//!   the key cannot forge the checkpoints; entries after the last checkpoint are protected by
//!   the chain alone, and a cut-off tail is only visible against an earlier recorded head.
//!
//! Appends open the file `O_APPEND`, hold an exclusive `flock` while reading the head and
//! writing, write each line with one `write`, and `fsync`. [`verify`] names the line and seq
//! of every break.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::keys::{self, hex, PublicKey, SigningKey};
use crate::error::{Error, Result};

/// A signed checkpoint is written after every this many entries.
pub const CHECKPOINT_EVERY: u64 = 64;
/// The action name of checkpoint entries.
pub const CHECKPOINT: &str = "checkpoint";
/// `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// What comes between an entry's hashed part and its hash.
const HASH_FIELD: &str = ",\"hash\":\"";
/// Length of `,"hash":"<64 hex>"}`.
const HASH_SUFFIX_LEN: usize = HASH_FIELD.len() + 64 + 2;
/// Bytes read from the end of the log at a time when looking for the last entry.
const TAIL_CHUNK: u64 = 64 * 1024;
/// Longest entry accepted (a longer line is refused when appending, and reported by verify).
const MAX_ENTRY: usize = 1 << 20;
/// Permissions of the log and of a directory veilcam creates for it.
const LOG_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;

/// `$VEILCAM_HOME/audit.jsonl`, else `$XDG_DATA_HOME/veilcam/audit.jsonl`, else
/// `~/.local/share/veilcam/audit.jsonl`.
pub fn default_path() -> PathBuf {
    keys::data_dir().join("audit.jsonl")
}

/// The hashed part of an entry, in the order it is written.
#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    time: &'a str,
    user: &'a str,
    uid: u32,
    host: &'a str,
    action: &'a str,
    details: &'a Value,
    prev: &'a str,
}

/// One entry as read back.
#[derive(Clone, Debug, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub time: String,
    pub user: String,
    pub uid: u32,
    pub host: String,
    pub action: String,
    pub details: Value,
    pub prev: String,
    pub hash: String,
}

/// An open audit log that entries can be appended to.
pub struct AuditLog {
    path: PathBuf,
    file: File,
    key: Option<SigningKey>,
    /// Entries this handle appended since its last checkpoint.
    unsealed: u64,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").field("path", &self.path).field("signed", &self.key.is_some()).finish()
    }
}

impl AuditLog {
    /// The log at [`default_path`], signing checkpoints with the key of [`keys::default_dir`]
    /// when one exists there (a key that exists but cannot be loaded is an error).
    pub fn open_default() -> Result<AuditLog> {
        AuditLog::open_signed(&default_path())
    }

    /// The log at `path`, signing checkpoints with the key of [`keys::default_dir`] when one
    /// exists there.
    pub fn open_signed(path: &Path) -> Result<AuditLog> {
        let log = AuditLog::open(path)?;
        let dir = keys::default_dir();
        if std::fs::symlink_metadata(dir.join(keys::SECRET_FILE)).is_ok() {
            return Ok(log.with_key(SigningKey::load(&dir)?));
        }
        Ok(log)
    }

    /// The log at `path` (created, mode 0600, with its directory when missing), without a
    /// signing key: checkpoints are written only after [`with_key`](Self::with_key).
    pub fn open(path: &Path) -> Result<AuditLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir).map_err(|e| Error::io(dir, e))?;
        }
        let file = OpenOptions::new().read(true).append(true).create(true).mode(LOG_MODE).open(path).map_err(|e| Error::io(path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        if !meta.is_file() {
            return Err(Error::io(path, std::io::Error::other(crate::input::kind_of(&meta))));
        }
        Ok(AuditLog { path: path.to_path_buf(), file, key: None, unsealed: 0 })
    }

    /// Signs checkpoints with `key`.
    pub fn with_key(mut self, key: SigningKey) -> AuditLog {
        self.key = Some(key);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry; who (user, uid, host) and when (UTC) are added here. A checkpoint
    /// follows when the entry's seq is a multiple of [`CHECKPOINT_EVERY`] and a key is set.
    pub fn append(&mut self, action: &str, details: Value) -> Result<()> {
        if action == CHECKPOINT {
            return Err(Error::Settings(format!("audit action `{CHECKPOINT}` is written by the log itself")));
        }
        let _lock = Lock::exclusive(&self.file, &self.path)?;
        let seq = self.write_entry(action, &details)?;
        self.unsealed += 1;
        if self.key.is_some() && seq % CHECKPOINT_EVERY == 0 {
            self.write_checkpoint()?;
        }
        Ok(())
    }

    /// Writes a signed checkpoint over the current head now. Returns false (and writes
    /// nothing) without a key.
    pub fn seal(&mut self) -> Result<bool> {
        if self.key.is_none() {
            return Ok(false);
        }
        let _lock = Lock::exclusive(&self.file, &self.path)?;
        self.write_checkpoint()?;
        Ok(true)
    }

    /// Seals what this handle appended (when a key is set) and closes the log.
    pub fn close(mut self) -> Result<()> {
        self.seal_if_appended()
    }

    fn seal_if_appended(&mut self) -> Result<()> {
        if self.unsealed > 0 {
            self.seal()?;
        }
        Ok(())
    }

    /// Signs the head and appends the checkpoint; the lock is held by the caller.
    fn write_checkpoint(&mut self) -> Result<()> {
        let key = self.key.as_ref().expect("checked by the callers");
        let (head_seq, head) = self.head()?;
        let public = key.public();
        let signature = key.sign(&checkpoint_message(head_seq, &head));
        let details = json!({
            "head_seq": head_seq,
            "head": head,
            "signer": public.fingerprint(),
            "public_key": public.to_minisign_base64(),
            "signature": BASE64.encode(signature),
        });
        self.write_entry(CHECKPOINT, &details)?;
        self.unsealed = 0;
        Ok(())
    }

    /// Appends one entry after the current head and returns its seq; the lock is held by the
    /// caller.
    fn write_entry(&mut self, action: &str, details: &Value) -> Result<u64> {
        let (head_seq, head) = self.head()?;
        let time = crate::live::segments::format_rfc3339_ms(crate::live::segments::now_ms());
        let (user, uid, host) = who();
        let body = Body { seq: head_seq + 1, time: &time, user: &user, uid, host: &host, action, details, prev: &head };
        let mut line = serde_json::to_string(&body).expect("an entry serialises");
        line.pop(); // the closing brace; the hash comes before it
        let hash = hex(&Sha256::digest(line.as_bytes()));
        line.push_str(&format!("{HASH_FIELD}{hash}\"}}\n"));
        if line.len() > MAX_ENTRY {
            return Err(Error::Settings(format!("audit entry `{action}` is {} bytes; at most {MAX_ENTRY}", line.len())));
        }
        // One write of the whole line, on disk before anyone relies on it, taken back if cut
        // short (a full disk), so the log stays whole for the next append.
        let before = self.file.metadata().map_err(|e| Error::io(&self.path, e))?.len();
        crate::append::line(&self.file, &self.path, before, line.as_bytes(), || Ok(()))?;
        Ok(head_seq + 1)
    }

    /// The last entry's seq and hash (0 and [`GENESIS`] for an empty log). Refuses a log whose
    /// last line is not a complete entry: appending after it would hide the damage.
    fn head(&self) -> Result<(u64, String)> {
        let Some((start, line)) = last_line(&self.file).map_err(|e| Error::io(&self.path, e))? else {
            return Ok((0, GENESIS.to_string()));
        };
        let damaged = |why: &str| {
            // The line number is counted only here: appends never read the whole log.
            let at = line_number_at(&self.file, start).map_or_else(|_| format!("the line at byte {start}"), |n| format!("line {n}"));
            let why = format!("{at} is {why}; the audit log is damaged (see `veilcam log verify`), nothing appended");
            Error::io(&self.path, std::io::Error::new(std::io::ErrorKind::InvalidData, why))
        };
        let Some(text) = line.strip_suffix('\n') else {
            return Err(damaged("incomplete (an interrupted write?)"));
        };
        let entry: Entry = serde_json::from_str(text).map_err(|_| damaged("not an audit entry"))?;
        if split_hash(text).is_none_or(|(_, hash)| hash != entry.hash) {
            return Err(damaged("not an audit entry"));
        }
        Ok((entry.seq, entry.hash))
    }
}

impl Drop for AuditLog {
    /// A log that was appended to is sealed on the way out, also when its owner returned early
    /// with an error; a failure here can only be logged.
    fn drop(&mut self) {
        if let Err(e) = self.seal_if_appended() {
            tracing::warn!("audit log {}: cannot write the closing checkpoint: {e}", self.path.display());
        }
    }
}

/// Holds an exclusive `flock` on the log's file descriptor until dropped (the `AuditLog`
/// that owns the descriptor outlives every lock it takes).
struct Lock(std::os::fd::RawFd);

impl Lock {
    fn exclusive(file: &File, path: &Path) -> Result<Lock> {
        loop {
            // SAFETY: flock on a file descriptor the caller's `File` keeps open.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Lock(file.as_raw_fd()));
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(Error::io(path, e));
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // SAFETY: as in `exclusive`.
        unsafe { libc::flock(self.0, libc::LOCK_UN) };
    }
}

/// The message a checkpoint signs.
fn checkpoint_message(head_seq: u64, head: &str) -> Vec<u8> {
    format!("veilcam audit checkpoint v1\n{head_seq}\n{head}\n").into_bytes()
}

/// The user (the password database's name for the real uid, else `$USER`, else `uid:N`), the
/// uid and the host name.
fn who() -> (String, u32, String) {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let user = user_name(uid)
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| format!("uid:{uid}"));
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; we stop at the first NUL or at its end.
    let host = if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "unknown".to_string()
    };
    (user, uid, host)
}

/// The password database's name for `uid`.
fn user_name(uid: u32) -> Option<String> {
    keys::account(uid).map(|a| a.name)
}

/// The hashed part of an entry line (without its newline) and the hash it states, when the
/// line ends the way every entry does.
fn split_hash(line: &str) -> Option<(&str, &str)> {
    let cut = line.len().checked_sub(HASH_SUFFIX_LEN)?;
    let (body, suffix) = (line.get(..cut)?, line.get(cut..)?);
    let hash = suffix.strip_prefix(HASH_FIELD)?.strip_suffix("\"}")?;
    hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()).then_some((body, hash))
}

/// The last line of `file` (with its newline when it has one) and the offset it starts at,
/// or `None` for an empty file. Reads backwards from the end in chunks.
fn last_line(mut file: &File) -> std::io::Result<Option<(u64, String)>> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(None);
    }
    let mut tail: Vec<u8> = Vec::new();
    let mut pos = len;
    // The last line starts after the last newline that is not the file's final byte.
    let start = loop {
        let from = pos.saturating_sub(TAIL_CHUNK);
        let mut chunk = vec![0u8; (pos - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        let search = &tail[..tail.len() - usize::from(tail.last() == Some(&b'\n'))];
        if let Some(i) = search.iter().rposition(|&b| b == b'\n') {
            break from + i as u64 + 1;
        }
        if from == 0 {
            break 0;
        }
        if tail.len() > MAX_ENTRY + 1 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "last line is longer than any audit entry"));
        }
        pos = from;
    };
    let line = String::from_utf8_lossy(&tail[tail.len() - (len - start) as usize..]).into_owned();
    Ok(Some((start, line)))
}

/// The 1-based number of the line that starts at byte `start`.
fn line_number_at(mut file: &File, start: u64) -> std::io::Result<usize> {
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(file).take(start);
    let mut newlines = 0usize;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(newlines + 1);
        }
        let n = buf.len();
        newlines += buf.iter().filter(|&&b| b == b'\n').count();
        reader.consume(n);
    }
}

/// One problem [`verify`] found, at a line of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number.
    pub line: usize,
    /// The seq the line states, when it could be read.
    pub seq: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "line {} (seq {seq}): {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// What [`verify`] found.
#[derive(Clone, Debug, Default)]
pub struct LogReport {
    pub entries: usize,
    /// Checkpoints whose signature verified (and whose signer is trusted, when a key was given).
    pub checkpoints: usize,
    /// The seq covered by the last good checkpoint.
    pub sealed_through: Option<u64>,
    /// The last entry's seq and hash.
    pub head: Option<(u64, String)>,
    /// Fingerprints of the keys that signed checkpoints.
    pub signers: Vec<String>,
    pub problems: Vec<Problem>,
}

impl LogReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The chain state while walking the log.
struct Walk<'a> {
    trusted: &'a [PublicKey],
    prev_seq: u64,
    prev_hash: String,
    report: LogReport,
}

/// Checks the whole log at `path`: every entry's hash, the chain of `prev` hashes, the
/// sequence numbers and every checkpoint's signature (made by one of the `trusted` keys, when
/// any are given: several after a key was replaced). Each
/// problem names its line and seq; after a break the walk resumes from the damaged entry, so
/// one edit is reported once, not at every later line.
pub fn verify(path: &Path, trusted: &[PublicKey]) -> Result<LogReport> {
    let file = keys::open_regular(path)?;
    let mut walk = Walk { trusted, prev_seq: 0, prev_hash: GENESIS.to_string(), report: LogReport::default() };
    let mut reader = BufReader::new(file);
    let mut raw = Vec::new();
    let mut number = 0usize;
    loop {
        raw.clear();
        if reader.read_until(b'\n', &mut raw).map_err(|e| Error::io(path, e))? == 0 {
            break;
        }
        number += 1;
        walk.line(number, &raw);
    }
    walk.require_a_checkpoint(number);
    let mut report = walk.report;
    report.signers.sort();
    report.signers.dedup();
    Ok(report)
}

impl Walk<'_> {
    fn problem(&mut self, line: usize, seq: Option<u64>, message: String) {
        self.report.problems.push(Problem { line, seq, message });
    }

    fn line(&mut self, number: usize, raw: &[u8]) {
        let Some(text) = raw.strip_suffix(b"\n") else {
            return self.problem(number, None, "incomplete entry at the end of the log (no newline: an interrupted write?)".into());
        };
        let Ok(text) = std::str::from_utf8(text) else {
            return self.problem(number, None, "not UTF-8 text: not an audit entry".into());
        };
        let Some((body, stated)) = split_hash(text) else {
            return self.problem(number, None, "not an audit entry (no hash at its end)".into());
        };
        let entry: Entry = match serde_json::from_str(text) {
            Ok(e) => e,
            Err(e) => return self.problem(number, None, format!("not an audit entry ({e})")),
        };
        let seq = Some(entry.seq);
        self.report.entries += 1;
        if hex(&Sha256::digest(body.as_bytes())) != stated || entry.hash != stated {
            self.problem(number, seq, "entry was altered: its contents do not match its hash".into());
        }
        let expected = self.prev_seq + 1;
        if entry.seq > expected {
            let gone = if entry.seq == expected + 1 { format!("entry {expected} is") } else { format!("entries {expected}–{} are", entry.seq - 1) };
            self.problem(number, seq, format!("{gone} missing (deleted?): seq {} follows seq {}", entry.seq, self.prev_seq));
        } else if entry.seq < expected {
            self.problem(number, seq, format!("out of order or inserted: seq {} follows seq {}", entry.seq, self.prev_seq));
        }
        if entry.prev != self.prev_hash {
            let before = if number == 1 { "the start of the log".to_string() } else { format!("line {}", number - 1) };
            self.problem(number, seq, format!("chain broken: `prev` is not the hash of {before} (an entry before it was edited, deleted, inserted or moved)"));
        }
        if entry.action == CHECKPOINT {
            self.checkpoint(number, &entry);
        }
        self.prev_seq = entry.seq;
        self.prev_hash = entry.hash.clone();
        self.report.head = Some((entry.seq, entry.hash));
    }

    /// With a trusted key, a log of entries but no checkpoint at all fails: every command that
    /// appends with a key seals what it wrote on close (and `keys init`, the first, seals all
    /// before it), so such a log lost its checkpoints — a forger who removes them all and
    /// re-hashes the chain would otherwise leave a log that reads "intact". Said only when
    /// nothing else is wrong: a damaged or foreign checkpoint is already named.
    fn require_a_checkpoint(&mut self, last_line: usize) {
        if !self.trusted.is_empty() && self.report.entries > 0 && self.report.checkpoints == 0 && self.report.problems.is_empty() {
            let message = format!(
                "no checkpoint signed by the trusted key in {} entries: its checkpoints were removed, or the log was never sealed with this key",
                self.report.entries
            );
            self.problem(last_line, None, message);
        }
    }

    fn checkpoint(&mut self, number: usize, entry: &Entry) {
        let seq = Some(entry.seq);
        match self.check_checkpoint(entry) {
            Ok(fingerprint) => {
                self.report.checkpoints += 1;
                self.report.sealed_through = Some(entry.seq - 1);
                self.report.signers.push(fingerprint);
            }
            Err(why) => self.problem(number, seq, format!("bad checkpoint: {why}")),
        }
    }

    /// Checks a checkpoint against the entries before it and its signature; returns the
    /// signer's fingerprint.
    fn check_checkpoint(&self, entry: &Entry) -> std::result::Result<String, String> {
        let d = &entry.details;
        let field = |name: &str| d.get(name).and_then(Value::as_str).ok_or_else(|| format!("no `{name}`"));
        let head_seq = d.get("head_seq").and_then(Value::as_u64).ok_or("no `head_seq`")?;
        let head = field("head")?;
        if head_seq != self.prev_seq {
            return Err(format!("it signs the log up to seq {head_seq}, but the entry before it is seq {}", self.prev_seq));
        }
        if head != self.prev_hash {
            return Err(format!("the entries up to seq {head_seq} were changed after it was signed (the chain head differs)"));
        }
        let key = PublicKey::from_minisign_base64(field("public_key")?)?;
        let signature: [u8; 64] = BASE64
            .decode(field("signature")?)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or("signature is not 64 bytes of base64")?;
        key.verify(&checkpoint_message(head_seq, head), &signature).map_err(|_| "signature does not verify".to_string())?;
        if !self.trusted.is_empty() && !self.trusted.contains(&key) {
            let trusted: Vec<String> = self.trusted.iter().map(PublicKey::fingerprint).collect();
            return Err(format!("signed by key {}, not by a trusted key ({})", key.fingerprint(), trusted.join(", ")));
        }
        Ok(key.fingerprint())
    }
}

/// Every entry of the log, for `veilcam log show` (lines that are not entries are skipped).
pub fn read_entries(path: &Path) -> Result<Vec<Entry>> {
    let mut text = String::new();
    keys::open_regular(path)?.read_to_string(&mut text).map_err(|e| Error::io(path, e))?;
    Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log of `n` entries (actions a1..an, each with its own checkpoint rule) sealed with a
    /// fresh key on close; its path, the key's public half and its lines.
    fn sealed_log(dir: &Path, n: usize) -> (PathBuf, PublicKey, Vec<String>) {
        let path = dir.join("audit.jsonl");
        let key = SigningKey::generate().unwrap();
        let public = key.public();
        let mut log = AuditLog::open(&path).unwrap().with_key(key);
        for i in 1..=n {
            log.append(&format!("a{i}"), json!({ "case": "2026-117", "i": i })).unwrap();
        }
        log.close().unwrap();
        (path.clone(), public, lines(&path))
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
    }

    fn write_lines(path: &Path, lines: &[String]) {
        std::fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    }

    fn problems(path: &Path, trusted: Option<&PublicKey>) -> Vec<String> {
        let trusted: Vec<PublicKey> = trusted.into_iter().cloned().collect();
        let trusted = &trusted[..];
        verify(path, trusted).unwrap().problems.iter().map(ToString::to_string).collect()
    }

    /// `line` with its hash recomputed after an edit (what a careful forger does).
    fn rehash(line: &str) -> String {
        let (body, _) = split_hash(line).unwrap();
        format!("{body}{HASH_FIELD}{}\"}}", hex(&Sha256::digest(body.as_bytes())))
    }

    #[test]
    fn an_untouched_log_verifies_with_its_closing_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let (path, public, lines) = sealed_log(dir.path(), 3);
        assert_eq!(lines.len(), 4, "3 entries and the checkpoint written on close");
        let report = verify(&path, std::slice::from_ref(&public)).unwrap();
        assert!(report.ok(), "{:?}", report.problems);
        assert_eq!((report.entries, report.checkpoints, report.sealed_through), (4, 1, Some(3)));
        assert_eq!(report.signers, [public.fingerprint()]);
        let first: Entry = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!((first.seq, first.action.as_str(), first.prev.as_str()), (1, "a1", GENESIS));
        assert!(first.time.ends_with('Z') && !first.user.is_empty() && !first.host.is_empty());
    }

    #[test]
    fn a_checkpoint_is_written_every_n_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap().with_key(SigningKey::generate().unwrap());
        for i in 0..CHECKPOINT_EVERY {
            log.append("tick", json!(i)).unwrap();
        }
        let entries = read_entries(&path).unwrap();
        assert_eq!(entries.len() as u64, CHECKPOINT_EVERY + 1);
        assert_eq!(entries.last().unwrap().action, CHECKPOINT);
        drop(log); // nothing appended since: no second checkpoint
        assert_eq!(read_entries(&path).unwrap().len() as u64, CHECKPOINT_EVERY + 1);
    }

    #[test]
    fn an_edited_entry_is_named_by_its_line_and_seq() {
        let dir = tempfile::tempdir().unwrap();
        let (path, public, mut lines) = sealed_log(dir.path(), 5);
        lines[2] = lines[2].replace("2026-117", "2026-118");
        write_lines(&path, &lines);
        assert_eq!(problems(&path, Some(&public)), ["line 3 (seq 3): entry was altered: its contents do not match its hash"]);
    }

    #[test]
    fn an_edited_entry_with_a_recomputed_hash_breaks_the_chain_and_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let (path, public, mut lines) = sealed_log(dir.path(), 5);
        lines[2] = rehash(&lines[2].replace("2026-117", "2026-118"));
        write_lines(&path, &lines);
        let found = problems(&path, Some(&public));
        assert!(found[0].starts_with("line 4 (seq 4): chain broken: `prev` is not the hash of line 3"), "{found:?}");
        // Rewriting every later hash too is caught by the signed checkpoint.
        let mut prev = String::new();
        for (i, line) in lines.iter_mut().enumerate() {
            let mut entry: Value = serde_json::from_str(line).unwrap();
            entry.as_object_mut().unwrap().remove("hash");
            if i > 0 {
                entry["prev"] = json!(prev);
            }
            let text = serde_json::to_string(&entry).unwrap();
            *line = rehash(&format!("{}{HASH_FIELD}{GENESIS}\"}}", &text[..text.len() - 1]));
            prev = split_hash(line).unwrap().1.to_string();
        }
        write_lines(&path, &lines);
        let found = problems(&path, Some(&public));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("line 6 (seq 6): bad checkpoint"), "{found:?}");
    }

    #[test]
    fn a_deleted_entry_is_named_by_its_position() {
        let dir = tempfile::tempdir().unwrap();
        let (path, public, mut lines) = sealed_log(dir.path(), 5);
        lines.remove(1);
        write_lines(&path, &lines);
        let found = problems(&path, Some(&public));
        assert!(found[0].starts_with("line 2 (seq 3): entry 2 is missing (deleted?)"), "{found:?}");
        assert!(found.iter().all(|p| p.starts_with("line 2 ")), "one break, reported once: {found:?}");
    }

    #[test]
    fn an_inserted_entry_is_named_by_its_position() {
        let dir = tempfile::tempdir().unwrap();
        let (path, public, mut lines) = sealed_log(dir.path(), 5);
        let copy = lines[1].clone();
        lines.insert(3, copy);
        write_lines(&path, &lines);
        let found = problems(&path, Some(&public));
        assert!(found[0].starts_with("line 4 (seq 2): out of order or inserted"), "{found:?}");
    }

    #[test]
    fn reordered_entries_are_named_by_their_position() {
        let dir = tempfile::tempdir().unwrap();
        let (path, public, mut lines) = sealed_log(dir.path(), 5);
        lines.swap(1, 2);
        write_lines(&path, &lines);
        let found = problems(&path, Some(&public));
        assert!(found[0].starts_with("line 2 (seq 3): entry 2 is missing"), "{found:?}");
        assert!(found.iter().any(|p| p.starts_with("line 3 (seq 2): out of order or inserted")), "{found:?}");
    }

    #[test]
    fn a_bad_checkpoint_signature_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (path, public, mut lines) = sealed_log(dir.path(), 2);
        let mut entry: Value = serde_json::from_str(&lines[2]).unwrap();
        let sig = entry["details"]["signature"].as_str().unwrap().to_string();
        let flipped = format!("{}{}", if sig.starts_with('A') { "B" } else { "A" }, &sig[1..]);
        entry["details"]["signature"] = json!(flipped);
        lines[2] = lines[2].replace(&sig, &flipped);
        lines[2] = rehash(&lines[2]);
        write_lines(&path, &lines);
        assert_eq!(problems(&path, Some(&public)), ["line 3 (seq 3): bad checkpoint: signature does not verify"]);
    }

    /// `lines` made into one chain again, numbered from 1 (what a forger does after removing
    /// entries).
    fn rechained(lines: &[String]) -> Vec<String> {
        let mut prev = GENESIS.to_string();
        let renumbered = lines.iter().enumerate().map(|(i, line)| {
            let e: Entry = serde_json::from_str(line).unwrap();
            let body = Body { seq: i as u64 + 1, time: &e.time, user: &e.user, uid: e.uid, host: &e.host, action: &e.action, details: &e.details, prev: &prev };
            let mut body = serde_json::to_string(&body).unwrap();
            body.pop();
            let line = rehash(&format!("{body}{HASH_FIELD}{}\"}}", "0".repeat(64)));
            prev = serde_json::from_str::<Entry>(&line).unwrap().hash;
            line
        });
        renumbered.collect()
    }

    /// Found by hostile use: with every checkpoint removed and the chain re-hashed, `log
    /// verify` called the log intact against the very key that had sealed it.
    #[test]
    fn a_log_stripped_of_its_checkpoints_fails_against_the_trusted_key() {
        let dir = tempfile::tempdir().unwrap();
        let (path, public, _) = sealed_log(dir.path(), 3);
        // A second command, sealing its entry with its own checkpoint.
        let mut log = AuditLog::open(&path).unwrap().with_key(SigningKey::generate().unwrap());
        log.append("a4", json!({})).unwrap();
        log.close().unwrap();
        let all = lines(&path);
        let kept: Vec<String> = all.iter().filter(|l| !l.contains(&format!("\"action\":\"{CHECKPOINT}\""))).cloned().collect();
        assert_eq!((all.len(), kept.len()), (6, 4), "two checkpoints removed");
        write_lines(&path, &rechained(&kept));
        assert!(problems(&path, None).is_empty(), "the chain alone is whole");
        let found = problems(&path, Some(&public));
        assert_eq!(found, ["line 4: no checkpoint signed by the trusted key in 4 entries: its checkpoints were removed, or the log was never sealed with this key"]);
    }

    #[test]
    fn a_checkpoint_by_another_key_fails_against_the_trusted_key() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _, _) = sealed_log(dir.path(), 2);
        let other = SigningKey::generate().unwrap().public();
        let found = problems(&path, Some(&other));
        assert!(found[0].contains("bad checkpoint: signed by key") && found[0].contains(&other.fingerprint()), "{found:?}");
        assert!(problems(&path, None).is_empty());
    }

    #[test]
    fn a_log_signed_before_and_after_a_key_change_verifies_with_both_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (path, old, _) = sealed_log(dir.path(), 2);
        let new_key = SigningKey::generate().unwrap();
        let new = new_key.public();
        let mut log = AuditLog::open(&path).unwrap().with_key(new_key);
        log.append("keys.init", json!({})).unwrap();
        log.close().unwrap();
        let report = verify(&path, &[old.clone(), new.clone()]).unwrap();
        assert!(report.ok(), "{:?}", report.problems);
        assert_eq!(report.checkpoints, 2);
        let found = problems(&path, Some(&new));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("line 3 (seq 3): bad checkpoint: signed by key"), "{found:?}");
    }

    #[test]
    fn appending_after_a_damaged_last_line_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _, lines) = sealed_log(dir.path(), 2);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.truncate(text.len() - 10); // a torn last write
        std::fs::write(&path, &text).unwrap();
        let err = AuditLog::open(&path).unwrap().append("export", json!({})).unwrap_err().to_string();
        assert!(err.contains("audit.jsonl") && err.contains(&format!("line {}", lines.len())) && err.contains("damaged"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "nothing appended");
        assert!(problems(&path, None)[0].contains("incomplete entry"));
    }

    #[test]
    fn concurrent_writers_keep_one_unbroken_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut log = AuditLog::open(&path).unwrap();
                    for i in 0..25 {
                        log.append("export", json!({ "writer": t, "i": i })).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let report = verify(&path, &[]).unwrap();
        assert!(report.ok(), "{:?}", report.problems);
        assert_eq!(report.entries, 100);
    }

    #[test]
    fn the_last_line_is_found_across_read_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path).unwrap();
        let big = "x".repeat(TAIL_CHUNK as usize + 100);
        log.append("big", json!(big)).unwrap();
        log.append("big", json!(big)).unwrap();
        log.append("small", json!(1)).unwrap();
        log.append("big", json!(big)).unwrap();
        assert!(verify(&path, &[]).unwrap().ok());
        assert_eq!(read_entries(&path).unwrap().iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    }
}

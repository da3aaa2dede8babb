//! `veilcam verify`: checks a bundle written by [`super::bundle::seal`] and names every file
//! that fails.
//!
//! Checked, in order:
//! 1. the zip itself, including bytes that belong to no listed entry (a second entry under an
//!    existing name hides that way: zip readers keep only one of them) and anything before,
//!    after or beside the entries (a zip comment, extra fields), and every header field no hash
//!    covers: the zip's structure must be exactly the one [`super::bundle::seal`] writes
//!    (`check_structure`);
//! 2. `manifest.json.minisig`: a valid signature of `manifest.json` by the key the manifest
//!    names, and, with `--key`, that this key is the expected one (a bundle re-signed with
//!    another key fails then; the fingerprint it was signed with is always reported);
//! 3. every file the manifest lists: present, its size and its SHA-256;
//! 4. every entry of the zip: listed in the manifest (nothing added);
//! 5. the media checks ([`MediaCheck`], e.g. frame counts and C2PA) on each file whose hash
//!    matched.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::bundle::{check_name, FileEntry, FORMAT, MANIFEST, SIGNATURE};
use super::keys::{hex, PublicKey};
use super::minisig;

/// Largest `manifest.json` read (it lists files and settings; megabytes at most).
const MAX_MANIFEST: u64 = 64 << 20;
/// Largest signature file read (about 300 bytes).
const MAX_SIGNATURE: u64 = 4096;
/// Copy buffer size.
const CHUNK: usize = 1 << 20;

/// A check of one kind of media file in a bundle, run after its hash matched (frame counts,
/// C2PA manifest, ...). The export registers its checks in [`default_checks`].
pub trait MediaCheck {
    /// Whether this check looks at the bundle file `name`.
    fn applies(&self, name: &str, manifest: &Value) -> bool;
    /// Checks the file, extracted to `path` (a temp file with the same base name, so the same
    /// extension). `Ok` holds a short note for the file's line
    /// ("795 frames"); `Err` the reason it fails.
    fn check(&self, name: &str, path: &Path, manifest: &Value) -> Result<String, String>;
}

/// The media checks `veilcam verify` runs.
pub fn default_checks() -> Vec<Box<dyn MediaCheck>> {
    super::checks::all()
}

/// The outcome of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Passed; the note says what was checked.
    Ok(String),
    /// Failed, with the reason.
    Failed(String),
}

/// One line of the report: a file of the bundle (or the bundle itself) and its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub name: String,
    pub outcome: Outcome,
}

impl Finding {
    fn ok(name: &str, note: impl Into<String>) -> Finding {
        Finding { name: name.to_string(), outcome: Outcome::Ok(note.into()) }
    }

    fn failed(name: &str, why: impl Into<String>) -> Finding {
        Finding { name: name.to_string(), outcome: Outcome::Failed(why.into()) }
    }

    pub fn passed(&self) -> bool {
        matches!(self.outcome, Outcome::Ok(_))
    }
}

/// Everything [`verify`] found about one bundle.
#[derive(Clone, Debug)]
pub struct VerifyReport {
    pub bundle: PathBuf,
    /// Fingerprint of the key the manifest names as its signer.
    pub signer: Option<String>,
    /// Whether the manifest's signature verified with that key.
    pub signature_valid: bool,
    /// Fingerprint of the key the bundle had to be signed with (`--key`).
    pub expected: Option<String>,
    /// The manifest, when it could be read.
    pub manifest: Option<Value>,
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    /// True only when every check passed.
    pub fn ok(&self) -> bool {
        !self.findings.is_empty() && self.findings.iter().all(Finding::passed)
    }

    /// The findings that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| !f.passed())
    }
}

impl std::fmt::Display for VerifyReport {
    /// One line per file: `OK name: note` or `FAILED name: reason`, then the signer and a
    /// summary line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for finding in &self.findings {
            match &finding.outcome {
                // Names come from the bundle: escaped, so none can forge a line.
                Outcome::Ok(note) => writeln!(f, "OK      {}: {}", crate::one_line(&finding.name), crate::one_line(note))?,
                Outcome::Failed(why) => writeln!(f, "FAILED  {}: {}", crate::one_line(&finding.name), crate::one_line(why))?,
            }
        }
        match (&self.signer, self.signature_valid, &self.expected) {
            (Some(signer), true, Some(_)) => writeln!(f, "signed with key {signer}")?,
            (Some(signer), true, None) => writeln!(f, "signed with key {signer} (not compared with a trusted key: pass --key FILE)")?,
            (Some(signer), false, _) => writeln!(f, "NOT validly signed; the manifest names key {signer}")?,
            (None, _, _) => writeln!(f, "signer: unknown (no readable manifest)")?,
        }
        let failed = self.failures().count();
        if self.ok() {
            write!(f, "{}: all {} checks passed", self.bundle.display(), self.findings.len())
        } else {
            write!(f, "{}: {failed} of {} checks FAILED", self.bundle.display(), self.findings.len())
        }
    }
}

/// Verifies `bundle` with the [`default_checks`]; `trusted` is the public key file the bundle
/// must have been signed with, when given.
pub fn verify(bundle: &Path, trusted: Option<&Path>) -> VerifyReport {
    verify_with(bundle, trusted, &default_checks())
}

/// What a zip error says of the bundle. The zip crate writes an i/o error as "i/o error" alone
/// (found by hostile use: a bundle with its last 10 bytes cut said no more).
fn zip_why(e: zip::result::ZipError) -> String {
    match e {
        zip::result::ZipError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the zip is cut short: its directory reaches past the end of the file".into()
        }
        zip::result::ZipError::Io(e) => format!("i/o error: {e}"),
        e => e.to_string(),
    }
}

/// [`verify`] with the given media checks.
pub fn verify_with(bundle: &Path, trusted: Option<&Path>, checks: &[Box<dyn MediaCheck>]) -> VerifyReport {
    let mut report = VerifyReport { bundle: bundle.to_path_buf(), signer: None, signature_valid: false, expected: None, manifest: None, findings: Vec::new() };
    let expected = trusted.map(|path| (path, PublicKey::load(path)));
    if let Some((path, key)) = &expected {
        match key {
            Ok(key) => report.expected = Some(key.fingerprint()),
            Err(e) => report.findings.push(Finding::failed(&path.display().to_string(), format!("cannot read the trusted key: {e}"))),
        }
    }
    let bundle_name = bundle.display().to_string();
    let mut zip = match super::keys::open_regular(bundle).map_err(|e| e.to_string()).and_then(|f| zip::ZipArchive::new(f).map_err(zip_why)) {
        Ok(zip) => zip,
        Err(why) => {
            report.findings.push(Finding::failed(&bundle_name, format!("cannot read the bundle: {why}")));
            return report;
        }
    };
    if let Err((name, why)) = check_layout(&mut zip, bundle) {
        report.findings.push(Finding::failed(name.as_deref().unwrap_or(&bundle_name), why));
    }
    if let Err(why) = check_envelope(&mut zip, bundle) {
        report.findings.push(Finding::failed(&bundle_name, why));
    }
    if let Err((name, why)) = check_structure(&mut zip, bundle) {
        report.findings.push(Finding::failed(name.as_deref().unwrap_or(&bundle_name), why));
    }
    let manifest_bytes = match read_entry(&mut zip, MANIFEST, MAX_MANIFEST) {
        Ok(bytes) => bytes,
        Err(why) => {
            report.findings.push(Finding::failed(MANIFEST, why));
            unlisted(&mut report, &zip, None);
            return report;
        }
    };
    let manifest: Value = match serde_json::from_slice(&manifest_bytes) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return fail_manifest(report, &zip, "not a JSON object"),
        Err(e) => return fail_manifest(report, &zip, &format!("altered: not valid JSON ({e})")),
    };
    let trusted_key = expected.and_then(|(_, key)| key.ok());
    let signature = check_signature(&mut zip, &manifest, &manifest_bytes, trusted_key.as_ref(), &mut report);
    report.findings.push(signature);
    if manifest.get("format").and_then(Value::as_str) != Some(FORMAT) {
        report.findings.push(Finding::failed(MANIFEST, format!("format is not {FORMAT}")));
    }
    let entries: Vec<FileEntry> = match manifest.get("files").cloned().map(serde_json::from_value) {
        Some(Ok(entries)) => entries,
        _ => {
            report.findings.push(Finding::failed(MANIFEST, "has no valid `files` list"));
            Vec::new()
        }
    };
    if entries.is_empty() {
        report.findings.push(Finding::failed(MANIFEST, "lists no files: a sealed bundle holds at least one"));
    }
    for field in ["working_copy", "sidecar"] {
        let named = manifest.pointer(&format!("/produced/{field}")).and_then(Value::as_str);
        if let Some(name) = named.filter(|n| !entries.iter().any(|e| e.name == *n)) {
            // Found by hostile use: a re-signed manifest with an empty file list passed.
            report.findings.push(Finding::failed(name, format!("produced.{field} names it, but the manifest's files do not list it")));
        }
    }
    let scratch = tempfile::tempdir().ok();
    let mut seen = std::collections::BTreeSet::new();
    for entry in &entries {
        if !seen.insert(entry.name.as_str()) {
            report.findings.push(Finding::failed(&entry.name, "listed twice in the manifest"));
            continue;
        }
        let applicable: Vec<&dyn MediaCheck> = checks.iter().map(AsRef::as_ref).filter(|c| c.applies(&entry.name, &manifest)).collect();
        // Under its own base name: some readers (C2PA) go by the extension.
        let base = entry.name.rsplit('/').next().unwrap_or("file");
        let extract_to = scratch.as_ref().filter(|_| !applicable.is_empty() && check_name(&entry.name).is_ok()).map(|d| d.path().join(base));
        let finding = check_file(&mut zip, entry, extract_to.as_deref(), &applicable, &manifest);
        if let Some(path) = &extract_to {
            let _ = std::fs::remove_file(path);
        }
        report.findings.push(finding);
    }
    let listed: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    unlisted(&mut report, &zip, Some(&listed));
    report.manifest = Some(manifest);
    report
}

/// Reports a manifest that cannot be read; the files cannot be checked without it.
fn fail_manifest(mut report: VerifyReport, zip: &zip::ZipArchive<File>, why: &str) -> VerifyReport {
    report.findings.push(Finding::failed(MANIFEST, why));
    unlisted(&mut report, zip, None);
    report
}

/// Checks the manifest's signature with the key the manifest names, and that key against the
/// trusted one. Sets the report's `signer` (the key the bundle claims) and `signature_valid`.
fn check_signature(
    zip: &mut zip::ZipArchive<File>,
    manifest: &Value,
    manifest_bytes: &[u8],
    trusted: Option<&PublicKey>,
    report: &mut VerifyReport,
) -> Finding {
    let embedded = manifest.pointer("/signer/public_key").and_then(Value::as_str).map(PublicKey::from_minisign_base64);
    let key = match embedded {
        Some(Ok(key)) => key,
        Some(Err(why)) => return Finding::failed(MANIFEST, format!("signer public key: {why}")),
        None => return Finding::failed(MANIFEST, "names no signer public key"),
    };
    report.signer = Some(key.fingerprint());
    if manifest.pointer("/signer/fingerprint").and_then(Value::as_str) != Some(key.fingerprint().as_str()) {
        return Finding::failed(MANIFEST, "signer fingerprint does not belong to the signer public key");
    }
    let text = match read_entry(zip, SIGNATURE, MAX_SIGNATURE).map(String::from_utf8) {
        Ok(Ok(text)) => text,
        Ok(Err(_)) => return Finding::failed(SIGNATURE, "not a minisign signature (not text)"),
        Err(why) => return Finding::failed(SIGNATURE, why),
    };
    let signature = match minisig::Signature::parse(&text) {
        Ok(sig) => sig,
        Err(why) => return Finding::failed(SIGNATURE, why),
    };
    if let Err(why) = signature.verify(&key, manifest_bytes) {
        return Finding::failed(MANIFEST, format!("{why}: {MANIFEST} or {SIGNATURE} was altered after signing"));
    }
    if text != signature.to_text(&super::bundle::signature_comment(&key)) {
        return Finding::failed(SIGNATURE, "holds more than the signature veilcam writes (its untrusted comment or line breaks were changed)");
    }
    report.signature_valid = true;
    match trusted {
        Some(t) if *t != key => Finding::failed(
            SIGNATURE,
            format!("signed with key {}, not with the expected key {} (--key): re-signed or another signer", key.fingerprint(), t.fingerprint()),
        ),
        Some(_) => Finding::ok(SIGNATURE, format!("signature of {MANIFEST} verifies with the expected key {}", key.fingerprint())),
        None => Finding::ok(SIGNATURE, format!("signature of {MANIFEST} verifies with the key it names, {}", key.fingerprint())),
    }
}

/// Checks one listed file: present, size, SHA-256, then the media checks on a copy.
fn check_file(
    zip: &mut zip::ZipArchive<File>,
    entry: &FileEntry,
    extract_to: Option<&Path>,
    checks: &[&dyn MediaCheck],
    manifest: &Value,
) -> Finding {
    let name = entry.name.as_str();
    if let Err(why) = check_name(name) {
        return Finding::failed(name, format!("unsafe name in the manifest: {why}"));
    }
    let (bytes, sha256, read_error) = match hash_entry(zip, name, extract_to, entry.bytes) {
        Ok(found) => found,
        Err(why) => return Finding::failed(name, why),
    };
    if sha256 != entry.sha256 || bytes != entry.bytes {
        // Found by hostile use: a size-only mismatch was worded as a hash that "differs" from itself.
        let mut why = Vec::new();
        if sha256 != entry.sha256 {
            why.push(format!("SHA-256 {sha256} differs from the manifest's {}", entry.sha256));
        }
        if bytes != entry.bytes {
            why.push(format!("{bytes} bytes where the manifest says {}", entry.bytes));
        }
        return Finding::failed(name, format!("altered: {}", why.join("; ")));
    }
    if let Some(why) = read_error {
        return Finding::failed(name, format!("cannot be read back: {why}"));
    }
    let mut notes = vec![format!("{bytes} bytes, SHA-256 matches")];
    for check in checks {
        let Some(path) = extract_to else {
            return Finding::failed(name, "cannot be extracted for its media checks (no temp directory)");
        };
        match check.check(name, path, manifest) {
            Ok(note) if note.is_empty() => {}
            Ok(note) => notes.push(note),
            Err(why) => return Finding::failed(name, why),
        }
    }
    Finding::ok(name, notes.join(", "))
}

/// Hashes the entry `name` (and copies it to `extract_to`). Returns its size, SHA-256 and the
/// error that ended the read, if any (a zip CRC error comes after the last byte: the hash of
/// what was read still says more than the CRC). Reading stops a chunk past `listed` bytes, the
/// size the manifest gives: an entry that inflates further is already altered (found by
/// hostile use: a 4 MB bundle was inflated to 4 GiB before its size was found wrong).
fn hash_entry(zip: &mut zip::ZipArchive<File>, name: &str, extract_to: Option<&Path>, listed: u64) -> Result<(u64, String, Option<String>), String> {
    let mut file = open_entry(zip, name)?;
    let mut copy = match extract_to.map(File::create).transpose() {
        Ok(f) => f.map(BufWriter::new),
        Err(e) => return Err(format!("cannot extract it for the media checks: {e}")),
    };
    let mut hasher = Sha256::new();
    let (mut bytes, mut buf) = (0u64, vec![0u8; CHUNK]);
    let read_error = loop {
        match file.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => {
                hasher.update(&buf[..n]);
                bytes += n as u64;
                if bytes > listed.saturating_add(CHUNK as u64) {
                    break Some(format!("it holds more than the {listed} bytes the manifest lists (read stopped)"));
                }
                if let Some(w) = copy.as_mut() {
                    w.write_all(&buf[..n]).map_err(|e| format!("cannot extract it for the media checks: {e}"))?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Some(e.to_string()),
        }
    };
    if let Some(mut w) = copy {
        w.flush().map_err(|e| format!("cannot extract it for the media checks: {e}"))?;
    }
    Ok((bytes, hex(&hasher.finalize()), read_error))
}

/// Reads a small entry whole.
fn read_entry(zip: &mut zip::ZipArchive<File>, name: &str, limit: u64) -> Result<Vec<u8>, String> {
    let file = open_entry(zip, name)?;
    if file.size > limit {
        return Err(format!("is {} bytes; at most {limit} expected", file.size));
    }
    // One byte past the limit, so that an entry of exactly `limit` bytes is read to its end,
    // where `Entry` checks it.
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot be read: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!("holds more than {limit} bytes"));
    }
    Ok(bytes)
}

/// Opens the entry `name` for reading its content: [`Entry`].
fn open_entry<'a>(zip: &'a mut zip::ZipArchive<File>, name: &str) -> Result<Entry<'a>, String> {
    let index = zip.index_for_name(name).ok_or("missing from the bundle")?;
    let raw = zip.by_index_raw(index).map_err(|e| format!("cannot be read: {}", zip_why(e)))?;
    let (crc, size, compressed) = (raw.crc32(), raw.size(), raw.compressed_size());
    let data = match raw.compression() {
        zip::CompressionMethod::Stored => Data::Stored(raw),
        zip::CompressionMethod::Deflated => Data::Deflated(flate2::bufread::DeflateDecoder::new(std::io::BufReader::new(raw))),
        other => return Err(format!("cannot be read: compressed with {other}, which export never writes (the bundle was altered)")),
    };
    Ok(Entry { data, crc, size, compressed, sum: flate2::Crc::new(), ended: false })
}

/// The content of one bundle entry, inflated here rather than by the zip crate so that where
/// its compressed stream ends is known. A deflate stream ends by itself, so bytes put after
/// its end but inside the entry's declared compressed size are read by no zip reader, pass
/// the CRC and the SHA-256 of what inflates, and still travel with the bundle (found by hostile
/// use: an unredacted photo hidden that way in `manifest.json` passed `verify --key`). At the
/// end of the content the entry must have been consumed exactly, and its CRC-32 and size must
/// be those the zip directory gives; otherwise the read fails.
struct Entry<'a> {
    data: Data<'a>,
    crc: u32,
    size: u64,
    compressed: u64,
    sum: flate2::Crc,
    ended: bool,
}

enum Data<'a> {
    Stored(zip::read::ZipFile<'a, File>),
    Deflated(flate2::bufread::DeflateDecoder<std::io::BufReader<zip::read::ZipFile<'a, File>>>),
}

impl Entry<'_> {
    /// Why the entry, read to its end, is not what the zip directory says it is.
    fn mismatch(&self) -> Option<String> {
        if let Data::Deflated(d) = &self.data {
            if d.total_in() != self.compressed {
                let hidden = self.compressed.saturating_sub(d.total_in());
                return Some(format!("{hidden} bytes after the end of its compressed data, which no zip reader shows (the bundle was altered)"));
            }
        }
        if u64::from(self.sum.amount()) != self.size & u64::from(u32::MAX) || self.sum.sum() != self.crc {
            return Some("its content does not match the CRC-32 and size in the zip directory (the bundle was altered)".into());
        }
        None
    }
}

impl Read for Entry<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = match &mut self.data {
            Data::Stored(r) => r.read(buf)?,
            Data::Deflated(r) => r.read(buf)?,
        };
        self.sum.update(&buf[..n]);
        if n == 0 && !buf.is_empty() && !self.ended {
            self.ended = true;
            if let Some(why) = self.mismatch() {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, why));
            }
        }
        Ok(n)
    }
}

/// Fails every zip entry that is neither listed nor the manifest or its signature.
fn unlisted(report: &mut VerifyReport, zip: &zip::ZipArchive<File>, listed: Option<&[&str]>) {
    let have_manifest = listed.is_some();
    let listed = listed.unwrap_or_default();
    let mut names: Vec<&str> = zip.file_names().filter(|n| *n != MANIFEST && *n != SIGNATURE && !listed.contains(n)).collect();
    names.sort_unstable();
    let why = if have_manifest {
        "not listed in the manifest (added after sealing)"
    } else {
        "cannot be checked without a valid manifest"
    };
    for name in names {
        report.findings.push(Finding::failed(name, why));
    }
}

/// Every byte between the start of the archive and its central directory must belong to a
/// listed entry: each entry starts where the one before it ends. A gap large enough for a local
/// header is an entry the directory hides (a second entry under a listed name: zip readers keep
/// only one of the two), and a smaller one still carries bytes (found by hostile use: 24 bytes
/// between entries passed, as room for a data descriptor, which [`super::bundle::seal`] never
/// writes). The error names the hidden entry when its local header can be read.
fn check_layout(zip: &mut zip::ZipArchive<File>, bundle: &Path) -> Result<(), (Option<String>, String)> {
    let mut spans = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let f = zip.by_index_raw(i).map_err(|e| (None, format!("cannot read entry {i}: {e}")))?;
        spans.push((f.header_start(), f.data_start() + f.compressed_size()));
    }
    spans.sort_unstable();
    let mut at = zip.offset();
    for (start, end) in spans.into_iter().chain([(zip.central_directory_start(), 0)]) {
        if start > at {
            let name = local_header_name(bundle, at);
            let what = if name.is_some() { "a second entry under this name, which zip readers hide" } else { "bytes of no listed entry" };
            return Err((name, format!("{what}: {} bytes at offset {at} that the zip directory does not list (added after sealing)", start - at)));
        }
        at = at.max(end);
    }
    Ok(())
}

/// Nothing but the entries may be in the zip around them either: no bytes before the first
/// entry or after the end of the zip's directory, no zip comment, no file comment and no extra
/// field but a ZIP64 size (found by hostile use: an unredacted photo put before the bundle,
/// after it, in its comment or in an entry's extra field passed every check, and a bundle with
/// a PNG before it opens as that picture). [`super::bundle::seal`] writes none of these.
/// The name in the local file header at `offset` (found by hostile use: a local name of
/// `../evil.sh` under a central-directory name of `report.txt` passed; Python's zipfile refuses
/// such a zip and streaming readers extract the local name).
fn local_name(file: &mut File, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 30];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut head)?;
    if head[..4] != [0x50, 0x4b, 0x03, 0x04] {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "no local file header there"));
    }
    let mut name = vec![0u8; usize::from(u16::from_le_bytes([head[26], head[27]]))];
    file.read_exact(&mut name)?;
    Ok(name)
}

fn check_envelope(zip: &mut zip::ZipArchive<File>, bundle: &Path) -> Result<(), String> {
    let added = |what: String| Err(format!("{what}, which the manifest does not cover (added after sealing)"));
    if zip.offset() > 0 {
        return added(format!("{} bytes before the first entry", zip.offset()));
    }
    if !zip.comment().is_empty() {
        return added(format!("a zip comment of {} bytes", zip.comment().len()));
    }
    let raw = |e: zip::result::ZipError| format!("cannot read the zip directory: {}", zip_why(e));
    let mut file = File::open(bundle).map_err(|e| format!("cannot read the bundle: {e}"))?;
    let mut first = u64::MAX;
    for i in 0..zip.len() {
        let f = zip.by_index_raw(i).map_err(raw)?;
        first = first.min(f.header_start());
        let local = local_name(&mut file, f.header_start()).map_err(|e| format!("{}: cannot read its local header: {e}", f.name()))?;
        if local != f.name_raw() {
            // Tools that read local headers (unzip, streaming readers) would see another file.
            return Err(format!("{}: its local header names it {:?}; the bundle was altered", f.name(), String::from_utf8_lossy(&local)));
        }
        let local_extra = f.data_start() - f.header_start() - 30 - f.name_raw().len() as u64;
        let zip64 = f.compressed_size().max(f.size()) >= u64::from(u32::MAX);
        if local_extra > 0 && !(zip64 && local_extra <= ZIP64_LOCAL_EXTRA) {
            return added(format!("{}: an extra field of {local_extra} bytes in its header", f.name()));
        }
        if !f.comment().is_empty() {
            return added(format!("{}: a file comment of {} bytes", f.name(), f.comment().len()));
        }
        if let Some(kind) = f.unix_mode().and_then(not_a_regular_file) {
            // Found by hostile use: a `report.txt` stored as a link to /etc/passwd passed, and
            // unzip made the recipient's report.txt show that file. Export writes files only.
            return Err(format!("{}: stored as a {kind}, not a file; export writes none, so the bundle was altered", f.name()));
        }
        if let Some(mode) = f.unix_mode().map(|m| m & 0o7777).filter(|&m| m != ENTRY_MODE) {
            // Found by hostile use: a report stored setuid and writable by all (4777) passed,
            // and unzip gives the recipient's copy those permissions.
            return Err(format!("{}: stored with permissions {mode:o}; export writes {ENTRY_MODE:o}, so the bundle was altered", f.name()));
        }
        if let Some(extra) = f.extra_data().filter(|e| !only_zip64_fields(e)) {
            return added(format!("{}: an extra field of {} bytes in the zip directory", f.name(), extra.len()));
        }
    }
    if !zip.is_empty() && first > 0 {
        return added(format!("{first} bytes before the first entry"));
    }
    let end = end_of_directory(bundle, zip.central_directory_start(), zip.len()).map_err(|e| format!("cannot read the end of the zip: {e}"))?;
    let len = std::fs::metadata(bundle).map_err(|e| format!("cannot read the bundle's size: {e}"))?.len();
    if end < len {
        return added(format!("{} bytes after the end of the zip directory", len - end));
    }
    Ok(())
}

/// The fixed part of a zip header (local or central), as far as both hold the same fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    needed: u16,
    flags: u16,
    method: u16,
    time: u16,
    date: u16,
    crc: u32,
    compressed: u32,
    size: u32,
    name_len: u16,
    extra_len: u16,
}

impl Header {
    /// From a header's bytes where `needed` starts (byte 4 of a local header, 6 of a central one).
    fn parse(b: &[u8]) -> Header {
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Header {
            needed: u16_at(0),
            flags: u16_at(2),
            method: u16_at(4),
            time: u16_at(6),
            date: u16_at(8),
            crc: u32_at(10),
            compressed: u32_at(14),
            size: u32_at(18),
            name_len: u16_at(22),
            extra_len: u16_at(24),
        }
    }
}

/// The zip's headers must be exactly those [`super::bundle::seal`] writes (found by hostile
/// use: with the encryption flag set in the zip directory, a zeroed CRC-32 or the
/// data-descriptor flag in a local header, `verify` passed bundles that `unzip` and Python's
/// zipfile then refuse, as no hash covers those fields). For every entry, in the order of the
/// zip directory: its local header starts where the entry before it ends (the first at byte
/// 0) and agrees with its directory record in every field they share (version needed, flags,
/// method, time, CRC-32, sizes, name); the flags are those seal writes (none, or only "UTF-8
/// name" for a name that is not ASCII: no encryption, no data descriptor); the method is the
/// one seal picks for the name; "version made by" is Unix and the version needed; the record
/// names disk 0, no internal attributes and a regular file with [`ENTRY_MODE`]. The directory
/// starts where the last entry ends, and its end record counts exactly its entries, its size
/// and its start. The CRC-32 itself is checked against the content where the content is read.
/// Returns the entry (when one is at fault) and what differs.
fn check_structure(zip: &mut zip::ZipArchive<File>, bundle: &Path) -> Result<(), (Option<String>, String)> {
    use std::io::BufReader;
    const MAX32: u32 = u32::MAX;
    let whole = |why: String| (None, why);
    let io = |e: std::io::Error| (None, format!("cannot read the zip's headers: {e}"));
    // What the zip crate read of each entry, in the zip directory's order.
    let mut parsed = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let f = zip.by_index_raw(i).map_err(|e| whole(format!("cannot read entry {i}: {}", zip_why(e))))?;
        parsed.push((f.name().to_string(), f.name_raw().to_vec(), f.header_start(), f.data_start(), f.compressed_size(), f.size()));
    }
    let directory = zip.central_directory_start();
    let mut file = BufReader::new(File::open(bundle).map_err(io)?);
    file.seek(SeekFrom::Start(directory)).map_err(io)?;
    let mut records = Vec::with_capacity(parsed.len());
    let mut at = directory;
    for _ in 0..parsed.len() {
        let mut fixed = [0u8; 46];
        file.read_exact(&mut fixed).map_err(io)?;
        if fixed[..4] != [0x50, 0x4b, 0x01, 0x02] {
            return Err(whole("a zip directory record is not where the one before it ends (the bundle was altered)".into()));
        }
        let header = Header::parse(&fixed[6..]);
        let comment = u16::from_le_bytes([fixed[32], fixed[33]]);
        let mut name = vec![0u8; usize::from(header.name_len)];
        file.read_exact(&mut name).map_err(io)?;
        let rest = i64::from(header.extra_len) + i64::from(comment);
        file.seek_relative(rest).map_err(io)?;
        at += 46 + header.name_len as u64 + rest as u64;
        records.push((fixed, header, name));
    }
    let directory_end = at;
    let mut expected_start = 0u64;
    for ((entry, name_raw, header_start, data_start, compressed, size), (fixed, central, name)) in parsed.iter().zip(&records) {
        let differs = |field: &str, place: &str, found: String, writes: String| -> Result<(), (Option<String>, String)> {
            Err((Some(entry.clone()), format!("{field} in its {place}: {found}, where export writes {writes}: the bundle was altered after sealing")))
        };
        if name != name_raw {
            return Err(whole("the zip directory does not match what the zip reader found (the bundle was altered)".into()));
        }
        let u16_at = |i: usize| u16::from_le_bytes([fixed[i], fixed[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]]);
        let zip64 = central.compressed == MAX32 || central.size == MAX32 || u32_at(42) == MAX32;
        // What seal writes for this entry.
        let method = if super::bundle::deflates(entry) { 8 } else { 0 };
        let base_version = if method == 8 { 20 } else { 10 };
        let flags = if name_raw.is_ascii() { 0 } else { 1 << 11 };
        if central.method != method {
            return differs("the compression method", "zip directory record", central.method.to_string(), method.to_string());
        }
        if central.flags != flags {
            return differs("the flags", "zip directory record", flag_names(central.flags), flag_names(flags));
        }
        if central.needed != base_version && !(zip64 && central.needed == 45) {
            return differs("the version needed to extract", "zip directory record", central.needed.to_string(), base_version.to_string());
        }
        if u16_at(4) != 0x0300 | central.needed {
            return differs("the version made by", "zip directory record", format!("{:#06x}", u16_at(4)), format!("{:#06x}", 0x0300 | central.needed));
        }
        if u16_at(34) != 0 || u16_at(36) != 0 {
            return differs("the disk number and internal attributes", "zip directory record", format!("{} and {}", u16_at(34), u16_at(36)), "0 and 0".into());
        }
        let external = (libc::S_IFREG | ENTRY_MODE) << 16;
        if u32_at(38) != external {
            return differs("the external attributes", "zip directory record", format!("{:#010x}", u32_at(38)), format!("{external:#010x}"));
        }
        if *header_start != expected_start {
            let why = if *header_start > expected_start { "bytes of no entry before it" } else { "it overlaps the entry before it" };
            return Err((Some(entry.clone()), format!("its local header is at offset {header_start}, not at {expected_start} where the entry before it ends ({why}): the bundle was altered after sealing")));
        }
        // The local header, bounded: 30 bytes, its name and its extra field (at most 64 KiB).
        file.seek(SeekFrom::Start(*header_start)).map_err(io)?;
        let mut head = [0u8; 30];
        file.read_exact(&mut head).map_err(io)?;
        if head[..4] != [0x50, 0x4b, 0x03, 0x04] {
            return Err((Some(entry.clone()), format!("no local header at offset {header_start}, where the zip directory says it is: the bundle was altered after sealing")));
        }
        let local = Header::parse(&head[4..]);
        let mut local_name = vec![0u8; usize::from(local.name_len)];
        file.read_exact(&mut local_name).map_err(io)?;
        let mut local_extra = vec![0u8; usize::from(local.extra_len)];
        file.read_exact(&mut local_extra).map_err(io)?;
        let shared = [
            ("the version needed to extract", local.needed, central.needed),
            ("the flags", local.flags, central.flags),
            ("the compression method", local.method, central.method),
            ("the modification time", local.time, central.time),
            ("the modification date", local.date, central.date),
        ];
        for (field, found, writes) in shared {
            if found != writes {
                let (found, writes) = if field == "the flags" { (flag_names(found), flag_names(writes)) } else { (found.to_string(), writes.to_string()) };
                return Err((Some(entry.clone()), format!("{field} in its local header ({found}) differs from its zip directory record ({writes}): the bundle was altered after sealing")));
            }
        }
        if local.crc != central.crc {
            return Err((Some(entry.clone()), format!("the CRC-32 in its local header ({:#010x}) differs from its zip directory record ({:#010x}): the bundle was altered after sealing", local.crc, central.crc)));
        }
        if local_name != *name_raw {
            return Err((Some(entry.clone()), format!("its local header names it {:?}: the bundle was altered after sealing", String::from_utf8_lossy(&local_name))));
        }
        // Sizes: as in the directory; for a ZIP64 entry (4 GiB and more) both sizes are in
        // the local header's ZIP64 field, which must be the only extra field there.
        let local_sizes = if local.compressed == MAX32 && local.size == MAX32 {
            match local_extra.as_slice() {
                [1, 0, 16, 0, rest @ ..] if rest.len() == 16 => {
                    let size = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
                    let compressed_size = u64::from_le_bytes(rest[8..].try_into().expect("8 bytes"));
                    Some((compressed_size, size))
                }
                _ => None,
            }
        } else if local_extra.is_empty() {
            Some((u64::from(local.compressed), u64::from(local.size)))
        } else {
            None
        };
        match local_sizes {
            Some(sizes) if sizes == (*compressed, *size) => {}
            Some((c, s)) => {
                return Err((Some(entry.clone()), format!("the sizes in its local header ({c} compressed, {s} bytes) differ from its zip directory record ({compressed} compressed, {size} bytes): the bundle was altered after sealing")));
            }
            None => return Err((Some(entry.clone()), format!("its local header holds an extra field of {} bytes that export does not write: the bundle was altered after sealing", local_extra.len()))),
        }
        if method == 0 && compressed != size {
            return Err((Some(entry.clone()), format!("stored, yet {compressed} bytes compressed for {size} bytes: the bundle was altered after sealing")));
        }
        if *data_start != header_start + 30 + u64::from(local.name_len) + u64::from(local.extra_len) {
            return Err(whole("the zip reader's view of a local header differs from its bytes (the bundle was altered)".into()));
        }
        expected_start = data_start + compressed;
    }
    if directory != expected_start {
        return Err(whole(format!("the zip directory starts at offset {directory}, not at {expected_start} where the last entry ends: the bundle was altered after sealing")));
    }
    // The end record (after the ZIP64 end record and its locator, where there are those).
    file.seek(SeekFrom::Start(directory_end)).map_err(io)?;
    let mut signature = [0u8; 4];
    file.read_exact(&mut signature).map_err(io)?;
    let mut end_at = directory_end;
    if signature == [0x50, 0x4b, 0x06, 0x06] {
        let mut size = [0u8; 8];
        file.read_exact(&mut size).map_err(io)?;
        end_at += 12 + u64::from_le_bytes(size) + 20;
        file.seek(SeekFrom::Start(end_at)).map_err(io)?;
        file.read_exact(&mut signature).map_err(io)?;
    }
    if signature != [0x50, 0x4b, 0x05, 0x06] {
        return Err(whole("no end of the zip directory where the directory ends (the bundle was altered)".into()));
    }
    let mut end = [0u8; 18];
    file.read_exact(&mut end).map_err(io)?;
    let u16_at = |i: usize| u16::from_le_bytes([end[i], end[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([end[i], end[i + 1], end[i + 2], end[i + 3]]);
    let count = u16::try_from(records.len()).unwrap_or(u16::MAX);
    let size = u32::try_from(directory_end - directory).unwrap_or(MAX32);
    let start = u32::try_from(directory).unwrap_or(MAX32);
    let found = (u16_at(0), u16_at(2), u16_at(4), u16_at(6), u32_at(8), u32_at(12));
    let writes = (0, 0, count, count, size, start);
    if found != writes && !(end_at != directory_end && (found.2 == u16::MAX || found.4 == MAX32 || found.5 == MAX32)) {
        return Err(whole(format!(
            "the end of the zip directory says disks {} and {}, {} and {} entries, {} bytes at offset {}; export writes disks 0 and 0, {count} and {count} entries, {size} bytes at offset {start}: the bundle was altered after sealing",
            found.0, found.1, found.2, found.3, found.4, found.5
        )));
    }
    Ok(())
}

/// Zip header flags in words, for a finding.
fn flag_names(flags: u16) -> String {
    if flags == 0 {
        return "none".into();
    }
    let mut names = Vec::new();
    for (bit, name) in [(0, "encrypted"), (3, "data descriptor"), (11, "UTF-8 name")] {
        if flags & (1 << bit) != 0 {
            names.push(name.to_string());
        }
    }
    let others = flags & !(1 | 1 << 3 | 1 << 11);
    if others != 0 {
        names.push(format!("other bits {others:#06x}"));
    }
    format!("{flags:#06x} ({})", names.join(", "))
}

/// What a zip entry's Unix mode makes it when that is not a regular file (a mode without a
/// file type, as some writers store, counts as a file).
fn not_a_regular_file(mode: u32) -> Option<&'static str> {
    match mode & libc::S_IFMT {
        0 | libc::S_IFREG => None,
        libc::S_IFLNK => Some("symbolic link"),
        libc::S_IFDIR => Some("directory"),
        _ => Some("special file"),
    }
}

/// The permissions [`super::bundle::seal`] stores with every entry.
pub const ENTRY_MODE: u32 = 0o644;

/// A ZIP64 extra field in a local header: its id and length, then both sizes (20 bytes).
const ZIP64_LOCAL_EXTRA: u64 = 20;

/// Whether a zip extra field holds nothing but ZIP64 fields (header id 1).
fn only_zip64_fields(mut extra: &[u8]) -> bool {
    while extra.len() >= 4 {
        let (id, len) = (u16::from_le_bytes([extra[0], extra[1]]), usize::from(u16::from_le_bytes([extra[2], extra[3]])));
        if id != 1 || extra.len() < 4 + len {
            return false;
        }
        extra = &extra[4 + len..];
    }
    extra.is_empty()
}

/// Where the zip's end-of-central-directory record ends (its comment included): walked from the
/// start of the central directory over its `entries` records, past a ZIP64 end record and
/// locator if there are any, so that anything behind it shows as added.
fn end_of_directory(bundle: &Path, directory: u64, entries: usize) -> std::io::Result<u64> {
    use std::io::{BufReader, Seek, SeekFrom};
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut file = BufReader::new(File::open(bundle)?);
    file.seek(SeekFrom::Start(directory))?;
    let mut at = directory;
    let mut fixed = [0u8; 46];
    for _ in 0..entries {
        // A central directory record: 46 bytes, then its name, extra field and comment.
        file.read_exact(&mut fixed)?;
        if fixed[..4] != [0x50, 0x4b, 0x01, 0x02] {
            return Err(bad("a zip directory record is not where the one before it ends"));
        }
        let var = [28, 30, 32].iter().map(|&i| i64::from(u16::from_le_bytes([fixed[i], fixed[i + 1]]))).sum::<i64>();
        file.seek_relative(var)?;
        at += 46 + var as u64;
    }
    let mut signature = [0u8; 4];
    file.read_exact(&mut signature)?;
    if signature == [0x50, 0x4b, 0x06, 0x06] {
        // ZIP64 end record (its size after the first 12 bytes at byte 4), then its locator.
        let mut size = [0u8; 8];
        file.read_exact(&mut size)?;
        let record = 12 + u64::from_le_bytes(size);
        at += record + 20;
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(&mut signature)?;
    }
    if signature != [0x50, 0x4b, 0x05, 0x06] {
        return Err(bad("no end of the zip directory where the directory ends"));
    }
    let mut rest = [0u8; 18];
    file.read_exact(&mut rest)?;
    Ok(at + 22 + u64::from(u16::from_le_bytes([rest[16], rest[17]])))
}

/// The file name in the zip local file header at `offset`, if one is there.
fn local_header_name(bundle: &Path, offset: u64) -> Option<String> {
    use std::io::Seek;
    /// Local file header: signature, then the name's length at byte 26 and the name at 30.
    const LOCAL_HEADER: [u8; 4] = [0x50, 0x4b, 0x03, 0x04];
    let mut file = File::open(bundle).ok()?;
    file.seek(std::io::SeekFrom::Start(offset)).ok()?;
    let mut header = [0u8; 30];
    file.read_exact(&mut header).ok()?;
    if header[..4] != LOCAL_HEADER {
        return None;
    }
    let mut name = vec![0u8; usize::from(u16::from_le_bytes([header[26], header[27]]))];
    file.read_exact(&mut name).ok()?;
    String::from_utf8(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extra_field_is_allowed_only_when_it_holds_zip64_sizes() {
        assert!(only_zip64_fields(&[]));
        assert!(only_zip64_fields(&[1, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        assert!(!only_zip64_fields(&[0x55, 0x54, 1, 0, 9]), "an extended timestamp");
        assert!(!only_zip64_fields(&[1, 0, 200, 0, 0, 0]), "a length past the field's end");
        assert!(!only_zip64_fields(&[1, 0, 0, 0, 7]), "a stray byte after the fields");
    }
    use crate::export::bundle::{seal, BundleFile};
    use crate::export::keys::SigningKey;

    /// Counts the bytes it sees and fails on a given name.
    struct Sized {
        fail_on: &'static str,
    }

    impl MediaCheck for Sized {
        fn applies(&self, name: &str, _: &Value) -> bool {
            name.ends_with(".mp4")
        }

        fn check(&self, name: &str, path: &Path, manifest: &Value) -> Result<String, String> {
            assert_eq!(path.extension().unwrap(), "mp4", "extracted under its own name");
            let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
            if name == self.fail_on {
                return Err(format!("case {} says no", manifest["case"]));
            }
            Ok(format!("{len} bytes extracted"))
        }
    }

    #[test]
    fn media_checks_see_the_extracted_file_and_can_fail_it() {
        let dir = tempfile::tempdir().unwrap();
        let (video, notes) = (dir.path().join("v.mp4"), dir.path().join("n.txt"));
        std::fs::write(&video, vec![1u8; 1000]).unwrap();
        std::fs::write(&notes, b"report").unwrap();
        let files = [BundleFile { name: "video.mp4".into(), path: video }, BundleFile { name: "report.txt".into(), path: notes }];
        let bundle = dir.path().join("case.zip");
        seal(&bundle, &files, serde_json::json!({ "case": "7" }), &SigningKey::generate().unwrap()).unwrap();
        let pass: Vec<Box<dyn MediaCheck>> = vec![Box::new(Sized { fail_on: "" })];
        let report = verify_with(&bundle, None, &pass);
        assert!(report.ok(), "{report}");
        assert!(report.to_string().contains("OK      video.mp4: 1000 bytes, SHA-256 matches, 1000 bytes extracted"), "{report}");
        let fail: Vec<Box<dyn MediaCheck>> = vec![Box::new(Sized { fail_on: "video.mp4" })];
        let report = verify_with(&bundle, None, &fail);
        assert!(!report.ok());
        assert_eq!(report.failures().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["video.mp4"]);
        assert!(report.to_string().contains("FAILED  video.mp4: case \"7\" says no"), "{report}");
    }

    /// A sealed bundle with two entries (a stored one and a deflated one), its bytes and the
    /// offsets of `report.txt`'s local header and zip directory record.
    fn sealed_with_headers(dir: &Path) -> (PathBuf, Vec<u8>, usize, usize) {
        let (video, notes) = (dir.join("v.mp4"), dir.join("n.txt"));
        std::fs::write(&video, vec![1u8; 1000]).unwrap();
        std::fs::write(&notes, b"report report report").unwrap();
        let files = [BundleFile { name: "video.mp4".into(), path: video }, BundleFile { name: "report.txt".into(), path: notes }];
        let bundle = dir.join("case.zip");
        seal(&bundle, &files, serde_json::json!({ "case": "7" }), &SigningKey::generate().unwrap()).unwrap();
        let bytes = std::fs::read(&bundle).unwrap();
        let local = bytes.windows(34).position(|w| w[..4] == [0x50, 0x4b, 0x03, 0x04] && &w[30..] == b"repo").unwrap();
        let central = bytes.windows(50).position(|w| w[..4] == [0x50, 0x4b, 0x01, 0x02] && &w[46..] == b"repo").unwrap();
        (bundle, bytes, local, central)
    }

    /// The structure check of each field export writes: a sealed bundle passes it, and a change
    /// of one header field that no hash covers fails it, naming the entry and the field.
    #[test]
    fn the_zip_structure_must_be_the_one_export_writes() {
        let dir = tempfile::tempdir().unwrap();
        let (bundle, pristine, local, central) = sealed_with_headers(dir.path());
        let check = |bytes: &[u8]| {
            std::fs::write(&bundle, bytes).unwrap();
            let mut zip = zip::ZipArchive::new(File::open(&bundle).unwrap()).unwrap();
            check_structure(&mut zip, &bundle)
        };
        assert_eq!(check(&pristine), Ok(()));
        let end = pristine.len() - 22;
        let cases: [(usize, &[u8], Option<&str>, &str); 14] = [
            (central + 8, &[0x01, 0], Some("report.txt"), "the flags in its zip directory record: 0x0001 (encrypted)"),
            (local + 6, &[0x01, 0], Some("report.txt"), "the flags in its local header (0x0001 (encrypted))"),
            (local + 6, &[0x08, 0], Some("report.txt"), "(0x0008 (data descriptor))"),
            (local + 6, &[0, 0x08], Some("report.txt"), "(0x0800 (UTF-8 name))"),
            (central + 10, &[0x08, 0], Some("report.txt"), "the compression method in its zip directory record: 0, where export writes 8"),
            (local + 10, &[0x02, 0], Some("report.txt"), "the modification time in its local header"),
            (local + 12, &[0x01, 0], Some("report.txt"), "the modification date in its local header"),
            (local + 14, &[0x01, 0, 0, 0], Some("report.txt"), "the CRC-32 in its local header"),
            (local + 18, &[0x01, 0, 0, 0], Some("report.txt"), "the sizes in its local header"),
            (central + 4, &[0x01, 0], Some("report.txt"), "the version made by in its zip directory record: 0x0315"),
            (central + 36, &[0x01, 0], Some("report.txt"), "the disk number and internal attributes"),
            (central + 40, &[0, 0x01, 0, 0], None, ""),
            (end + 8, &[0x01, 0], None, "the end of the zip directory says"),
            (end + 4, &[0x01, 0], None, "the end of the zip directory says disks 1 and 0"),
        ];
        for (at, mask, entry, words) in cases {
            let mut bytes = pristine.clone();
            for (i, m) in mask.iter().enumerate() {
                bytes[at + i] ^= m;
            }
            let Ok(mut zip) = std::fs::write(&bundle, &bytes).map_err(|_| ()).and_then(|_| zip::ZipArchive::new(File::open(&bundle).unwrap()).map_err(|_| ())) else {
                continue; // the zip crate refuses it already
            };
            let (name, why) = check_structure(&mut zip, &bundle).expect_err(words);
            if entry.is_some() {
                assert_eq!(name.as_deref(), entry, "{why}");
            }
            assert!(why.contains(words), "{why}");
        }
    }

    #[test]
    fn flags_are_named_in_words() {
        assert_eq!(flag_names(0), "none");
        assert_eq!(flag_names(0x0009), "0x0009 (encrypted, data descriptor)");
        assert_eq!(flag_names(0x0802), "0x0802 (UTF-8 name, other bits 0x0002)");
    }

    #[test]
    fn a_file_that_is_not_a_zip_fails_naming_the_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("case.zip");
        std::fs::write(&bundle, b"not a zip").unwrap();
        let report = verify(&bundle, None);
        assert!(!report.ok());
        assert!(report.to_string().contains(&format!("FAILED  {}: cannot read the bundle", bundle.display())), "{report}");
    }

    /// Found by hostile use: a bundle with its last 10 bytes cut failed with "i/o error" alone.
    #[test]
    fn a_bundle_cut_short_fails_saying_so() {
        let dir = tempfile::tempdir().unwrap();
        let notes = dir.path().join("notes.txt");
        std::fs::write(&notes, "notes").unwrap();
        let bundle = dir.path().join("case.zip");
        seal(&bundle, &[BundleFile { name: "report.txt".into(), path: notes }], serde_json::json!({}), &SigningKey::generate().unwrap()).unwrap();
        let bytes = std::fs::read(&bundle).unwrap();
        std::fs::write(&bundle, &bytes[..bytes.len() - 10]).unwrap();
        let report = verify(&bundle, None).to_string();
        assert!(report.contains("cannot read the bundle: the zip is cut short"), "{report}");
    }
}

//! The export bundle: one zip holding the case's files, `manifest.json` and
//! `manifest.json.minisig`.
//!
//! Layout (in this order, so the same inputs give the same archive layout):
//! 1. the given files, in the order given, under their bundle names;
//! 2. `manifest.json`: the caller's case fields, plus `format`, `veilcam` (version),
//!    `sealed_at` (UTC), `files` (name, bytes, SHA-256 of each bundle file) and `signer`
//!    (fingerprint, key id and the minisign public key);
//! 3. `manifest.json.minisig`: an Ed25519 signature of `manifest.json` in minisign's format
//!    ([`super::minisig`]). The manifest names every other file with its hash, so this one
//!    signature covers the whole bundle.
//!
//! Media files are stored as they are (they are compressed already); text (JSON, reports) is
//! deflated. Every entry carries the sealing time (UTC; zip times have no zone, and the time
//! that counts is `sealed_at` in the signed manifest). The zip is written to a temp name beside the target and renamed only
//! when complete ([`crate::output::AtomicOutput`]); an existing target is never replaced.

use std::fs::OpenOptions;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

use super::keys::{hex, SigningKey};
use super::minisig;
use crate::error::{Error, Result};
use crate::output::AtomicOutput;

/// Name of the manifest inside a bundle.
pub const MANIFEST: &str = "manifest.json";
/// Name of the manifest's minisign signature inside a bundle.
pub const SIGNATURE: &str = "manifest.json.minisig";
/// Value of the manifest's `format` field.
pub const FORMAT: &str = "veilcam-bundle/1";
/// Manifest fields `seal` writes itself; a caller's manifest may not hold them.
pub const RESERVED_FIELDS: [&str; 4] = ["format", "files", "signer", "sealed_at"];
/// Bundle-file extensions that are deflated (text); everything else is stored.
const DEFLATED_EXTENSIONS: [&str; 7] = ["json", "jsonl", "txt", "md", "html", "csv", "toml"];
/// Copy buffer size.
const CHUNK: usize = 1 << 20;

/// A file to put into a bundle: its name inside the bundle and the file on disk.
#[derive(Clone, Debug)]
pub struct BundleFile {
    pub name: String,
    pub path: PathBuf,
}

/// One file as listed in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What [`seal`] wrote.
#[derive(Clone, Debug)]
pub struct SealedBundle {
    /// The bundle, at its final name.
    pub path: PathBuf,
    /// Every bundle file (not the manifest and its signature), as listed in the manifest.
    pub files: Vec<FileEntry>,
    /// SHA-256 of `manifest.json`, hex.
    pub manifest_sha256: String,
    /// The signing key's fingerprint (see [`super::keys`]).
    pub fingerprint: String,
}

/// The untrusted comment of a bundle's signature: `verify` requires exactly this, so the
/// signature file, the one entry the manifest cannot hash, carries nothing else (found by
/// hostile use: a face crop rode in it as base64).
pub fn signature_comment(public: &super::keys::PublicKey) -> String {
    format!("signature from veilcam key {}", public.key_id_display())
}

/// Writes the zip at a temp name beside `target` and renames it only when complete; refuses an
/// existing `target`. `manifest` holds the case fields (case, basis, requester, operator,
/// range, clock notes, sources with SHA-256, models with SHA-256, settings, ...) and must be a
/// JSON object without the [`RESERVED_FIELDS`]; `seal` adds the SHA-256 and size of every
/// bundle file, the signer's public key and fingerprint, and signs.
pub fn seal(target: &Path, files: &[BundleFile], manifest: Value, key: &SigningKey) -> Result<SealedBundle> {
    let mut manifest = match manifest {
        Value::Object(map) => map,
        other => return Err(Error::Settings(format!("bundle manifest must be a JSON object, not {other}"))),
    };
    if let Some(field) = RESERVED_FIELDS.iter().find(|f| manifest.contains_key(**f)) {
        return Err(Error::Settings(format!("bundle manifest field `{field}` is written by seal itself")));
    }
    check_names(files)?;
    let out = AtomicOutput::prepare(target, false).map_err(never_overwrites)?;
    let file = OpenOptions::new().write(true).truncate(true).open(out.temp_path()).map_err(|e| Error::io(target, e))?;
    let mut zip = zip::ZipWriter::new(FailOnce::new(BufWriter::new(file)));
    let zip_err = |e: zip::result::ZipError| Error::io(target, zip_io(e));

    let sealed_at = crate::live::segments::format_rfc3339_ms(crate::live::segments::now_ms());
    let time = zip_time(&sealed_at);
    let mut entries = Vec::with_capacity(files.len());
    for f in files {
        crate::interrupt::check()?;
        entries.push(add_file(&mut zip, f, time).map_err(|e| match e {
            AddError::Source(e) => e,
            AddError::Bundle(e) => Error::io(target, e),
            AddError::Interrupted => Error::Interrupted,
        })?);
    }

    let public = key.public();
    manifest.insert("format".into(), json!(FORMAT));
    manifest.entry("veilcam").or_insert_with(|| json!({ "version": env!("CARGO_PKG_VERSION") }));
    manifest.insert("sealed_at".into(), json!(sealed_at));
    manifest.insert("files".into(), serde_json::to_value(&entries).expect("file entries serialise"));
    manifest.insert(
        "signer".into(),
        json!({
            "fingerprint": public.fingerprint(),
            "key_id": public.key_id_display(),
            "public_key": public.to_minisign_base64(),
            "signature": format!("{SIGNATURE}: minisign, Ed25519 over the BLAKE2b-512 hash of {MANIFEST}"),
        }),
    );
    let case = manifest.get("case").and_then(Value::as_str).unwrap_or("").to_string();
    let mut manifest_bytes = serde_json::to_vec_pretty(&Value::Object(manifest)).expect("a JSON value serialises");
    manifest_bytes.push(b'\n');
    let trusted = format!("timestamp:{sealed_at}\tfile:{MANIFEST}\tcase:{case}\tsigner:{}", public.fingerprint());
    let signature = minisig::sign(key, &manifest_bytes, &signature_comment(&public), &trusted);

    for (name, bytes) in [(MANIFEST, &manifest_bytes[..]), (SIGNATURE, signature.as_bytes())] {
        zip.start_file(name, options_for(name, bytes.len() as u64, time)).map_err(zip_err)?;
        zip.write_all(bytes).map_err(|e| Error::io(target, e))?;
    }
    let writer = zip.finish().map_err(zip_err)?.into_inner().map_err(|e| Error::io(target, e))?;
    writer.into_inner().map_err(|e| Error::io(target, e.into_error()))?.sync_all().map_err(|e| Error::io(target, e))?;
    out.commit().map_err(never_overwrites)?;
    Ok(SealedBundle {
        path: target.to_path_buf(),
        files: entries,
        manifest_sha256: hex(&Sha256::digest(&manifest_bytes)),
        fingerprint: public.fingerprint(),
    })
}

/// An existing bundle is named as export names it: an export never overwrites one, so the
/// generic advice to pass `--overwrite` does not apply (found by hostile use: of two exports
/// racing to the same name, the loser was told to pass `--overwrite`, which export refuses).
fn never_overwrites(e: Error) -> Error {
    match e {
        Error::OutputExists { path } => super::ExportError::BundleExists { path }.into(),
        e => e,
    }
}

/// The i/o error under a zip error: the zip crate words its own `Io` as "i/o error" alone
/// (found by hostile use: a full disk was reported as "i/o error", with no cause).
fn zip_io(e: zip::result::ZipError) -> std::io::Error {
    match e {
        zip::result::ZipError::Io(e) => e,
        e => std::io::Error::other(e),
    }
}

/// The bundle's temp file as the zip writer writes it. Its first error is returned, and from
/// then on it writes nothing and reports success: a zip writer dropped unfinished (on every
/// error path of [`seal`]) finishes the zip itself and prints its own error when that fails
/// (found by hostile use: on a full disk export printed "ZipWriter drop failed: Io(..)"
/// before its error). The file is removed then anyway. [`FailOnce::into_inner`] still fails
/// with that first error, so no write the zip writer might let pass goes unnoticed.
struct FailOnce<W> {
    inner: W,
    failed: Option<(std::io::ErrorKind, String)>,
    /// Where the next write goes, and the end of what was written (kept also once failed,
    /// where the zip writer's own bookkeeping still seeks).
    at: u64,
    end: u64,
}

impl<W: Write + Seek> FailOnce<W> {
    fn new(inner: W) -> Self {
        FailOnce { inner, failed: None, at: 0, end: 0 }
    }

    fn into_inner(self) -> std::io::Result<W> {
        match self.failed {
            Some((kind, why)) => Err(std::io::Error::new(kind, why)),
            None => Ok(self.inner),
        }
    }

    /// Passes on the first error, noting it; then the writer is inert.
    fn note<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &result {
            self.failed = Some((e.kind(), e.to_string()));
        }
        result
    }
}

impl<W: Write + Seek> Write for FailOnce<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = match self.failed {
            Some(_) => buf.len(),
            None => {
                let written = self.inner.write(buf);
                self.note(written)?
            }
        };
        self.at += n as u64;
        self.end = self.end.max(self.at);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.failed {
            Some(_) => Ok(()),
            None => {
                let flushed = self.inner.flush();
                self.note(flushed)
            }
        }
    }
}

impl<W: Write + Seek> Seek for FailOnce<W> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.at = match self.failed {
            Some(_) => match to {
                SeekFrom::Start(n) => n,
                SeekFrom::Current(d) => self.at.saturating_add_signed(d),
                SeekFrom::End(d) => self.end.saturating_add_signed(d),
            },
            None => {
                let moved = self.inner.seek(to);
                self.note(moved)?
            }
        };
        self.end = self.end.max(self.at);
        Ok(self.at)
    }
}

/// Why a copy stopped: reading the source file or writing the bundle failed, or a signal.
enum AddError {
    Source(Error),
    Bundle(std::io::Error),
    Interrupted,
}

/// Copies one file into the zip, hashing what is written.
fn add_file<W: Write + Seek>(zip: &mut zip::ZipWriter<W>, f: &BundleFile, time: zip::DateTime) -> std::result::Result<FileEntry, AddError> {
    let mut src = super::keys::open_regular(&f.path).map_err(AddError::Source)?;
    let len = src.metadata().map_err(|e| AddError::Source(Error::io(&f.path, e)))?.len();
    zip.start_file(f.name.as_str(), options_for(&f.name, len, time)).map_err(|e| AddError::Bundle(zip_io(e)))?;
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut buf = vec![0u8; CHUNK];
    loop {
        if crate::interrupt::requested() {
            return Err(AddError::Interrupted);
        }
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(AddError::Source(Error::io(&f.path, e))),
        };
        hasher.update(&buf[..n]);
        zip.write_all(&buf[..n]).map_err(AddError::Bundle)?;
        bytes += n as u64;
    }
    Ok(FileEntry { name: f.name.clone(), bytes, sha256: hex(&hasher.finalize()) })
}

/// A zip entry time from `2026-11-30T19:04:05.123Z` (the zip epoch, 1980, if out of range).
fn zip_time(rfc3339: &str) -> zip::DateTime {
    let num = |range: std::ops::Range<usize>| rfc3339.get(range).and_then(|t| t.parse::<u16>().ok());
    let parts = (num(0..4), num(5..7), num(8..10), num(11..13), num(14..16), num(17..19));
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = parts else {
        return zip::DateTime::default();
    };
    zip::DateTime::from_date_and_time(y, mo as u8, d as u8, h as u8, mi as u8, s as u8).unwrap_or_default()
}

/// Whether the entry `name` is deflated (text) rather than stored (media); `verify` requires it.
pub(crate) fn deflates(name: &str) -> bool {
    let ext = Path::new(name).extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    DEFLATED_EXTENSIONS.contains(&ext.as_str())
}

/// Deflate for text, store for media; ZIP64 for files from 4 GiB.
fn options_for(name: &str, len: u64, time: zip::DateTime) -> SimpleFileOptions {
    let method = if deflates(name) { CompressionMethod::Deflated } else { CompressionMethod::Stored };
    SimpleFileOptions::default()
        .compression_method(method)
        .last_modified_time(time)
        .unix_permissions(super::verify::ENTRY_MODE)
        .large_file(len >= u64::from(u32::MAX))
}

/// Every name must be a safe relative path (no `..`, no leading `/`, no empty part, no
/// control characters), unique, and not the manifest's or the signature's.
fn check_names(files: &[BundleFile]) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for f in files {
        if let Err(why) = check_name(&f.name) {
            return Err(Error::Settings(format!("bundle file name {:?} ({}): {why}", f.name, f.path.display())));
        }
        if !seen.insert(f.name.as_str()) {
            return Err(Error::Settings(format!("bundle file name {:?} is given twice", f.name)));
        }
    }
    Ok(())
}

/// Whether `name` may name a file inside a bundle (see `check_names`).
pub fn check_name(name: &str) -> std::result::Result<(), &'static str> {
    if name == MANIFEST || name == SIGNATURE {
        return Err("is reserved for the manifest");
    }
    if name.is_empty() || name.starts_with('/') || name.ends_with('/') {
        return Err("must be a relative file path");
    }
    if name.chars().any(|c| c.is_control() || c == '\\') {
        return Err("contains a control character or a backslash");
    }
    if name.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err("contains an empty, `.` or `..` path part");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::generate().unwrap()
    }

    #[test]
    fn unsafe_or_reserved_names_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.txt");
        std::fs::write(&src, b"a").unwrap();
        for name in ["../a.txt", "/a.txt", "a//b", "manifest.json", "", "a\\b", "x/./y"] {
            let target = dir.path().join("b.zip");
            let err = seal(&target, &[BundleFile { name: name.into(), path: src.clone() }], json!({}), &key()).unwrap_err();
            assert!(err.to_string().contains("bundle file name"), "{name}: {err}");
            assert!(!target.exists());
        }
        let twice = [BundleFile { name: "a.txt".into(), path: src.clone() }, BundleFile { name: "a.txt".into(), path: src.clone() }];
        assert!(seal(&dir.path().join("b.zip"), &twice, json!({}), &key()).unwrap_err().to_string().contains("twice"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left");
    }

    #[test]
    fn reserved_manifest_fields_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = seal(&dir.path().join("b.zip"), &[], json!({ "files": [] }), &key()).unwrap_err();
        assert!(err.to_string().contains("`files`"), "{err}");
    }

    #[test]
    fn an_existing_bundle_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("case.zip");
        std::fs::write(&target, b"earlier export").unwrap();
        let err = seal(&target, &[], json!({ "case": "1" }), &key()).unwrap_err();
        // Found by hostile use: the error told to pass --overwrite, which export refuses.
        assert!(matches!(err, Error::Export(crate::export::ExportError::BundleExists { .. })), "{err}");
        assert!(err.to_string().ends_with("already exists; an export never overwrites a bundle"), "{err}");
        assert_eq!(std::fs::read(&target).unwrap(), b"earlier export");
    }

    #[test]
    fn a_missing_source_file_leaves_no_bundle_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("case.zip");
        let files = [BundleFile { name: "video.mp4".into(), path: dir.path().join("gone.mp4") }];
        let err = seal(&target, &files, json!({}), &key()).unwrap_err().to_string();
        assert!(err.contains("gone.mp4"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "neither bundle nor temp file");
    }

    #[test]
    fn the_manifest_lists_every_file_with_its_hash_and_the_signer() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.mp4"), dir.path().join("b.json"));
        std::fs::write(&a, vec![7u8; 3 * CHUNK + 5]).unwrap();
        std::fs::write(&b, b"{\"frames\":[]}").unwrap();
        let files = [BundleFile { name: "video/a.mp4".into(), path: a.clone() }, BundleFile { name: "b.json".into(), path: b }];
        let k = key();
        let sealed = seal(&dir.path().join("case.zip"), &files, json!({ "case": "2026-117" }), &k).unwrap();
        assert_eq!(sealed.files[0].bytes, 3 * CHUNK as u64 + 5);
        assert_eq!(sealed.files[0].sha256, hex(&Sha256::digest(std::fs::read(&a).unwrap())));
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&sealed.path).unwrap()).unwrap();
        let names: Vec<_> = zip.file_names().map(str::to_string).collect();
        assert_eq!(names, ["video/a.mp4", "b.json", MANIFEST, SIGNATURE]);
        let mut text = String::new();
        zip.by_name(MANIFEST).unwrap().read_to_string(&mut text).unwrap();
        let manifest: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(manifest["case"], "2026-117");
        assert_eq!(manifest["signer"]["fingerprint"], k.public_fingerprint());
        assert_eq!(manifest["files"][1]["name"], "b.json");
        assert_eq!(hex(&Sha256::digest(text.as_bytes())), sealed.manifest_sha256);
        let time = zip.by_name(MANIFEST).unwrap().last_modified().unwrap();
        let sealed_at = manifest["sealed_at"].as_str().unwrap();
        assert_eq!(format!("{:04}-{:02}-{:02}T{:02}", time.year(), time.month(), time.day(), time.hour()), sealed_at[..13]);
    }
}

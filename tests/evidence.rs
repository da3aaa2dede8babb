//! Evidence end to end through the real CLI: `veilcam keys init`, bundles sealed from real
//! media (`sample_media/faces.mp4` as the working copy, `faces.json` as the sidecar), the
//! tamper cases of `veilcam verify` (one flipped byte in the video, sidecar, manifest or report;
//! a dropped file; an added file; a bundle re-signed with another key), and `veilcam log
//! verify` on an edited or deleted audit entry. Every test has its own `VEILCAM_HOME`.

mod common;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use veilcam::export::bundle::{seal, BundleFile, MANIFEST, SIGNATURE};
use veilcam::export::keys::SigningKey;
use veilcam::export::minisig;

const VIDEO: &str = "case-2026-117-front_door.mp4";
const SIDECAR: &str = "case-2026-117-front_door.sidecar.json";
const REPORT: &str = "report.txt";

/// A temp dir used as `VEILCAM_HOME`, with helpers to run the CLI in it.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn veilcam(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("veilcam runs")
    }

    /// The command [`veilcam`](Self::veilcam) runs.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_veilcam"));
        command.args(args).env("VEILCAM_HOME", self.path().join("home")).env_remove("XDG_DATA_HOME");
        command
    }

    fn keys_dir(&self) -> PathBuf {
        self.path().join("home/keys")
    }

    fn audit_log(&self) -> PathBuf {
        self.path().join("home/audit.jsonl")
    }

    /// `veilcam keys init`, returning the printed fingerprint.
    fn init_key(&self) -> String {
        let out = self.veilcam(&["keys", "init"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// A bundle sealed with the home's key from real media, at `case.zip`.
    fn bundle(&self) -> PathBuf {
        let report = self.path().join("report.txt");
        std::fs::write(&report, "Received faces.mp4; redacted; produced the working copy.\n").unwrap();
        let files = [
            BundleFile { name: VIDEO.into(), path: common::sample("faces.mp4") },
            BundleFile { name: SIDECAR.into(), path: common::sample("faces.json") },
            BundleFile { name: REPORT.into(), path: report },
        ];
        let key = SigningKey::load(&self.keys_dir()).unwrap();
        let target = self.path().join("case.zip");
        let manifest = json!({ "case": "2026-117", "basis": "court order 4 O 12/26", "requester": "test", "operator": "owner" });
        seal(&target, &files, manifest, &key).unwrap();
        target
    }

    /// `veilcam verify BUNDLE [args]`: exit status and stdout.
    fn verify(&self, bundle: &Path, args: &[&str]) -> (bool, String) {
        let mut all = vec!["verify", bundle.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = self.veilcam(&all);
        assert!(matches!(out.status.code(), Some(0 | 1)), "exit code {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr));
        let report = String::from_utf8(out.stdout).unwrap();
        eprintln!("$ veilcam {}\n{report}", all.join(" "));
        (out.status.success(), report)
    }
}

/// Names of the files `verify` reported as FAILED.
fn failed(report: &str) -> Vec<String> {
    report.lines().filter_map(|l| l.strip_prefix("FAILED  ")).map(|l| l.split(": ").next().unwrap().to_string()).collect()
}

/// A zip's entries, in order: name, compression, contents.
type Entries = Vec<(String, zip::CompressionMethod, Vec<u8>)>;

/// Every entry of a zip, in order: name, compression, contents.
fn entries(bundle: &Path) -> Entries {
    let mut zip = zip::ZipArchive::new(File::open(bundle).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).unwrap();
            (f.name().to_string(), f.compression(), bytes)
        })
        .collect()
}

/// Writes a new, well-formed zip (valid CRCs) with these entries over `bundle`: what someone
/// who edits a bundle with a zip tool produces.
fn rewrite(bundle: &Path, entries: &[(String, zip::CompressionMethod, Vec<u8>)]) {
    let mut zip = zip::ZipWriter::new(File::create(bundle).unwrap());
    for (name, method, bytes) in entries {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default().compression_method(*method)).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// Flips one bit of one byte in the middle of an entry's data, in place in the archive.
fn flip_in_place(bundle: &Path, name: &str) {
    let (start, len) = {
        let mut zip = zip::ZipArchive::new(File::open(bundle).unwrap()).unwrap();
        let f = zip.by_name(name).unwrap();
        (f.data_start(), f.compressed_size())
    };
    let mut file = std::fs::OpenOptions::new().read(true).write(true).open(bundle).unwrap();
    let at = start + len / 2;
    let mut byte = [0u8];
    file.seek(SeekFrom::Start(at)).unwrap();
    file.read_exact(&mut byte).unwrap();
    file.seek(SeekFrom::Start(at)).unwrap();
    file.write_all(&[byte[0] ^ 0x01]).unwrap();
}

/// `entries` with one byte of `name`'s contents flipped.
fn with_flipped(mut all: Entries, name: &str) -> Entries {
    let entry = all.iter_mut().find(|e| e.0 == name).unwrap();
    let mid = entry.2.len() / 2;
    entry.2[mid] ^= 0x01;
    all
}

#[test]
fn an_untouched_bundle_verifies_and_names_its_signer() {
    let home = Home::new();
    let fingerprint = home.init_key();
    let bundle = home.bundle();
    let (ok, report) = home.verify(&bundle, &[]);
    assert!(ok, "{report}");
    for name in [VIDEO, SIDECAR, REPORT, SIGNATURE] {
        assert!(report.lines().any(|l| l.starts_with(&format!("OK      {name}: "))), "{name} in\n{report}");
    }
    assert!(report.contains(&format!("signed with key {fingerprint}")), "{report}");
    let public = home.keys_dir().join("veilcam.pub");
    let (ok, report) = home.verify(&bundle, &["--key", public.to_str().unwrap()]);
    assert!(ok && report.contains("verifies with the expected key"), "{report}");
}

#[test]
fn one_flipped_byte_in_the_video_fails_the_video() {
    let home = Home::new();
    home.init_key();
    let bundle = home.bundle();
    flip_in_place(&bundle, VIDEO);
    let (ok, report) = home.verify(&bundle, &[]);
    assert!(!ok);
    assert_eq!(failed(&report), [VIDEO], "{report}");
    assert!(report.contains(&format!("FAILED  {VIDEO}: altered: SHA-256")), "{report}");
}

#[test]
fn one_flipped_byte_in_the_sidecar_fails_the_sidecar() {
    let home = Home::new();
    home.init_key();
    let bundle = home.bundle();
    rewrite(&bundle, &with_flipped(entries(&bundle), SIDECAR));
    let (ok, report) = home.verify(&bundle, &[]);
    assert!(!ok);
    assert_eq!(failed(&report), [SIDECAR], "{report}");
}

#[test]
fn one_flipped_byte_in_the_report_fails_the_report_also_in_place() {
    let home = Home::new();
    home.init_key();
    let bundle = home.bundle();
    let copy = home.path().join("copy.zip");
    std::fs::copy(&bundle, &copy).unwrap();
    rewrite(&bundle, &with_flipped(entries(&bundle), REPORT));
    let (ok, report) = home.verify(&bundle, &[]);
    assert!(!ok);
    assert_eq!(failed(&report), [REPORT], "{report}");
    // The report is deflated: a bit flipped in the compressed bytes is caught as well.
    flip_in_place(&copy, REPORT);
    let (ok, report) = home.verify(&copy, &[]);
    assert!(!ok);
    assert_eq!(failed(&report), [REPORT], "{report}");
}

#[test]
fn one_flipped_byte_in_the_manifest_fails_the_manifest() {
    let home = Home::new();
    home.init_key();
    let bundle = home.bundle();
    let mut all = entries(&bundle);
    let manifest = &mut all.iter_mut().find(|e| e.0 == MANIFEST).unwrap().2;
    // A byte inside the case number, so the manifest stays valid JSON.
    let at = manifest.windows(8).position(|w| w == b"2026-117").unwrap() + 7;
    manifest[at] ^= 0x01;
    rewrite(&bundle, &all);
    let (ok, report) = home.verify(&bundle, &[]);
    assert!(!ok);
    assert_eq!(failed(&report), [MANIFEST], "{report}");
    assert!(report.contains("altered after signing"), "{report}");
}

#[test]
fn a_dropped_file_is_named_as_missing() {
    let home = Home::new();
    home.init_key();
    let bundle = home.bundle();
    let all: Vec<_> = entries(&bundle).into_iter().filter(|e| e.0 != SIDECAR).collect();
    rewrite(&bundle, &all);
    let (ok, report) = home.verify(&bundle, &[]);
    assert!(!ok);
    assert_eq!(failed(&report), [SIDECAR], "{report}");
    assert!(report.contains(&format!("FAILED  {SIDECAR}: missing from the bundle")), "{report}");
}

#[test]
fn an_added_file_is_named_as_not_in_the_manifest() {
    let home = Home::new();
    home.init_key();
    let bundle = home.bundle();
    let mut all = entries(&bundle);
    all.push(("unredacted.mp4".into(), zip::CompressionMethod::Stored, std::fs::read(common::sample("faces.mp4")).unwrap()));
    rewrite(&bundle, &all);
    let (ok, report) = home.verify(&bundle, &[]);
    assert!(!ok);
    assert_eq!(failed(&report), ["unredacted.mp4"], "{report}");
    assert!(report.contains("not listed in the manifest"), "{report}");
}

#[test]
fn a_bundle_resigned_with_another_key_fails_against_the_expected_key() {
    let home = Home::new();
    let original = home.init_key();
    let bundle = home.bundle();
    // A forger swaps the video and signs a fresh manifest with their own key.
    let forger = SigningKey::generate().unwrap();
    let flipped = with_flipped(entries(&bundle), VIDEO);
    let video_sha = {
        use sha2::Digest;
        veilcam::export::keys::hex(&sha2::Sha256::digest(&flipped.iter().find(|e| e.0 == VIDEO).unwrap().2))
    };
    let all = resigned(flipped, &forger, |manifest| {
        manifest["files"][0]["sha256"] = json!(video_sha);
        manifest["signer"]["fingerprint"] = json!(forger.public_fingerprint());
        manifest["signer"]["public_key"] = json!(forger.public().to_minisign_base64());
    });
    rewrite(&bundle, &all);

    // Without the expected key the bundle is consistent, but the report names the forger's key.
    let (_, report) = home.verify(&bundle, &[]);
    assert!(report.contains(&format!("signed with key {}", forger.public_fingerprint())), "{report}");
    assert!(!report.contains(&original), "{report}");
    let public = home.keys_dir().join("veilcam.pub");
    let (ok, report) = home.verify(&bundle, &["--key", public.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(failed(&report), [SIGNATURE], "{report}");
    assert!(report.contains(&format!("not with the expected key {original}")), "{report}");
}

#[test]
fn keys_init_is_private_refuses_to_overwrite_and_is_recorded_in_the_audit_log() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    let fingerprint = home.init_key();
    assert_eq!(fingerprint.len(), 64);
    let secret = home.keys_dir().join("veilcam.key");
    assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
    let before = std::fs::read(&secret).unwrap();
    let again = home.veilcam(&["keys", "init"]);
    assert_eq!(again.status.code(), Some(1));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("veilcam.key") && err.contains("refusing to overwrite"), "{err}");
    assert_eq!(std::fs::read(&secret).unwrap(), before);
    let log = std::fs::read_to_string(home.audit_log()).unwrap();
    let first: Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(first["action"], "keys.init");
    assert_eq!(first["details"]["fingerprint"], fingerprint.as_str());
    let out = home.veilcam(&["log", "verify"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact"));
}

/// Found by hostile use: with `HOME` unset, keys and the audit log were looked for (and made)
/// under whatever directory veilcam ran in. The account's home directory stands in for it.
#[test]
fn without_home_the_keys_are_looked_for_in_the_accounts_home_not_the_current_directory() {
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_veilcam"))
        .args(["keys", "show"])
        .current_dir(cwd.path())
        .env_remove("HOME")
        .env_remove("VEILCAM_HOME")
        .env_remove("XDG_DATA_HOME")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let path = err.split_whitespace().find(|w| w.contains("veilcam.pub")).unwrap_or_else(|| panic!("{err}"));
        assert!(path.starts_with('/') && path.ends_with("/.local/share/veilcam/keys/veilcam.pub:"), "{err}");
    }
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0, "nothing made in the current directory");
}

#[test]
fn a_missing_or_unreadable_key_is_a_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    let out = home.veilcam(&["keys", "show"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("veilcam.pub"), "{}", String::from_utf8_lossy(&out.stderr));
    home.init_key();
    let secret = home.keys_dir().join("veilcam.key");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = home.veilcam(&["keys", "show"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&secret.display().to_string()) && err.contains("chmod 600"), "{err}");
}

#[test]
fn verify_is_recorded_in_the_audit_log() {
    let home = Home::new();
    home.init_key();
    let bundle = home.bundle();
    flip_in_place(&bundle, VIDEO);
    home.verify(&bundle, &[]);
    let entries = veilcam::export::audit::read_entries(&home.audit_log()).unwrap();
    let verify = entries.iter().find(|e| e.action == "verify").expect("a verify entry");
    assert_eq!(verify.details["ok"], false);
    assert_eq!(verify.details["case"], "2026-117");
    assert_eq!(verify.details["failed"], json!([VIDEO]));
    assert_eq!(entries.last().unwrap().action, "checkpoint", "sealed on close");
}

/// Found by hostile use: on a full disk an append was cut short, the torn line stayed, and
/// every later export refused the log ("line N is incomplete") until it was mended by hand. A
/// write that fails is taken back.
#[test]
fn an_audit_entry_cut_short_by_a_full_disk_is_taken_back() {
    use std::os::unix::process::CommandExt;
    let home = Home::new();
    home.init_key();
    let log = home.audit_log();
    let before = std::fs::read(&log).unwrap();
    // A file-size limit a few bytes past the log's end cuts the next entry short, as a full
    // disk does.
    let limit = before.len() as u64 + 40;
    let mut seal = home.command(&["log", "seal"]);
    // SAFETY: setrlimit(2) in the child before exec.
    unsafe {
        seal.pre_exec(move || {
            let rlimit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
            libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit);
            Ok(())
        });
    }
    let out = seal.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("audit.jsonl"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&log).unwrap(), before, "the cut-short entry was taken back");
    let verify = home.veilcam(&["log", "verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    assert!(home.veilcam(&["log", "seal"]).status.success(), "the log takes entries again");
}

#[test]
fn log_verify_names_an_edited_and_a_deleted_entry() {
    let home = Home::new();
    home.init_key();
    let bundle = home.bundle();
    for _ in 0..3 {
        home.verify(&bundle, &[]);
    }
    let path = home.audit_log();
    let original = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    assert!(lines.len() >= 6, "{original}");

    let edited: String = lines.iter().enumerate().map(|(i, l)| if i == 2 { l.replace("\"ok\":true", "\"ok\":false") } else { l.to_string() } + "\n").collect();
    std::fs::write(&path, edited).unwrap();
    let out = home.veilcam(&["log", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAILED  line 3 (seq 3): entry was altered"), "{stdout}");
    assert!(stdout.contains("DAMAGED"), "{stdout}");

    let deleted: String = lines.iter().enumerate().filter(|(i, _)| *i != 3).map(|(_, l)| format!("{l}\n")).collect();
    std::fs::write(&path, deleted).unwrap();
    let out = home.veilcam(&["log", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAILED  line 4 (seq 5): entry 4 is missing"), "{stdout}");

    std::fs::write(&path, &original).unwrap();
    assert!(home.veilcam(&["log", "verify"]).status.success());
}

#[test]
fn a_second_entry_hidden_under_a_listed_name_is_named() {
    let home = Home::new();
    home.init_key();
    let bundle = home.bundle();
    // A forged video is written first under a name of the same length, which is then patched
    // to the listed name: zip readers show only one of the two entries.
    let decoy = VIDEO.replace(".mp4", ".mp5");
    let mut all = entries(&bundle);
    let forged = with_flipped(all.clone(), VIDEO).into_iter().find(|e| e.0 == VIDEO).unwrap();
    all.insert(0, (decoy.clone(), forged.1, forged.2));
    rewrite(&bundle, &all);
    let mut bytes = std::fs::read(&bundle).unwrap();
    let mut patched = 0;
    while let Some(at) = bytes.windows(decoy.len()).position(|w| w == decoy.as_bytes()) {
        bytes[at..at + decoy.len()].copy_from_slice(VIDEO.as_bytes());
        patched += 1;
    }
    assert_eq!(patched, 2, "local header and central directory");
    std::fs::write(&bundle, bytes).unwrap();
    let (ok, report) = home.verify(&bundle, &[]);
    assert!(!ok);
    assert!(failed(&report).contains(&VIDEO.to_string()), "{report}");
    assert!(report.contains("a second entry under this name"), "{report}");
}

/// Found by hostile use: data put before the bundle, after it or in its zip comment passed
/// every check, and a bundle with a picture put before it opens as that picture. Each must
/// fail the bundle, saying what was added.
#[test]
fn bytes_before_after_or_beside_the_entries_fail_the_bundle() {
    let home = Home::new();
    home.init_key();
    let bundle = home.bundle();
    let sealed = std::fs::read(&bundle).unwrap();
    let picture = std::fs::read(common::sample("astronaut.png")).unwrap();
    let mut commented = sealed.clone();
    let n = commented.len();
    commented[n - 2..].copy_from_slice(&(picture.len().min(60_000) as u16).to_le_bytes());
    commented.extend_from_slice(&picture[..picture.len().min(60_000)]);
    let cases = [
        ("prepended", [&picture[..], &sealed[..]].concat(), "bytes before the first entry"),
        ("appended", [&sealed[..], &picture[..]].concat(), "bytes after the end of the zip directory"),
        ("commented", commented, "a zip comment of 60000 bytes"),
    ];
    for (what, bytes, expect) in cases {
        std::fs::write(&bundle, &bytes).unwrap();
        let (ok, report) = home.verify(&bundle, &[]);
        assert!(!ok, "{what}: {report}");
        assert!(report.contains(expect) && report.contains("added after sealing"), "{what}: {report}");
    }
    std::fs::write(&bundle, &sealed).unwrap();
    assert!(home.verify(&bundle, &[]).0, "the sealed bundle itself verifies");
}

/// Puts `hidden` right after the compressed data of entry `name`, moving every later entry and
/// the zip directory along: as part of the entry when `inside` (its compressed size grown in
/// both headers, its CRC and size left as they are, so the entry still inflates to what was
/// sealed), else between it and the next entry. What a zip tool never writes, but a hand can.
fn hide_after_entry(bundle: &Path, name: &str, hidden: &[u8], inside: bool) {
    let (header, end) = {
        let mut zip = zip::ZipArchive::new(File::open(bundle).unwrap()).unwrap();
        let f = zip.by_name(name).unwrap();
        (f.header_start() as usize, (f.data_start() + f.compressed_size()) as usize)
    };
    let mut b = std::fs::read(bundle).unwrap();
    let u16_at = |b: &[u8], i: usize| usize::from(u16::from_le_bytes([b[i], b[i + 1]]));
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as usize;
    let add = |b: &mut Vec<u8>, i: usize, n: usize| {
        let v = (u32_at(b, i) + n) as u32;
        b[i..i + 4].copy_from_slice(&v.to_le_bytes());
    };
    let end_record = b.windows(4).rposition(|w| w == [0x50, 0x4b, 0x05, 0x06]).unwrap();
    let mut record = u32_at(&b, end_record + 16);
    while record < end_record {
        if u32_at(&b, record + 42) == header && inside {
            add(&mut b, record + 20, hidden.len());
        }
        if u32_at(&b, record + 42) >= end {
            add(&mut b, record + 42, hidden.len());
        }
        record += 46 + u16_at(&b, record + 28) + u16_at(&b, record + 30) + u16_at(&b, record + 32);
    }
    if inside {
        add(&mut b, header + 18, hidden.len());
    }
    add(&mut b, end_record + 16, hidden.len());
    b.splice(end..end, hidden.iter().copied());
    std::fs::write(bundle, b).unwrap();
}

/// Found by hostile use: bytes put after the end of a deflated entry's compressed data but
/// inside its compressed size are shown by no zip reader and pass the CRC and the SHA-256 of
/// what inflates (an unredacted photo rode in `manifest.json` that way), and up to 24 bytes
/// between two entries passed as room for a data descriptor, which a bundle never has. Both
/// fail the bundle, naming where.
#[test]
fn bytes_hidden_after_an_entrys_compressed_data_or_between_entries_fail_the_bundle() {
    let home = Home::new();
    home.init_key();
    let bundle = home.bundle();
    let sealed = std::fs::read(&bundle).unwrap();
    let picture = std::fs::read(common::sample("astronaut.png")).unwrap();
    for name in [MANIFEST, SIDECAR, REPORT] {
        hide_after_entry(&bundle, name, &picture[..20_000], true);
        assert_eq!(entries(&bundle).iter().find(|e| e.0 == name).unwrap().2.len(), content_len(&sealed, name), "{name} still reads as sealed");
        let (ok, report) = home.verify(&bundle, &[]);
        assert!(!ok && failed(&report).contains(&name.to_string()), "{name}: {report}");
        assert!(report.contains("20000 bytes after the end of its compressed data"), "{name}: {report}");
        std::fs::write(&bundle, &sealed).unwrap();
    }
    for n in [1, 24] {
        hide_after_entry(&bundle, VIDEO, &vec![b'A'; n], false);
        let (ok, report) = home.verify(&bundle, &[]);
        assert!(!ok && report.contains(&format!("bytes of no listed entry: {n} bytes at offset")), "{n} bytes: {report}");
        std::fs::write(&bundle, &sealed).unwrap();
    }
    assert!(home.verify(&bundle, &[]).0, "the sealed bundle itself verifies");
}

/// The length of entry `name`'s content in the zip `bytes`.
fn content_len(bytes: &[u8], name: &str) -> usize {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut content = Vec::new();
    zip.by_name(name).unwrap().read_to_end(&mut content).unwrap();
    content.len()
}

/// Runs veilcam with a deadline; a run that does not end in time is killed and fails the test.
fn veilcam_within(home: &Home, args: &[&str], limit: std::time::Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_veilcam"))
        .args(args)
        .env("VEILCAM_HOME", home.path().join("home"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("veilcam {args:?} still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn regression_verify_and_log_verify_of_a_fifo_hung_in_open() {
    let home = Home::new();
    home.init_key();
    let fifo = home.path().join("fifo.zip");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let limit = std::time::Duration::from_secs(20);
    for args in [vec!["verify", fifo.to_str().unwrap()], vec!["log", "verify", "--log", fifo.to_str().unwrap()]] {
        let out = veilcam_within(&home, &args, limit);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("fifo.zip") && text.contains("a FIFO"), "{args:?}: {text}");
    }
    let public = home.keys_dir().join("veilcam.pub");
    let bundle = home.bundle();
    std::fs::remove_file(&public).unwrap();
    assert!(Command::new("mkfifo").arg(&public).status().unwrap().success());
    let out = veilcam_within(&home, &["verify", bundle.to_str().unwrap(), "--key", public.to_str().unwrap()], limit);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("a FIFO"), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn log_show_lists_entries_and_log_seal_needs_a_key() {
    let home = Home::new();
    let log = home.path().join("other.jsonl");
    let seal = home.veilcam(&["log", "seal", "--log", log.to_str().unwrap()]);
    assert_eq!(seal.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&seal.stderr).contains("keys init"), "{}", String::from_utf8_lossy(&seal.stderr));
    let fingerprint = home.init_key();
    let seal = home.veilcam(&["log", "seal", "--log", log.to_str().unwrap()]);
    assert!(seal.status.success(), "{}", String::from_utf8_lossy(&seal.stderr));
    let show = home.veilcam(&["log", "show"]);
    let text = String::from_utf8_lossy(&show.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains(" keys.init ") && lines[0].contains(&fingerprint), "{text}");
    assert!(lines[1].contains(" checkpoint "), "{text}");
    let verify = home.veilcam(&["log", "verify", "--log", log.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success() && text.contains("1 checkpoint(s)") && text.contains(&fingerprint), "{text}");
}

/// Found by hostile use: the signature file is the one entry the manifest cannot hash, and
/// `verify` took any text after its four lines (a base64 face crop rode along in a bundle that
/// "passed"), or in its untrusted comment. It must be exactly what `export` wrote.
#[test]
fn a_signature_file_holding_more_than_the_signature_fails_the_bundle() {
    let home = Home::new();
    home.init_key();
    let bundle = home.bundle();
    let sealed = entries(&bundle);
    let picture = base64_lines(&std::fs::read(common::sample("faces/grace_hopper.jpg")).unwrap()[..3000]);
    type Edit = Box<dyn Fn(&str) -> String>;
    let edits: [(&str, Edit); 3] = [
        ("a trailer", Box::new(move |sig| format!("{sig}note: unsigned trailer\n{picture}"))),
        ("another untrusted comment", Box::new(|sig| sig.replacen("signature from veilcam key", "aGVsbG8gd29ybGQ= veilcam key", 1))),
        ("carriage returns", Box::new(|sig| sig.replace('\n', "\r\n"))),
    ];
    for (what, edit) in edits {
        let tampered: Vec<_> = sealed
            .iter()
            .map(|(name, method, bytes)| {
                let bytes = if name == "manifest.json.minisig" { edit(std::str::from_utf8(bytes).unwrap()).into_bytes() } else { bytes.clone() };
                (name.clone(), *method, bytes)
            })
            .collect();
        rewrite(&bundle, &tampered);
        let (ok, report) = home.verify(&bundle, &[]);
        assert!(!ok && report.contains("manifest.json.minisig"), "{what}: {report}");
    }
    rewrite(&bundle, &sealed);
    assert!(home.verify(&bundle, &[]).0, "the bundle rewritten as sealed verifies");
}

fn base64_lines(bytes: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    text.as_bytes().chunks(76).map(|l| format!("{}\n", std::str::from_utf8(l).unwrap())).collect()
}

/// Found by hostile use: `verify` printed zip entry names raw, so an added entry named
/// "x\nOK      fake.mp4: …" printed a forged OK line (the verdict was right, the page not).
#[test]
fn an_entry_name_cannot_forge_a_line_of_the_verify_report() {
    let home = Home::new();
    home.init_key();
    let bundle = home.bundle();
    let mut all = entries(&bundle);
    all.push(("evil\u{1b}[32m\nOK      fake.mp4: 1 bytes, SHA-256 matches\rOK".to_string(), zip::CompressionMethod::Stored, b"x".to_vec()));
    rewrite(&bundle, &all);
    let (ok, report) = home.verify(&bundle, &[]);
    assert!(!ok);
    assert!(!report.lines().any(|l| l.starts_with("OK      fake.mp4")), "{report}");
    assert!(!report.contains('\u{1b}') && !report.contains('\r'), "{report:?}");
    assert!(report.contains("evil\\u{1b}[32m\\nOK      fake.mp4"), "shown escaped: {report}");
}

/// Found by hostile use: an entry that inflates far past the size the manifest lists (a deflate
/// bomb) was inflated to its end, 4 GiB from a 4 MB bundle, before it failed. Reading now
/// stops just past the listed size.
#[test]
fn an_entry_inflating_past_its_listed_size_fails_without_being_read_to_its_end() {
    let home = Home::new();
    home.init_key();
    let bundle = home.bundle();
    let mut all = entries(&bundle);
    let video = all.iter_mut().find(|e| e.0 == VIDEO).unwrap();
    let listed = video.2.len() as u64;
    (video.1, video.2) = (zip::CompressionMethod::Deflated, vec![0u8; 300 << 20]);
    rewrite(&bundle, &all);
    assert!(std::fs::metadata(&bundle).unwrap().len() < 5 << 20, "the bomb is small on disk");
    let (ok, report) = home.verify(&bundle, &[]);
    assert!(!ok);
    // The line of its content (the deflated entry where export stores video fails its header too).
    let line = report.lines().find(|l| l.contains(VIDEO) && l.contains("altered: SHA-256")).unwrap();
    let read: u64 = line.split("; ").nth(1).and_then(|t| t.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line}"));
    assert!(read <= listed + (2 << 20), "read {read} bytes of an entry listed as {listed}: {line}");
}

/// Found by hostile use: an entry whose local header names another file (`../evil.sh` where
/// the zip directory says `report.txt`) passed `verify`; streaming readers extract the local name.
#[test]
fn a_local_header_naming_another_file_fails_the_bundle() {
    let home = Home::new();
    home.init_key();
    let bundle = home.bundle();
    let start = {
        let mut zip = zip::ZipArchive::new(File::open(&bundle).unwrap()).unwrap();
        let f = zip.by_name(REPORT).unwrap();
        f.header_start()
    };
    let mut bytes = std::fs::read(&bundle).unwrap();
    let at = start as usize + 30;
    assert_eq!(&bytes[at..at + REPORT.len()], REPORT.as_bytes());
    bytes[at..at + REPORT.len()].copy_from_slice(b"../evil.sh");
    std::fs::write(&bundle, &bytes).unwrap();
    let (ok, report) = home.verify(&bundle, &[]);
    assert!(!ok && report.contains("local header names it") && report.contains("../evil.sh"), "{report}");
}

/// A home with a key and a bundle sealed with it, and the bundle's entries with the manifest
/// edited by `edit` and signed again with that same key: what an owner who alters their own
/// bundle produces. The zip is not rewritten; the test decides what goes into it.
fn resigned_by_its_owner(edit: impl FnOnce(&mut Value)) -> (Home, PathBuf, Entries) {
    let home = Home::new();
    home.init_key();
    let bundle = home.bundle();
    let key = SigningKey::load(&home.keys_dir()).unwrap();
    let all = resigned(entries(&bundle), &key, edit);
    (home, bundle, all)
}

/// `entries` with the manifest edited by `edit` and signed again with `key`.
fn resigned(mut all: Entries, key: &SigningKey, edit: impl FnOnce(&mut Value)) -> Entries {
    let at = all.iter().position(|e| e.0 == MANIFEST).unwrap();
    let mut manifest: Value = serde_json::from_slice(&all[at].2).unwrap();
    edit(&mut manifest);
    let bytes = serde_json::to_vec_pretty(&manifest).unwrap();
    let signature = minisig::sign(key, &bytes, &veilcam::export::bundle::signature_comment(&key.public()), "timestamp:0\tfile:manifest.json");
    all[at].2 = bytes;
    all.iter_mut().find(|e| e.0 == SIGNATURE).unwrap().2 = signature.into_bytes();
    all
}

/// Found by hostile use: a `report.txt` stored as a symbolic link to /etc/passwd, listed with
/// the hash of the link's text and signed, passed `verify`; unzipped, the recipient's
/// report.txt showed /etc/passwd.
#[test]
fn an_entry_stored_as_a_symbolic_link_fails_the_bundle_even_listed_and_signed() {
    const LINK: &str = "/etc/passwd";
    let (home, bundle, all) = resigned_by_its_owner(|m| {
        let listed = m["files"].as_array_mut().unwrap().iter_mut().find(|f| f["name"] == REPORT).unwrap();
        use sha2::Digest;
        listed["sha256"] = json!(veilcam::export::keys::hex(&sha2::Sha256::digest(LINK.as_bytes())));
        listed["bytes"] = json!(LINK.len());
    });
    let mut zip = zip::ZipWriter::new(File::create(&bundle).unwrap());
    for (name, method, bytes) in &all {
        let options = zip::write::SimpleFileOptions::default().compression_method(*method);
        if name == REPORT {
            zip.add_symlink(name.as_str(), LINK, options).unwrap();
        } else {
            zip.start_file(name.as_str(), options).unwrap();
            zip.write_all(bytes).unwrap();
        }
    }
    zip.finish().unwrap();

    let public = home.keys_dir().join("veilcam.pub");
    let (ok, report) = home.verify(&bundle, &["--key", public.to_str().unwrap()]);
    assert!(!ok, "{report}");
    assert!(report.contains(&format!("FAILED  {}: {REPORT}: stored as a symbolic link", bundle.display())), "{report}");
}

/// Found by hostile use: a report stored setuid and writable by all (mode 4777) passed, and
/// unzip gives the recipient's copy those permissions (the zip crate writes 777 at most).
#[test]
fn an_entry_stored_with_other_permissions_fails_the_bundle() {
    let home = Home::new();
    home.init_key();
    let bundle = home.bundle();
    let all = entries(&bundle);
    let mut zip = zip::ZipWriter::new(File::create(&bundle).unwrap());
    for (name, method, bytes) in all {
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        let options = if name == REPORT { options.unix_permissions(0o666) } else { options.unix_permissions(0o644) };
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap();
    let (ok, report) = home.verify(&bundle, &[]);
    assert!(!ok, "{report}");
    assert!(report.contains(&format!("{REPORT}: stored with permissions 666; export writes 644")), "{report}");
}

/// Found by hostile use: a manifest re-signed with an empty file list, in a bundle holding
/// nothing else, passed `verify` ("all 1 checks passed").
#[test]
fn a_signed_manifest_that_lists_no_file_fails_the_bundle() {
    let (home, bundle, all) = resigned_by_its_owner(|m| m["files"] = json!([]));
    let all: Vec<_> = all.into_iter().filter(|e| e.0 == MANIFEST || e.0 == SIGNATURE).collect();
    rewrite(&bundle, &all);
    let public = home.keys_dir().join("veilcam.pub");
    let (ok, report) = home.verify(&bundle, &["--key", public.to_str().unwrap()]);
    assert!(!ok, "{report}");
    assert_eq!(failed(&report), [MANIFEST], "{report}");
    assert!(report.contains("lists no files"), "{report}");
}

/// The working copy a manifest says it produced must be among the files it lists (else a
/// re-signed manifest could leave the video out and still pass).
#[test]
fn a_working_copy_the_manifest_names_but_does_not_list_fails_the_bundle() {
    let (home, bundle, all) = resigned_by_its_owner(|m| {
        m["produced"] = json!({ "working_copy": VIDEO });
        m["files"].as_array_mut().unwrap().retain(|f| f["name"] != VIDEO);
    });
    let all: Vec<_> = all.into_iter().filter(|e| e.0 != VIDEO).collect();
    rewrite(&bundle, &all);
    let (ok, report) = home.verify(&bundle, &[]);
    assert!(!ok, "{report}");
    assert_eq!(failed(&report), [VIDEO], "{report}");
    assert!(report.contains("produced.working_copy names it"), "{report}");
}

/// Found by hostile use: an entry whose listed size alone was wrong was reported as a SHA-256
/// that "differs" from the very same SHA-256.
#[test]
fn a_size_alone_that_differs_is_reported_as_the_size() {
    let (home, bundle, all) = resigned_by_its_owner(|m| {
        let listed = m["files"].as_array_mut().unwrap().iter_mut().find(|f| f["name"] == REPORT).unwrap();
        listed["bytes"] = json!(listed["bytes"].as_u64().unwrap() + 1);
    });
    rewrite(&bundle, &all);
    let (ok, report) = home.verify(&bundle, &[]);
    assert!(!ok, "{report}");
    let line = report.lines().find(|l| l.starts_with(&format!("FAILED  {REPORT}:"))).unwrap_or_else(|| panic!("{report}"));
    assert!(line.contains("bytes where the manifest says") && !line.contains("differs"), "{line}");
}

/// `home`'s `veilcam ARGS` with stdout going to `stdout`.
fn veilcam_to(home: &Home, args: &[&str], stdout: impl Into<std::process::Stdio>) -> Output {
    home.command(args).stdout(stdout).output().expect("veilcam runs")
}

/// Found by hostile use: `veilcam log show > full-disk/log.txt` wrote 4096 of 6596 bytes and
/// exited 0, and `keys show` or `verify` into `/dev/full` printed nothing and exited 0.
#[test]
fn results_that_cannot_be_written_to_stdout_fail_the_command_naming_standard_output() {
    let home = Home::new();
    home.init_key();
    for args in [&["keys", "show"][..], &["log", "show"]] {
        let full = File::options().write(true).open("/dev/full").unwrap();
        let out = veilcam_to(&home, args, full);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("cannot write to standard output: No space left on device"), "{args:?}: {err}");
    }
}

/// A reader that has gone (`veilcam log show | head -1`) is no error: the command ends as it
/// would have.
#[test]
fn a_reader_that_has_gone_does_not_fail_a_command_that_prints() {
    let home = Home::new();
    home.init_key();
    for args in [&["keys", "show"][..], &["log", "show"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = veilcam_to(&home, args, writer);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
}

/// Offsets of `name`'s local header and of its zip directory record in the zip `bytes`.
fn header_offsets(bytes: &[u8], name: &str) -> (usize, usize) {
    let u16_at = |i: usize| usize::from(u16::from_le_bytes([bytes[i], bytes[i + 1]]));
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    let end = bytes.windows(4).rposition(|w| w == [0x50, 0x4b, 0x05, 0x06]).unwrap();
    let (count, mut at) = (u16_at(end + 10), u32_at(end + 16));
    for _ in 0..count {
        let len = u16_at(at + 28);
        if &bytes[at + 46..at + 46 + len] == name.as_bytes() {
            return (u32_at(at + 42), at);
        }
        at += 46 + len + u16_at(at + 30) + u16_at(at + 32);
    }
    panic!("{name} is not in the zip directory");
}

/// Found by hostile use: header fields that no hash covers, changed after sealing, passed
/// `verify` ("all 4 checks passed") while `unzip` and Python's zipfile then refuse the bundle:
/// the encryption flag in the zip directory ("unable to get password"), a zeroed CRC-32 in a
/// local header ("bad CRC"), the data-descriptor flag in a local header ("overlapped
/// components"); the local time and size and "version made by" went unchecked too. The
/// bundle's headers must be those export writes; the finding names the entry and the field.
#[test]
fn a_zip_header_field_changed_after_sealing_fails_naming_the_entry_and_the_field() {
    let home = Home::new();
    home.init_key();
    let bundle = home.bundle();
    let pristine = std::fs::read(&bundle).unwrap();
    let (local, central) = header_offsets(&pristine, REPORT);
    let crc = pristine[local + 14..local + 18].to_vec();
    let cases: [(&str, usize, &[u8], &str); 8] = [
        ("encryption flag in the zip directory", central + 8, &[0x01, 0], "the flags in its zip directory record: 0x0001 (encrypted)"),
        ("zeroed CRC-32 in the local header", local + 14, &crc, "the CRC-32 in its local header (0x00000000)"),
        ("data-descriptor flag in the local header", local + 6, &[0x08, 0], "the flags in its local header (0x0008 (data descriptor))"),
        ("local modification time", local + 10, &[0x01, 0], "the modification time in its local header"),
        ("local uncompressed size", local + 22, &[0x01, 0, 0, 0], "the sizes in its local header"),
        ("version made by (MS-DOS, not Unix)", central + 4, &[0, 0x03], "the version made by in its zip directory record"),
        ("DOS read-only attribute", central + 38, &[0x01, 0, 0, 0], "the external attributes in its zip directory record"),
        ("version needed in the local header", local + 4, &[0x01, 0], "the version needed to extract in its local header"),
    ];
    for (what, at, mask, words) in cases {
        let mut bytes = pristine.clone();
        for (i, m) in mask.iter().enumerate() {
            bytes[at + i] ^= m;
        }
        std::fs::write(&bundle, &bytes).unwrap();
        let (ok, report) = home.verify(&bundle, &[]);
        assert!(!ok, "{what}: {report}");
        assert!(failed(&report).contains(&REPORT.to_string()), "{what}: the finding names the entry: {report}");
        assert!(report.contains(words), "{what}: {report}");
    }
    std::fs::write(&bundle, &pristine).unwrap();
    assert!(home.verify(&bundle, &[]).0, "the bundle as sealed verifies");
}

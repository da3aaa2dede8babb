//! Content Credentials (C2PA) of `veilcam export`: the real CLI exports the first second of
//! `sample_media/faces.mp4` with real detection; the working copy's C2PA manifest is read back
//! by `veilcam verify` (the c2pa crate's reader). Tampered bundles are re-sealed with the same
//! key, so that every hash and the signature match and only the C2PA check can catch them.
//! Every test gets its own `VEILCAM_HOME`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use veilcam::export::bundle::{self, BundleFile, RESERVED_FIELDS};
use veilcam::export::credentials;
use veilcam::export::keys::{self, SigningKey};
use veilcam::export::verify::{self, Outcome};

use common::*;

/// The C2PA manifest store's box: `uuid` with this user type (ISO BMFF, C2PA §A.4).
const C2PA_UUID: [u8; 16] = [0xd8, 0xfe, 0xc3, 0xd6, 0x1b, 0x0e, 0x48, 0x3c, 0x92, 0x97, 0x58, 0x28, 0x87, 0x7e, 0xc4, 0x81];

struct World {
    dir: tempfile::TempDir,
    home: PathBuf,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        keys::init(&home.join("keys")).expect("signing key created");
        World { home, dir }
    }

    fn keys(&self) -> PathBuf {
        self.home.join("keys")
    }

    /// Exports the first second of faces.mp4 as `case` into `DIR/case.zip`.
    fn export(&self, case: &str) -> PathBuf {
        let bundle = self.dir.path().join(format!("{case}.zip"));
        let input = sample("faces.mp4");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_veilcam"))
            .env("VEILCAM_HOME", &self.home)
            .env_remove("XDG_DATA_HOME")
            .args(["-q", "export", "--case", case, "--basis", "court order", "--requester", "Police", "--to", "1"])
            .arg("--input")
            .arg(&input)
            .arg("-o")
            .arg(&bundle)
            .output()
            .unwrap();
        assert_ok(&out);
        bundle
    }

    fn verify(&self, bundle: &Path) -> verify::VerifyReport {
        verify::verify(bundle, Some(&self.keys().join(keys::PUBLIC_FILE)))
    }
}



/// Unzips `bundle`, lets `tamper` change the working copy, and seals the files again with the
/// same key and manifest (new hashes, valid signature) as `DIR/resealed.zip`. Returns that
/// bundle and the working copy's name.
fn reseal_after(world: &World, bundle: &Path, tamper: impl FnOnce(&mut Vec<u8>)) -> (PathBuf, String) {
    let x = world.dir.path().join("x");
    std::fs::create_dir(&x).unwrap();
    let names = unzip(bundle, &x);
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(x.join("manifest.json")).unwrap()).unwrap();
    let working_copy = manifest["produced"]["working_copy"].as_str().unwrap().to_string();
    let mut video = std::fs::read(x.join(&working_copy)).unwrap();
    tamper(&mut video);
    std::fs::write(x.join(&working_copy), video).unwrap();
    let object = manifest.as_object_mut().unwrap();
    for field in RESERVED_FIELDS {
        object.remove(field);
    }
    let files: Vec<BundleFile> = names
        .iter()
        .filter(|n| !n.starts_with("manifest.json"))
        .map(|n| BundleFile { name: n.clone(), path: x.join(n) })
        .collect();
    let resealed = world.dir.path().join("resealed.zip");
    let key = SigningKey::load(&world.keys()).unwrap();
    bundle::seal(&resealed, &files, manifest, &key).unwrap();
    (resealed, working_copy)
}

/// Offset and size of the top-level box of type `kind` (with `user_type` for `uuid`).
fn find_box(mp4: &[u8], kind: &[u8; 4], user_type: Option<&[u8; 16]>) -> Option<(usize, usize)> {
    let mut at = 0;
    while at + 8 <= mp4.len() {
        let size = u32::from_be_bytes(mp4[at..at + 4].try_into().unwrap()) as usize;
        assert!(size >= 8, "unexpected box layout at {at}");
        if &mp4[at + 4..at + 8] == kind && user_type.is_none_or(|u| mp4.get(at + 8..at + 24) == Some(&u[..])) {
            return Some((at, size));
        }
        at += size;
    }
    None
}

/// The C2PA finding of the working copy: its outcome as text, `Err` when it failed.
fn c2pa_finding(report: &verify::VerifyReport, working_copy: &str) -> Result<String, String> {
    let c2pa = |text: &str| text.contains("C2PA");
    for f in report.findings.iter().filter(|f| f.name == working_copy) {
        match &f.outcome {
            Outcome::Ok(note) if c2pa(note) => return Ok(note.clone()),
            Outcome::Failed(why) if c2pa(why) => return Err(why.clone()),
            _ => {}
        }
    }
    panic!("no C2PA finding for {working_copy}:\n{report}")
}

#[test]
fn a_normal_export_carries_c2pa_credentials_that_verify_as_valid_and_untrusted() {
    let world = World::new();
    let bundle = world.export("c2pa-ok");
    let report = world.verify(&bundle);
    assert!(report.ok(), "{report}");
    let manifest = report.manifest.clone().unwrap();
    let working_copy = manifest["produced"]["working_copy"].as_str().unwrap();
    let note = c2pa_finding(&report, working_copy).unwrap();
    assert!(note.contains("validates") && note.contains("untrusted"), "{note}");

    // The certificate was made on first use beside the signing key, its key readable only by
    // the owner, and the bundle's manifest records its fingerprint and what the C2PA manifest holds.
    let key_mode = std::fs::metadata(world.keys().join(credentials::KEY_FILE)).unwrap().permissions().mode() & 0o777;
    assert_eq!(key_mode, 0o600);
    let cert_pem = std::fs::read_to_string(world.keys().join(credentials::CERT_FILE)).unwrap();
    let der = pem_der(&cert_pem);
    let c = &manifest["content_credentials"];
    assert_eq!(c["certificate_sha256"], keys::hex(&Sha256::digest(&der)));
    assert_eq!(c["actions"], serde_json::json!(["c2pa.opened", "c2pa.edited"]));
    let source_sha = manifest["sources"][0]["sha256"].as_str().unwrap();
    assert!(c["ingredients"][0].as_str().unwrap().contains(source_sha), "{c}");

    // The C2PA manifest itself names the source with its SHA-256 and veilcam as the agent.
    let x = tempfile::tempdir().unwrap();
    unzip(&bundle, x.path());
    let file = std::fs::File::open(x.path().join(working_copy)).unwrap();
    let reader = c2pa::Reader::from_context(c2pa::Context::new()).with_stream("video/mp4", file).unwrap();
    let active = reader.active_manifest().unwrap();
    assert_eq!(active.ingredients()[0].title(), Some("faces.mp4"));
    let json = reader.json();
    assert!(json.contains(source_sha) && json.contains("c2pa.opened") && json.contains("\"veilcam\""), "{json}");

    // The report says what the manifest holds and that standard tools will call it untrusted.
    let report_txt = std::fs::read_to_string(x.path().join("report.txt")).unwrap();
    assert!(report_txt.contains("Content Credentials") && report_txt.contains("\"untrusted\""), "{report_txt}");

    // A second export reuses the same certificate.
    let again = world.verify(&world.export("c2pa-ok-2"));
    assert_eq!(again.manifest.unwrap()["content_credentials"]["certificate_sha256"], c["certificate_sha256"]);
}

fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).unwrap()
}

#[test]
fn a_working_copy_whose_c2pa_manifest_was_stripped_fails_verify_naming_it() {
    let world = World::new();
    let bundle = world.export("c2pa-strip");
    // The manifest box becomes a `free` box of the same size: every offset stays right and
    // the video still decodes, only its Content Credentials are gone.
    let (resealed, working_copy) = reseal_after(&world, &bundle, |video| {
        let (at, _) = find_box(video, b"uuid", Some(&C2PA_UUID)).expect("a C2PA box in the working copy");
        video[at + 4..at + 8].copy_from_slice(b"free");
    });
    let report = world.verify(&resealed);
    assert!(!report.ok(), "{report}");
    let why = c2pa_finding(&report, &working_copy).unwrap_err();
    assert!(why.contains("no C2PA manifest"), "{why}");
    // Nothing else caught it: hashes, signature and frame counts all pass.
    let others: Vec<_> = report.failures().filter(|f| !matches!(&f.outcome, Outcome::Failed(w) if w.contains("C2PA"))).collect();
    assert!(others.is_empty(), "{report}");
    assert!(report.to_string().contains(&format!("FAILED  {working_copy}: ")), "{report}");
}

#[test]
fn a_working_copy_whose_video_bytes_were_altered_after_signing_fails_verify_naming_it() {
    let world = World::new();
    let bundle = world.export("c2pa-alter");
    let (resealed, working_copy) = reseal_after(&world, &bundle, |video| {
        let (at, size) = find_box(video, b"mdat", None).expect("an mdat box");
        video[at + size - 100] ^= 0x01;
    });
    let report = world.verify(&resealed);
    assert!(!report.ok(), "{report}");
    let why = c2pa_finding(&report, &working_copy).unwrap_err();
    assert!(why.contains("does not validate") && why.contains("mismatch"), "{why}");
    assert!(report.to_string().contains(&format!("FAILED  {working_copy}: ")), "{report}");
}

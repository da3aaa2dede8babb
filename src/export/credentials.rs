//! Content Credentials (C2PA) for an export's working copy.
//!
//! veilcam signs the C2PA manifest with a certificate it makes itself on first use and keeps
//! beside the bundle signing key ([`super::keys::default_dir`]):
//! - `c2pa.key.pem`: an Ed25519 private key (PKCS#8 PEM), mode 0600, created with `O_EXCL`;
//! - `c2pa.cert.pem`: a self-issued X.509 end-entity certificate for it (not a CA, key usage
//!   digitalSignature, extended key usage emailProtection, SKI and AKI), as the C2PA
//!   certificate profile asks. Its **fingerprint** is the SHA-256 of its DER, lower-case hex.
//!
//! No trust list knows this certificate, so standard C2PA tools report the manifest as valid
//! (signature and data hash) but its credential as **untrusted** (`signingCredential.untrusted`);
//! [`check`] accepts exactly that and nothing else.
//!
//! The manifest embedded by [`embed`] holds: a `c2pa.opened` action on the first source (the
//! parent ingredient), `c2pa.placed` for further sources (component ingredients), each
//! ingredient with its file name and SHA-256; a `c2pa.edited` action describing what was
//! obscured; veilcam and its version as the software agent; and an `org.veilcam.export`
//! assertion with the sources' SHA-256 and the certificate fingerprint.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::Signer as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::keys::{self, hex};
use super::ExportError;
use crate::error::{Error, Result};

/// The private key of the C2PA certificate in a key directory.
pub const KEY_FILE: &str = "c2pa.key.pem";
/// The C2PA signing certificate in a key directory.
pub const CERT_FILE: &str = "c2pa.cert.pem";
/// The custom assertion with veilcam's own record.
pub const ASSERTION_LABEL: &str = "org.veilcam.export";
/// Common name of the self-generated certificate.
const CERT_CN: &str = "veilcam export signer (self-generated)";
/// Validation code of a credential no trust list knows (expected for a self-made one).
pub const UNTRUSTED: &str = "signingCredential.untrusted";
/// PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410): the 32-byte seed follows.
const PKCS8_ED25519_PREFIX: [u8; 16] = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/// What the embedded manifest holds, for the bundle's manifest.json and report.
#[derive(Clone, Debug, Serialize)]
pub struct CredentialFact {
    /// `c2pa.opened`, (`c2pa.placed`,) `c2pa.edited`.
    pub actions: Vec<String>,
    /// The ingredients: source file names with their SHA-256.
    pub ingredients: Vec<String>,
    pub edit_description: String,
    pub software_agent: String,
    pub signature_algorithm: &'static str,
    pub certificate: String,
    /// SHA-256 of the certificate's DER, hex.
    pub certificate_sha256: String,
}

/// A source of the working copy: file name and SHA-256 (hex).
#[derive(Clone, Debug)]
pub struct Ingredient {
    pub name: String,
    pub sha256: String,
}

/// The certificate and its key.
pub struct Credential {
    cert_pem: String,
    key_pem: String,
    cert_path: PathBuf,
    fingerprint: String,
}

impl Credential {
    /// Loads the credential of `dir`, creating it on first use. A key without its certificate
    /// (or the reverse) is refused, naming the file, rather than replaced.
    pub fn load_or_create(dir: &Path) -> Result<Credential> {
        let (key_path, cert_path) = (dir.join(KEY_FILE), dir.join(CERT_FILE));
        match (key_path.symlink_metadata().is_ok(), cert_path.symlink_metadata().is_ok()) {
            (false, false) => create(dir, &key_path, &cert_path)?,
            (true, false) => return Err(bad(&cert_path, "missing while its key c2pa.key.pem exists; move the key away to make a new certificate".into())),
            (false, true) => return Err(bad(&key_path, "missing while its certificate c2pa.cert.pem exists; move the certificate away to make a new one".into())),
            (true, true) => {}
        }
        Credential::load(&key_path, &cert_path)
    }

    fn load(key_path: &Path, cert_path: &Path) -> Result<Credential> {
        let meta = std::fs::metadata(key_path).map_err(|e| Error::io(key_path, e))?;
        if let Some(why) = keys::exposed(&meta, "private key") {
            return Err(bad(key_path, why));
        }
        let key_pem = keys::read_small(key_path)?;
        let cert_pem = keys::read_small(cert_path)?;
        let der = pem_body(&cert_pem, "CERTIFICATE").ok_or_else(|| bad(cert_path, "not a PEM certificate".into()))?;
        Ok(Credential { fingerprint: hex(&Sha256::digest(&der)), cert_pem, key_pem, cert_path: cert_path.to_path_buf() })
    }

    /// SHA-256 of the certificate's DER, hex.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn signer(&self) -> Result<c2pa::BoxedSigner> {
        c2pa::create_signer::from_keys(self.cert_pem.as_bytes(), self.key_pem.as_bytes(), c2pa::SigningAlg::Ed25519, None)
            .map_err(|e| bad(&self.cert_path, format!("unusable C2PA certificate or key: {e}")))
    }
}

fn bad(path: &Path, why: String) -> Error {
    ExportError::ContentCredentials { path: path.to_path_buf(), why }.into()
}

/// The DER inside the first PEM block labelled `label`.
fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let body: String = pem[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    BASE64.decode(body).ok()
}

fn to_pem(label: &str, der: &[u8]) -> String {
    let b64 = BASE64.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("base64 is ASCII")).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// An Ed25519 key as rcgen's signer (rcgen's own crypto backends are not built).
struct RcgenKey {
    key: ed25519_dalek::SigningKey,
    public: [u8; 32],
}

impl rcgen::PublicKeyData for RcgenKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

impl rcgen::SigningKey for RcgenKey {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

/// The certificate for `key`: self-issued end entity, valid 2024 to 2049.
fn certificate(key: &RcgenKey) -> std::result::Result<String, rcgen::Error> {
    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyUsagePurpose};
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, CERT_CN);
    params.distinguished_name.push(DnType::OrganizationName, "veilcam");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
    params.use_authority_key_identifier_extension = true;
    // RFC 7093 method 1 (rcgen derives it only with its own crypto backends).
    let mut spki = Vec::with_capacity(44);
    spki.extend_from_slice(&[0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);
    spki.extend_from_slice(&key.public);
    params.key_identifier_method = KeyIdMethod::PreSpecified(Sha256::digest(&spki)[..20].to_vec());
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2049, 12, 31);
    let mut serial = [0u8; 16];
    serial.copy_from_slice(&Sha256::digest(key.public)[..16]);
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    Ok(params.self_signed(key)?.pem())
}

/// Makes the key (0600, `O_EXCL`) and its certificate; removes both when either fails.
fn create(dir: &Path, key_path: &Path, cert_path: &Path) -> Result<()> {
    keys::create_private_dir(dir)?;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Error::Settings(format!("no randomness from the operating system: {e}")))?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let rcgen_key = RcgenKey { public: key.verifying_key().to_bytes(), key };
    let cert = certificate(&rcgen_key).map_err(|e| bad(cert_path, format!("could not make the certificate: {e}")))?;
    let mut pkcs8 = PKCS8_ED25519_PREFIX.to_vec();
    pkcs8.extend_from_slice(&seed);
    keys::write_new(key_path, to_pem("PRIVATE KEY", &pkcs8).as_bytes(), keys::SECRET_MODE)?;
    if let Err(e) = keys::write_new(cert_path, cert.as_bytes(), 0o644) {
        let _ = std::fs::remove_file(key_path);
        return Err(e);
    }
    Ok(())
}

fn mime_of(name: &str) -> &'static str {
    match Path::new(name).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("mp4" | "m4v") => "video/mp4",
        Some("mov") => "video/quicktime",
        Some("mkv") => "video/x-matroska",
        Some("avi") => "video/x-msvideo",
        Some("webm") => "video/webm",
        _ => "application/octet-stream",
    }
}

/// The C2PA manifest definition (the JSON of [`c2pa::Builder::from_json`]).
fn definition(title: &str, sources: &[Ingredient], edit: &str, fingerprint: &str) -> serde_json::Value {
    let agent = serde_json::json!({ "name": "veilcam", "version": env!("CARGO_PKG_VERSION") });
    let label = |i: usize| format!("source-{i}");
    let ingredients: Vec<_> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            serde_json::json!({
                // Shown by C2PA tools as text: one line (found by hostile use: an --input
                // file name holding a newline reached the ingredient's name unescaped).
                "title": crate::one_line(&s.name),
                "format": mime_of(&s.name),
                "relationship": if i == 0 { "parentOf" } else { "componentOf" },
                "label": label(i),
                "hash": format!("sha256:{}", s.sha256),
                "description": format!("source {} (SHA-256 {})", crate::one_line(&s.name), s.sha256),
            })
        })
        .collect();
    let mut actions = vec![serde_json::json!({
        "action": "c2pa.opened",
        "softwareAgent": agent,
        "parameters": { "ingredientIds": [label(0)], "description": "source received for export" },
    })];
    if sources.len() > 1 {
        actions.push(serde_json::json!({
            "action": "c2pa.placed",
            "softwareAgent": agent,
            "parameters": { "ingredientIds": (1..sources.len()).map(label).collect::<Vec<_>>(), "description": "further sources joined in order" },
        }));
    }
    actions.push(serde_json::json!({ "action": "c2pa.edited", "softwareAgent": agent, "description": edit }));
    serde_json::json!({
        "claim_generator_info": [agent],
        "title": title,
        "format": "video/mp4",
        "ingredients": ingredients,
        "assertions": [
            { "label": "c2pa.actions", "data": { "actions": actions } },
            { "label": ASSERTION_LABEL, "data": {
                "sources": sources.iter().map(|s| serde_json::json!({ "name": s.name, "sha256": s.sha256 })).collect::<Vec<_>>(),
                "obscured": edit,
                "certificate_sha256": fingerprint,
            } },
        ],
    })
}

/// Embeds a signed C2PA manifest in the MP4 `video` (written beside it, then renamed over it).
/// `edit` says what was obscured.
pub fn embed(video: &Path, sources: &[Ingredient], edit: &str, credential: &Credential) -> Result<CredentialFact> {
    let title = video.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
    let json = definition(&title, sources, edit, credential.fingerprint());
    let fail = |why: String| bad(video, format!("could not embed the C2PA manifest: {why}"));
    let mut builder = c2pa::Builder::from_context(c2pa::Context::new()).with_definition(json).map_err(|e| fail(e.to_string()))?;
    let signer = credential.signer()?;
    let signed = video.with_file_name(format!(".{title}.c2pa-tmp"));
    let result = (|| {
        let mut source = File::open(video).map_err(|e| Error::io(video, e))?;
        let mut dest = OpenOptions::new().read(true).write(true).create_new(true).open(&signed).map_err(|e| Error::io(&signed, e))?;
        builder.sign(signer.as_ref(), "video/mp4", &mut source, &mut dest).map_err(|e| fail(e.to_string()))?;
        dest.sync_all().map_err(|e| Error::io(&signed, e))?;
        std::fs::rename(&signed, video).map_err(|e| Error::io(video, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&signed);
    }
    result?;
    let mut actions = vec!["c2pa.opened".to_string()];
    if sources.len() > 1 {
        actions.push("c2pa.placed".into());
    }
    actions.push("c2pa.edited".into());
    Ok(CredentialFact {
        actions,
        ingredients: sources.iter().map(|s| format!("{} (SHA-256 {})", s.name, s.sha256)).collect(),
        edit_description: edit.to_string(),
        software_agent: format!("veilcam {}", env!("CARGO_PKG_VERSION")),
        signature_algorithm: "Ed25519",
        certificate: CERT_CN.to_string(),
        certificate_sha256: credential.fingerprint().to_string(),
    })
}

/// Reads the C2PA manifest of the MP4 at `path` back and validates it (signature, data hash,
/// assertions). Ok with a description when the only finding is the untrusted credential.
pub fn check(path: &Path) -> std::result::Result<String, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let reader = c2pa::Reader::from_context(c2pa::Context::new()).with_stream("video/mp4", file).map_err(|e| match e {
        c2pa::Error::JumbfNotFound => "carries no C2PA manifest (Content Credentials missing or stripped)".to_string(),
        other => format!("C2PA manifest unreadable: {other}"),
    })?;
    let Some(manifest) = reader.active_manifest() else { return Err("carries no active C2PA manifest".into()) };
    let codes: Vec<String> = reader.validation_status().unwrap_or_default().iter().map(|s| s.code().to_string()).collect();
    let failures: Vec<&String> = codes.iter().filter(|c| c.as_str() != UNTRUSTED).collect();
    if !failures.is_empty() || reader.validation_state() == c2pa::ValidationState::Invalid {
        let list: Vec<&str> = failures.iter().map(|c| c.as_str()).collect();
        return Err(format!("C2PA manifest does not validate: {}", list.join(", ")));
    }
    let agent = manifest.claim_generator_info.as_ref().and_then(|g| g.first()).map_or("?".to_string(), |g| g.name.clone());
    let trust = if codes.iter().any(|c| c == UNTRUSTED) {
        "credential untrusted (self-generated certificate, as expected)"
    } else {
        "credential trusted"
    };
    Ok(format!("C2PA manifest by {agent} validates (signature, data hash); {trust}"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// Found by hostile use: an --input file name holding a newline reached the C2PA
    /// ingredient's name (shown by C2PA tools as text) unescaped.
    #[test]
    fn an_ingredient_name_is_one_line() {
        let sources = [Ingredient { name: "a.mp4\nGaps: none\tb.mp4".into(), sha256: "00".into() }];
        let json = definition("w.mp4", &sources, "faces obscured", "ff");
        assert_eq!(json["ingredients"][0]["title"], "a.mp4\\nGaps: none\\tb.mp4");
        assert_eq!(json["ingredients"][0]["description"], "source a.mp4\\nGaps: none\\tb.mp4 (SHA-256 00)");
    }

    #[test]
    fn the_credential_is_made_once_and_its_key_is_readable_only_by_the_owner() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let first = Credential::load_or_create(&keys).unwrap();
        let mode = std::fs::metadata(keys.join(KEY_FILE)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = Credential::load_or_create(&keys).unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert!(again.signer().is_ok(), "c2pa takes the key and certificate");
    }

    #[test]
    fn a_key_without_its_certificate_or_readable_by_others_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        Credential::load_or_create(dir.path()).unwrap();
        let key = dir.path().join(KEY_FILE);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Credential::load_or_create(dir.path()).err().unwrap().to_string();
        assert!(err.contains(KEY_FILE) && err.contains("chmod 600"), "{err}");
        std::fs::remove_file(dir.path().join(CERT_FILE)).unwrap();
        let err = Credential::load_or_create(dir.path()).err().unwrap().to_string();
        assert!(err.contains(CERT_FILE) && err.contains("missing"), "{err}");
        assert!(key.exists(), "the key is never replaced");
    }

    #[test]
    fn a_video_without_a_manifest_is_named_as_lacking_content_credentials() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_media/faces.mp4");
        let err = check(&sample).unwrap_err();
        assert!(err.contains("no C2PA manifest"), "{err}");
    }
}

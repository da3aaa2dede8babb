//! The Ed25519 key that signs export bundles and audit-log checkpoints.
//!
//! A key directory holds two files:
//! - `veilcam.key`, the secret key, mode 0600, created with `O_EXCL` (never overwritten):
//!   ```text
//!   untrusted comment: veilcam secret key <fingerprint>
//!   base64("Ed" || key id (8 bytes) || seed (32 bytes) || public key (32 bytes))
//!   ```
//! - `veilcam.pub`, the public key in minisign's format, so a recipient can check a bundle's
//!   `manifest.json.minisig` with `minisign -V -p veilcam.pub -m manifest.json`:
//!   ```text
//!   untrusted comment: minisign public key <KEY ID>
//!   base64("Ed" || key id (8 bytes) || public key (32 bytes))
//!   ```
//!
//! The **fingerprint** is the SHA-256 of the 32 public key bytes, lower-case hex; the key id is
//! its first 8 bytes (minisign prints them as 16 upper-case hex digits, last byte first).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signer, Verifier};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Name of the secret key file in a key directory.
pub const SECRET_FILE: &str = "veilcam.key";
/// Name of the public key file in a key directory (minisign format).
pub const PUBLIC_FILE: &str = "veilcam.pub";
/// minisign's algorithm tag for Ed25519 keys.
const ALG_ED25519: &[u8; 2] = b"Ed";
/// Permissions of a secret key file and of a key directory veilcam creates.
pub(crate) const SECRET_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;
/// Longest key or certificate file read (a key file is about 200 bytes, a certificate under 1 KiB).
const MAX_KEY_FILE: u64 = 4096;

/// Bytes in the base64 payload of each file.
const SECRET_PAYLOAD: usize = 2 + 8 + 32 + 32;
const PUBLIC_PAYLOAD: usize = 2 + 8 + 32;

/// veilcam's data directory: `$VEILCAM_HOME`, else `$XDG_DATA_HOME/veilcam`, else
/// `~/.local/share/veilcam`, where `~` is `$HOME` or, without it, the account's home directory
/// (found by hostile use: with `HOME` unset, keys and the audit log were made under whatever
/// directory veilcam ran in). Keys and the audit log live under it.
pub fn data_dir() -> PathBuf {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(home) = set("VEILCAM_HOME") {
        return home;
    }
    if let Some(data) = set("XDG_DATA_HOME") {
        return data.join("veilcam");
    }
    // SAFETY: getuid cannot fail.
    let account_home = || account(unsafe { libc::getuid() }).map(|a| a.home);
    let home = set("HOME").or_else(account_home).unwrap_or_else(|| {
        tracing::warn!("no HOME and no home directory for this account: keys and the audit log go under the current directory");
        PathBuf::from(".")
    });
    home.join(".local/share/veilcam")
}

/// A user account, as the system's password database has it.
pub(crate) struct Account {
    pub name: String,
    pub home: PathBuf,
}

/// The account of `uid`, when the password database has one.
pub(crate) fn account(uid: u32) -> Option<Account> {
    use std::os::unix::ffi::OsStrExt;
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: a zeroed passwd is a valid out-parameter; getpwuid_r writes the strings into
    // `buf` (valid for its length) and sets `found` to `pwd` on success, or null.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) != 0 || found.is_null() || pwd.pw_name.is_null() || pwd.pw_dir.is_null() {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(pwd.pw_name).to_str().ok()?.to_string();
        let home = PathBuf::from(std::ffi::OsStr::from_bytes(std::ffi::CStr::from_ptr(pwd.pw_dir).to_bytes()));
        Some(Account { name, home })
    }
}

/// `$VEILCAM_HOME/keys`, else `$XDG_DATA_HOME/veilcam/keys`, else `~/.local/share/veilcam/keys`.
pub fn default_dir() -> PathBuf {
    data_dir().join("keys")
}

/// An Ed25519 public key, as embedded in a bundle's manifest and written to `veilcam.pub`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: ed25519_dalek::VerifyingKey,
}

impl PublicKey {
    /// From the 32 raw key bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> std::result::Result<PublicKey, String> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes).map(|key| PublicKey { key }).map_err(|e| format!("not an Ed25519 public key: {e}"))
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// SHA-256 of the 32 public key bytes, lower-case hex.
    pub fn fingerprint(&self) -> String {
        hex(&Sha256::digest(self.key.as_bytes()))
    }

    /// The first 8 bytes of the fingerprint: minisign's key id.
    pub fn key_id(&self) -> [u8; 8] {
        let digest = Sha256::digest(self.key.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        id
    }

    /// The key id as minisign prints it (16 upper-case hex digits of the little-endian number).
    pub fn key_id_display(&self) -> String {
        format!("{:016X}", u64::from_le_bytes(self.key_id()))
    }

    /// The base64 line of minisign's public key format (`"Ed" || key id || key`).
    pub fn to_minisign_base64(&self) -> String {
        let mut payload = Vec::with_capacity(PUBLIC_PAYLOAD);
        payload.extend_from_slice(ALG_ED25519);
        payload.extend_from_slice(&self.key_id());
        payload.extend_from_slice(self.key.as_bytes());
        BASE64.encode(payload)
    }

    /// The contents of a minisign public key file.
    pub fn to_minisign_file(&self) -> String {
        format!("untrusted comment: minisign public key {}\n{}\n", self.key_id_display(), self.to_minisign_base64())
    }

    /// Parses minisign's base64 public key line and checks its key id against the key.
    pub fn from_minisign_base64(line: &str) -> std::result::Result<PublicKey, String> {
        let payload = BASE64.decode(line.trim()).map_err(|e| format!("public key is not base64: {e}"))?;
        if payload.len() != PUBLIC_PAYLOAD || &payload[..2] != ALG_ED25519 {
            return Err(format!("not a minisign Ed25519 public key ({} bytes)", payload.len()));
        }
        let bytes: [u8; 32] = payload[10..].try_into().expect("length checked");
        let key = PublicKey::from_bytes(&bytes)?;
        if payload[2..10] != key.key_id() {
            return Err("key id does not belong to the key (not a veilcam key, or altered)".into());
        }
        Ok(key)
    }

    /// Parses a public key file: minisign's two lines, or the base64 line alone.
    pub fn from_minisign_file(text: &str) -> std::result::Result<PublicKey, String> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .ok_or("no public key line")?;
        PublicKey::from_minisign_base64(line)
    }

    /// Reads a public key file (`veilcam.pub`, or a copy a recipient was given).
    pub fn load(path: &Path) -> Result<PublicKey> {
        let text = read_small(path)?;
        PublicKey::from_minisign_file(&text).map_err(|why| invalid(path, why))
    }

    /// Checks an Ed25519 signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> std::result::Result<(), String> {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.key.verify(message, &sig).map_err(|_| "signature does not verify".to_string())
    }
}

/// The Ed25519 secret key with its public key.
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.public_fingerprint())
    }
}

impl SigningKey {
    /// Reads `dir/veilcam.key`. Errors name the file: missing, unreadable, readable by others
    /// (any group or other permission bit), or not a veilcam secret key.
    pub fn load(dir: &Path) -> Result<SigningKey> {
        let path = dir.join(SECRET_FILE);
        let meta = std::fs::metadata(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => invalid(&path, "no signing key here; create one with `veilcam keys init`".into()),
            _ => Error::io(&path, e),
        })?;
        if !meta.is_file() {
            return Err(invalid(&path, crate::input::kind_of(&meta)));
        }
        if let Some(why) = exposed(&meta, "secret key") {
            return Err(invalid(&path, why));
        }
        check_not_writable_by_others(dir)?;
        let text = read_small(&path)?;
        SigningKey::from_secret_file(&text).map_err(|why| invalid(&path, why))
    }

    /// A new random key (from the operating system's generator).
    pub fn generate() -> Result<SigningKey> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| Error::Settings(format!("no randomness from the operating system: {e}")))?;
        Ok(SigningKey { key: ed25519_dalek::SigningKey::from_bytes(&seed) })
    }

    pub fn public(&self) -> PublicKey {
        PublicKey { key: self.key.verifying_key() }
    }

    /// SHA-256 of the public key, hex (see the module doc).
    pub fn public_fingerprint(&self) -> String {
        self.public().fingerprint()
    }

    /// A plain Ed25519 signature over `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    fn to_secret_file(&self) -> String {
        let public = self.public();
        let mut payload = Vec::with_capacity(SECRET_PAYLOAD);
        payload.extend_from_slice(ALG_ED25519);
        payload.extend_from_slice(&public.key_id());
        payload.extend_from_slice(self.key.as_bytes());
        payload.extend_from_slice(&public.to_bytes());
        format!("untrusted comment: veilcam secret key {}\n{}\n", public.fingerprint(), BASE64.encode(payload))
    }

    fn from_secret_file(text: &str) -> std::result::Result<SigningKey, String> {
        let mut lines = text.lines();
        let comment = lines.next().unwrap_or_default();
        if !comment.starts_with("untrusted comment: veilcam secret key") {
            return Err("not a veilcam secret key (first line)".into());
        }
        let payload = BASE64.decode(lines.next().unwrap_or_default().trim()).map_err(|_| "damaged: the key line is not base64".to_string())?;
        if payload.len() != SECRET_PAYLOAD || &payload[..2] != ALG_ED25519 {
            return Err(format!("damaged: {} key bytes where {SECRET_PAYLOAD} expected", payload.len()));
        }
        let seed: [u8; 32] = payload[10..42].try_into().expect("length checked");
        let key = SigningKey { key: ed25519_dalek::SigningKey::from_bytes(&seed) };
        let public = key.public();
        if payload[42..] != public.to_bytes() || payload[2..10] != public.key_id() {
            return Err("damaged: the stored public key does not belong to the secret key".into());
        }
        Ok(key)
    }
}

/// Creates a new key pair in `dir` (created with mode 0700 when missing): the secret file with
/// mode 0600 and `O_EXCL`, then the public file. Refuses when either file exists; a failure
/// leaves neither behind.
pub fn init(dir: &Path) -> Result<SigningKey> {
    let secret = dir.join(SECRET_FILE);
    let public = dir.join(PUBLIC_FILE);
    for path in [&secret, &public] {
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(invalid(path, "already exists; refusing to overwrite a signing key (move it away first)".into()));
        }
    }
    create_private_dir(dir)?;
    let key = SigningKey::generate()?;
    write_new(&secret, key.to_secret_file().as_bytes(), SECRET_MODE)?;
    if let Err(e) = write_new(&public, key.public().to_minisign_file().as_bytes(), 0o644) {
        let _ = std::fs::remove_file(&secret);
        return Err(e);
    }
    Ok(key)
}

/// Creates `dir` and its parents when missing, a new one readable by the owner only.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir).map_err(|e| Error::io(dir, e))
}

/// Refuses a key directory that others could write to, or its parent (`$VEILCAM_HOME`), as
/// ssh's StrictModes does: anyone who can write there can swap the key pair (found by hostile
/// use: a 0777 `keys/` was accepted for signing exports).
fn check_not_writable_by_others(dir: &Path) -> Result<()> {
    for d in [Some(dir), dir.parent().filter(|p| !p.as_os_str().is_empty())].into_iter().flatten() {
        let meta = std::fs::metadata(d).map_err(|e| Error::io(d, e))?;
        let mode = meta.permissions().mode() & 0o7777;
        // A sticky directory (/tmp) lets others add files, never replace ours.
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(invalid(d, format!("mode {:04o} lets others replace the signing key in it; run chmod go-w on it", mode & 0o777)));
        }
    }
    Ok(())
}

/// Why a secret file's permissions expose it (any group or other bit set), if they do.
pub(crate) fn exposed(meta: &std::fs::Metadata, what: &str) -> Option<String> {
    let mode = meta.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| format!("mode {mode:04o} lets others read the {what}; run chmod 600 on it"))
}

/// Creates `path` exclusively (`O_CREAT | O_EXCL`) with `mode`, writes and syncs it; removes it
/// again when writing fails.
pub(crate) fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => invalid(path, "already exists; refusing to overwrite a key".into()),
        _ => Error::io(path, e),
    })?;
    // The umask may have cleared bits of `mode`, never added any; set it exactly.
    let written = file
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .and_then(|()| file.write_all(contents))
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(path);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Opens `path` for reading only when it is a regular file (or a symlink to one): a FIFO or
/// device is refused with what it is instead of blocking the open or the reads.
pub fn open_regular(path: &Path) -> Result<File> {
    // O_NONBLOCK: opening a FIFO with no writer would block; on a regular file it does nothing.
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::InputNotFound { path: path.to_path_buf() },
        _ => Error::io(path, e),
    })?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::io(path, std::io::Error::other(crate::input::kind_of(&meta))));
    }
    Ok(file)
}

/// Reads a key or certificate file of at most [`MAX_KEY_FILE`] bytes as text.
pub(crate) fn read_small(path: &Path) -> Result<String> {
    let bytes = crate::input::read_small(path, MAX_KEY_FILE).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::InputNotFound { path: path.to_path_buf() },
        _ => Error::io(path, e),
    })?;
    String::from_utf8(bytes).map_err(|_| invalid(path, "is not UTF-8 text".into()))
}

fn invalid(path: &Path, why: String) -> Error {
    Error::io(path, std::io::Error::new(std::io::ErrorKind::InvalidData, why))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_loads_back_with_the_same_fingerprint_and_a_private_secret_file() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let key = init(&keys).unwrap();
        let loaded = SigningKey::load(&keys).unwrap();
        assert_eq!(loaded.public_fingerprint(), key.public_fingerprint());
        assert_eq!(key.public_fingerprint().len(), 64);
        let mode = std::fs::metadata(keys.join(SECRET_FILE)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let public = PublicKey::load(&keys.join(PUBLIC_FILE)).unwrap();
        assert_eq!(public, key.public());
    }

    #[test]
    fn init_refuses_to_overwrite_an_existing_key() {
        let dir = tempfile::tempdir().unwrap();
        let first = init(dir.path()).unwrap();
        let before = std::fs::read(dir.path().join(SECRET_FILE)).unwrap();
        let err = init(dir.path()).unwrap_err().to_string();
        assert!(err.contains("veilcam.key") && err.contains("refusing to overwrite"), "{err}");
        assert_eq!(std::fs::read(dir.path().join(SECRET_FILE)).unwrap(), before);
        assert_eq!(SigningKey::load(dir.path()).unwrap().public_fingerprint(), first.public_fingerprint());
    }

    /// Found by hostile use: a key directory (or `$VEILCAM_HOME`) anyone could write to was
    /// accepted for signing.
    #[test]
    fn a_key_directory_others_can_write_to_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let (home, keys) = (dir.path().join("home"), dir.path().join("home/keys"));
        init(&keys).unwrap();
        for open in [&keys, &home] {
            std::fs::set_permissions(open, std::fs::Permissions::from_mode(0o777)).unwrap();
            let err = SigningKey::load(&keys).unwrap_err().to_string();
            assert!(err.contains(&open.display().to_string()) && err.contains("0777"), "{err}");
            std::fs::set_permissions(open, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        SigningKey::load(&keys).unwrap();
    }

    #[test]
    fn a_secret_key_readable_by_others_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path()).unwrap();
        let secret = dir.path().join(SECRET_FILE);
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SigningKey::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&secret.display().to_string()) && err.contains("0644"), "{err}");
    }

    #[test]
    fn a_missing_or_damaged_key_is_a_clear_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = SigningKey::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("veilcam.key") && err.contains("keys init"), "{err}");
        init(dir.path()).unwrap();
        let secret = dir.path().join(SECRET_FILE);
        let mut text = std::fs::read_to_string(&secret).unwrap();
        let at = text.find('\n').unwrap() + 20; // inside the key line, not the comment
        let flipped = if &text[at..at + 1] == "A" { "B" } else { "A" };
        text.replace_range(at..at + 1, flipped);
        std::fs::write(&secret, text).unwrap();
        let err = SigningKey::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("veilcam.key") && err.contains("damaged"), "{err}");
    }

    #[test]
    fn signatures_verify_with_the_public_key_only() {
        let a = SigningKey::generate().unwrap();
        let b = SigningKey::generate().unwrap();
        let sig = a.sign(b"head");
        assert!(a.public().verify(b"head", &sig).is_ok());
        assert!(a.public().verify(b"heaD", &sig).is_err());
        assert!(b.public().verify(b"head", &sig).is_err());
    }
}

//! Signatures in minisign's format (<https://jedisct1.github.io/minisign/>), so that a bundle's
//! `manifest.json.minisig` can also be checked with the standard `minisign -V` tool.
//!
//! A signature file has four lines:
//! ```text
//! untrusted comment: <free text, not covered by any signature>
//! base64("ED" || key id (8 bytes) || Ed25519 signature of BLAKE2b-512(file))
//! trusted comment: <text>
//! base64(Ed25519 signature of (the signature above || the trusted comment's text))
//! ```
//! `ED` is minisign's pre-hashed mode (its default since 0.8). The trusted comment is signed
//! too (the "global signature"), so the time and case named there cannot be changed.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use blake2::{Blake2b512, Digest};

use super::keys::{PublicKey, SigningKey};

/// minisign's algorithm tag for Ed25519 over the BLAKE2b-512 hash of the file.
const ALG_PREHASHED: &[u8; 2] = b"ED";
const UNTRUSTED_PREFIX: &str = "untrusted comment: ";
const TRUSTED_PREFIX: &str = "trusted comment: ";
/// Bytes of the signature line's payload.
const SIGNATURE_PAYLOAD: usize = 2 + 8 + 64;

/// A parsed minisign signature.
#[derive(Clone, Debug)]
pub struct Signature {
    pub key_id: [u8; 8],
    signature: [u8; 64],
    pub trusted_comment: String,
    global_signature: [u8; 64],
}

/// Signs `data` and returns the contents of its `.minisig` file. Comments must be single
/// lines (line breaks are replaced by spaces).
pub fn sign(key: &SigningKey, data: &[u8], untrusted_comment: &str, trusted_comment: &str) -> String {
    let trusted = one_line(trusted_comment);
    let signature = key.sign(&Blake2b512::digest(data));
    let mut payload = Vec::with_capacity(SIGNATURE_PAYLOAD);
    payload.extend_from_slice(ALG_PREHASHED);
    payload.extend_from_slice(&key.public().key_id());
    payload.extend_from_slice(&signature);
    let global = key.sign(&[&signature[..], trusted.as_bytes()].concat());
    format!(
        "{UNTRUSTED_PREFIX}{}\n{}\n{TRUSTED_PREFIX}{trusted}\n{}\n",
        one_line(untrusted_comment),
        BASE64.encode(payload),
        BASE64.encode(global)
    )
}

impl Signature {
    /// Parses a `.minisig` file.
    pub fn parse(text: &str) -> Result<Signature, String> {
        let mut lines = text.lines();
        let mut next = |what: &str| lines.next().ok_or_else(|| format!("not a minisign signature: no {what} line"));
        let untrusted = next("untrusted comment")?;
        if !untrusted.starts_with(UNTRUSTED_PREFIX) {
            return Err("not a minisign signature: the first line is not an untrusted comment".into());
        }
        let payload = BASE64.decode(next("signature")?.trim()).map_err(|_| "signature line is not base64".to_string())?;
        if payload.len() != SIGNATURE_PAYLOAD {
            return Err(format!("signature line holds {} bytes where {SIGNATURE_PAYLOAD} expected", payload.len()));
        }
        if &payload[..2] != ALG_PREHASHED {
            return Err(format!("unsupported signature algorithm {:?} (veilcam writes \"ED\")", String::from_utf8_lossy(&payload[..2])));
        }
        let trusted_comment = next("trusted comment")?
            .strip_prefix(TRUSTED_PREFIX)
            .ok_or("not a minisign signature: the third line is not a trusted comment")?
            .to_string();
        let global = BASE64.decode(next("global signature")?.trim()).map_err(|_| "global signature line is not base64".to_string())?;
        if lines.next().is_some() {
            return Err("text follows the signature's four lines".into());
        }
        Ok(Signature {
            key_id: payload[2..10].try_into().expect("length checked"),
            signature: payload[10..].try_into().expect("length checked"),
            trusted_comment,
            global_signature: global.try_into().map_err(|_| "global signature is not 64 bytes".to_string())?,
        })
    }

    /// The `.minisig` text of this signature with `untrusted_comment`, as [`sign`] writes it.
    pub fn to_text(&self, untrusted_comment: &str) -> String {
        let payload = [ALG_PREHASHED, &self.key_id[..], &self.signature[..]].concat();
        format!(
            "{UNTRUSTED_PREFIX}{}\n{}\n{TRUSTED_PREFIX}{}\n{}\n",
            one_line(untrusted_comment),
            BASE64.encode(payload),
            self.trusted_comment,
            BASE64.encode(self.global_signature)
        )
    }

    /// Checks that `key` signed `data` and the trusted comment.
    pub fn verify(&self, key: &PublicKey, data: &[u8]) -> Result<(), String> {
        if self.key_id != key.key_id() {
            let id = format!("{:016X}", u64::from_le_bytes(self.key_id));
            return Err(format!("made with key id {id}, not with key {} (id {})", key.fingerprint(), key.key_id_display()));
        }
        key.verify(&Blake2b512::digest(data), &self.signature).map_err(|_| "signature does not match the signed file".to_string())?;
        let signed = [&self.signature[..], self.trusted_comment.as_bytes()].concat();
        key.verify(&signed, &self.global_signature).map_err(|_| "trusted comment was altered (global signature does not verify)".to_string())
    }
}

fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_to_data_or_trusted_comment_fails() {
        let key = SigningKey::generate().unwrap();
        let text = sign(&key, b"manifest", "signature from veilcam", "timestamp:1\tfile:manifest.json");
        let sig = Signature::parse(&text).unwrap();
        assert_eq!(sig.trusted_comment, "timestamp:1\tfile:manifest.json");
        sig.verify(&key.public(), b"manifest").unwrap();
        assert!(sig.verify(&key.public(), b"manifesT").is_err());
        let mut forged = sig.clone();
        forged.trusted_comment = "timestamp:2\tfile:manifest.json".into();
        assert!(forged.verify(&key.public(), b"manifest").unwrap_err().contains("trusted comment"));
        let other = SigningKey::generate().unwrap();
        assert!(sig.verify(&other.public(), b"manifest").unwrap_err().contains("key id"));
    }

    #[test]
    fn signatures_are_accepted_by_the_reference_minisign_verifier() {
        let key = SigningKey::generate().unwrap();
        let data = b"{\"case\":\"2026-117\"}\n";
        let text = sign(&key, data, "signature from veilcam", "timestamp:1766000000\tfile:manifest.json\thashed");
        let public = minisign_verify::PublicKey::from_base64(&key.public().to_minisign_base64()).unwrap();
        let signature = minisign_verify::Signature::decode(&text).unwrap();
        public.verify(data, &signature, false).unwrap();
        assert!(public.verify(b"{\"case\":\"2026-118\"}\n", &signature, false).is_err());
        // The public key file parses as well.
        let file = key.public().to_minisign_file();
        let b64 = file.lines().nth(1).unwrap();
        assert!(minisign_verify::PublicKey::from_base64(b64).is_ok());
    }
}

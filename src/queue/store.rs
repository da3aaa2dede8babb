//! The S3-compatible object store: `s3://bucket/key` URLs, streamed downloads into a private
//! directory, uploads to a hidden temp key committed by copy, listing.
//!
//! Endpoint from `--s3-endpoint` or `$AWS_ENDPOINT_URL` (plain `http://` allowed, path-style
//! requests, as SeaweedFS and most self-hosted stores want). Credentials from a file
//! (`--s3-credentials`, lines `access_key_id = …` and `secret_access_key = …`, mode 0600) or
//! `$AWS_ACCESS_KEY_ID`/`$AWS_SECRET_ACCESS_KEY`; with neither, requests are unsigned
//! (anonymous). Credentials are never logged and never part of an error message.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, RetryConfig};
use tokio::io::AsyncWriteExt;

use super::QueueError;

/// `s3://bucket/key` split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    pub key: String,
}

impl S3Url {
    pub fn parse(url: &str) -> Result<Self, QueueError> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| QueueError::Usage(format!("{url}: not an s3://bucket/key URL")))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.len() < 3 {
            return Err(QueueError::Usage(format!("{url}: bucket name must have 3 or more characters")));
        }
        // A prefix ends with `/`; the rest must name its object verbatim.
        if let Err(why) = verbatim(key.strip_suffix('/').unwrap_or(key)) {
            return Err(QueueError::Usage(format!("{url}: {UNADDRESSABLE} ({why})")));
        }
        Ok(S3Url { bucket: bucket.to_string(), key: key.to_string() })
    }

    pub fn with_key(&self, key: &str) -> S3Url {
        S3Url { bucket: self.bucket.clone(), key: key.to_string() }
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// Why a key is refused ([`verbatim`]).
const UNADDRESSABLE: &str =
    "cannot address this key (a leading `/`, `//`, `.` and `..` segments and control characters are not supported; rename the object)";

/// The object-store path that addresses the S3 key `key` itself, or why there is none. Found by
/// hostile use, twice: `Key::from` percent-encodes `%`, `~`, `#`, `[` and more, and `Key::parse`
/// drops a leading and a trailing `/`, so `/cam2/b.mp4` addressed `cam2/b.mp4`, and a job whose
/// output was given as `s3://bucket//cam2/b.mp4` found its own raw input there and was recorded
/// done. Only a key that parses back to itself is used.
fn verbatim(key: &str) -> Result<Key, String> {
    let path = Key::parse(key).map_err(|e| e.to_string())?;
    if path.as_ref() != key {
        return Err(format!("it would address {:?} instead", path.as_ref()));
    }
    Ok(path)
}

/// How to reach the store.
#[derive(Clone, Debug, Default)]
pub struct StoreConfig {
    pub endpoint: Option<String>,
    pub region: String,
    /// File with the access key (see the module doc).
    pub credentials: Option<PathBuf>,
}

/// One bucket of the store.
#[derive(Clone, Debug)]
pub struct Store {
    pub bucket: String,
    inner: Arc<AmazonS3>,
}

/// An object found by [`Store::list`] or [`Store::head`].
#[derive(Clone, Debug)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
    /// The job that wrote it, for an output of a worker ([`JOB_METADATA`]; [`Store::head`] only).
    pub job: Option<String>,
}

/// The user metadata (`x-amz-meta-veilcam-job`) by which a worker marks each output with the id
/// of the job that wrote it: an object without it is not veilcam's, never taken for a finished
/// output and never replaced (found by hostile use: a raw clip at the output key was recorded
/// as the job's redacted output).
pub const JOB_METADATA: &str = "veilcam-job";

/// Why the object at `output`, which no veilcam worker wrote (it has no [`JOB_METADATA`]), is
/// refused as a job's output: by `submit`, and by a worker that finds it there.
pub fn never_replaced(output: &S3Url) -> String {
    format!("{output} is there already and no veilcam worker wrote it: it is never replaced (move it, or submit with another --out)")
}

/// Retries of a failed request, and the pause before the first: it doubles each time (with
/// jitter), so a store that is away for up to about 15 s does not fail a job (found by hostile
/// use: with object_store's default 100 ms the four retries were over in half a second, and a
/// store restart sent every queued job to the dead letters).
const RETRIES: usize = 4;
const FIRST_RETRY_PAUSE: Duration = Duration::from_secs(1);

fn read_credentials(path: &Path) -> Result<(String, String), QueueError> {
    super::check_private(path)?;
    let bad = |message: String| QueueError::Credentials { path: path.to_path_buf(), message };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let (mut id, mut secret) = (None, None);
    for (number, line) in text.lines().map(str::trim).enumerate().filter(|(_, l)| !l.is_empty() && !l.starts_with('#') && !l.starts_with('[')) {
        let Some((k, v)) = line.split_once('=') else { return Err(bad(format!("line {} is not `name = value`", number + 1))) };
        // A mistyped line may hold the secret: it is never shown, only its number.
        let v = v.trim().trim_matches('"').to_string();
        match k.trim() {
            "access_key_id" | "aws_access_key_id" => id = Some(v),
            "secret_access_key" | "aws_secret_access_key" => secret = Some(v),
            _ => return Err(bad(format!("line {}: an unknown name (the names are access_key_id and secret_access_key)", number + 1))),
        }
    }
    match (id, secret) {
        (Some(id), Some(secret)) => Ok((id, secret)),
        _ => Err(bad("needs both access_key_id and secret_access_key".into())),
    }
}

impl Store {
    /// The store for `bucket`.
    pub fn open(config: &StoreConfig, bucket: &str) -> Result<Self, QueueError> {
        let endpoint = config.endpoint.clone().or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(if config.region.is_empty() { "us-east-1" } else { config.region.as_str() })
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .with_retry(RetryConfig {
                max_retries: RETRIES,
                retry_timeout: Duration::from_secs(30),
                backoff: object_store::BackoffConfig { init_backoff: FIRST_RETRY_PAUSE, ..Default::default() },
            });
        if let Some(e) = &endpoint {
            b = b.with_endpoint(e);
        }
        let env = (std::env::var("AWS_ACCESS_KEY_ID"), std::env::var("AWS_SECRET_ACCESS_KEY"));
        b = match (&config.credentials, env) {
            (Some(path), _) => {
                let (id, secret) = read_credentials(path)?;
                b.with_access_key_id(id).with_secret_access_key(secret)
            }
            (None, (Ok(id), Ok(secret))) => b.with_access_key_id(id).with_secret_access_key(secret),
            (None, _) => b.with_skip_signature(true),
        };
        let inner = b.build().map_err(|e| QueueError::Store { url: format!("s3://{bucket}"), message: e.to_string() })?;
        Ok(Store { bucket: bucket.to_string(), inner: Arc::new(inner) })
    }

    fn err(&self, key: &str, what: &str, e: impl std::fmt::Display) -> QueueError {
        QueueError::Store { url: format!("s3://{}/{key}", self.bucket), message: format!("{what}: {e}") }
    }

    /// The object-store path of `key`, verbatim: the S3 key the user named. A key object_store
    /// cannot address as it is is refused, naming it ([`verbatim`]).
    fn key(&self, key: &str) -> Result<Key, QueueError> {
        verbatim(key).map_err(|e| self.err(key, UNADDRESSABLE, e))
    }

    /// Every object under `prefix` (a "directory": `a/b/`; empty for the whole bucket).
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>, QueueError> {
        let p = self.key(prefix.trim_end_matches('/'))?;
        let mut stream = self.inner.list(if prefix.is_empty() { None } else { Some(&p) });
        let mut out = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|e| match e {
                object_store::Error::InvalidPath { .. } => {
                    self.err(prefix, "cannot list: an object under it has a key object_store cannot read (a control character, `//`, a `.` or `..` segment); rename it", e)
                }
                e => self.err(prefix, "cannot list", e),
            })?;
            out.push(Listed { key: meta.location.to_string(), size: meta.size, etag: meta.e_tag, job: None });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// The object's size, ETag and writing job, or `None` when it does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<Listed>, QueueError> {
        let head = object_store::GetOptions { head: true, ..Default::default() };
        match self.inner.get_opts(&self.key(key)?, head).await {
            Ok(got) => {
                let job = got.attributes.get(&object_store::Attribute::Metadata(JOB_METADATA.into())).map(|v| v.to_string());
                Ok(Some(Listed { key: key.to_string(), size: got.meta.size, etag: got.meta.e_tag, job }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(key, "cannot look up", e)),
        }
    }

    /// Streams the object into `dest` (a new file), chunk by chunk.
    pub async fn download(&self, key: &str, dest: &Path) -> Result<u64, QueueError> {
        let got = self.inner.get(&self.key(key)?).await.map_err(|e| self.err(key, "cannot read", e))?;
        let mut stream = got.into_stream();
        // Only its owner reads a downloaded input: it may be raw footage.
        let mut file = tokio::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(dest).await.map_err(|e| self.err(key, &format!("cannot create {}", dest.display()), e))?;
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.err(key, "read cut off", e))?;
            file.write_all(&chunk).await.map_err(|e| self.err(key, &format!("cannot write {}", dest.display()), e))?;
            n += chunk.len() as u64;
        }
        file.flush().await.map_err(|e| self.err(key, &format!("cannot write {}", dest.display()), e))?;
        Ok(n)
    }

    /// Uploads `src` to `key` (multipart for large files; the object appears only complete),
    /// marked as the output of `job` if given ([`JOB_METADATA`]).
    pub async fn upload(&self, src: &Path, key: &str, job: Option<&str>) -> Result<u64, QueueError> {
        let mut file = tokio::fs::File::open(src).await.map_err(|e| self.err(key, &format!("cannot open {}", src.display()), e))?;
        let mut marked = object_store::Attributes::new();
        if let Some(job) = job {
            marked.insert(object_store::Attribute::Metadata(JOB_METADATA.into()), job.to_string().into());
        }
        let mut writer = object_store::buffered::BufWriter::new(self.inner.clone() as Arc<dyn ObjectStore>, self.key(key)?).with_attributes(marked);
        let n = tokio::io::copy(&mut file, &mut writer).await;
        match n {
            Ok(n) => {
                writer.shutdown().await.map_err(|e| self.err(key, "cannot upload", e))?;
                Ok(n)
            }
            Err(e) => {
                let _ = writer.abort().await;
                Err(self.err(key, "cannot upload", e))
            }
        }
    }

    /// Uploads bytes to `key`.
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), QueueError> {
        self.inner.put(&self.key(key)?, bytes.into()).await.map(|_| ()).map_err(|e| self.err(key, "cannot write", e))
    }

    /// Server-side copy (user metadata goes with it).
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), QueueError> {
        self.inner.copy(&self.key(from)?, &self.key(to)?).await.map_err(|e| self.err(to, &format!("cannot copy from {from}"), e))
    }

    pub async fn delete(&self, key: &str) -> Result<(), QueueError> {
        match self.inner.delete(&self.key(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(key, "cannot delete", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by hostile use: keys went through `Key::from`, which percent-encodes `%`, `~`,
    /// `#`, `[` and control characters, so such an object was looked for under another key.
    #[test]
    fn object_keys_are_used_verbatim_and_an_unaddressable_one_is_refused_by_name() {
        let config = StoreConfig { endpoint: Some("http://127.0.0.1:9".into()), ..Default::default() };
        let store = Store::open(&config, "redaction").unwrap();
        for key in ["a/50% off~[1] #2.mp4", "café/ünï cödé 👀.mp4", "x/two%0Alines.mp4"] {
            assert_eq!(store.key(key).unwrap().as_ref(), key);
        }
        for key in ["a/two\nlines.mp4", "a//b.mp4", "a/../b.mp4", "/a/b.mp4", "a/b.mp4/"] {
            let err = store.key(key).unwrap_err().to_string();
            assert!(err.contains(&format!("s3://redaction/{key}")) && err.contains("rename the object"), "{err}");
        }
    }

    #[test]
    fn s3_urls_split_into_bucket_and_key() {
        assert_eq!(S3Url::parse("s3://redaction/archive/2026-11/").unwrap(), S3Url { bucket: "redaction".into(), key: "archive/2026-11/".into() });
        assert_eq!(S3Url::parse("s3://redaction").unwrap().key, "");
        assert!(S3Url::parse("/tmp/x").is_err());
        assert!(S3Url::parse("s3://ab/x").unwrap_err().to_string().contains("3 or more"));
    }

    /// Found by hostile use: `--out s3://redaction//cam2/` was accepted, and its objects'
    /// `//cam2/…` keys addressed the inputs under `cam2/`.
    #[test]
    fn a_url_whose_key_would_address_another_object_is_refused() {
        for url in ["s3://redaction//cam2/", "s3://redaction//archive/a.mp4", "s3://redaction/a//b/", "s3://redaction/a/./b.mp4", "s3://redaction/a/../b/"] {
            let err = S3Url::parse(url).unwrap_err().to_string();
            assert!(err.contains(url) && err.contains("cannot address this key"), "{url}: {err}");
        }
        for url in ["s3://redaction/", "s3://redaction", "s3://redaction/cam2/", "s3://redaction/cam2/a b.mp4"] {
            assert!(S3Url::parse(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn a_credentials_file_readable_by_others_is_refused_without_showing_the_secret() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3.creds");
        std::fs::write(&path, "access_key_id = AKID\nsecret_access_key = sekrit-value\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_credentials(&path).unwrap_err().to_string();
        assert!(err.contains("readable by others") && !err.contains("sekrit"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_credentials(&path).unwrap(), ("AKID".to_string(), "sekrit-value".to_string()));
    }
}

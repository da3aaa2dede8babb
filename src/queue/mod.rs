//! The work queue: archive redaction spread over machines, on NATS JetStream and an
//! S3-compatible object store (`veilcam submit`, `veilcam worker`, `veilcam jobs`).
//!
//! `submit` lists the input objects and publishes one [`job::Job`] per object to the
//! work-queue stream [`JOBS_STREAM`] (de-duplicated by `Nats-Msg-Id` = the job id); workers
//! ([`worker`]) pull at most `--jobs` jobs at a time, redact each with the same engine as
//! `veilcam redact` ([`crate::pipeline::redact_video`], [`crate::still::redact_image`]), upload
//! the result to a hidden temp key beside the output, copy it to the final key, delete the temp
//! key and only then ack. A job's state lives in the key-value bucket [`STATUS_BUCKET`]
//! ([`status`]); a job that fails `--max-deliver` times is published with its error on the
//! dead-letter subject [`DEAD_SUBJECT_PREFIX`]`.<id>` (kept in the stream [`DEAD_STREAM`]).
//! Credentials come from the environment or a file ([`connect`], [`store`]), never argv.
//! See docs/queue.md for the guarantees and the failure cases.

pub mod commands;
pub mod job;
pub mod metrics;
pub mod status;
pub mod store;
pub mod submit;
pub mod worker;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The work-queue stream of jobs.
pub const JOBS_STREAM: &str = "VEILCAM_JOBS";
/// Subject jobs are published on.
pub const JOBS_SUBJECT: &str = "veilcam.jobs.redact";
/// The durable pull consumer every worker shares.
pub const WORKERS_CONSUMER: &str = "veilcam-workers";
/// The stream that keeps dead letters (limits retention: they stay until removed).
pub const DEAD_STREAM: &str = "VEILCAM_DEAD";
/// Dead letters go to `<prefix>.<job id>`.
pub const DEAD_SUBJECT_PREFIX: &str = "veilcam.dead";
/// Key-value bucket of job states, keyed by job id.
pub const STATUS_BUCKET: &str = "veilcam-jobs";
/// How long a job's state is kept in [`STATUS_BUCKET`] after its last change.
pub const STATUS_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long JetStream remembers a `Nats-Msg-Id` to drop a re-submitted job.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(3600);

/// What can go wrong in the queue, naming the server, object or job concerned.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("NATS {url}: {message}")]
    Nats { url: String, message: String },
    #[error("object store {url}: {message}")]
    Store { url: String, message: String },
    #[error("job {id}: {message}")]
    Job { id: String, message: String },
    #[error("credentials {path}: {message}")]
    Credentials { path: PathBuf, message: String },
    #[error("{0}")]
    Usage(String),
}

impl QueueError {
    pub(crate) fn nats(url: &str, what: &str, e: impl std::fmt::Display) -> Self {
        QueueError::Nats { url: shown(url), message: format!("{what}: {e}") }
    }
}

/// The user information of a `nats://user:password@host` URL, if it has any.
fn userinfo(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority.rsplit_once('@').map(|(info, _)| info)
}

/// `url` as it may be shown: any user information replaced by `***`.
pub fn shown(url: &str) -> String {
    match userinfo(url) {
        Some(info) => url.replacen(&format!("{info}@"), "***@", 1),
        None => url.to_string(),
    }
}

/// Where the queue is: the NATS URL, and how to authenticate.
#[derive(Clone, Debug)]
pub struct NatsTarget {
    pub url: String,
    /// A NATS `.creds` file (from `--nats-creds` or `$NATS_CREDS`).
    pub creds: Option<PathBuf>,
}

/// Connects to NATS. Credentials: the `.creds` file if given, else `$NATS_USER` +
/// `$NATS_PASSWORD`, else `$NATS_TOKEN`, else none; never in the URL (it is shown in logs and
/// errors, and command lines are visible to every user). The first connection fails with its
/// cause (refused, not authorised, no answer); once connected, the client reconnects by itself
/// (for ever) after a server restart, and requests made while it is away fail and are retried
/// by the caller.
pub async fn connect(target: &NatsTarget, name: &str) -> Result<async_nats::Client, QueueError> {
    if let Some(userinfo) = userinfo(&target.url) {
        let what = if userinfo.contains(':') { "a user and password" } else { "a token or user" };
        return Err(QueueError::nats(&target.url, "cannot connect", format!("the URL holds {what}; give them in $NATS_USER and $NATS_PASSWORD, $NATS_TOKEN or a --nats-creds file instead")));
    }
    // Without `retry_on_initial_connect`, which hid the first connection's cause behind a
    // later "request timed out" (found by hostile use: a refused connection and a wrong
    // password read the same).
    let mut options = async_nats::ConnectOptions::new().name(name).connection_timeout(Duration::from_secs(5));
    let creds = target.creds.clone().or_else(|| std::env::var_os("NATS_CREDS").map(PathBuf::from));
    if let Some(path) = creds {
        check_private(&path)?;
        options = options.credentials_file(&path).await.map_err(|e| QueueError::Credentials { path: path.clone(), message: e.to_string() })?;
    } else if let (Ok(user), Ok(pass)) = (std::env::var("NATS_USER"), std::env::var("NATS_PASSWORD")) {
        options = options.user_and_password(user, pass);
    } else if let Ok(token) = std::env::var("NATS_TOKEN") {
        options = options.token(token);
    }
    tokio::time::timeout(Duration::from_secs(15), options.connect(target.url.as_str()))
        .await
        .map_err(|_| QueueError::nats(&target.url, "cannot connect", "no answer within 15 s"))?
        .map_err(|e| QueueError::nats(&target.url, "cannot connect", e))
}

/// Refuses a credentials file others can read (it holds a secret).
pub(crate) fn check_private(path: &Path) -> Result<(), QueueError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| QueueError::Credentials { path: path.to_path_buf(), message: e.to_string() })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(QueueError::Credentials {
            path: path.to_path_buf(),
            message: format!("readable by others (mode {:o}); chmod 600 it", meta.permissions().mode() & 0o777),
        });
    }
    Ok(())
}

/// The JetStream objects of the queue, created if missing: the job stream, the dead-letter
/// stream and the status bucket.
pub struct Queue {
    pub url: String,
    pub js: async_nats::jetstream::Context,
    pub jobs: async_nats::jetstream::stream::Stream,
    pub dead: async_nats::jetstream::stream::Stream,
    pub status: async_nats::jetstream::kv::Store,
}

impl Queue {
    /// Opens (creating where missing) the streams and the bucket.
    pub async fn open(client: async_nats::Client, url: &str) -> Result<Self, QueueError> {
        use async_nats::jetstream::{self, stream};
        let js = jetstream::new(client);
        let jobs = js
            .get_or_create_stream(stream::Config {
                name: JOBS_STREAM.into(),
                subjects: vec![JOBS_SUBJECT.into()],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                duplicate_window: DEDUP_WINDOW,
                ..Default::default()
            })
            .await
            .map_err(|e| QueueError::nats(url, &format!("stream {JOBS_STREAM}"), e))?;
        let dead = js
            .get_or_create_stream(stream::Config {
                name: DEAD_STREAM.into(),
                subjects: vec![format!("{DEAD_SUBJECT_PREFIX}.>")],
                retention: stream::RetentionPolicy::Limits,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| QueueError::nats(url, &format!("stream {DEAD_STREAM}"), e))?;
        let status = match js.get_key_value(STATUS_BUCKET).await {
            Ok(kv) => kv,
            Err(_) => js
                .create_key_value(async_nats::jetstream::kv::Config {
                    bucket: STATUS_BUCKET.into(),
                    history: 1,
                    max_age: STATUS_TTL,
                    storage: stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(|e| QueueError::nats(url, &format!("bucket {STATUS_BUCKET}"), e))?,
        };
        Ok(Queue { url: url.to_string(), js, jobs, dead, status })
    }
}

/// A tokio runtime for one command (the redaction itself runs on its own threads).
pub fn runtime() -> crate::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| crate::Error::Pipeline(format!("cannot start the async runtime: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by hostile use: a password in `--nats`/`$VEILCAM_NATS` was printed in the worker's
    /// first line and in every NATS error.
    #[test]
    fn a_nats_url_is_shown_without_its_credentials_and_refused_with_them() {
        assert_eq!(shown("nats://alice:S3cr3t@host:4222"), "nats://***@host:4222");
        assert_eq!(shown("nats://tok3n@host"), "nats://***@host");
        assert_eq!(shown("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(shown("nats://host/a@b"), "nats://host/a@b", "an @ after the host is not user information");
        let target = NatsTarget { url: "nats://alice:S3cr3t@127.0.0.1:9".into(), creds: None };
        let err = runtime().unwrap().block_on(connect(&target, "test")).unwrap_err().to_string();
        assert!(err.contains("$NATS_USER") && !err.contains("S3cr3t") && !err.contains("alice"), "{err}");
    }
}

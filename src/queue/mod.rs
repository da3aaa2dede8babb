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
        QueueError::Nats { url: url.to_string(), message: format!("{what}: {e}") }
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
/// `$NATS_PASSWORD`, else `$NATS_TOKEN`, else none. The client reconnects by itself (for ever)
/// after a server restart; requests made while it is away fail and are retried by the caller.
pub async fn connect(target: &NatsTarget, name: &str) -> Result<async_nats::Client, QueueError> {
    let mut options = async_nats::ConnectOptions::new().name(name).retry_on_initial_connect().connection_timeout(Duration::from_secs(5));
    let creds = target.creds.clone().or_else(|| std::env::var_os("NATS_CREDS").map(PathBuf::from));
    if let Some(path) = creds {
        check_private(&path)?;
        options = options.credentials_file(&path).await.map_err(|e| QueueError::Credentials { path: path.clone(), message: e.to_string() })?;
    } else if let (Ok(user), Ok(pass)) = (std::env::var("NATS_USER"), std::env::var("NATS_PASSWORD")) {
        options = options.user_and_password(user, pass);
    } else if let Ok(token) = std::env::var("NATS_TOKEN") {
        options = options.token(token);
    }
    // `retry_on_initial_connect` would wait for ever for a server that is not there: bound it.
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

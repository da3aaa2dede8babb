//! `veilcam worker`: takes jobs from the queue, at most `--jobs` at a time, and redacts each
//! with the engine `veilcam redact` uses.
//!
//! One job, step by step (`process`): the job's output already exists, marked as written by
//! this job (`x-amz-meta-veilcam-job`) → ack, nothing redone; an object there that no worker
//! wrote is never replaced (the job fails at once); else the input is streamed into a private
//! (0700) temp directory — the only copy of the raw input, removed on every path (on a second
//! signal too, and, after a `kill -9`, by the next worker started with the same `--work-dir`,
//! as nobody holds its lock) — redacted there, uploaded to a hidden temp key beside the output
//! (`dir/.name.part-<job id>`), copied to the output key, the temp key deleted, and the message
//! acked. While a job runs, the worker sends in-progress acks every third of the consumer's
//! `ack_wait`, so only a dead worker's jobs are redelivered, and refreshes the job's state
//! record with each, so `veilcam jobs` shows a dead worker's job stale. A failed attempt is nak'ed
//! (delivered again, after a short delay); the `--max-deliver`-th failure, or the first that
//! no retry can mend (the job's options, its pinned config, an object in the way), publishes
//! the job and its error on the dead-letter subject and acks it, so it never blocks the queue.
//! SIGTERM/Ctrl-C: no new job is taken; the running ones are stopped by the engine's interrupt
//! (a download at once) and nak'ed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{pull, AckPolicy};
use async_nats::jetstream::message::AckKind;
use async_nats::jetstream::Message;
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::job::Job;
use super::metrics::{MetricsServer, WorkerMetrics};
use super::status::{self, JobStatus, State};
use super::store::{Listed, S3Url, Store, StoreConfig};
use super::{connect, NatsTarget, Queue, QueueError, DEAD_SUBJECT_PREFIX, WORKERS_CONSUMER};
use crate::leftover::{HeldDir, Lock};
use crate::settings::{media_kind, MediaKind, RedactSettings};

/// Default seconds a delivered job may go without an ack (or an in-progress ack) before it
/// is delivered again.
pub const DEFAULT_ACK_WAIT_SECONDS: u64 = 30;
/// Default deliveries of a job before it goes to the dead-letter subject.
pub const DEFAULT_MAX_DELIVER: i64 = 3;
/// Delay before a failed job is delivered again.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// Prefix of the private per-job directories (`<prefix><pid>-XXXXXX`).
const JOB_DIR_PREFIX: &str = "veilcam-job-";

/// The most of an unreadable message a dead letter keeps (found by hostile use: a 600 KB
/// message, escaped into the letter, made it larger than NATS takes, so it was never
/// dead-lettered and came back every second for ever).
const LETTER_PAYLOAD: usize = 4096;

/// A job's own directory in `work_dir`, where its raw input lies: mode 0700 whatever the umask,
/// so no other user may look in; locked while the worker lives, removed when dropped, or by
/// [`crate::leftover::remove_pending`] on a second signal ([`HeldDir`]).
fn job_dir(work_dir: &Path) -> std::io::Result<HeldDir> {
    let prefix = format!("{JOB_DIR_PREFIX}{}-", std::process::id());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
    HeldDir::create(&builder, work_dir, Lock::Required)
}

/// What the worker's own machine decides (not carried by jobs).
#[derive(Clone, Debug, Default)]
pub struct LocalOptions {
    pub model: Option<PathBuf>,
    pub person_model: Option<PathBuf>,
    pub ort_lib: Option<PathBuf>,
    pub workers: Option<usize>,
    pub ort_threads: Option<usize>,
}

/// Everything `veilcam worker` was told.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub nats: NatsTarget,
    pub store: StoreConfig,
    /// The bucket the worker reads and writes; jobs naming another are refused.
    pub bucket: String,
    pub jobs: usize,
    pub ack_wait: Duration,
    pub max_deliver: i64,
    pub local: LocalOptions,
    /// Parent of the private per-job directories [default: the system temp dir].
    pub work_dir: Option<PathBuf>,
    pub metrics: Option<std::net::SocketAddr>,
    /// Exit once nothing is waiting and nothing is delivered-but-unfinished.
    pub exit_when_idle: bool,
    pub name: String,
}

/// What a worker did before it stopped.
#[derive(Debug, Default)]
pub struct WorkerSummary {
    pub done: u64,
    pub already_done: u64,
    pub failed_attempts: u64,
    pub dead: u64,
}

/// A job attempt that did not finish.
#[derive(Debug)]
enum Failure {
    /// Stopped by a signal: nak, no attempt counted against the job.
    Interrupted,
    Error(String),
    /// What no other attempt can mend (the job's options or config, an object in the way):
    /// dead-lettered at once.
    Permanent(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Error(e.to_string())
    }
}

enum Finished {
    Done { frames: u64, seconds: f64 },
    AlreadyDone,
}

struct Context {
    config: WorkerConfig,
    /// The shared consumer's `ack_wait` (the first worker's `--ack-wait`).
    ack_wait: Duration,
    queue: Queue,
    store: Store,
    work_dir: PathBuf,
    metrics: Arc<WorkerMetrics>,
}

/// Runs the worker until interrupted (or idle, with `exit_when_idle`).
pub fn run(config: WorkerConfig) -> crate::Result<WorkerSummary> {
    crate::init_gstreamer()?;
    if config.jobs == 0 || config.jobs > 64 {
        return Err(crate::Error::Settings(format!("--jobs {} must be between 1 and 64", config.jobs)));
    }
    if config.max_deliver < 1 {
        return Err(crate::Error::Settings(format!("--max-deliver {} must be 1 or more", config.max_deliver)));
    }
    super::runtime()?.block_on(run_async(config))
}

async fn run_async(config: WorkerConfig) -> crate::Result<WorkerSummary> {
    let work_dir = config.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&work_dir).map_err(|e| crate::Error::io(&work_dir, e))?;
    remove_stale_job_dirs(&work_dir);
    let store = Store::open(&config.store, &config.bucket)?;
    let client = connect(&config.nats, &config.name).await?;
    let queue = Queue::open(client, &config.nats.url).await?;
    let consumer = shared_consumer(&queue, &config).await?;
    let ack_wait = consumer.cached_info().config.ack_wait;
    if ack_wait != config.ack_wait {
        tracing::warn!(
            "the queue's workers share an ack wait of {} s, set by the first worker; --ack-wait {} is not used (delete the consumer {WORKERS_CONSUMER} to change it)",
            ack_wait.as_secs_f64(),
            config.ack_wait.as_secs_f64()
        );
    }
    let metrics = Arc::new(WorkerMetrics::new());
    let _server = config.metrics.map(|addr| MetricsServer::start(addr, metrics.clone())).transpose()?;
    tracing::info!(worker = %config.name, jobs = config.jobs, "worker taking jobs from {}", super::shown(&config.nats.url));
    let cx = Arc::new(Context { config, ack_wait, queue, store, work_dir, metrics });
    let permits = Arc::new(Semaphore::new(cx.config.jobs));
    let mut tasks = JoinSet::new();
    let mut summary = WorkerSummary::default();
    let mut last_depth = Instant::now() - Duration::from_secs(60);
    loop {
        while let Some(done) = tasks.try_join_next() {
            tally(&mut summary, done);
        }
        if crate::interrupt::requested() {
            break;
        }
        if last_depth.elapsed() > Duration::from_secs(2) {
            last_depth = Instant::now();
            if let Ok(info) = consumer.get_info().await {
                cx.metrics.depth.set(info.num_pending as i64);
                cx.metrics.unacked.set(info.num_ack_pending as i64);
            }
        }
        let Ok(permit) = tokio::time::timeout(Duration::from_millis(250), permits.clone().acquire_owned()).await else { continue };
        let permit = permit.expect("the semaphore is never closed");
        let batch = consumer.fetch().max_messages(1).expires(Duration::from_secs(1)).messages().await;
        let next = match batch {
            Ok(mut batch) => batch.next().await,
            Err(e) => {
                tracing::warn!("cannot fetch a job (will retry): {e}");
                drop(permit);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        match next {
            Some(Ok(msg)) => {
                let cx = cx.clone();
                tasks.spawn(async move {
                    let outcome = handle(&cx, msg).await;
                    drop(permit);
                    outcome
                });
            }
            Some(Err(e)) => {
                tracing::debug!("fetch: {e}");
                drop(permit);
            }
            None => {
                drop(permit);
                if cx.config.exit_when_idle && tasks.is_empty() {
                    if let Ok(info) = consumer.get_info().await {
                        if info.num_pending == 0 && info.num_ack_pending == 0 {
                            break;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        tally(&mut summary, done);
    }
    Ok(summary)
}

/// The pull consumer every worker shares, created by the first with this worker's `--ack-wait`.
/// A later worker takes it as it is: creating it again would set every worker's ack wait to
/// this one's (found by hostile use: a worker started with `--ack-wait 3` made a running job of
/// a worker that sent in-progress acks every 10 s be delivered again, done twice, and its output
/// written twice).
async fn shared_consumer(queue: &Queue, config: &WorkerConfig) -> Result<async_nats::jetstream::consumer::Consumer<pull::Config>, QueueError> {
    if let Ok(consumer) = queue.jobs.get_consumer(WORKERS_CONSUMER).await {
        return Ok(consumer);
    }
    queue
        .jobs
        .create_consumer(pull::Config {
            durable_name: Some(WORKERS_CONSUMER.into()),
            ack_policy: AckPolicy::Explicit,
            ack_wait: config.ack_wait,
            // Dead-lettering is the worker's (it knows the error); the server never drops a job.
            max_deliver: -1,
            ..Default::default()
        })
        .await
        .map_err(|e| QueueError::nats(&config.nats.url, &format!("consumer {WORKERS_CONSUMER}"), e))
}

/// What happened to one delivered message.
enum Handled {
    Done,
    AlreadyDone,
    Retried,
    Dead,
    Stopped,
}

fn tally(s: &mut WorkerSummary, joined: Result<Handled, tokio::task::JoinError>) {
    match joined {
        Ok(Handled::Done) => s.done += 1,
        Ok(Handled::AlreadyDone) => s.already_done += 1,
        Ok(Handled::Retried) => s.failed_attempts += 1,
        Ok(Handled::Dead) => {
            s.failed_attempts += 1;
            s.dead += 1
        }
        Ok(Handled::Stopped) => {}
        Err(e) => tracing::error!("a job task ended abnormally: {e}"),
    }
}

async fn handle(cx: &Context, msg: Message) -> Handled {
    let delivered = msg.info().map_or(1, |i| i.delivered);
    let job = match Job::from_bytes(&msg.payload) {
        Ok(job) => job,
        Err(e) => return give_up(cx, &msg, "unreadable", unreadable(&msg.payload), None, &e.to_string(), delivered).await,
    };
    let mut st = JobStatus::new(&job, State::Running);
    st.worker = Some(cx.config.name.clone());
    st.attempt = delivered;
    // Looked up once, for the overdue check and for `process`.
    let there = with_progress(&msg, cx.ack_wait, None, output_object(cx, &job)).await;
    let finished_before = matches!(&there, Ok(Some(found)) if found.job.as_deref() == Some(job.id.as_str()));
    if delivered > cx.config.max_deliver && !finished_before {
        // Delivered again after its attempts were used up by workers that died mid-job (one
        // that died after writing the output but before its ack is not one of them).
        let last = status::get(&cx.queue, &job.id).await.ok().flatten().and_then(|s| s.reason);
        let why = format!("delivered {delivered} times without finishing; last error: {}", last.as_deref().unwrap_or("none recorded (the workers stopped)"));
        return give_up(cx, &msg, &job.id, serde_json::to_value(&job).expect("a job serialises"), Some(st), &why, delivered).await;
    }
    status::put(&cx.queue, &st).await;
    cx.metrics.running.inc();
    let started = Instant::now();
    let outcome = with_progress(&msg, cx.ack_wait, Some((&cx.queue, &st)), process(cx, &job, there)).await;
    cx.metrics.running.dec();
    match outcome {
        Ok(finished) => {
            ack(&msg).await;
            let total = started.elapsed().as_secs_f64();
            st.state = State::Done;
            match finished {
                Finished::Done { frames, seconds } => {
                    st.overhead_seconds = Some((total - seconds).max(0.0));
                    cx.metrics.done.inc();
                    cx.metrics.frames.inc_by(frames);
                    st.frames = Some(frames);
                    st.seconds = Some(seconds);
                    st.reason = None;
                    tracing::info!(job = %job.id, "done {} -> {} ({frames} frames, {seconds:.1} s redacting, {:.2} s queue and store)", job.input, job.output, total - seconds);
                }
                Finished::AlreadyDone => st.reason = Some("output already there (finished by an earlier delivery)".into()),
            }
            status::put(&cx.queue, &st).await;
            if st.frames.is_some() {
                Handled::Done
            } else {
                Handled::AlreadyDone
            }
        }
        Err(Failure::Interrupted) => {
            let _ = msg.ack_with(AckKind::Nak(None)).await;
            st.state = State::Queued;
            st.reason = Some(format!("worker {} stopped; queued again", cx.config.name));
            status::put(&cx.queue, &st).await;
            Handled::Stopped
        }
        Err(Failure::Error(e)) => failed(cx, &msg, &job, st, e, delivered >= cx.config.max_deliver).await,
        Err(Failure::Permanent(e)) => failed(cx, &msg, &job, st, e, true).await,
    }
}

/// A failed attempt of `job`: dead-lettered when `last`, else delivered again after a pause.
async fn failed(cx: &Context, msg: &Message, job: &Job, mut st: JobStatus, e: String, last: bool) -> Handled {
    cx.metrics.failed.inc();
    tracing::warn!(job = %job.id, "attempt {} of {} failed: {e}", st.attempt, job.input);
    if last {
        let delivered = st.attempt;
        return give_up(cx, msg, &job.id, serde_json::to_value(job).expect("a job serialises"), Some(st), &e, delivered).await;
    }
    st.state = State::Retrying;
    st.reason = Some(e);
    status::put(&cx.queue, &st).await;
    let _ = msg.ack_with(AckKind::Nak(Some(RETRY_DELAY))).await;
    Handled::Retried
}

/// The object at `job`'s output key, if any: looked up once a delivery, for the overdue check
/// (is it there, written by this job?) and for [`process`]. An output [`process`] refuses
/// before looking (outside this worker's bucket, no key) is not looked up.
async fn output_object(cx: &Context, job: &Job) -> Result<Option<Listed>, QueueError> {
    let output = S3Url::parse(&job.output)?;
    if output.bucket != cx.store.bucket || output.key.is_empty() {
        return Ok(None);
    }
    cx.store.head(&output.key).await
}

/// An unreadable message as a dead letter keeps it: its JSON, or its first
/// [`LETTER_PAYLOAD`] bytes as text.
fn unreadable(payload: &[u8]) -> serde_json::Value {
    if payload.len() > LETTER_PAYLOAD {
        let head = String::from_utf8_lossy(&payload[..LETTER_PAYLOAD]);
        return serde_json::Value::String(format!("{head}… ({} bytes in all)", payload.len()));
    }
    serde_json::from_slice(payload).unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(payload).into_owned()))
}

/// Publishes the dead letter, then acks the job (so it leaves the queue). Should the dead
/// letter not be stored, the job is nak'ed instead: never dropped.
async fn give_up(cx: &Context, msg: &Message, id: &str, job: serde_json::Value, st: Option<JobStatus>, error: &str, delivered: i64) -> Handled {
    let letter = status::DeadLetter { job, error: error.to_string(), deliveries: delivered, worker: cx.config.name.clone() };
    let subject = format!("{DEAD_SUBJECT_PREFIX}.{}", if id.chars().all(|c| c.is_ascii_alphanumeric()) { id } else { "unreadable" });
    let stored = match cx.queue.js.publish(subject, serde_json::to_vec(&letter).expect("a dead letter serialises").into()).await {
        Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = stored {
        tracing::error!(job = %id, "cannot store the dead letter ({e}); the job stays queued");
        let _ = msg.ack_with(AckKind::Nak(Some(RETRY_DELAY))).await;
        return Handled::Retried;
    }
    ack(msg).await;
    cx.metrics.dead.inc();
    tracing::error!(job = %id, "gave up after {delivered} deliveries: {error}");
    if let Some(mut st) = st {
        st.state = State::Failed;
        st.reason = Some(error.to_string());
        status::put(&cx.queue, &st).await;
    }
    Handled::Dead
}

/// Acks and waits for the server's confirmation, retrying while the server is away. A job
/// whose ack is lost is delivered again and then acked at once (its output exists).
async fn ack(msg: &Message) {
    for attempt in 0..20 {
        match msg.double_ack().await {
            Ok(()) => return,
            Err(e) if attempt == 19 => tracing::warn!("cannot ack a finished job ({e}); it will be delivered again and skipped"),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Runs `work`, telling the server every third of `ack_wait` that the job is still in progress,
/// and refreshing the job's `record` (its time), so `veilcam jobs` can tell a running job from
/// one whose worker died.
async fn with_progress<T>(msg: &Message, ack_wait: Duration, record: Option<(&Queue, &JobStatus)>, work: impl std::future::Future<Output = T>) -> T {
    let mut tick = tokio::time::interval((ack_wait / 3).max(Duration::from_millis(500)));
    tick.tick().await;
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tick.tick() => {
                if let Err(e) = msg.ack_with(AckKind::Progress).await {
                    tracing::debug!("in-progress ack: {e}");
                }
                if let Some((queue, st)) = record {
                    status::touch(queue, st).await;
                }
            }
        }
    }
}

/// The hidden temp key an output is uploaded to before it is copied to `output_key`.
pub fn temp_key(output_key: &str, job_id: &str) -> String {
    let (dir, name) = output_key.rsplit_once('/').map_or(("", output_key), |(d, n)| (d, n));
    let temp = format!(".{name}.part-{job_id}");
    if dir.is_empty() {
        temp
    } else {
        format!("{dir}/{temp}")
    }
}

/// A file extension safe to put in a local name.
fn extension(key: &str) -> String {
    let ext = Path::new(key).extension().and_then(|e| e.to_str()).unwrap_or("");
    if !ext.is_empty() && ext.len() <= 8 && ext.chars().all(|c| c.is_ascii_alphanumeric()) {
        ext.to_ascii_lowercase()
    } else {
        "bin".into()
    }
}

/// One attempt at `job`, whose output key holds `there` ([`output_object`]).
async fn process(cx: &Context, job: &Job, there: Result<Option<Listed>, QueueError>) -> Result<Finished, Failure> {
    let input = S3Url::parse(&job.input)?;
    let output = S3Url::parse(&job.output)?;
    for url in [&input, &output] {
        if url.bucket != cx.store.bucket {
            return Err(Failure::Error(format!("{url} is outside this worker's store s3://{}", cx.store.bucket)));
        }
    }
    if input.key == output.key || output.key.is_empty() {
        return Err(Failure::Permanent(format!("output {output} would replace the input")));
    }
    let temp = temp_key(&output.key, &job.id);
    if let Some(found) = there? {
        match found.job {
            // Finished by an earlier delivery, whose worker may have died before removing its
            // temp key.
            Some(id) if id == job.id => {
                let _ = cx.store.delete(&temp).await;
                return Ok(Finished::AlreadyDone);
            }
            // Another job's output (the input changed since, or other options): replaced.
            Some(_) => {}
            None => return Err(Failure::Permanent(super::store::never_replaced(&output))),
        }
    }
    let mut options = job.redact_options().map_err(|e| Failure::Permanent(e.to_string()))?;
    let dir = job_dir(&cx.work_dir)
        .map_err(|e| Failure::Error(format!("cannot create a private temp dir in {}: {e}", cx.work_dir.display())))?;
    let in_path = dir.path().join(format!("input.{}", extension(&input.key)));
    let out_path = dir.path().join(format!("output.{}", extension(&output.key)));
    unless_interrupted(cx.store.download(&input.key, &in_path)).await?;
    let local = &cx.config.local;
    options.model = local.model.clone().or(options.model);
    options.person_model = local.person_model.clone();
    options.ort_lib = local.ort_lib.clone();
    if let Some(w) = local.workers {
        options.workers = w;
    }
    if let Some(t) = local.ort_threads {
        options.ort_threads = t;
    }
    if let Some(cfg) = &job.camera {
        let text = cfg.verified().map_err(Failure::Permanent)?;
        let path = dir.path().join("camera.toml");
        std::fs::write(&path, text).map_err(|e| Failure::Error(format!("{}: {e}", path.display())))?;
        options.config = Some(path);
        options.camera = cfg.camera.clone();
    }
    let started = Instant::now();
    let (src, dst, name) = (in_path.clone(), out_path.clone(), job.input.clone());
    let redacted = tokio::task::spawn_blocking(move || -> crate::Result<u64> {
        let settings = RedactSettings::new(&src, &dst, &options)?;
        let summary = match media_kind(&dst) {
            MediaKind::Image => crate::still::redact_image(&settings),
            MediaKind::Video => crate::pipeline::redact_video(&settings, true),
        };
        Ok(summary?.frames)
    })
    .await
    .map_err(|e| Failure::Error(format!("the redaction task ended abnormally: {e}")))?;
    // The raw copy goes as soon as it is no longer needed.
    let _ = std::fs::remove_file(&in_path);
    let frames = match redacted {
        Ok(frames) => frames,
        Err(crate::Error::Interrupted) => return Err(Failure::Interrupted),
        Err(e) if crate::interrupt::requested() => {
            tracing::debug!("{name}: {e} (interrupted)");
            return Err(Failure::Interrupted);
        }
        // Settings no worker can run with.
        Err(e @ (crate::Error::Settings(_) | crate::Error::Config { .. })) => return Err(Failure::Permanent(e.to_string())),
        // Error messages name local temp paths; name the object instead.
        Err(e) => return Err(Failure::Error(e.to_string().replace(&in_path.display().to_string(), &name))),
    };
    let seconds = started.elapsed().as_secs_f64();
    cx.store.upload(&out_path, &temp, Some(&job.id)).await?;
    let committed = cx.store.copy(&temp, &output.key).await;
    let removed = cx.store.delete(&temp).await;
    committed?;
    if let Err(e) = removed {
        tracing::warn!("{e} (a redacted temp object stays behind)");
    }
    drop(dir);
    Ok(Finished::Done { frames, seconds })
}

/// Runs `work` (a download) unless the worker is interrupted first: a download that stalls
/// must not keep the raw input's partial copy past the signal (found by hostile use: a stalled
/// download held the worker for its whole grace period, and the copy stayed behind).
async fn unless_interrupted<T>(work: impl std::future::Future<Output = Result<T, QueueError>>) -> Result<T, Failure> {
    tokio::pin!(work);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            out = &mut work => return out.map_err(Failure::from),
            _ = tick.tick() => {
                if crate::interrupt::requested() {
                    return Err(Failure::Interrupted);
                }
            }
        }
    }
}

/// Removes job directories left by workers that no longer run (a `kill -9` skips every
/// cleanup): they may hold a raw input. A directory is stale when nobody holds its lock and it
/// is older than a live worker between creating and locking it could be, or its worker's pid is
/// gone — the pid alone is no proof of life, as a restarted container or a reboot gives it to
/// another process (found by hostile use: a worker that is pid 1 in its container, killed and
/// started again, kept its dead predecessor's raw input for good).
fn remove_stale_job_dirs(work_dir: &Path) {
    let ours = |name: &str| name.starts_with(JOB_DIR_PREFIX);
    let of_a_dead_worker = |name: &str| ours(name) && !worker_alive(name);
    let fresh = crate::leftover::sweep_older_than(work_dir, Duration::ZERO, of_a_dead_worker);
    for removed in fresh.into_iter().chain(crate::leftover::sweep(work_dir, ours)) {
        tracing::info!("removed {} (left by a stopped worker)", removed.display());
    }
}

/// Whether the process whose pid a job directory's name carries exists.
fn worker_alive(name: &str) -> bool {
    let Some(pid) = name.strip_prefix(JOB_DIR_PREFIX).and_then(|r| r.split('-').next()).and_then(|p| p.parse::<i32>().ok()) else { return true };
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let signalled = unsafe { libc::kill(pid, 0) };
    signalled == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temp_key_is_hidden_beside_the_output() {
        assert_eq!(temp_key("redacted/2026/cam.mp4", "ab12"), "redacted/2026/.cam.mp4.part-ab12");
        assert_eq!(temp_key("cam.mp4", "ab12"), ".cam.mp4.part-ab12");
        assert!(!crate::batch::is_media(Path::new(&temp_key("x/cam.mp4", "id"))), "a temp key is never taken for an input");
    }

    #[test]
    fn a_jobs_directory_where_the_raw_input_lies_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let work = tempfile::tempdir().unwrap();
        let dir = job_dir(work.path()).unwrap();
        let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{mode:o}");
    }

    /// A dead worker's directory is found by its lock, not only its pid (which may be a live
    /// process's now: here this process's own).
    #[test]
    fn job_directories_nobody_holds_are_removed_and_held_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let held = job_dir(dir.path()).unwrap();
        let pid_reused = dir.path().join(format!("{JOB_DIR_PREFIX}{}-abc", std::process::id()));
        // Pid numbers wrap well below i32::MAX - 1 on Linux: no such process.
        let just_killed = dir.path().join(format!("{JOB_DIR_PREFIX}{}-abc", i32::MAX - 1));
        let other = dir.path().join("unrelated");
        for d in [&pid_reused, &other] {
            std::fs::create_dir(d).unwrap();
        }
        for d in [held.path(), &pid_reused, &other] {
            std::fs::write(d.join("input.avi"), b"raw").unwrap();
        }
        // Older than a writer between creating and locking could be.
        std::thread::sleep(Duration::from_millis(1100));
        std::fs::create_dir(&just_killed).unwrap();
        remove_stale_job_dirs(dir.path());
        assert!(held.path().exists() && other.exists(), "a live worker's and another's are kept");
        assert!(!pid_reused.exists() && !just_killed.exists(), "both dead workers' are removed");
    }

    #[test]
    fn an_unreadable_message_is_kept_in_its_dead_letter_at_bounded_size() {
        assert_eq!(unreadable(br#"{"a":1}"#), serde_json::json!({"a": 1}));
        let letter = unreadable(&vec![1u8; 600_000]).to_string();
        assert!(letter.len() < 8 * LETTER_PAYLOAD && letter.ends_with("… (600000 bytes in all)\""), "{}", &letter[letter.len() - 40..]);
    }

    #[test]
    fn local_file_extensions_are_sanitised() {
        assert_eq!(extension("a/b/clip.AVI"), "avi");
        assert_eq!(extension("a/b/clip"), "bin");
        assert_eq!(extension("a/b/clip.x;rm -rf"), "bin");
    }
}

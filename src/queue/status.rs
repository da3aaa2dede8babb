//! Job states in the key-value bucket [`super::STATUS_BUCKET`], and what `veilcam jobs` shows:
//! queue depth, jobs per state with their reasons, dead letters.
//!
//! A worker refreshes a running job's record with each in-progress ack (every third of the
//! ack wait), so a "running" record not refreshed for longer than the ack wait is a worker's
//! that died or lost the queue: `jobs` shows it as stale, not running ([`Snapshot::silent_for`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::{Queue, QueueError, WORKERS_CONSUMER};

/// Where a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Queued,
    Running,
    /// Failed, will be delivered again.
    Retrying,
    Done,
    /// Failed `--max-deliver` times: on the dead-letter subject.
    Failed,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Running => "running",
            State::Retrying => "retrying",
            State::Done => "done",
            State::Failed => "failed",
        }
    }
}

/// One job's record in the bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    pub id: String,
    pub state: State,
    pub input: String,
    pub output: String,
    /// The worker that last reported on the job.
    pub worker: Option<String>,
    /// Delivery number of the last attempt (1 for the first).
    pub attempt: i64,
    /// Why the last attempt failed (or a note, e.g. "output already there").
    pub reason: Option<String>,
    pub frames: Option<u64>,
    /// Seconds the redaction took.
    pub seconds: Option<f64>,
    /// Seconds the rest of the job took on the worker: download, temp dir, upload, copy,
    /// delete and the ack (the queue's and the store's cost per job).
    #[serde(default)]
    pub overhead_seconds: Option<f64>,
    /// Unix time of this record (refreshed while the job runs: [`touch`]).
    pub updated: u64,
}

/// The Unix time now, in seconds.
fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl JobStatus {
    pub fn new(job: &super::job::Job, state: State) -> Self {
        JobStatus {
            id: job.id.clone(),
            state,
            input: job.input.clone(),
            output: job.output.clone(),
            worker: None,
            attempt: 0,
            reason: None,
            frames: None,
            seconds: None,
            overhead_seconds: None,
            updated: now(),
        }
    }
}

/// Reads a job's record.
pub async fn get(queue: &Queue, id: &str) -> Result<Option<JobStatus>, QueueError> {
    let value = queue.status.get(id).await.map_err(|e| QueueError::nats(&queue.url, &format!("status of job {id}"), e))?;
    Ok(value.and_then(|v| serde_json::from_slice(&v).ok()))
}

/// Writes a job's record, retrying for a while (the server may be restarting). A state that
/// cannot be written is logged, not fatal: the queue and the store hold the truth.
pub async fn put(queue: &Queue, status: &JobStatus) {
    let bytes: bytes::Bytes = serde_json::to_vec(status).expect("a status serialises").into();
    for attempt in 0..10 {
        match queue.status.put(&status.id, bytes.clone()).await {
            Ok(_) => return,
            Err(e) if attempt == 9 => tracing::warn!("cannot record job {} as {}: {e}", status.id, status.state.name()),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Refreshes a running job's record (its time) to say its worker is alive: one try, as the next
/// in-progress ack brings another (this one must not hold up the job while the server is away).
pub async fn touch(queue: &Queue, status: &JobStatus) {
    let status = JobStatus { updated: now(), ..status.clone() };
    let bytes: bytes::Bytes = serde_json::to_vec(&status).expect("a status serialises").into();
    if let Err(e) = queue.status.put(&status.id, bytes).await {
        tracing::debug!("cannot refresh the record of job {}: {e}", status.id);
    }
}

/// A dead letter: the job and why it was given up.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The job message as received (the job's JSON when it parsed).
    pub job: serde_json::Value,
    pub error: String,
    pub deliveries: i64,
    pub worker: String,
}

/// What `veilcam jobs` shows.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    /// Jobs in the queue not yet delivered.
    pub waiting: u64,
    /// Jobs delivered and not yet acked (running, or on a worker that died until `ack_wait`).
    pub unacked: u64,
    pub dead_letters: Vec<DeadLetter>,
    pub jobs: Vec<JobStatus>,
    /// Unix time of the snapshot.
    pub taken: u64,
    /// The workers' shared ack wait in seconds (none before the first worker started).
    pub ack_wait_seconds: Option<u64>,
}

impl Snapshot {
    pub fn count(&self, state: State) -> usize {
        self.jobs.iter().filter(|j| j.state == state).count()
    }

    /// For a job recorded running whose worker has said nothing for longer than the ack wait
    /// (its record is refreshed every third of it), the seconds since its worker's last word:
    /// that worker died or lost the queue, and the job is delivered again to the next worker.
    pub fn silent_for(&self, job: &JobStatus) -> Option<u64> {
        let silent = self.taken.saturating_sub(job.updated);
        (job.state == State::Running && silent > self.ack_wait_seconds?).then_some(silent)
    }

    /// Jobs recorded running whose worker has gone silent ([`Snapshot::silent_for`]).
    pub fn stale(&self) -> usize {
        self.jobs.iter().filter(|j| self.silent_for(j).is_some()).count()
    }
}

/// Reads the queue's state.
pub async fn snapshot(queue: &Queue) -> Result<Snapshot, QueueError> {
    let url = &queue.url;
    let (waiting, unacked, ack_wait_seconds) = match queue.jobs.get_consumer::<async_nats::jetstream::consumer::pull::Config>(WORKERS_CONSUMER).await {
        Ok(c) => {
            let info = c.get_info().await.map_err(|e| QueueError::nats(url, "consumer info", e))?;
            (info.num_pending, info.num_ack_pending as u64, Some(info.config.ack_wait.as_secs()))
        }
        // No worker has started yet: everything in the stream waits.
        Err(_) => (queue.jobs.get_info().await.map_err(|e| QueueError::nats(url, "stream info", e))?.state.messages, 0, None),
    };
    let mut jobs = Vec::new();
    let mut keys = queue.status.keys().await.map_err(|e| QueueError::nats(url, "status keys", e))?;
    while let Some(key) = keys.next().await {
        let key = key.map_err(|e| QueueError::nats(url, "status keys", e))?;
        if let Some(s) = get(queue, &key).await? {
            jobs.push(s);
        }
    }
    jobs.sort_by(|a, b| (a.state, &a.input).cmp(&(b.state, &b.input)));
    Ok(Snapshot { waiting, unacked, dead_letters: dead_letters(queue).await?, jobs, taken: now(), ack_wait_seconds })
}

/// Every message of the dead-letter stream.
pub async fn dead_letters(queue: &Queue) -> Result<Vec<DeadLetter>, QueueError> {
    let url = &queue.url;
    let info = queue.dead.get_info().await.map_err(|e| QueueError::nats(url, "dead-letter stream info", e))?;
    let mut out = Vec::new();
    if info.state.messages == 0 {
        return Ok(out);
    }
    for seq in info.state.first_sequence..=info.state.last_sequence {
        match queue.dead.get_raw_message(seq).await {
            Ok(m) => out.push(serde_json::from_slice(&m.payload).unwrap_or_else(|e| DeadLetter {
                job: serde_json::Value::Null,
                error: format!("unreadable dead letter: {e}"),
                deliveries: 0,
                worker: String::new(),
            })),
            Err(e) => tracing::debug!("dead letter {seq}: {e}"),
        }
    }
    Ok(out)
}

/// The human form of a snapshot: a summary line, then one line per job.
pub fn render(s: &Snapshot) -> String {
    let mut text = format!(
        "queue: {} waiting, {} delivered and unfinished; jobs: {} queued, {} running, {} stale, {} retrying, {} done, {} failed; {} dead letter(s)\n",
        s.waiting,
        s.unacked,
        s.count(State::Queued),
        s.count(State::Running) - s.stale(),
        s.stale(),
        s.count(State::Retrying),
        s.count(State::Done),
        s.count(State::Failed),
        s.dead_letters.len()
    );
    for j in &s.jobs {
        // A record is whatever was stored under the bucket's key: shown, never trusted to be
        // ASCII or one line (found by hostile use: a planted non-ASCII id made `jobs` panic,
        // and an S3 error's XML body broke the one-line-per-job form).
        let id: String = j.id.chars().take(12).collect();
        let silent = s.silent_for(j);
        let state = if silent.is_some() { "stale" } else { j.state.name() };
        let mut line = format!("{state:<8} {id} {} -> {}", crate::one_line(&j.input), crate::one_line(&j.output));
        if let Some(w) = &j.worker {
            line += &format!(" [{w}, attempt {}]", j.attempt);
        }
        if let (Some(f), Some(sec)) = (j.frames, j.seconds) {
            line += &format!(" ({f} frames, {sec:.1} s");
            if let Some(o) = j.overhead_seconds {
                line += &format!(" + {o:.2} s queue and store");
            }
            line.push(')');
        }
        if let Some(r) = &j.reason {
            line += &format!(": {}", crate::one_line(r));
        }
        if let (Some(silent), Some(wait)) = (silent, s.ack_wait_seconds) {
            line += &format!(
                ": recorded running, but its worker has said nothing for {silent} s (more than the {wait} s ack wait): it died or lost the queue, and the job goes to the next worker"
            );
        }
        text += &line;
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by hostile use: a state record planted with a non-ASCII id made `veilcam jobs`
    /// panic, and a reason of several lines (an S3 error's XML) broke the one line per job.
    #[test]
    fn any_stored_record_is_shown_on_one_line_without_a_panic() {
        let job = super::super::job::Job::new("s3://b/in/a.mp4".into(), None, "s3://b/out/a.mp4".into(), vec![], None);
        let mut st = JobStatus::new(&job, State::Failed);
        st.id = "aéééééééééééééé".into();
        st.reason = Some("cannot read:\n<Error>\n<Code>NoSuchKey</Code>\n</Error>".into());
        let text = render(&Snapshot { waiting: 0, unacked: 0, dead_letters: vec![], jobs: vec![st], taken: now(), ack_wait_seconds: Some(30) });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "a summary line and one line for the job: {text}");
        assert!(lines[1].starts_with("failed   aééééééééééé ") && lines[1].contains("NoSuchKey"), "{}", lines[1]);
    }

    /// Found in review: a job whose worker was killed stayed "running" in `veilcam jobs` for
    /// good. A running record not refreshed within the ack wait is shown stale; one refreshed
    /// within it is running.
    #[test]
    fn a_running_job_whose_worker_said_nothing_for_longer_than_the_ack_wait_is_shown_stale() {
        let job = super::super::job::Job::new("s3://b/in/a.mp4".into(), None, "s3://b/out/a.mp4".into(), vec![], None);
        let mut live = JobStatus::new(&job, State::Running);
        live.worker = Some("host-11".into());
        live.updated = 1_000 - 10;
        let mut dead = live.clone();
        dead.worker = Some("host-22".into());
        dead.input = "s3://b/in/b.mp4".into();
        dead.updated = 1_000 - 31;
        let s = Snapshot { waiting: 0, unacked: 2, dead_letters: vec![], jobs: vec![live, dead], taken: 1_000, ack_wait_seconds: Some(30) };
        let text = render(&s);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("1 running, 1 stale"), "{text}");
        assert!(lines[1].starts_with("running ") && lines[1].contains("host-11") && !lines[1].contains("said nothing"), "{text}");
        assert!(lines[2].starts_with("stale ") && lines[2].contains("[host-22, attempt 0]") && lines[2].contains("said nothing for 31 s (more than the 30 s ack wait)"), "{text}");
        let unknown = Snapshot { ack_wait_seconds: None, ..s };
        assert_eq!(unknown.stale(), 0, "no ack wait known (no worker ever started): nothing is judged stale");
    }
}

//! `veilcam worker`, `submit` and `jobs`: flags turned into the queue's configuration, and the
//! lines each command prints.

use super::store::{S3Url, StoreConfig};
use super::worker::{LocalOptions, WorkerConfig};
use super::NatsTarget;
use crate::cli::{JobsArgs, NatsArgs, S3Args, SubmitArgs, WorkerArgs};

fn nats(a: &NatsArgs) -> NatsTarget {
    NatsTarget { url: a.nats.clone(), creds: a.nats_creds.clone() }
}

fn store(a: &S3Args) -> StoreConfig {
    StoreConfig { endpoint: a.s3_endpoint.clone(), region: a.s3_region.clone(), credentials: a.s3_credentials.clone() }
}

/// Runs a worker until SIGTERM/Ctrl-C (or idle, with `--exit-when-idle`).
pub fn worker(a: &WorkerArgs, quiet: bool) -> crate::Result<()> {
    let url = S3Url::parse(&a.store)?;
    if !url.key.is_empty() {
        return Err(super::QueueError::Usage(format!("--store {}: name the bucket only (s3://BUCKET)", a.store)).into());
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "worker".into());
    let config = WorkerConfig {
        nats: nats(&a.nats),
        store: store(&a.s3),
        bucket: url.bucket,
        jobs: a.jobs,
        ack_wait: std::time::Duration::from_secs(a.ack_wait.max(1)),
        max_deliver: a.max_deliver,
        local: LocalOptions { model: a.model.clone(), person_model: a.person_model.clone(), ort_lib: a.ort_lib.clone(), workers: a.workers, ort_threads: a.ort_threads },
        work_dir: a.work_dir.clone(),
        metrics: a.metrics,
        exit_when_idle: a.exit_when_idle,
        name: format!("{host}-{}", std::process::id()),
    };
    if !quiet {
        say!("veilcam: worker {} taking jobs from {} ({} at a time)", config.name, super::shown(&config.nats.url), config.jobs);
    }
    let s = super::worker::run(config)?;
    if !quiet {
        say!("veilcam: worker stopped: {} done, {} already done, {} failed attempt(s), {} dead-lettered", s.done, s.already_done, s.failed_attempts, s.dead);
    }
    Ok(())
}

/// Publishes the jobs; false when an object was refused.
pub fn submit(a: &SubmitArgs, quiet: bool) -> crate::Result<bool> {
    let req = super::submit::SubmitRequest { nats: nats(&a.nats), store: store(&a.s3), input: a.input.clone(), output: a.out.clone(), options: a.options.clone() };
    let done = super::submit::run(&req)?;
    if !quiet {
        for note in &done.notes {
            say!("veilcam: {note}");
        }
        for job in &done.published {
            say!("queued  {} -> {} (job {})", job.input, job.output, &job.id[..12]);
        }
        for (job, state) in &done.known {
            say!("known   {} -> {} (job {}, {})", job.input, job.output, &job.id[..12], state.name());
        }
    }
    for (object, why) in &done.refused {
        say!("REFUSED {object}: {why}");
    }
    say!("veilcam: submit: {} job(s) queued, {} already known, {} refused", done.published.len(), done.known.len(), done.refused.len());
    Ok(done.refused.is_empty())
}

/// Prints the queue's state.
pub fn jobs(a: &JobsArgs) -> crate::Result<()> {
    let target = nats(&a.nats);
    let snapshot = super::runtime()?.block_on(async {
        let client = super::connect(&target, "veilcam-jobs").await?;
        let queue = super::Queue::open(client, &target.url).await?;
        super::status::snapshot(&queue).await
    })?;
    let text = if a.json { serde_json::to_string_pretty(&snapshot).expect("a snapshot serialises") + "\n" } else { super::status::render(&snapshot) };
    crate::stdout::write_text(&text);
    if !a.json {
        for d in &snapshot.dead_letters {
            let input = d.job.get("input").and_then(|v| v.as_str()).unwrap_or("?");
            crate::out!("dead     {input} after {} deliveries: {}", d.deliveries, d.error);
        }
    }
    Ok(())
}

//! `veilcam submit`: one job per input object, published to the work queue.
//!
//! An input URL ending in `/` (or a bare bucket) is a prefix: every media object under it (as
//! `veilcam batch` chooses files: media extensions, no hidden names, nothing under the output
//! prefix) becomes a job whose output keeps the relative key, videos as `.mp4` (videos that
//! would share an output keep their source extension: `cam.avi` → `cam.avi.mp4`). The objects
//! left alone are named in notes, as batch names the files it leaves alone, and a prefix with
//! nothing to redact is an error that names it. Another input URL is one object. An output key
//! holding an object that no veilcam worker wrote is refused (it is never replaced). A job
//! queued or running, or done with its output still there, is not published again; JetStream
//! drops a duplicate message within its de-duplication window in any case (`Nats-Msg-Id` = job
//! id).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_nats::HeaderMap;

use super::job::{check_submittable, options_to_args, Job, PinnedConfig};
use super::status::{self, JobStatus, State};
use super::store::{Listed, S3Url, Store, StoreConfig};
use super::worker::temp_key;
use super::{connect, NatsTarget, Queue, QueueError, JOBS_SUBJECT};
use crate::cli::RedactOptions;
use crate::settings::{media_kind, MediaKind, RedactSettings};

/// What `veilcam submit` was asked.
#[derive(Clone, Debug)]
pub struct SubmitRequest {
    pub nats: NatsTarget,
    pub store: StoreConfig,
    pub input: String,
    pub output: String,
    pub options: RedactOptions,
}

/// What was published.
#[derive(Debug, Default)]
pub struct Submitted {
    pub published: Vec<Job>,
    /// Jobs not published again: (job, its state).
    pub known: Vec<(Job, State)>,
    /// Objects not submitted, with the reason.
    pub refused: Vec<(String, String)>,
    /// What the listing left alone (hidden objects, objects that are not a video or image).
    pub notes: Vec<String>,
}

/// Lists, checks and publishes.
pub fn run(req: &SubmitRequest) -> crate::Result<Submitted> {
    check_submittable(&req.options)?;
    check_settings(&req.options)?;
    let camera = pin_config(&req.options)?;
    let args = options_to_args(&req.options);
    super::runtime()?.block_on(async {
        let input = S3Url::parse(&req.input)?;
        let output = S3Url::parse(&req.output)?;
        let store = Store::open(&req.store, &input.bucket)?;
        let out_store = if output.bucket == input.bucket { store.clone() } else { Store::open(&req.store, &output.bucket)? };
        let Plan { pairs, mut refused, notes } = plan(&store, &input, &output).await?;
        let client = connect(&req.nats, "veilcam-submit").await?;
        let queue = Queue::open(client, &req.nats.url).await?;
        let mut outputs = Outputs::new(&out_store, &output, pairs.len()).await?;
        let mut done = Submitted { notes, ..Submitted::default() };
        for (object, etag, out) in pairs {
            let job = Job::new(input.with_key(&object).to_string(), etag, out.to_string(), args.clone(), camera.clone());
            let there = outputs.get(&out.key).await?;
            if let Some(why) = unwritable(&out, &job.id, there.as_ref()) {
                refused.push((input.with_key(&object).to_string(), why));
                continue;
            }
            let finished = there.is_some_and(|o| o.job.as_deref() == Some(job.id.as_str()));
            let msg_id = match status::get(&queue, &job.id).await? {
                Some(s) if s.state != State::Failed && (s.state != State::Done || finished) => {
                    done.known.push((job, s.state));
                    continue;
                }
                // A failed job, or a done one whose output is gone, submitted again is a new
                // attempt, not a duplicate message (found by hostile use: a deleted output was
                // never made again).
                Some(s) => format!("{}.{}", job.id, s.updated),
                None => job.id.clone(),
            };
            status::put(&queue, &JobStatus::new(&job, State::Queued)).await;
            let mut headers = HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, msg_id.as_str());
            let stored = match queue.js.publish_with_headers(JOBS_SUBJECT, headers, job.to_bytes().into()).await {
                Ok(ack) => ack.await.map_err(|e| QueueError::nats(&queue.url, "job not stored", e)),
                Err(e) => Err(QueueError::nats(&queue.url, "cannot publish a job", e)),
            };
            let ack = match stored {
                Ok(ack) => ack,
                Err(e) => {
                    // Not queued: the state says so, so a later submit tries again (found by
                    // hostile use: a "queued" state left behind blocked every retry).
                    let mut st = JobStatus::new(&job, State::Failed);
                    st.reason = Some(format!("not queued: {e}"));
                    status::put(&queue, &st).await;
                    return Err(e.into());
                }
            };
            if ack.duplicate {
                done.known.push((job, State::Queued));
            } else {
                done.published.push(job);
            }
        }
        done.refused = refused;
        Ok(done)
    })
}

/// The objects at the output keys, looked up once by listing for a prefix of many jobs (each
/// object found is then looked at for the job that wrote it).
struct Outputs<'a> {
    store: &'a Store,
    listed: Option<std::collections::BTreeSet<String>>,
}

impl<'a> Outputs<'a> {
    async fn new(store: &'a Store, output: &S3Url, jobs: usize) -> Result<Outputs<'a>, QueueError> {
        let many = jobs > 1 && (output.key.is_empty() || output.key.ends_with('/'));
        let listed = if many { Some(store.list(&output.key).await?.into_iter().map(|o| o.key).collect()) } else { None };
        Ok(Outputs { store, listed })
    }

    async fn get(&mut self, key: &str) -> Result<Option<Listed>, QueueError> {
        if self.listed.as_ref().is_some_and(|l| !l.contains(key)) {
            return Ok(None);
        }
        self.store.head(key).await
    }
}

/// S3 takes keys of up to 1024 bytes; SeaweedFS, like most file systems, names of up to 255.
const MAX_KEY: usize = 1024;
const MAX_NAME: usize = 255;

/// Why job `id` cannot write `out`, if it cannot: an object there that no worker wrote (found
/// by hostile use: `submit s3://b/cams/b.avi --out s3://b/cams/` beside a raw `cams/b.mp4` was
/// queued, and the raw clip recorded as the job's redacted output), or a key too long for the
/// worker's temp key beside it (found by hostile use: a 240-character name was redacted three
/// times, failing each time at the upload).
fn unwritable(out: &S3Url, id: &str, there: Option<&Listed>) -> Option<String> {
    if there.is_some_and(|o| o.job.is_none()) {
        return Some(super::store::never_replaced(out));
    }
    let temp = temp_key(&out.key, id);
    let longest = temp.split('/').map(str::len).max().unwrap_or(0);
    (temp.len() > MAX_KEY || longest > MAX_NAME).then(|| {
        format!("{out}: the name is too long for the worker's temp key beside it ({temp}: at most {MAX_NAME} bytes a name and {MAX_KEY} a key)")
    })
}

/// Range checks of the settings before anything is published (the models need not be on the
/// submitting machine: only their absence is forgiven).
fn check_settings(options: &RedactOptions) -> crate::Result<()> {
    match RedactSettings::new(Path::new("check.mp4"), Path::new("check-out.mp4"), options) {
        Ok(_) => Ok(()),
        Err(e @ (crate::Error::Settings(_) | crate::Error::Config { .. })) => Err(e),
        Err(_) => Ok(()),
    }
}

/// The camera config of `--config`/`--camera`, checked and pinned by its SHA-256.
fn pin_config(options: &RedactOptions) -> crate::Result<Option<PinnedConfig>> {
    let Some(path) = &options.config else { return Ok(None) };
    let text = std::fs::read_to_string(path).map_err(|e| crate::Error::io(path, e))?;
    crate::config::parse_camera(&text, path, options.camera.as_deref())?;
    Ok(Some(PinnedConfig::new(&path.display().to_string(), options.camera.clone(), text)))
}

/// What a submit publishes: (input key, its ETag, output URL) for every object to submit, the
/// objects refused with the reason, and notes on the objects left alone.
struct Plan {
    pairs: Vec<(String, Option<String>, S3Url)>,
    refused: Vec<(String, String)>,
    notes: Vec<String>,
}

/// The objects of a listing of `prefix` (keys relative to it, with ETags) a submit redacts,
/// grouped by their natural output, and the notes on those it leaves alone: objects that are
/// not a video or image, and hidden ones (a name, or a folder of it, starting with `.`) with a
/// media extension. As in batch, other hidden objects (`.DS_Store`, a worker's temp keys) are
/// left alone without a word.
fn choose(prefix: &str, objects: Vec<Listed>) -> (ByOutput, Vec<String>) {
    let mut by_output = ByOutput::new();
    let (mut unhandled, mut hidden) = (Vec::new(), Vec::new());
    for obj in objects {
        let rel = obj.key.strip_prefix(prefix).unwrap_or(&obj.key).to_string();
        let media = crate::batch::has_media_extension(Path::new(&rel));
        if rel.split('/').any(|c| c.starts_with('.')) {
            if media {
                hidden.push(PathBuf::from(rel));
            }
        } else if !media {
            unhandled.push(PathBuf::from(rel));
        } else {
            by_output.entry(natural(&rel)).or_default().push((rel, obj.etag));
        }
    }
    (by_output, crate::batch::left_alone_notes("object", "submit", &unhandled, &hidden))
}

async fn plan(store: &Store, input: &S3Url, output: &S3Url) -> Result<Plan, QueueError> {
    let is_prefix = input.key.is_empty() || input.key.ends_with('/');
    if !is_prefix {
        let Some(found) = store.head(&input.key).await? else {
            return Err(QueueError::Usage(format!("{input}: no such object (end the URL with / for a prefix)")));
        };
        return Ok(Plan { pairs: vec![(input.key.clone(), found.etag, single_output(input, output)?)], refused: vec![], notes: vec![] });
    }
    if !(output.key.is_empty() || output.key.ends_with('/')) {
        return Err(QueueError::Usage(format!("--out {output}: for a prefix of inputs, the output is a prefix too (end it with /)")));
    }
    apart(input, output)?;
    let listed = store.list(&input.key).await?;
    let objects = listed.len();
    let (by_output, notes) = choose(&input.key, listed);
    // Found in review: a prefix that matched nothing (a typo) queued nothing and exited 0.
    if by_output.is_empty() {
        let why = match (objects, notes.is_empty()) {
            (0, _) => "no object under this prefix".to_string(),
            (_, true) => "no video or image under this prefix".to_string(),
            (_, false) => format!("no video or image under this prefix ({})", notes.join("; ")),
        };
        return Err(QueueError::Usage(format!("{input}: nothing to submit: {why}")));
    }
    let (assigned, refused) = assign_outputs(by_output);
    let pairs = assigned.into_iter().map(|(rel, etag, out_rel)| (format!("{}{rel}", input.key), etag, output.with_key(&format!("{}{out_rel}", output.key)))).collect();
    let refused = refused.into_iter().map(|(rel, why)| (input.with_key(&format!("{}{rel}", input.key)).to_string(), why)).collect();
    Ok(Plan { pairs, refused, notes })
}

/// The output of the one object `input`: `output`, or under it by its natural name when it is
/// a prefix. Refused when it would be the input itself (found in review: `submit
/// s3://b/cam/a.mp4 --out s3://b/cam/` was queued, to fail at every worker) or another kind of
/// media.
fn single_output(input: &S3Url, output: &S3Url) -> Result<S3Url, QueueError> {
    let out = if output.key.is_empty() || output.key.ends_with('/') {
        let name = input.key.rsplit('/').next().unwrap_or(&input.key);
        output.with_key(&format!("{}{}", output.key, natural(name)))
    } else {
        output.clone()
    };
    if out.bucket == input.bucket && out.key == input.key {
        return Err(QueueError::Usage(format!("--out {output}: the output would be the input {input} itself")));
    }
    if media_kind(Path::new(&out.key)) != media_kind(Path::new(&input.key)) {
        return Err(QueueError::Usage(format!("{input} and {out} must both be videos or both be images")));
    }
    Ok(out)
}

/// Refuses an output prefix that is, holds or lies inside the input prefix. Outputs among the
/// inputs would be taken for inputs: by this submit when the output holds the input, and
/// inside it by the next submit of the same prefix (found by hostile use: `submit
/// s3://b/archive/ --out s3://b/archive/red/` was queued, and a later submit of the archive
/// queued its redacted outputs again).
fn apart(input: &S3Url, output: &S3Url) -> Result<(), QueueError> {
    if output.bucket != input.bucket {
        return Ok(());
    }
    if input.key.starts_with(&output.key) {
        return Err(QueueError::Usage(format!("--out {output} is or contains the input prefix {input}: outputs could land among the inputs")));
    }
    if output.key.starts_with(&input.key) {
        return Err(QueueError::Usage(format!(
            "--out {output} lies inside the input prefix {input}: a later submit of {input} would take the redacted outputs for inputs; use a prefix outside it"
        )));
    }
    Ok(())
}

/// Inputs grouped by their natural output (relative keys, with ETags) → (input, ETag, output)
/// for each input, videos that would share an output keeping their source extension
/// (`cam.avi` → `cam.avi.mp4`), and the inputs refused because an output would still be
/// shared after that, with the reason.
type Assigned = (Vec<(String, Option<String>, String)>, Vec<(String, String)>);

/// Inputs (relative keys, with ETags) by their natural output.
type ByOutput = BTreeMap<String, Vec<(String, Option<String>)>>;

fn assign_outputs(by_output: ByOutput) -> Assigned {
    let mut pairs = Vec::new();
    let mut outs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (out_rel, rels) in by_output {
        let shared = rels.len() > 1;
        for (rel, etag) in rels {
            let out_rel = if shared && rel != out_rel { format!("{rel}.mp4") } else { out_rel.clone() };
            outs.entry(out_rel.clone()).or_default().push(rel.clone());
            pairs.push((rel, etag, out_rel));
        }
    }
    // Outputs two inputs would still share (after renaming) are refused for both.
    let mut refused = Vec::new();
    for (out, rels) in outs.iter().filter(|(_, r)| r.len() > 1) {
        for rel in rels {
            refused.push((rel.clone(), format!("{out} would also be written for another input ({}); rename one", rels.join(", "))));
        }
    }
    pairs.retain(|(rel, _, _)| !refused.iter().any(|(r, _)| r == rel));
    (pairs, refused)
}

/// The output name of an input: images keep theirs, videos become `.mp4`.
fn natural(rel: &str) -> String {
    match media_kind(Path::new(rel)) {
        MediaKind::Image => rel.to_string(),
        MediaKind::Video => Path::new(rel).with_extension("mp4").to_string_lossy().into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assign(rels: &[&str]) -> (Vec<(String, String)>, Vec<String>) {
        let mut by_output: BTreeMap<String, Vec<(String, Option<String>)>> = BTreeMap::new();
        for rel in rels {
            by_output.entry(natural(rel)).or_default().push((rel.to_string(), None));
        }
        let (pairs, refused) = assign_outputs(by_output);
        (pairs.into_iter().map(|(i, _, o)| (i, o)).collect(), refused.into_iter().map(|(r, _)| r).collect())
    }

    #[test]
    fn outputs_keep_the_relative_key_and_videos_that_would_share_one_keep_their_extension() {
        let (pairs, refused) = assign(&["cam1/a.avi", "snap.jpg", "cam.avi", "cam.mkv", "cam.mp4"]);
        let want = [("cam.avi", "cam.avi.mp4"), ("cam.mkv", "cam.mkv.mp4"), ("cam.mp4", "cam.mp4"), ("cam1/a.avi", "cam1/a.mp4"), ("snap.jpg", "snap.jpg")];
        assert_eq!(pairs, want.map(|(a, b)| (a.to_string(), b.to_string())));
        assert!(refused.is_empty());
    }

    /// Regression (hostile use): an output prefix inside the input prefix was queued, and a
    /// later submit of the input prefix took the redacted outputs for inputs.
    #[test]
    fn an_output_prefix_that_holds_or_lies_inside_the_input_prefix_is_refused() {
        let url = |u: &str| S3Url::parse(u).unwrap();
        let refused = |input: &str, out: &str| apart(&url(input), &url(out)).is_err();
        assert!(refused("s3://bkt/archive/", "s3://bkt/archive/red/"), "inside the input");
        assert!(refused("s3://bkt/", "s3://bkt/red/"), "inside a whole bucket of inputs");
        assert!(refused("s3://bkt/archive/", "s3://bkt/archive/"), "the input itself");
        assert!(refused("s3://bkt/archive/cam1/", "s3://bkt/archive/"), "holding the input");
        assert!(!refused("s3://bkt/archive/", "s3://bkt/archive-red/"), "a sibling whose name starts alike");
        assert!(!refused("s3://bkt/archive/", "s3://bkt/redacted/"));
        assert!(!refused("s3://bkt/archive/", "s3://other/archive/"), "another bucket");
    }

    #[test]
    fn one_object_goes_under_an_output_prefix_by_its_natural_name_and_never_onto_itself() {
        let url = |u: &str| S3Url::parse(u).unwrap();
        let out = |input: &str, output: &str| single_output(&url(input), &url(output)).map(|u| u.to_string());
        assert_eq!(out("s3://bkt/cam/a.avi", "s3://bkt/red/").unwrap(), "s3://bkt/red/a.mp4");
        assert_eq!(out("s3://bkt/cam/a.mp4", "s3://bkt/red/b.mkv").unwrap(), "s3://bkt/red/b.mkv");
        assert!(out("s3://bkt/cam/a.mp4", "s3://bkt/cam/").unwrap_err().to_string().contains("would be the input"));
        assert!(out("s3://bkt/cam/a.mp4", "s3://bkt/cam/a.mp4").is_err());
        assert!(out("s3://bkt/cam/a.mp4", "s3://other/cam/").is_ok(), "another bucket");
        assert!(out("s3://bkt/cam/a.mp4", "s3://bkt/red/a.jpg").unwrap_err().to_string().contains("both be videos"));
    }

    #[test]
    fn an_object_no_worker_wrote_or_a_name_too_long_for_the_temp_key_is_refused() {
        let url = |u: &str| S3Url::parse(u).unwrap();
        let id = "0123456789abcdef0123456789abcdef";
        let object = |job: Option<&str>| Listed { key: "red/a.mp4".into(), size: 1, etag: None, job: job.map(String::from) };
        let out = url("s3://bkt/red/a.mp4");
        assert!(unwritable(&out, id, None).is_none());
        assert!(unwritable(&out, id, Some(&object(Some("another job")))).is_none(), "another job's output is replaced");
        assert!(unwritable(&out, id, Some(&object(None))).unwrap().contains("no veilcam worker wrote it"));
        let long = url(&format!("s3://bkt/red/{}.mp4", "x".repeat(213)));
        assert!(unwritable(&long, id, None).unwrap().contains("too long"));
        let fits = url(&format!("s3://bkt/red/{}.mp4", "x".repeat(212)));
        assert!(unwritable(&fits, id, None).is_none(), "{}", temp_key(&fits.key, id).rsplit('/').next().unwrap().len());
    }

    #[test]
    fn an_output_still_shared_after_renaming_refuses_every_input_involved() {
        let (pairs, mut refused) = assign(&["cam.avi", "cam.mp4", "cam.avi.mp4"]);
        refused.sort();
        assert_eq!(pairs, vec![("cam.mp4".to_string(), "cam.mp4".to_string())]);
        assert_eq!(refused, vec!["cam.avi".to_string(), "cam.avi.mp4".to_string()]);
    }
}

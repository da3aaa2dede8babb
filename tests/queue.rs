//! The work queue end to end: real `nats-server` (JetStream) and SeaweedFS (`weed mini`, S3)
//! started on free loopback ports, the real `veilcam submit`/`worker`/`jobs` binaries, real
//! clips derived from sample_media/faces.mp4, and every output checked for faces with the
//! face-detail measure of `tests/common` against faces.json.
//!
//! The servers come from scripts/fetch-queue-servers (run by scripts/setup); when they are
//! missing the tests fail saying so, never skip.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use veilcam::queue::status::{self, Snapshot, State};
use veilcam::queue::store::{Store, StoreConfig};
use veilcam::queue::{NatsTarget, Queue};

const BUCKET: &str = "redaction";
/// faces.mp4's size, so faces.json applies as it is.
const W: usize = FACES_W;
const H: usize = FACES_H;
/// Redaction settings carried by every job (also checks that the job carries them).
const OPTIONS: &[&str] = &["--fill", "solid", "--preset", "ultrafast", "--workers", "1"];
/// See tests/formats.rs: a face in the output keeps at most this share of its detail…
const OUTPUT_MAX_GAIN: f64 = 0.08;
/// … and shows at least twice that in the input.
const INPUT_MIN_GAIN: f64 = 2.0 * OUTPUT_MAX_GAIN;
/// Ack deadline of the workers here: a killed worker's job moves after this long.
const ACK_WAIT: &str = "4";

fn servers_dir() -> PathBuf {
    let cache = std::env::var_os("VEILCAM_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        let base = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"));
        base.join("veilcam")
    });
    let dir = cache.join("queue-servers-nats2.15.1-weed4.48");
    assert!(
        dir.join("nats-server").is_file() && dir.join("weed").is_file(),
        "nats-server and weed are not in {}: run scripts/setup (or scripts/fetch-queue-servers) to install them",
        dir.display()
    );
    dir
}

/// `n` distinct free loopback ports (held together while chosen, so they differ).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    held.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// Waits until `port` takes connections; an error if `child` exits first or 20 s pass.
fn try_wait_for_port(port: u16, what: &str, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if child.try_wait().unwrap().is_some() {
            return Err(format!("{what} exited at start"));
        }
        if Instant::now() >= deadline {
            return Err(format!("{what} did not listen on {port} within 20 s"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Tries to start a server this many times, on new ports each time.
const START_TRIES: usize = 3;

/// A process killed (SIGKILL) and reaped when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// NATS with JetStream and SeaweedFS with S3, on their own ports and directories.
struct Servers {
    dir: tempfile::TempDir,
    bin: PathBuf,
    nats_port: u16,
    s3_port: u16,
    nats: Option<Proc>,
    _weed: Proc,
}

impl Servers {
    /// Starts both servers. The ports are chosen free but released before the servers bind
    /// them, so another test's server (or any program) may take one meanwhile, and weed then
    /// exits at start (CI, stop 34): it is started again on new ports, a few times.
    fn start() -> Servers {
        let mut failures = Vec::new();
        for _ in 0..START_TRIES {
            match Servers::try_start() {
                Ok(servers) => return servers,
                Err(why) => failures.push(why),
            }
        }
        panic!("the queue's servers did not start:\n{}", failures.join("\n"));
    }

    fn try_start() -> Result<Servers, String> {
        let bin = servers_dir();
        let dir = tempfile::tempdir().unwrap();
        let ports = free_ports(14);
        let weed_dir = dir.path().join("weed");
        std::fs::create_dir(&weed_dir).unwrap();
        let flags = [
            ("s3.port", 1),
            ("s3.port.grpc", 2),
            ("master.port", 3),
            ("master.port.grpc", 4),
            ("volume.port", 5),
            ("volume.port.grpc", 6),
            ("filer.port", 7),
            ("filer.port.grpc", 8),
            ("admin.port", 9),
            ("admin.port.grpc", 10),
            ("s3.port.iceberg", 11),
            ("metricsPort", 12),
            ("s3.port.lance", 13),
        ];
        let mut weed = Command::new(bin.join("weed"));
        weed.current_dir(&weed_dir)
            .arg("mini")
            .arg(format!("-dir={}", weed_dir.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false", "-webdav=false", "-master.telemetry=false"])
            .arg(format!("-bucket={BUCKET}"))
            .args(flags.iter().map(|(f, i)| format!("-{f}={}", ports[*i])))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("weed.log")).unwrap());
        let mut weed = Proc(weed.spawn().expect("weed starts"));
        if let Err(why) = try_wait_for_port(ports[1], "weed mini (S3)", &mut weed.0) {
            let log = std::fs::read_to_string(dir.path().join("weed.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            return Err(format!("{why}; its log ends: {}", tail.into_iter().rev().collect::<Vec<_>>().join(" | ")));
        }
        let mut servers = Servers { nats_port: ports[0], s3_port: ports[1], bin, nats: None, _weed: weed, dir };
        servers.try_start_nats()?;
        servers.wait_for_bucket();
        Ok(servers)
    }

    fn start_nats(&mut self) {
        if let Err(why) = self.try_start_nats() {
            panic!("{why}");
        }
    }

    fn try_start_nats(&mut self) -> Result<(), String> {
        let store = self.dir.path().join("nats");
        let nats = Command::new(self.bin.join("nats-server"))
            .args(["-js", "-a", "127.0.0.1", "-p", &self.nats_port.to_string(), "-sd"])
            .arg(&store)
            .stdout(Stdio::null())
            .stderr(std::fs::File::options().create(true).append(true).open(self.dir.path().join("nats.log")).unwrap())
            .spawn()
            .expect("nats-server starts");
        let mut nats = Proc(nats);
        try_wait_for_port(self.nats_port, "nats-server", &mut nats.0)?;
        self.nats = Some(nats);
        Ok(())
    }

    /// kill -9 and start again on the same port and store directory.
    fn restart_nats(&mut self) {
        drop(self.nats.take());
        std::thread::sleep(Duration::from_millis(1500));
        self.start_nats();
    }

    fn nats_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.nats_port)
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    fn store(&self) -> Store {
        Store::open(&StoreConfig { endpoint: Some(self.endpoint()), region: "us-east-1".into(), credentials: None }, BUCKET).unwrap()
    }

    /// The bucket answers once the S3 gateway has found its filer and volume.
    fn wait_for_bucket(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let store = self.store();
        loop {
            match block_on(store.put("probe/ready", b"ok".to_vec())) {
                Ok(()) => break,
                Err(e) => assert!(Instant::now() < deadline, "the S3 bucket is not usable within 60 s: {e}"),
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        block_on(store.delete("probe/ready")).unwrap();
    }

    /// `veilcam <args>` with the servers' addresses.
    fn veilcam(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_veilcam"));
        cmd.args(args).env("VEILCAM_NATS", self.nats_url()).env("AWS_ENDPOINT_URL", self.endpoint());
        cmd.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY").env_remove("NATS_CREDS");
        cmd
    }

    fn submit(&self, input: &str, out: &str, extra: &[&str]) {
        let args: Vec<&str> = ["submit", input, "--out", out].iter().chain(OPTIONS).chain(extra).copied().collect();
        let done = self.veilcam(&args).output().unwrap();
        assert!(done.status.success(), "submit failed: {}", String::from_utf8_lossy(&done.stderr));
    }

    /// A worker (`--jobs 1`), logging to `name`.log in the test directory.
    fn worker(&self, name: &str, work_dir: &Path, extra: &[&str]) -> Proc {
        self.worker_with_env(name, work_dir, extra, &[])
    }

    /// [`Servers::worker`] with extra environment (fault injection).
    fn worker_with_env(&self, name: &str, work_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Proc {
        let store = format!("s3://{BUCKET}");
        let args: Vec<&str> = ["-v", "worker", "--store", &store, "--jobs", "1", "--ack-wait", ACK_WAIT, "--workers", "1"].iter().chain(extra).copied().collect();
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log"))).unwrap();
        let mut cmd = self.veilcam(&args);
        cmd.arg("--work-dir").arg(work_dir).envs(env.iter().copied()).stdout(Stdio::null()).stderr(log);
        Proc(cmd.spawn().expect("worker starts"))
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    fn snapshot(&self) -> Snapshot {
        let target = NatsTarget { url: self.nats_url(), creds: None };
        block_on(async {
            let client = veilcam::queue::connect(&target, "test").await?;
            let queue = Queue::open(client, &target.url).await?;
            status::snapshot(&queue).await
        })
        .unwrap()
    }

    /// Polls the job states until `done(snapshot)` or `limit`; panics with the workers' logs.
    fn wait_until(&self, limit: Duration, what: &str, logs: &[&str], mut done: impl FnMut(&Snapshot) -> bool) -> Snapshot {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.snapshot();
            if done(&s) {
                return s;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = logs.iter().map(|n| format!("--- {n}\n{}", self.log(n))).collect();
                panic!("{what} not reached within {limit:?}:\n{}\n{}", status::render(&s), logs.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// A derived faces clip (1280×720, `frames` frames) and its source luma and truth.
struct Clip {
    path: PathBuf,
    source: Vec<Vec<u8>>,
    truth: Vec<Vec<FaceBox>>,
}

fn faces_clip(dir: &Path, name: &str, frames: usize) -> Clip {
    let path = dir.join(name);
    let encode = format!("{X264_FAST} threads=1 ! mp4mux");
    let spec = ClipSpec::new(frames, W as u32, H as u32, Timing::Fps(25, 1), &encode);
    let (source, truth) = make_faces_clip(&spec, &path);
    let source = (0..frames).map(|i| source.luma(i)).collect();
    Clip { path, source, truth }
}

/// Every face of every frame of `frames` keeps at most `max` of its source detail (and each
/// face of the input showed at least [`INPUT_MIN_GAIN`], so the check can fail).
fn assert_faces_gone(what: &str, clip: &Clip, frames: &[Vec<u8>]) {
    assert_eq!(frames.len(), clip.source.len(), "{what}: frame count");
    let input = decode_gray(&clip.path);
    let mut leaks = Vec::new();
    for (i, faces) in clip.truth.iter().enumerate() {
        for face in faces {
            let px = face.ellipse_pixels(W, H);
            let shown = detail_gain(&clip.source[i], &input[i], W, &px);
            assert!(shown >= INPUT_MIN_GAIN, "{what}: input frame {i} face {} shows only {shown:.2}", face.id);
            let kept = detail_gain(&clip.source[i], &frames[i], W, &px);
            if kept > OUTPUT_MAX_GAIN {
                leaks.push(format!("frame {i} face {}: {kept:.2}", face.id));
            }
        }
    }
    assert!(leaks.is_empty(), "{what}: faces survive redaction:\n{}", leaks.join("\n"));
}

fn upload(servers: &Servers, clip: &Path, key: &str) {
    block_on(servers.store().upload(clip, key, None)).unwrap();
}

fn download(servers: &Servers, key: &str, dir: &Path) -> PathBuf {
    let path = dir.join(key.replace('/', "_"));
    let _ = std::fs::remove_file(&path);
    block_on(servers.store().download(key, &path)).unwrap();
    path
}

fn keys(servers: &Servers, prefix: &str) -> Vec<String> {
    block_on(servers.store().list(prefix)).unwrap().into_iter().map(|o| o.key).collect()
}

fn job_dirs(work_dir: &Path) -> Vec<String> {
    std::fs::read_dir(work_dir).map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
}

#[test]
fn a_worker_killed_mid_job_loses_nothing_and_every_output_appears_once_redacted() {
    let servers = Servers::start();
    let local = tempfile::tempdir().unwrap();
    let names = ["front/a.mp4", "front/b.mp4", "back/c.mp4", "d.mp4"];
    let clips: Vec<Clip> = names.iter().map(|n| faces_clip(local.path(), &n.replace('/', "_"), 30)).collect();
    for (clip, name) in clips.iter().zip(names) {
        upload(&servers, &clip.path, &format!("archive/{name}"));
    }
    servers.submit(&format!("s3://{BUCKET}/archive/"), &format!("s3://{BUCKET}/redacted/"), &[]);
    // Submitting again queues nothing twice.
    servers.submit(&format!("s3://{BUCKET}/archive/"), &format!("s3://{BUCKET}/redacted/"), &[]);
    let s = servers.snapshot();
    assert_eq!((s.jobs.len(), s.waiting), (4, 4), "{}", status::render(&s));

    let work = tempfile::tempdir().unwrap();
    let (work_a, work_b) = (work.path().join("a"), work.path().join("b"));
    // Worker a's detector is slowed (30 frames take at least 6 s), so it is surely mid-job
    // when killed however fast the machine: with a fixed wait a fast machine finished the job
    // and removed its directory first.
    let mut a = servers.worker_with_env("a", &work_a, &[], &[("VEILCAM_DETECTOR_DELAY_MS", "200")]);
    let a_pid = a.0.id();
    let _b = servers.worker("b", &work_b, &[]);
    servers.wait_until(Duration::from_secs(120), "worker a running a job", &["a", "b"], |s| {
        s.jobs.iter().any(|j| j.state == State::Running && j.worker.as_deref().is_some_and(|w| w.ends_with(&format!("-{a_pid}"))))
    });
    // Let it get into the redaction, then kill it without a chance to clean up.
    let deadline = Instant::now() + Duration::from_secs(60);
    while job_dirs(&work_a).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!job_dirs(&work_a).is_empty(), "worker a never made its job directory");
    std::thread::sleep(Duration::from_millis(500));
    a.0.kill().unwrap();
    a.0.wait().unwrap();
    assert!(!job_dirs(&work_a).is_empty(), "the killed worker left its job directory (the next worker there removes it)");
    // A worker started later in the same work dir removes what the dead one left.
    let _c = servers.worker("c", &work_a, &[]);
    let s = servers.wait_until(Duration::from_secs(300), "every job done", &["a", "b", "c"], |s| s.count(State::Done) == 4);
    assert_eq!(s.dead_letters.len(), 0, "{:?}", s.dead_letters);
    assert!(job_dirs(&work_a).is_empty() && job_dirs(&work_b).is_empty(), "job directories left: {:?} {:?}", job_dirs(&work_a), job_dirs(&work_b));
    assert!(s.jobs.iter().any(|j| j.attempt >= 2), "the killed worker's job was delivered again: {}", status::render(&s));

    let outputs = keys(&servers, "redacted");
    let want: Vec<String> = ["back/c.mp4", "d.mp4", "front/a.mp4", "front/b.mp4"].iter().map(|k| format!("redacted/{k}")).collect();
    assert_eq!(outputs, want, "every output exactly once, no temp object left");
    let all = keys(&servers, "");
    assert_eq!(all.len(), 8, "nothing but inputs and outputs in the bucket: {all:?}");
    for (clip, name) in clips.iter().zip(names) {
        let out = download(&servers, &format!("redacted/{name}"), local.path());
        assert_faces_gone(name, clip, &decode_gray(&out));
    }
    let listed = servers.veilcam(&["jobs"]).output().unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success() && text.contains("4 done"), "veilcam jobs:\n{text}");
}

#[test]
fn a_corrupt_input_goes_to_the_dead_letter_subject_with_its_error_and_the_queue_goes_on() {
    let servers = Servers::start();
    let local = tempfile::tempdir().unwrap();
    let clip = faces_clip(local.path(), "good.mp4", 12);
    upload(&servers, &clip.path, "in/1-broken.avi");
    // A header and then garbage: not a video GStreamer can decode.
    let mut junk = b"RIFF\x10\x00\x00\x00AVI LIST".to_vec();
    junk.extend((0..50_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    block_on(servers.store().put("in/1-broken.avi", junk)).unwrap();
    upload(&servers, &clip.path, "in/2-good.mp4");
    servers.submit(&format!("s3://{BUCKET}/in/"), &format!("s3://{BUCKET}/out/"), &[]);
    let work = tempfile::tempdir().unwrap();
    let _w = servers.worker("w", work.path(), &["--max-deliver", "2"]);
    let s = servers.wait_until(Duration::from_secs(180), "one done, one failed", &["w"], |s| s.count(State::Done) == 1 && s.count(State::Failed) == 1);
    assert_eq!(s.dead_letters.len(), 1, "{:?}", s.dead_letters);
    let dead = &s.dead_letters[0];
    assert_eq!(dead.job["input"], format!("s3://{BUCKET}/in/1-broken.avi"));
    assert_eq!(dead.deliveries, 2);
    assert!(dead.error.contains("1-broken.avi") && !dead.error.contains("veilcam-job-"), "the error names the object, not a temp file: {}", dead.error);
    let failed = s.jobs.iter().find(|j| j.state == State::Failed).unwrap();
    assert_eq!(failed.reason.as_deref(), Some(dead.error.as_str()));
    assert_eq!(keys(&servers, "out"), vec!["out/2-good.mp4".to_string()], "no output, and no temp object, for the broken input");
    let out = download(&servers, "out/2-good.mp4", local.path());
    assert_faces_gone("2-good.mp4", &clip, &decode_gray(&out));
    let listed = servers.veilcam(&["jobs"]).output().unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains("failed") && text.contains("dead     s3://redaction/in/1-broken.avi after 2 deliveries"), "veilcam jobs:\n{text}");
}

#[test]
fn a_nats_restart_mid_run_loses_no_job() {
    let mut servers = Servers::start();
    let local = tempfile::tempdir().unwrap();
    let clips: Vec<Clip> = (0..3).map(|i| faces_clip(local.path(), &format!("c{i}.mp4"), 20)).collect();
    for (i, clip) in clips.iter().enumerate() {
        upload(&servers, &clip.path, &format!("in/c{i}.mp4"));
    }
    servers.submit(&format!("s3://{BUCKET}/in/"), &format!("s3://{BUCKET}/out/"), &[]);
    let work = tempfile::tempdir().unwrap();
    let _w = servers.worker("w", work.path(), &[]);
    servers.wait_until(Duration::from_secs(120), "a job running", &["w"], |s| s.count(State::Running) == 1);
    servers.restart_nats();
    let s = servers.wait_until(Duration::from_secs(300), "every job done after the restart", &["w"], |s| s.count(State::Done) == 3);
    assert!(s.dead_letters.is_empty() && s.waiting == 0, "{}", status::render(&s));
    assert_eq!(keys(&servers, "out"), vec!["out/c0.mp4", "out/c1.mp4", "out/c2.mp4"]);
    for (i, clip) in clips.iter().enumerate() {
        let out = download(&servers, &format!("out/c{i}.mp4"), local.path());
        assert_faces_gone(&format!("c{i}"), clip, &decode_gray(&out));
    }
}

/// Found by hostile use: object keys went through a conversion that percent-encodes `%`, `~`,
/// `#`, `[` and control characters, so `submit` queued such an object and the worker looked
/// for it under another key (404, three attempts, a dead letter). Keys are now used verbatim.
#[test]
fn object_keys_with_characters_object_stores_escape_are_redacted_like_any_other() {
    const ODD: &str = "two%0Alines 50% off~[1] #2.mp4";
    let servers = Servers::start();
    let local = tempfile::tempdir().unwrap();
    let clip = faces_clip(local.path(), "clip.mp4", 10);
    upload(&servers, &clip.path, "odd/fine.mp4");
    upload(&servers, &clip.path, &format!("odd/{ODD}"));
    assert_eq!(keys(&servers, "odd"), ["odd/fine.mp4".to_string(), format!("odd/{ODD}")], "uploaded under the very key");
    servers.submit(&format!("s3://{BUCKET}/odd/"), &format!("s3://{BUCKET}/odd-out/"), &[]);
    let work = tempfile::tempdir().unwrap();
    let _w = servers.worker("w", work.path(), &[]);
    let s = servers.wait_until(Duration::from_secs(180), "both jobs ended", &["w"], |s| s.count(State::Done) + s.dead_letters.len() >= 2);
    assert_eq!(s.count(State::Done), 2, "{}", status::render(&s));
    assert_eq!(keys(&servers, "odd-out"), ["odd-out/fine.mp4".to_string(), format!("odd-out/{ODD}")]);
    let out = download(&servers, &format!("odd-out/{ODD}"), local.path());
    assert_faces_gone(ODD, &clip, &decode_gray(&out));
}

/// Found by hostile use: `--out s3://bucket//cam2/` was queued, and the worker, asking the store
/// whether `//cam2/b.mp4` was already there, found the raw input `cam2/b.mp4` and recorded the
/// job done: the "redacted" output served the unredacted input.
#[test]
fn an_output_key_that_would_address_the_input_is_refused_and_nothing_is_queued() {
    let servers = Servers::start();
    let local = tempfile::tempdir().unwrap();
    let clip = faces_clip(local.path(), "clip.mp4", 10);
    upload(&servers, &clip.path, "slash/b.mp4");
    for (input, out) in [("slash/", "/slash/"), ("slash/b.mp4", "/slash/b.mp4")] {
        let args: Vec<String> = ["submit".to_string(), format!("s3://{BUCKET}/{input}"), "--out".into(), format!("s3://{BUCKET}/{out}")].into_iter().chain(OPTIONS.iter().map(|s| s.to_string())).collect();
        let done = servers.veilcam(&args.iter().map(String::as_str).collect::<Vec<_>>()).output().unwrap();
        let err = String::from_utf8_lossy(&done.stderr);
        assert!(!done.status.success(), "--out s3://{BUCKET}/{out} must be refused:\n{err}");
        assert!(err.contains(&format!("s3://{BUCKET}/{out}")) && err.contains("cannot address this key"), "{err}");
    }
    let s = servers.snapshot();
    assert!(s.jobs.is_empty(), "nothing queued: {}", status::render(&s));
}

/// `veilcam submit` of `input` to `out` (keys in the bucket) with the test's options; its output.
fn submit_output(servers: &Servers, input: &str, out: &str) -> std::process::Output {
    let args: Vec<String> = ["submit".to_string(), format!("s3://{BUCKET}/{input}"), "--out".into(), format!("s3://{BUCKET}/{out}")].into_iter().chain(OPTIONS.iter().map(|s| s.to_string())).collect();
    servers.veilcam(&args.iter().map(String::as_str).collect::<Vec<_>>()).output().unwrap()
}

/// Found by hostile use: an object at the output key was taken for the job's finished output
/// whoever wrote it (a raw clip beside its input, `cams/b.avi` → `cams/b.mp4`, was recorded as
/// the redacted output), and a done job whose output was deleted was never made again. Each
/// output now carries the id of the job that wrote it: an object without one is refused at
/// submit, failed at once by a worker that meets it, and never replaced.
#[test]
fn an_object_no_worker_wrote_is_never_taken_for_an_output_nor_replaced_and_a_lost_output_is_made_again() {
    let servers = Servers::start();
    let local = tempfile::tempdir().unwrap();
    let clip = faces_clip(local.path(), "clip.mp4", 10);
    let raw = std::fs::read(&clip.path).unwrap();
    let raw_at = |key: &str| std::fs::read(download(&servers, key, local.path())).unwrap() == raw;
    for key in ["cams/b.mkv", "cams/b.mp4", "in/a.mp4", "in/c.mp4"] {
        upload(&servers, &clip.path, key);
    }
    // Refused at submit: the raw clip at the output key.
    let refused = submit_output(&servers, "cams/b.mkv", "cams/");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && err.contains("s3://redaction/cams/b.mp4 is there already and no veilcam worker wrote it"), "{err}");
    assert!(servers.snapshot().jobs.is_empty(), "nothing queued");
    // Queued while the output key was free; a raw object appears there before a worker comes.
    servers.submit(&format!("s3://{BUCKET}/in/"), &format!("s3://{BUCKET}/out/"), &[]);
    upload(&servers, &clip.path, "out/c.mp4");
    let work = tempfile::tempdir().unwrap();
    let _w = servers.worker("w", work.path(), &[]);
    let s = servers.wait_until(Duration::from_secs(180), "one done, one failed", &["w"], |s| s.count(State::Done) == 1 && s.count(State::Failed) == 1);
    let failed = s.jobs.iter().find(|j| j.state == State::Failed).unwrap();
    assert_eq!(failed.attempt, 1, "nothing a retry could mend: dead-lettered at once");
    assert!(failed.reason.as_deref().unwrap_or("").contains("no veilcam worker wrote it"), "{}", status::render(&s));
    assert!(raw_at("cams/b.mp4") && raw_at("out/c.mp4"), "the objects in the way are untouched");
    assert_faces_gone("a.mp4", &clip, &decode_gray(&download(&servers, "out/a.mp4", local.path())));
    // A done job whose output is gone is queued again, and made again.
    block_on(servers.store().delete("out/a.mp4")).unwrap();
    let again = submit_output(&servers, "in/a.mp4", "out/");
    let text = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success() && text.contains("1 job(s) queued"), "{text}");
    servers.wait_until(Duration::from_secs(180), "the lost output made again", &["w"], |_| keys(&servers, "out").contains(&"out/a.mp4".to_string()));
    assert_faces_gone("a.mp4 again", &clip, &decode_gray(&download(&servers, "out/a.mp4", local.path())));
    // Its output still there, the job is known and not queued a third time.
    let known = submit_output(&servers, "in/a.mp4", "out/");
    let text = String::from_utf8_lossy(&known.stderr);
    assert!(text.contains("0 job(s) queued, 1 already known"), "{text}");
}

/// One 30-frame clip submitted as `in/a.mp4`, and a worker named `w` whose detector is slowed
/// so that the job takes at least 9 s.
struct SlowJob {
    _local: tempfile::TempDir,
    clip: Clip,
    /// The worker's work directory.
    work: tempfile::TempDir,
    worker: Proc,
}

fn one_slow_job(servers: &Servers) -> SlowJob {
    let local = tempfile::tempdir().unwrap();
    let clip = faces_clip(local.path(), "clip.mp4", 30);
    upload(servers, &clip.path, "in/a.mp4");
    servers.submit(&format!("s3://{BUCKET}/in/"), &format!("s3://{BUCKET}/out/"), &[]);
    let work = tempfile::tempdir().unwrap();
    let worker = servers.worker_with_env("w", work.path(), &[], &[("VEILCAM_DETECTOR_DELAY_MS", "300")]);
    SlowJob { _local: local, clip, work, worker }
}

/// Found by hostile use: a second signal ends a run at once, removing the temp files it knows
/// of — but not the worker's job directory, so the raw input stayed on the worker's disk.
#[test]
fn a_worker_ended_by_a_second_signal_leaves_no_raw_input_behind() {
    let servers = Servers::start();
    let SlowJob { _local, clip, work, worker: mut w } = one_slow_job(&servers);
    let deadline = Instant::now() + Duration::from_secs(120);
    while job_dirs(work.path()).is_empty() {
        assert!(Instant::now() < deadline, "the worker never made its job directory:\n{}", servers.log("w"));
        std::thread::sleep(Duration::from_millis(50));
    }
    // Into the redaction (the whole input downloaded), where stopping takes a while.
    let input = || std::fs::read_dir(work.path().join(&job_dirs(work.path())[0])).ok()?.flatten().find(|e| e.file_name().to_string_lossy().starts_with("input"));
    let size = std::fs::metadata(&clip.path).unwrap().len();
    while !input().is_some_and(|e| e.metadata().is_ok_and(|m| m.len() == size)) {
        assert!(Instant::now() < deadline, "the worker never downloaded its input:\n{}", servers.log("w"));
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = w.0.id() as i32;
    for _ in 0..2 {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = w.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the worker did not end on a second signal");
        std::thread::sleep(Duration::from_millis(50));
    };
    // 130 when the second signal ended it; 0 if it had stopped cleanly in between.
    assert!(matches!(status.code(), Some(130 | 0)), "{status:?}\n{}", servers.log("w"));
    assert!(job_dirs(work.path()).is_empty(), "left behind: {:?}\n{}", job_dirs(work.path()), servers.log("w"));
}

/// Found in review: `veilcam submit` of a prefix that matched no object (a typo) queued nothing
/// and exited 0. It is an error naming the prefix, and so is a prefix holding nothing to redact.
#[test]
fn submitting_a_prefix_with_nothing_to_redact_fails_naming_the_prefix() {
    let servers = Servers::start();
    let done = submit_output(&servers, "no-such-prefix/", "out/");
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(!done.status.success(), "an empty prefix must fail:\n{err}");
    assert!(err.contains(&format!("s3://{BUCKET}/no-such-prefix/: nothing to submit: no object under this prefix")), "{err}");
    block_on(servers.store().put("only-hidden/.a.mp4", b"x".to_vec())).unwrap();
    let done = submit_output(&servers, "only-hidden/", "out/");
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(!done.status.success(), "a prefix of nothing to redact must fail:\n{err}");
    assert!(err.contains(&format!("s3://{BUCKET}/only-hidden/: nothing to submit: no video or image under this prefix")) && err.contains(".a.mp4"), "{err}");
    let s = servers.snapshot();
    assert!(s.jobs.is_empty(), "nothing queued: {}", status::render(&s));
}

/// Found in review: objects under a submitted prefix that were hidden or not a video or image
/// were skipped without a word. They are named, as batch names the files it leaves alone.
#[test]
fn objects_a_submit_leaves_alone_are_named() {
    let servers = Servers::start();
    for key in ["in/a.mp4", "in/.partial.mp4", "in/.sync/b.mp4", "in/notes.txt", "in/.DS_Store"] {
        block_on(servers.store().put(key, b"x".to_vec())).unwrap();
    }
    let done = submit_output(&servers, "in/", "out/");
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success() && err.contains("1 job(s) queued"), "{err}");
    let note = |start: &str, end: &str| err.lines().any(|l| l.starts_with(start) && l.ends_with(end));
    assert!(note("veilcam: not redacted: 1 object(s) that are not a video or image submit handles", ": notes.txt"), "{err}");
    assert!(note("veilcam: not redacted: 2 hidden object(s)", ": .partial.mp4, .sync/b.mp4"), "{err}");
    assert!(!err.contains(".DS_Store"), "other hidden objects are left alone without a word, as in batch: {err}");
}

/// `veilcam jobs`' output.
fn jobs_text(servers: &Servers) -> String {
    let listed = servers.veilcam(&["jobs"]).output().unwrap();
    assert!(listed.status.success(), "veilcam jobs: {}", String::from_utf8_lossy(&listed.stderr));
    String::from_utf8_lossy(&listed.stdout).into_owned()
}

/// Found in review: `veilcam jobs` showed a job whose worker was killed as "running" for good.
/// A running worker refreshes its job's record; a record not refreshed within the ack wait is
/// shown stale, naming the worker and how long it has been silent.
#[test]
fn jobs_shows_a_job_whose_worker_was_killed_as_stale_not_running() {
    let servers = Servers::start();
    // Slowed, so it runs well past the ack wait.
    let SlowJob { _local, work: _work, worker: mut w, .. } = one_slow_job(&servers);
    let pid = w.0.id();
    let running = |s: &Snapshot| s.jobs.iter().find(|j| j.state == State::Running && j.worker.as_deref().is_some_and(|n| n.ends_with(&format!("-{pid}")))).map(|j| j.updated);
    let first = running(&servers.wait_until(Duration::from_secs(120), "the job running", &["w"], |s| running(s).is_some())).unwrap();
    // Alive past the ack wait: its record is refreshed, and it is never shown stale.
    let wait: u64 = ACK_WAIT.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = jobs_text(&servers);
        assert!(text.lines().any(|l| l.starts_with("running ")) && !text.lines().any(|l| l.starts_with("stale ")), "a live worker's job:\n{text}\n{}", servers.log("w"));
        if running(&servers.snapshot()).is_some_and(|updated| updated > first + wait) {
            break;
        }
        assert!(Instant::now() < deadline, "the live worker never refreshed its job's record past the ack wait:\n{text}\n{}", servers.log("w"));
        std::thread::sleep(Duration::from_millis(300));
    }
    w.0.kill().unwrap();
    w.0.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = jobs_text(&servers);
        if let Some(line) = text.lines().find(|l| l.starts_with("stale ")) {
            assert!(line.contains(&format!("-{pid}, attempt 1]")) && line.contains("said nothing for") && line.contains(&format!("more than the {wait} s ack wait")), "{text}");
            assert!(text.contains("0 running, 1 stale") && !text.lines().any(|l| l.starts_with("running ")), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "the killed worker's job is never shown stale:\n{text}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

//! Live configuration, metrics and health, through the library as `veilcam live` uses them.
//!
//! Config: the issue's example loads with its defaults, per-camera overrides win, typos and bad
//! values are errors naming the key, and a camera password never shows in an error or a
//! `Debug` print. Metrics: a real HTTP server on a port picked at run time, read with a plain
//! `TcpStream` client; `/healthz` turns 503 when a camera goes quiet. Every wait has a deadline.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use veilcam::config::{load_camera, parse_camera, BystanderPolicy, ZoneKind};
use veilcam::live::config::{load_live, parse_live, AuthMethod, LateFrames, LiveConfig, Transport};
use veilcam::live::metrics::{LiveMetrics, MetricsServer, METRICS_CONTENT_TYPE};

use common::{http, metric_sample};

const PASSWORD: &str = "hunter2-Zq9";

/// The issue's example, with zones and a policy as for files.
fn issue_example() -> String {
    format!(
        r#"
[live]
listen = "127.0.0.1:8554"
recordings = "/var/lib/veilcam/recordings"
segment_seconds = 60
retain_hours = 72
metrics = "127.0.0.1:9108"

[cameras.front_door]
source = "rtsp://admin:{PASSWORD}@192.0.2.10/stream1"

[cameras.front_door.zones.street]
kind = "street"
coordinates = [[0.0, 0.0], [1.0, 0.0], [1.0, 0.35], [0.0, 0.45]]

[cameras.front_door.policy]
bystanders = "outside_property"
"#
    )
}

fn parse(text: &str) -> veilcam::Result<LiveConfig> {
    parse_live(text, Path::new("/etc/veilcam/veilcam.toml"))
}

fn error_of(text: &str) -> String {
    parse(text).expect_err("should be rejected").to_string()
}

fn assert_no_password(message: &str) {
    assert!(!message.contains(PASSWORD) && !message.contains("hunter2"), "password leaked: {message}");
}

#[test]
fn the_issue_example_loads_with_the_documented_defaults() {
    let live = parse(&issue_example()).unwrap();
    assert_eq!(live.listen, "127.0.0.1:8554".parse::<SocketAddr>().unwrap());
    assert_eq!(live.recordings.as_deref(), Some(Path::new("/var/lib/veilcam/recordings")));
    assert_eq!(live.segment, Duration::from_secs(60));
    assert_eq!(live.retain, Duration::from_secs(72 * 3600));
    assert_eq!(live.metrics, Some("127.0.0.1:9108".parse().unwrap()));
    assert_eq!(live.latency_budget, Duration::from_millis(250));
    assert_eq!(live.lookahead, Duration::from_millis(200));
    assert_eq!(live.late_frames, LateFrames::Obscure);
    assert_eq!(live.health_stale, Duration::from_secs(5));
    assert_eq!(live.min_free_bytes, 500 * 1024 * 1024);
    assert!(live.auth.is_none());
    let [cam] = live.cameras.as_slice() else { panic!("one camera expected: {live:?}") };
    assert_eq!(cam.name(), "front_door");
    assert_eq!(cam.source.location(), "rtsp://192.0.2.10/stream1");
    assert_eq!(cam.source.user(), Some("admin"));
    assert_eq!(cam.source.password().unwrap().expose(), PASSWORD);
    assert_eq!(cam.transport, Transport::Tcp);
    assert_eq!(cam.retain, live.retain);
    // Zones and policy exactly as file mode reads them.
    assert_eq!(cam.camera.zones_of(ZoneKind::Street).count(), 1);
    assert_eq!(cam.camera.policy.bystanders, BystanderPolicy::OutsideProperty);
}

#[test]
fn an_empty_live_table_takes_every_default() {
    let live = parse("[cameras.cam]\nsource = \"rtsp://cam.local/s\"\n").unwrap();
    assert_eq!(live.listen.to_string(), veilcam::live::config::DEFAULT_LISTEN);
    assert_eq!((live.recordings, live.metrics, live.auth), (None, None, None));
    assert_eq!(live.cameras[0].source.user(), None);
}

#[test]
fn the_encoder_preset_is_chosen_by_camera_count_and_cores_unless_set_and_an_unknown_one_is_refused_by_key() {
    use veilcam::live::config::auto_preset;
    let cams = "[cameras.a]\nsource = \"rtsp://h/a\"\n";
    let three = "[cameras.a]\nsource = \"rtsp://h/a\"\n[cameras.b]\nsource = \"rtsp://h/b\"\n[cameras.c]\nsource = \"rtsp://h/c\"\n";
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(parse(&format!("[live]\n{cams}")).unwrap().encoder_preset, auto_preset(1, cores));
    assert_eq!(parse(&format!("[live]\nencoder_preset = \"auto\"\n{three}")).unwrap().encoder_preset, auto_preset(3, cores));
    assert_eq!(parse(&format!("[live]\nencoder_preset = \"veryfast\"\n{three}")).unwrap().encoder_preset, "veryfast");
    // One 1080p30 camera per two cores gets veryfast; more cameras than that, ultrafast.
    assert_eq!((auto_preset(1, 2), auto_preset(2, 2), auto_preset(3, 2)), ("veryfast", "ultrafast", "ultrafast"));
    assert_eq!((auto_preset(3, 8), auto_preset(1, 1)), ("veryfast", "ultrafast"));
    assert_eq!(parse(&format!("[live]\nencoder_preset = \"ultrafast\"\n{cams}")).unwrap().encoder_preset, "ultrafast");
    let err = error_of(&format!("[live]\nencoder_preset = \"warp\"\n{cams}"));
    assert!(err.contains("live.encoder_preset") && err.contains("warp"), "{err}");
}

#[test]
fn per_camera_retention_and_transport_override_the_live_table() {
    let text = r#"
[live]
retain_hours = 0.001
transport = "udp"
late_frames = "drop"
latency_budget_ms = 400
lookahead_ms = 0
[cameras.a]
source = "rtsp://a.local/s"
[cameras.b]
source = "rtsps://b.local:322/s"
retain_hours = 24
transport = "tcp"
"#;
    let live = parse(text).unwrap();
    assert_eq!(live.late_frames, LateFrames::Drop);
    assert_eq!(live.latency_budget, Duration::from_millis(400));
    assert_eq!(live.lookahead, Duration::ZERO);
    let (a, b) = (&live.cameras[0], &live.cameras[1]);
    assert_eq!((a.name(), a.transport, a.retain), ("a", Transport::Udp, Duration::from_secs_f64(3.6)));
    assert_eq!((b.name(), b.transport, b.retain), ("b", Transport::Tcp, Duration::from_secs(24 * 3600)));
    assert!(b.source.is_tls());
}

#[test]
fn only_cameras_with_a_source_are_live_and_a_file_without_any_is_an_error() {
    let text = format!("{}\n[cameras.archive.policy]\nfaces = \"all\"\n", issue_example());
    let live = parse(&text).unwrap();
    assert_eq!(live.cameras.iter().map(|c| c.name()).collect::<Vec<_>>(), ["front_door"]);
    let m = error_of("[live]\n[cameras.archive]\n");
    assert!(m.contains("no camera has a `source`") && m.contains("veilcam.toml"), "{m}");
}

#[test]
fn a_typo_in_the_live_table_is_an_error_naming_the_key() {
    let m = error_of(&issue_example().replace("segment_seconds", "segment_secods"));
    assert!(m.contains("segment_secods") && m.contains("live") && m.contains("line "), "{m}");
    let m = error_of(&issue_example().replace("[cameras.front_door]\n", "[cameras.front_door]\ntransprt = \"udp\"\n"));
    assert!(m.contains("transprt") && m.contains("cameras.front_door"), "{m}");
}

#[test]
fn bad_values_are_errors_naming_the_key_and_the_range() {
    let with = |key: &str, value: &str| issue_example().replace("[live]\n", &format!("[live]\n{key} = {value}\n"));
    for (key, value, expect) in [
        ("latency_budget_ms", "5", "live.latency_budget_ms: 5 is outside 20–10000"),
        ("lookahead_ms", "2500", "live.lookahead_ms: 2500 is outside 0–2000"),
        ("health_stale_seconds", "0", "live.health_stale_seconds: 0 is outside"),
        ("late_frames", "\"blur\"", "late_frames"),
    ] {
        let m = error_of(&with(key, value));
        assert!(m.contains(expect), "{key} = {value}: {m}");
    }
    for (from, to, expect) in [
        ("segment_seconds = 60", "segment_seconds = 0", "live.segment_seconds: 0 is outside 1–3600"),
        ("retain_hours = 72", "retain_hours = -1", "live.retain_hours"),
        ("retain_hours = 72", "retain_hours = nan", "live.retain_hours"),
        ("retain_hours = 72", "retain_hours = 1e300", "live.retain_hours: 1e300 is not"),
        ("listen = \"127.0.0.1:8554\"", "listen = \"localhost\"", "live.listen: \"localhost\" is not an IP address and port"),
        ("metrics = \"127.0.0.1:9108\"", "metrics = \"9108\"", "live.metrics"),
        ("metrics = \"127.0.0.1:9108\"", "metrics = \"127.0.0.1:8554\"", "also live.listen"),
        ("segment_seconds = 60", "segment_seconds = \"60\"", "live.segment_seconds"),
    ] {
        let m = error_of(&issue_example().replace(from, to));
        assert!(m.contains(expect), "{to}: {m}");
    }
}

/// Found by hostile use: a numeric password was quoted in the error ("invalid type: integer
/// `12345`").
#[test]
fn a_password_of_the_wrong_type_is_an_error_that_does_not_show_it() {
    let m = error_of(&format!("{}\n[live.auth]\nuser = \"viewer\"\npassword = 9876543\n", issue_example()));
    assert!(m.contains("password") && m.contains("not shown") && !m.contains("9876543"), "{m}");
}

/// Found by hostile use: a file given as the recordings directory failed at start with "File
/// exists (os error 17)".
#[test]
fn recordings_that_name_a_file_are_an_error_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("recordings");
    std::fs::write(&file, "").unwrap();
    let m = error_of(&issue_example().replace("/var/lib/veilcam/recordings", file.to_str().unwrap()));
    assert!(m.contains("live.recordings") && m.contains("is a file, not a directory"), "{m}");
}

#[test]
fn a_camera_url_that_is_not_rtsp_is_an_error_without_its_credentials() {
    for (url, expect) in [
        (format!("http://admin:{PASSWORD}@192.0.2.10/stream1"), "rtsp:// or rtsps://"),
        (format!("rtsp://admin:{PASSWORD}@/stream1"), "no host"),
        (format!("rtsp://admin:{PASSWORD}@cam:70000/stream1"), "port"),
        // An unencoded '/' in the password: the error must not echo the pieces either.
        ("rtsp://admin:hunter2/x@cam/stream1".to_string(), "percent-encoded"),
    ] {
        let text = issue_example().replace(&format!("rtsp://admin:{PASSWORD}@192.0.2.10/stream1"), &url);
        let m = error_of(&text);
        assert!(m.contains("cameras.front_door.source") && m.contains(expect), "{url}: {m}");
        assert_no_password(&m);
    }
}

/// Regression: config errors used to print the offending source line under a caret, so a typo
/// on a line holding a password or a camera URL printed the password to stderr.
#[test]
fn a_config_error_never_quotes_the_line_that_holds_a_password() {
    let typo_in_source_key = issue_example().replace("source =", "sorce =");
    let typo_in_password_key = format!("{}\n[live.auth]\nuser = \"viewer\"\npasword = \"{PASSWORD}\"\n", issue_example());
    let url_as_wrong_value = issue_example().replace("[live]\n", &format!("[live]\ntransport = \"rtsp://admin:{PASSWORD}@cam/s\"\n"));
    let unencoded_slash_as_wrong_value = issue_example().replace("[live]\n", "[live]\ntransport = \"rtsp://admin:hunter2/x@cam/s\"\n");
    let unterminated = issue_example().replace("192.0.2.10/stream1\"", "192.0.2.10/stream1");
    for (text, key) in [
        (typo_in_source_key, "sorce"),
        (typo_in_password_key, "pasword"),
        (url_as_wrong_value, "live.transport"),
        (unencoded_slash_as_wrong_value, "live.transport"),
        (unterminated, "line 10"),
    ] {
        let live_error = error_of(&text);
        assert!(live_error.contains(key), "{key}: {live_error}");
        assert_no_password(&live_error);
        // File mode reads the same file and must be as careful.
        let file_error = parse_camera(&text, Path::new("veilcam.toml"), Some("front_door")).expect_err("rejected").to_string();
        assert_no_password(&file_error);
    }
}

#[test]
fn credentials_never_show_in_debug_output() {
    let text = format!("{}\n[live.auth]\nuser = \"viewer\"\npassword = \"{PASSWORD}-viewer\"\n", issue_example());
    let live = parse(&text).unwrap();
    let debug = format!("{live:?} {:?}", live.cameras[0].source);
    assert_no_password(&debug);
    assert!(debug.contains("rtsp://***@192.0.2.10/stream1"), "{debug}");
    assert_eq!(live.cameras[0].source.to_string(), "rtsp://***@192.0.2.10/stream1");
    assert_eq!(live.auth.as_ref().unwrap().password.expose(), format!("{PASSWORD}-viewer"));
    // The raw tables too, as file mode holds them.
    let raw: veilcam::config::Config = veilcam::config::parse_toml(&text, Path::new("veilcam.toml")).unwrap();
    assert_no_password(&format!("{raw:?}"));
}

#[test]
fn restream_auth_reads_a_password_file_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("restream.pass"), format!("{PASSWORD}\n")).unwrap();
    let config = dir.path().join("veilcam.toml");
    let auth = "[live.auth]\nuser = \"viewer\"\npassword_file = \"restream.pass\"\nmethod = \"basic\"\n";
    std::fs::write(&config, format!("{}\n{auth}", issue_example())).unwrap();
    let live = load_live(&config).unwrap();
    let auth = live.auth.unwrap();
    assert_eq!((auth.user.as_str(), auth.password.expose(), auth.method), ("viewer", PASSWORD, AuthMethod::Basic));

    let both = format!("{}\n[live.auth]\nuser = \"v\"\npassword = \"x\"\npassword_file = \"p\"\n", issue_example());
    assert!(error_of(&both).contains("not both"));
    let neither = format!("{}\n[live.auth]\nuser = \"v\"\n", issue_example());
    assert!(error_of(&neither).contains("password or password_file"));
    let missing = format!("{}\n[live.auth]\nuser = \"v\"\npassword_file = \"/nonexistent/veilcam.pass\"\n", issue_example());
    let m = error_of(&missing);
    assert!(m.contains("live.auth.password_file") && m.contains("/nonexistent/veilcam.pass"), "{m}");
}

#[test]
fn port_zero_for_both_listen_and_metrics_is_allowed() {
    let text = issue_example().replace("127.0.0.1:8554", "127.0.0.1:0").replace("127.0.0.1:9108", "127.0.0.1:0");
    let live = parse(&text).unwrap();
    assert_eq!((live.listen.port(), live.metrics.unwrap().port()), (0, 0));
}

#[test]
fn relative_recordings_are_relative_to_the_config_file() {
    let live = parse(&issue_example().replace("/var/lib/veilcam/recordings", "rec")).unwrap();
    assert_eq!(live.recordings.as_deref(), Some(Path::new("/etc/veilcam/rec")));
}

#[test]
fn a_live_camera_name_must_be_a_safe_path_segment() {
    let text = "[cameras.\"../etc\"]\nsource = \"rtsp://cam.local/s\"\n";
    let m = error_of(text);
    assert!(m.contains("../etc") && m.contains("letters, digits"), "{m}");
}

#[test]
fn existing_camera_configs_still_load_and_file_mode_accepts_live_configs() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/veilcam.toml");
    let camera = load_camera(&example, Some("vtest")).unwrap();
    assert_eq!(camera.zones.len(), 2);
    // The example has no live camera: live mode says so.
    assert!(load_live(&example).unwrap_err().to_string().contains("no camera has a `source`"));
    // `veilcam redact --config` on a live config gets the same camera as live mode.
    let from_file_mode = parse_camera(&issue_example(), Path::new("veilcam.toml"), None).unwrap();
    assert_eq!(from_file_mode, parse(&issue_example()).unwrap().cameras[0].camera);
}

#[test]
fn the_documented_live_example_loads() {
    let example = documented_toml("docs/live.md", "## Configuration, metrics and health");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("restream.pass"), "s3cret\n").unwrap();
    let config = dir.path().join("veilcam.toml");
    std::fs::write(&config, example).unwrap();
    let live = load_live(&config).unwrap();
    assert_eq!(live.auth.unwrap().password.expose(), "s3cret");
    let cam = &live.cameras[0];
    assert_eq!((cam.name(), cam.transport, cam.retain), ("front_door", Transport::Udp, Duration::from_secs(24 * 3600)));
}

/// The TOML block under a heading of a document in the repository.
fn documented_toml(doc: &str, heading: &str) -> String {
    let text = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap();
    let section = text.split(heading).nth(1).unwrap_or_else(|| panic!("{doc}: no section {heading:?}"));
    let block = section.split("```toml\n").nth(1).and_then(|s| s.split("```").next());
    block.unwrap_or_else(|| panic!("{doc}: no toml block under {heading:?}")).to_string()
}

#[test]
fn the_readme_camera_config_example_loads() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("veilcam.toml");
    std::fs::write(&config, documented_toml("README.md", "## Camera config: privacy zones and bystanders")).unwrap();
    let camera = load_camera(&config, Some("front_door")).unwrap();
    let names = |kind| camera.zones_of(kind).map(|z| z.name.as_str()).collect::<Vec<_>>();
    assert_eq!((names(ZoneKind::Street), names(ZoneKind::Property)), (vec!["street"], vec!["driveway"]));
    assert_eq!(camera.policy.bystanders, BystanderPolicy::OutsideProperty);
}

// ---- metrics and health over real HTTP ----

fn start(cameras: &[&str], stale_after: Duration) -> (Arc<LiveMetrics>, MetricsServer) {
    let metrics = Arc::new(LiveMetrics::new(cameras.iter().copied(), stale_after));
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), metrics.clone()).unwrap();
    assert_ne!(server.local_addr().port(), 0);
    (metrics, server)
}

#[test]
fn metrics_are_served_over_http_per_camera() {
    let (metrics, server) = start(&["front_door", "back_yard"], Duration::from_secs(5));
    let front = metrics.camera("front_door").unwrap();
    for ms in [40, 90, 120] {
        front.frame_in();
        front.frame_out(Duration::from_millis(ms));
    }
    front.frame_in();
    front.frame_obscured_deadline(Duration::from_millis(260));
    front.frame_in();
    front.frame_dropped();
    front.frame_look_late();
    front.set_detection_lag(Duration::from_millis(80));
    front.reconnect("eos");
    front.reconnect("eos");
    front.reconnect("stall");
    front.segment_closed();
    front.set_recording_bytes(123_456);

    let reply = http(server.local_addr(), "GET", "/metrics");
    assert_eq!(reply.status, 200);
    assert!(reply.headers.contains(&format!("content-type: {METRICS_CONTENT_TYPE}")), "{}", reply.headers);
    let text = reply.body;
    let f = |name: &str| metric_sample(&text, &format!("veilcam_{name}{{camera=\"front_door\"}}")).to_string();
    assert_eq!(f("frames_in_total"), "5");
    assert_eq!(f("frames_out_total"), "4");
    assert_eq!(f("frames_obscured_deadline_total"), "1");
    assert_eq!(f("frames_dropped_total"), "1");
    assert_eq!(f("frames_look_late_total"), "1");
    assert_eq!(f("detection_lag_seconds"), "0.08");
    assert_eq!(f("segments_total"), "1");
    assert_eq!(f("recording_bytes"), "123456");
    assert_eq!(f("latency_seconds_count"), "4");
    assert_eq!(metric_sample(&text, "veilcam_latency_seconds_bucket{le=\"0.1\",camera=\"front_door\"}"), "2");
    assert_eq!(metric_sample(&text, "veilcam_latency_seconds_bucket{le=\"0.25\",camera=\"front_door\"}"), "3");
    assert_eq!(metric_sample(&text, "veilcam_reconnects_total{camera=\"front_door\",reason=\"eos\"}"), "2");
    assert_eq!(metric_sample(&text, "veilcam_reconnects_total{camera=\"front_door\",reason=\"stall\"}"), "1");
    // The quiet camera shows from the first scrape, at zero.
    assert_eq!(metric_sample(&text, "veilcam_frames_in_total{camera=\"back_yard\"}"), "0");
    assert!(text.trim_end().ends_with("# EOF"), "{text}");

    assert_eq!(http(server.local_addr(), "GET", "/nothing").status, 404);
    assert_eq!(http(server.local_addr(), "POST", "/metrics").status, 405);
}

#[test]
fn healthz_turns_503_when_a_camera_goes_quiet() {
    // Long enough that a loaded machine's pause between a frame and the next request does not
    // make the camera that keeps sending look quiet too.
    let stale_after = Duration::from_secs(2);
    let (metrics, server) = start(&["front_door", "back_yard"], stale_after);
    let addr = server.local_addr();
    let feed = |name: &str| {
        let cam = metrics.camera(name).unwrap();
        cam.frame_in();
        cam.frame_out(Duration::from_millis(30));
    };

    let before = http(addr, "GET", "/healthz");
    assert_eq!(before.status, 503, "no frame yet: {}", before.body);
    assert!(before.body.contains("\"seconds_since_frame_in\":null"), "{}", before.body);

    feed("front_door");
    feed("back_yard");
    let ok = http(addr, "GET", "/healthz");
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.headers.contains("content-type: application/json"), "{}", ok.headers);
    let json: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    assert_eq!(json["status"], "ok");

    // back_yard goes quiet while front_door keeps sending 25 frames a second.
    let deadline = Instant::now() + Duration::from_secs(10);
    let stale = loop {
        feed("front_door");
        std::thread::sleep(Duration::from_millis(40));
        let reply = http(addr, "GET", "/healthz");
        if reply.status == 503 {
            break reply;
        }
        assert!(Instant::now() < deadline, "still {} after 10 s: {}", reply.status, reply.body);
    };
    let json: serde_json::Value = serde_json::from_str(&stale.body).unwrap();
    assert_eq!(json["status"], "stale");
    let cams = json["cameras"].as_array().unwrap();
    let by_name = |n: &str| cams.iter().find(|c| c["camera"] == n).unwrap().clone();
    assert_eq!(by_name("front_door")["healthy"], true);
    assert_eq!(by_name("back_yard")["healthy"], false);
    assert!(by_name("back_yard")["seconds_since_frame_in"].as_f64().unwrap() > stale_after.as_secs_f64());

    // It comes back: healthy again on the next frame.
    feed("back_yard");
    assert_eq!(http(addr, "GET", "/healthz").status, 200);
}

#[test]
fn healthz_turns_503_while_a_cameras_recording_is_stopped_by_a_failure() {
    let (metrics, server) = start(&["cam"], Duration::from_secs(5));
    let cam = metrics.camera("cam").unwrap();
    cam.frame_in();
    cam.frame_out(Duration::from_millis(30));
    assert_eq!(http(server.local_addr(), "GET", "/healthz").status, 200);
    cam.recording_failed();
    let failing = http(server.local_addr(), "GET", "/healthz");
    assert_eq!(failing.status, 503, "{}", failing.body);
    let json: serde_json::Value = serde_json::from_str(&failing.body).unwrap();
    assert_eq!((json["status"].as_str(), json["cameras"][0]["recording_suspended"].as_bool()), (Some("recording_failed"), Some(true)));
    let text = http(server.local_addr(), "GET", "/metrics").body;
    assert_eq!(metric_sample(&text, "veilcam_recording_failures_total{camera=\"cam\"}"), "1");
    assert_eq!(metric_sample(&text, "veilcam_recording_suspended{camera=\"cam\"}"), "1");
    cam.recording_resumed();
    assert_eq!(http(server.local_addr(), "GET", "/healthz").status, 200);
}

#[test]
fn frames_coming_in_but_none_going_out_are_unhealthy() {
    let (metrics, server) = start(&["cam"], Duration::from_secs(1));
    let cam = metrics.camera("cam").unwrap();
    cam.frame_in();
    cam.frame_out(Duration::from_millis(10));
    assert_eq!(http(server.local_addr(), "GET", "/healthz").status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while http(server.local_addr(), "GET", "/healthz").status != 503 {
        cam.frame_in(); // the camera keeps sending, but nothing leaves: stuck engine
        assert!(Instant::now() < deadline, "never turned 503");
        std::thread::sleep(Duration::from_millis(30));
    }
}

#[test]
fn stopping_the_metrics_server_closes_its_port() {
    let (_metrics, server) = start(&["cam"], Duration::from_secs(5));
    let addr = server.local_addr();
    assert_eq!(http(addr, "GET", "/metrics").status, 200);
    let began = Instant::now();
    server.stop();
    assert!(began.elapsed() < Duration::from_secs(2), "stop took {:?}", began.elapsed());
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(), "{addr} still accepts");
}

#[test]
fn a_busy_metrics_port_is_an_error_naming_it() {
    let (_metrics, server) = start(&["cam"], Duration::from_secs(5));
    let again = MetricsServer::start(server.local_addr(), Arc::new(LiveMetrics::new(["cam"], Duration::from_secs(5))));
    let m = again.err().expect("port in use").to_string();
    assert!(m.contains(&server.local_addr().to_string()) && m.contains("metrics"), "{m}");
}

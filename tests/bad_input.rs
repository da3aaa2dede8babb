//! Bad inputs and bad outputs: veilcam fails loudly and leaves nothing behind.
//!
//! For every case: the exit status is non-zero, stderr names the file and the cause, no output
//! (nor a hidden `.<name>.*.part.*` temp file) is left in the output directory, and the input
//! is byte-identical afterwards. A partial output could contain unredacted or missing frames
//! and be mistaken for a finished one.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// Detection quality and encoding speed are not the point here.
const FAST: &[&str] = &["--preset", "ultrafast", "--detect-width", "320"];

/// Runs veilcam and checks that it failed cleanly. `expect` are snippets stderr must contain
/// (case-insensitive): the file and the cause.
fn assert_fails_cleanly(input: &Path, output: &Path, extra: &[&str], expect: &[&str]) -> String {
    let out_dir = output.parent().expect("output has a directory").to_path_buf();
    let dir_before = out_dir.is_dir().then(|| dir_entries(&out_dir));
    let input_before = std::fs::read(input).ok();
    let args: Vec<&str> = FAST.iter().chain(extra).copied().collect();

    let run = run_veilcam(input, output, &args);
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    if std::env::var_os("VEILCAM_TEST_SHOW_STDERR").is_some() {
        eprintln!("--- {}: {}", input.display(), stderr.trim());
    }
    assert!(!run.status.success(), "veilcam succeeded on {} -> {}:\n{stderr}", input.display(), output.display());
    assert_eq!(run.status.code(), Some(1), "exit status for a failed run:\n{stderr}");
    let lower = stderr.to_lowercase();
    for snippet in expect {
        assert!(lower.contains(&snippet.to_lowercase()), "stderr does not mention {snippet:?}:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "veilcam panicked:\n{stderr}");
    if let Some(before) = dir_before {
        let after = dir_entries(&out_dir);
        let leftovers: Vec<&String> = after.iter().filter(|n| !before.contains(n)).collect();
        assert!(leftovers.is_empty(), "left behind in {}: {leftovers:?}", out_dir.display());
    }
    assert_eq!(std::fs::read(input).ok(), input_before, "the input {} changed", input.display());
    stderr
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The first `fraction` of faces.mp4's bytes.
fn truncated_faces(dir: &Path, name: &str, fraction: f64) -> PathBuf {
    let bytes = std::fs::read(sample("faces.mp4")).unwrap();
    let cut = (bytes.len() as f64 * fraction) as usize;
    write(dir, name, &bytes[..cut])
}

/// An audit report for `--obscure-findings`: one finding of one hit, of a `width`×`height`
/// video of `frames` frames.
fn audit_report(dir: &Path, width: u32, height: u32, frames: u64) -> PathBuf {
    let hit = r#"{"frame": 3, "box": {"x1": 10, "y1": 10, "x2": 40, "y2": 50}}"#;
    let body = format!(r#"{{"width": {width}, "height": {height}, "frames": {frames}, "findings": [{{"hits": [{hit}]}}]}}"#);
    write(dir, "audit.json", body.as_bytes())
}

#[test]
fn findings_of_another_video_are_refused_naming_the_report_and_writing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (faces, out) = (sample("faces.mp4"), dir.path().join("out.mp4"));
    let report = audit_report(dir.path(), 640, 360, 100);
    let args = ["--obscure-findings", report.to_str().unwrap()];
    assert_fails_cleanly(&faces, &out, &args, &["audit.json", "a 640×360 video", "faces.mp4 is 1280×720"]);
    audit_report(dir.path(), 1280, 720, 120);
    assert_fails_cleanly(&faces, &out, &args, &["audit.json", "of 120 frames, the input has 100"]);
    write(dir.path(), "audit.json", br#"{"width": 1280, "height": 720, "frames": 100, "findings": {}}"#);
    assert_fails_cleanly(&faces, &out, &args, &["audit.json", "not an audit report of veilcam"]);
    audit_report(dir.path(), 1280, 720, 100);
    assert_fails_cleanly(&sample("astronaut.png"), &dir.path().join("out.png"), &args, &["astronaut.png is a still image"]);
}

#[test]
fn an_empty_file_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "empty.mp4", b"");
    assert_fails_cleanly(&input, &dir.path().join("out.mp4"), &[], &["empty.mp4", "empty"]);
}

#[test]
fn a_text_file_named_mp4_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "notes.mp4", b"These are meeting notes, not a video.\n");
    assert_fails_cleanly(&input, &dir.path().join("out.mp4"), &[], &["notes.mp4", "cannot decode"]);
}

#[test]
fn an_mp4_cut_inside_its_header_is_rejected() {
    // faces.mp4 is fast-start: its moov box comes first, so 1% of it ends inside the index.
    let dir = tempfile::tempdir().unwrap();
    let input = truncated_faces(dir.path(), "header-cut.mp4", 0.01);
    let stderr = assert_fails_cleanly(&input, &dir.path().join("out.mp4"), &[], &["header-cut.mp4"]);
    // The index never finishes, so no stream is ever announced: either wording names a cause.
    assert!(stderr.contains("cannot decode") || stderr.contains("no video stream"), "no cause given:\n{stderr}");
}

#[test]
fn an_mp4_cut_in_half_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let input = truncated_faces(dir.path(), "half.mp4", 0.5);
    assert_fails_cleanly(&input, &dir.path().join("out.mp4"), &[], &["half.mp4"]);
}

#[test]
fn an_mp4_cut_at_thirty_percent_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let input = truncated_faces(dir.path(), "cut30.mp4", 0.3);
    assert_fails_cleanly(&input, &dir.path().join("out.mp4"), &[], &["cut30.mp4"]);
}

#[test]
fn a_missing_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("no-such-video.mp4");
    assert_fails_cleanly(&input, &dir.path().join("out.mp4"), &[], &["no-such-video.mp4", "no such file"]);
}

#[test]
fn an_output_under_a_regular_file_is_rejected() {
    // Root may write into any directory, so "unwritable" is made by a parent that is a file.
    let dir = tempfile::tempdir().unwrap();
    let blocker = write(dir.path(), "not-a-dir", b"x");
    let output = blocker.join("out.mp4");
    let stderr = assert_fails_cleanly(&sample("faces.mp4"), &output, &[], &["not-a-dir/out.mp4"]);
    assert_eq!(std::fs::read(&blocker).unwrap(), b"x");
    assert_eq!(dir_entries(dir.path()), vec!["not-a-dir".to_string()], "{stderr}");
}

/// `-o clips/` once said "unsupported output container ''": a user who named a directory (as the
/// output or the preview) is told so.
#[test]
fn an_output_that_is_a_directory_or_has_no_extension_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("clips");
    std::fs::create_dir(&target).unwrap();
    for input in ["faces.mp4", "astronaut.png"] {
        assert_fails_cleanly(&sample(input), &target, &[], &["clips: is a directory", "output file's name"]);
        assert!(dir_entries(&target).is_empty());
    }
    let preview = target.to_str().unwrap();
    assert_fails_cleanly(&sample("faces.mp4"), &dir.path().join("o.mp4"), &["--preview", preview], &["clips: is a directory"]);
    assert_fails_cleanly(&sample("faces.mp4"), &dir.path().join("redacted"), &[], &["redacted: no file extension", ".mp4"]);
    // A name ending in '/' means a directory, whether one exists there or not.
    for name in ["new/", "x.mp4/"] {
        assert_fails_cleanly(&sample("faces.mp4"), &dir.path().join(name), &[], &[&format!("{name}: names a directory"), "output file's name"]);
    }
    assert_eq!(dir_entries(dir.path()), vec!["clips".to_string()]);
}

#[test]
fn an_output_in_a_missing_directory_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("no-such-dir").join("out.mp4");
    assert_fails_cleanly(&sample("faces.mp4"), &output, &[], &["no-such-dir", "does not exist"]);
    assert!(dir_entries(dir.path()).is_empty());
}

#[test]
fn an_output_where_not_even_root_can_create_files_is_rejected() {
    // procfs refuses new files to everyone, root included.
    let output = Path::new("/proc/self/veilcam-out.mp4");
    let run = run_veilcam(&sample("faces.mp4"), output, FAST);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "veilcam wrote into /proc:\n{stderr}");
    assert!(stderr.contains("/proc/self/veilcam-out.mp4"), "stderr does not name the output:\n{stderr}");
    assert!(!output.exists());
}

#[test]
fn a_missing_model_is_named_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.mp4");
    assert_fails_cleanly(
        &sample("faces.mp4"),
        &output,
        &["--model", "/nonexistent/centerface.onnx"],
        &["/nonexistent/centerface.onnx", "no such file"],
    );
}

#[test]
fn a_missing_onnx_runtime_is_named_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.mp4");
    assert_fails_cleanly(
        &sample("faces.mp4"),
        &output,
        &["--ort-lib", "/nonexistent/libonnxruntime.so"],
        &["/nonexistent/libonnxruntime.so", "not found"],
    );
}

#[test]
fn a_model_file_that_is_not_onnx_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let model = write(dir.path(), "garbage.onnx", b"not a protobuf at all");
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let stderr = assert_fails_cleanly(
        &sample("faces.mp4"),
        &out_dir.join("out.mp4"),
        &["--model", model.to_str().unwrap()],
        &["garbage.onnx"],
    );
    // Found by hostile use: the face model's error said "--night off runs without it".
    assert!(!stderr.contains("--night off"), "{stderr}");
}

/// Found by hostile use: the person model given as `--model` failed on frame 0 with "Invalid
/// input name: input.1", blamed on the input file. The model is named, and what it is not.
#[test]
fn a_model_of_another_kind_is_named_as_the_wrong_model() {
    let dir = tempfile::tempdir().unwrap();
    let person_model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/nanodet_416.onnx");
    let stderr = assert_fails_cleanly(
        &sample("faces.mp4"),
        &dir.path().join("out.mp4"),
        &["--model", person_model.to_str().unwrap()],
        &["nanodet_416.onnx", "not a CenterFace face model"],
    );
    assert!(!stderr.contains("faces.mp4"), "the input is not to blame: {stderr}");
    assert!(!stderr.contains("--night off"), "the face model is needed with --night off too: {stderr}");
}

/// Found by hostile use: `x.bmp -o y.png` was told the two "must both be videos or both be
/// images", and `x.bmp -o y.mp4` failed with a raw decoder message.
#[test]
fn a_still_image_format_other_than_jpeg_or_png_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let bmp = write(dir.path(), "photo.bmp", b"BM not really a bitmap");
    for output in ["out.png", "out.mp4"] {
        assert_fails_cleanly(&bmp, &dir.path().join(output), &[], &["photo.bmp", "BMP images are not supported", "JPEG and PNG"]);
    }
    let tiff = dir.path().join("out.tiff");
    assert_fails_cleanly(&sample("faces/grace_hopper.jpg"), &tiff, &[], &["out.tiff", "TIFF images are not supported"]);
}

#[test]
fn an_existing_output_is_kept_byte_for_byte_without_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let precious = b"an earlier redaction the user wants to keep".to_vec();
    let output = write(dir.path(), "out.mp4", &precious);
    assert_fails_cleanly(&sample("faces.mp4"), &output, &[], &["out.mp4", "already exists", "--overwrite"]);
    assert_eq!(std::fs::read(&output).unwrap(), precious);
}

#[test]
fn an_existing_sidecar_is_kept_and_no_video_is_written_without_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = write(dir.path(), "out.json", b"{\"keep\": true}");
    let output = dir.path().join("out.mp4");
    assert_fails_cleanly(
        &sample("faces.mp4"),
        &output,
        &["--sidecar", sidecar.to_str().unwrap()],
        &["out.json", "already exists"],
    );
    assert_eq!(std::fs::read(&sidecar).unwrap(), b"{\"keep\": true}");
}

#[test]
fn the_input_is_never_overwritten_by_its_own_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("clip.mp4");
    std::fs::copy(sample("faces.mp4"), &input).unwrap();
    assert_fails_cleanly(&input, &input, &["--overwrite"], &["clip.mp4", "input"]);
}

/// Starts `veilcam redact vtest.avi` with a sidecar into `dir` and waits until it has begun
/// writing its hidden temp files, then half a second more.
fn redaction_under_way(dir: &Path, cwd: &Path, before: impl FnOnce(&mut std::process::Command)) -> std::process::Child {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let mut command = Command::new(env!("CARGO_BIN_EXE_veilcam"));
    command.current_dir(cwd).args(["-q", "redact"]).arg(sample("vtest.avi")).arg("-o").arg(dir.join("out.mp4"));
    command.arg("--sidecar").arg(dir.join("out.json")).stderr(Stdio::piped());
    before(&mut command);
    let child = command.spawn().expect("veilcam binary runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    while dir_entries(dir).len() < 2 {
        assert!(Instant::now() < deadline, "no temp files appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(500));
    child
}

fn signal(child: &std::process::Child, name: &str) {
    let sent = std::process::Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().expect("kill runs");
    assert!(sent.success(), "kill -{name}");
}

#[test]
fn an_interrupted_run_leaves_no_output_and_no_temp_file() {
    // Ctrl-C, and the other signals that would end the process unhandled: Ctrl-\ (QUIT), the
    // user and timer signals (found by hostile use: they left every temp file behind).
    for name in ["INT", "QUIT", "USR1", "USR2", "ALRM", "VTALRM"] {
        let dir = tempfile::tempdir().unwrap();
        let child = redaction_under_way(dir.path(), dir.path(), |_| {});
        signal(&child, name);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "exit status after SIG{name}; stderr:\n{stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        assert!(dir_entries(dir.path()).is_empty(), "SIG{name} left behind: {:?}", dir_entries(dir.path()));
    }
}

/// A crash must not write the process's memory, raw frames included, to a core file (found by
/// hostile use: a Ctrl-\ dumped 536 MB holding rows of faces). The run is given an unlimited
/// core size and killed with SIGABRT, which dumps core unless the process forbids it. (Where
/// the system pipes cores to a handler instead of writing `core` in the working directory, the
/// directory stays empty either way.)
#[test]
fn a_crashed_run_writes_no_core_dump() {
    use std::os::unix::process::CommandExt;
    let (dir, cwd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let child = redaction_under_way(dir.path(), cwd.path(), |command| {
        // SAFETY: only setrlimit between fork and exec.
        unsafe {
            command.pre_exec(|| {
                let unlimited = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
                libc::setrlimit(libc::RLIMIT_CORE, &unlimited);
                Ok(())
            });
        }
    });
    signal(&child, "ABRT");
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(dir_entries(cwd.path()).is_empty(), "a core dump: {:?}", dir_entries(cwd.path()));
}

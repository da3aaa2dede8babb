//! `veilcam batch` over small archives of real media: relative paths kept, a bad file reported
//! while the others finish (exit code 2), and a re-run that skips exactly what veilcam batch
//! finished. Regression tests for issue #10 (items 8, 9, 10 and 18) are named after the bug.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::*;

/// Longest a batch of these small archives may take before it counts as hung.
const BATCH_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs `veilcam -q batch <input> -o <output> --jobs 2 <fast settings> <extra…>`, killing it
/// (and failing the test) if it hangs.
fn batch_with(input: &Path, output: &Path, extra: &[&str]) -> Output {
    let child = batch_command(input, output, extra).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("veilcam runs");
    wait_bounded(child)
}

fn batch(input: &Path, output: &Path) -> Output {
    batch_with(input, output, &[])
}

fn batch_command(input: &Path, output: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_veilcam"));
    cmd.args(["-q", "batch"])
        .arg(input)
        .arg("-o")
        .arg(output)
        .args(["--jobs", "2", "--preset", "ultrafast", "--detect-width", "320"])
        .args(extra);
    cmd
}

fn wait_bounded(mut child: std::process::Child) -> Output {
    let deadline = Instant::now() + BATCH_TIMEOUT;
    while child.try_wait().expect("wait for veilcam").is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            let out = child.wait_with_output().unwrap();
            panic!("the batch hung ({BATCH_TIMEOUT:?}); stderr:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A short H.264 clip of real footage (vtest.avi, 320×240, 10 fps) in the muxer given.
fn clip(path: &Path, frames: usize, mux: &str) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    make_clip(&ClipSpec::new(frames, 320, 240, Timing::Fps(10, 1), &format!("{X264_FAST} ! {mux}")), path)
}

/// Every file under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.is_symlink() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

const MANIFEST: &str = ".veilcam-batch.jsonl";

#[test]
fn a_batch_keeps_paths_reports_failures_and_resumes() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("archive"), dir.path().join("redacted"));
    std::fs::create_dir_all(input.join("front/2026-11-01")).unwrap();
    std::fs::copy(sample("faces.mp4"), input.join("front/2026-11-01/visitor.mp4")).unwrap();
    std::fs::copy(sample("astronaut.png"), input.join("snapshot.png")).unwrap();
    std::fs::write(input.join("front/broken.mp4"), b"not a video at all").unwrap();

    let first = batch(&input, &output);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(2), "a failed file makes the exit code 2:\n{stderr}");
    assert!(stderr.contains("broken.mp4") && stderr.contains("1 failed"), "{stderr}");
    let video = output.join("front/2026-11-01/visitor.mp4");
    assert!(video.is_file() && output.join("snapshot.png").is_file(), "the good files were redacted:\n{stderr}");
    assert!(!output.join("front/broken.mp4").exists(), "a failed file leaves no output");
    assert_eq!(probe(&video).frames.len(), 100);

    let written = std::fs::metadata(&video).unwrap().modified().unwrap();
    let second = batch(&input, &output);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("0 done, 2 skipped"), "completed outputs are skipped:\n{stderr}");
    assert_eq!(std::fs::metadata(&video).unwrap().modified().unwrap(), written, "a completed output is not rewritten");
    assert_eq!(second.status.code(), Some(2));
}

#[test]
fn regression_batch_into_its_own_input_directory_is_refused_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("b");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(sample("astronaut.png"), input.join("snap.png")).unwrap();
    std::fs::copy(sample("faces.mp4"), input.join("cam.mp4")).unwrap();
    for output in [input.clone(), input.join("."), dir.path().to_path_buf()] {
        let out = batch(&input, &output);
        assert_eq!(out.status.code(), Some(1), "-o {} must be refused:\n{}", output.display(), stderr(&out));
        assert!(stderr(&out).contains("input directory"), "{}", stderr(&out));
        assert!(!stderr(&out).contains("skipped"), "{}", stderr(&out));
        assert_eq!(tree(&input), vec!["cam.mp4", "snap.png"], "nothing is written when -o is refused");
    }
}

#[test]
fn regression_a_file_at_an_output_path_not_written_by_veilcam_is_a_failure_not_done() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    std::fs::create_dir_all(&output).unwrap();
    std::fs::copy(sample("astronaut.png"), input.join("snap.png")).unwrap();
    // An unredacted copy sits where the redacted output would go.
    std::fs::copy(sample("astronaut.png"), output.join("snap.png")).unwrap();
    let original = std::fs::read(sample("astronaut.png")).unwrap();

    let out = batch(&input, &output);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("0 done, 0 skipped (already done), 1 failed"), "{err}");
    assert!(err.contains("snap.png") && err.contains("not written by veilcam batch"), "{err}");
    assert_eq!(std::fs::read(output.join("snap.png")).unwrap(), original, "the file is left alone");

    let out = batch_with(&input, &output, &["--overwrite"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 done"), "{}", stderr(&out));
    assert_ne!(std::fs::read(output.join("snap.png")).unwrap(), original, "--overwrite redacts it");
}

#[test]
fn a_changed_input_is_reported_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(sample("astronaut.png"), input.join("snap.png")).unwrap();
    assert_eq!(batch(&input, &output).status.code(), Some(0));
    let first = std::fs::read(output.join("snap.png")).unwrap();
    std::fs::copy(sample("faces/camera.png"), input.join("snap.png")).unwrap();

    let out = batch(&input, &output);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("input changed"), "{}", stderr(&out));
    let out = batch_with(&input, &output, &["--overwrite"]);
    assert!(stderr(&out).contains("1 done"), "{}", stderr(&out));
    assert_ne!(std::fs::read(output.join("snap.png")).unwrap(), first, "redone from the new input");
}

#[test]
fn regression_an_output_replaced_since_the_batch_wrote_it_is_a_failure_not_done() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(sample("astronaut.png"), input.join("snap.png")).unwrap();
    assert_eq!(batch(&input, &output).status.code(), Some(0));
    // The unredacted original copied over the redacted output, by mistake.
    std::fs::copy(sample("astronaut.png"), output.join("snap.png")).unwrap();
    let original = std::fs::read(sample("astronaut.png")).unwrap();

    let out = batch(&input, &output);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("0 done, 0 skipped (already done), 1 failed"), "a replaced output is not taken for done:\n{err}");
    assert!(err.contains("snap.png") && err.contains("replaced or changed since veilcam batch wrote it"), "{err}");
    assert_eq!(std::fs::read(output.join("snap.png")).unwrap(), original, "the file is left alone");

    let out = batch_with(&input, &output, &["--overwrite"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_ne!(std::fs::read(output.join("snap.png")).unwrap(), original, "--overwrite redacts it again");
    let again = batch(&input, &output);
    assert!(stderr(&again).contains("0 done, 1 skipped"), "what --overwrite wrote is done: {}", stderr(&again));
}

#[test]
fn regression_an_earlier_batchs_output_directory_inside_the_input_is_not_redacted_again() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("b");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(sample("astronaut.png"), input.join("a.png")).unwrap();
    assert_eq!(batch(&input, &input.join("redacted")).status.code(), Some(0));

    let out = batch(&input, &dir.path().join("elsewhere"));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("1 done, 0 skipped"), "{err}");
    assert_eq!(tree(&dir.path().join("elsewhere")), vec![MANIFEST, "a.png"], "only the input's own file is redacted");
}

#[test]
fn regression_videos_that_would_share_an_output_keep_their_source_extension() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    clip(&input.join("cam.avi"), 6, "avimux");
    clip(&input.join("cam.mkv"), 8, "matroskamux");
    clip(&input.join("cam.mp4"), 10, "mp4mux");

    let out = batch(&input, &output);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("3 done, 0 skipped"), "{}", stderr(&out));
    assert_eq!(tree(&output), vec![MANIFEST, "cam.avi.mp4", "cam.mkv.mp4", "cam.mp4"]);
    for (name, frames) in [("cam.avi.mp4", 6), ("cam.mkv.mp4", 8), ("cam.mp4", 10)] {
        assert_eq!(probe(&output.join(name)).frames.len(), frames, "{name} comes from its own input");
    }
}

#[test]
fn regression_a_fifo_or_device_in_the_tree_fails_that_file_and_the_batch_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(sample("astronaut.png"), input.join("a.png")).unwrap();
    assert!(Command::new("mkfifo").arg(input.join("p.jpg")).status().unwrap().success());
    std::os::unix::fs::symlink("/dev/null", input.join("null.mp4")).unwrap();

    let out = batch(&input, &output);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("p.jpg: not a regular file: FIFO"), "{err}");
    assert!(err.contains("null.mp4: not a regular file: character device"), "{err}");
    assert!(err.contains("1 done, 0 skipped (already done), 2 failed"), "{err}");
    assert_eq!(tree(&output), vec![MANIFEST, "a.png"]);
}

/// Found by hostile use: with `out/x` a link to the input directory, `--overwrite` replaced the
/// input `in/a.png` with the redaction of `in/x/a.png`; without it, a new output landed among
/// the inputs. An output a link leads into the input tree fails, and no input is touched.
#[test]
fn regression_an_output_that_a_link_leads_into_the_input_fails_and_the_input_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(input.join("x")).unwrap();
    std::fs::create_dir_all(&output).unwrap();
    std::fs::copy(sample("astronaut.png"), input.join("a.png")).unwrap();
    std::fs::copy(sample("faces/camera.png"), input.join("x/a.png")).unwrap();
    std::fs::copy(sample("faces/camera.png"), input.join("x/new.png")).unwrap();
    std::os::unix::fs::symlink("../in", output.join("x")).unwrap();
    let before = tree(&input);
    let original = std::fs::read(input.join("a.png")).unwrap();

    for extra in [&["--overwrite"][..], &[]] {
        let out = batch_with(&input, &output, extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stderr(&out));
        for name in ["x/a.png", "x/new.png"] {
            let failed = format!("FAILED  {}", input.join(name).display());
            let line = stderr(&out).lines().find(|l| l.contains(&failed)).map(str::to_string).unwrap_or_default();
            assert!(line.contains("a symbolic link leads it into the input directory"), "{extra:?} {name}: {}", stderr(&out));
        }
        assert_eq!(std::fs::read(input.join("a.png")).unwrap(), original, "{extra:?}: the input is untouched");
        assert_eq!(tree(&input), before, "{extra:?}: nothing written among the inputs");
    }
}

#[test]
fn regression_a_symlink_loop_is_walked_once() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(input.join("sub")).unwrap();
    std::fs::copy(sample("astronaut.png"), input.join("a.png")).unwrap();
    std::os::unix::fs::symlink("..", input.join("sub/loop")).unwrap();

    let out = batch(&input, &output);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 done"), "{}", stderr(&out));
    assert_eq!(tree(&output), vec![MANIFEST, "a.png"]);
}

#[test]
fn regression_an_output_tree_inside_the_input_is_never_redacted_again() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("b");
    let output = input.join("redacted");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(sample("astronaut.png"), input.join("a.png")).unwrap();

    for run in 0..3 {
        let out = batch(&input, &output);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let expected = if run == 0 { "1 done, 0 skipped" } else { "0 done, 1 skipped" };
        assert!(stderr(&out).contains(expected), "run {run}: {}", stderr(&out));
    }
    assert_eq!(tree(&output), vec![MANIFEST, "a.png"]);
}

/// Found by hostile use: `batch in -o in/sub` skipped the footage already in `in/sub` (an
/// output directory is never searched), and with `--overwrite` replaced the user's
/// `in/sub/a.png` with the redaction of `in/a.png`. Such a directory is refused; a new one inside
/// the input, and an earlier batch's, are not (above).
#[test]
fn regression_an_output_directory_inside_the_input_that_holds_footage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("b");
    std::fs::create_dir_all(input.join("sub")).unwrap();
    std::fs::copy(sample("astronaut.png"), input.join("a.png")).unwrap();
    std::fs::copy(sample("faces/camera.png"), input.join("sub/a.png")).unwrap();
    for extra in [&[][..], &["--overwrite"][..]] {
        let out = batch_with(&input, &input.join("sub"), extra);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("lies inside the input directory and already holds footage veilcam batch did not write"), "{}", stderr(&out));
        assert_eq!(tree(&input), vec!["a.png", "sub/a.png"], "nothing is written");
        assert_eq!(std::fs::read(input.join("sub/a.png")).unwrap(), std::fs::read(sample("faces/camera.png")).unwrap());
    }
    let out = batch_with(&input, &dir.path().join("out"), &["--preview", input.join("sub").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "a side output directory too: {}", stderr(&out));
}

/// Found by hostile use: a batch input that does not exist was "not a directory".
#[test]
fn a_batch_input_that_does_not_exist_is_said_not_to_exist() {
    let dir = tempfile::tempdir().unwrap();
    let out = batch(&dir.path().join("missing"), &dir.path().join("out"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing: does not exist"), "{}", stderr(&out));
    assert!(!dir.path().join("out").exists());
}

#[test]
fn regression_side_outputs_are_written_per_file_in_their_directories() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    let (sidecars, previews) = (dir.path().join("sidecars"), dir.path().join("previews"));
    clip(&input.join("front/a.mp4"), 10, "mp4mux");
    clip(&input.join("back/b.avi"), 6, "avimux");
    std::fs::copy(sample("astronaut.png"), input.join("snap.png")).unwrap();

    let args = ["--sidecar", sidecars.to_str().unwrap(), "--preview", previews.to_str().unwrap()];
    let out = batch_with(&input, &output, &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("3 done"), "{}", stderr(&out));
    assert_eq!(tree(&sidecars), vec!["back/b.mp4.json", "front/a.mp4.json"]);
    assert_eq!(tree(&previews), vec!["back/b.preview.mp4", "front/a.preview.mp4"]);
    for (sidecar, frames) in [("front/a.mp4.json", 10), ("back/b.mp4.json", 6)] {
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(sidecars.join(sidecar)).unwrap()).unwrap();
        assert_eq!(json["frames"].as_array().map(Vec::len), Some(frames), "{sidecar} is this input's sidecar");
    }
    assert_eq!(probe(&previews.join("front/a.preview.mp4")).frames.len(), 10);
    assert_eq!(probe(&previews.join("back/b.preview.mp4")).frames.len(), 6);

    let again = batch_with(&input, &output, &args);
    assert!(stderr(&again).contains("0 done, 3 skipped"), "{}", stderr(&again));
}

#[test]
fn regression_stats_are_written_per_video_in_batch() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let (input, output, stats) = (dir.path().join("in"), dir.path().join("out"), dir.path().join("stats"));
    clip(&input.join("front/a.mp4"), 10, "mp4mux");
    clip(&input.join("b.mkv"), 6, "matroskamux");

    let out = batch_with(&input, &output, &["--stats", stats.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(tree(&stats), vec!["b.mp4.stats.json", "front/a.mp4.stats.json"]);
    for name in ["b.mp4.stats.json", "front/a.mp4.stats.json"] {
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(stats.join(name)).unwrap()).unwrap();
        assert!(json.is_object(), "{name}: {json}");
    }
}

/// Interrupts `batch --jobs 2` with `signal` while outputs are being written, then re-runs it.
fn an_interrupted_batch_leaves_nothing_half_written_and_resumes(signal: &str) {
    init();
    const FILES: usize = 8;
    const FRAMES: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    let first = clip(&input.join("cam0.mp4"), FRAMES, "mp4mux");
    for i in 1..FILES {
        std::fs::copy(&first, input.join(format!("cam{i}.mp4"))).unwrap();
    }

    let child = batch_command(&input, &output, &[]).stderr(Stdio::piped()).spawn().expect("veilcam runs");
    let deadline = Instant::now() + BATCH_TIMEOUT;
    // Interrupt once two files are finished and others are being written.
    let writing = |files: &[String]| {
        files.iter().filter(|f| f.ends_with(".mp4") && !f.starts_with('.')).count() >= 2 && files.iter().any(|f| f.contains(".part"))
    };
    while !(output.is_dir() && writing(&tree(&output))) {
        assert!(Instant::now() < deadline, "no temp file appeared after two finished files");
        std::thread::sleep(Duration::from_millis(5));
    }
    let signalled = Command::new("kill").args([format!("-{signal}"), child.id().to_string()]).status().unwrap();
    assert!(signalled.success());
    let out = wait_bounded(child);
    assert_eq!(out.status.code(), Some(130), "exit status after SIG{signal}:\n{}", stderr(&out));

    let left = tree(&output);
    assert!(left.iter().all(|f| !f.contains(".part")), "temp files left behind: {left:?}");
    let done: Vec<String> = left.into_iter().filter(|f| f != MANIFEST).collect();
    assert!((2..FILES).contains(&done.len()), "the signal came while files were written: {done:?}");
    let mut written = Vec::new();
    for name in &done {
        assert_eq!(probe(&output.join(name)).frames.len(), FRAMES, "{name} is a complete output");
        written.push(std::fs::metadata(output.join(name)).unwrap().modified().unwrap());
    }

    let rerun = batch(&input, &output);
    let err = stderr(&rerun);
    assert_eq!(rerun.status.code(), Some(0), "{err}");
    let expected = format!("{} done, {} skipped (already done), 0 failed", FILES - done.len(), done.len());
    assert!(err.contains(&expected), "the re-run does exactly what was not done ({expected}):\n{err}");
    let all: Vec<String> = (0..FILES).map(|i| format!("cam{i}.mp4")).collect();
    assert_eq!(tree(&output).into_iter().filter(|f| f != MANIFEST).collect::<Vec<_>>(), all);
    let unchanged: Vec<SystemTime> = done.iter().map(|n| std::fs::metadata(output.join(n)).unwrap().modified().unwrap()).collect();
    assert_eq!(unchanged, written, "files finished before the signal are not rewritten");
}

#[test]
fn an_interrupted_batch_by_sigterm_leaves_nothing_half_written_and_resumes() {
    an_interrupted_batch_leaves_nothing_half_written_and_resumes("TERM");
}

#[test]
fn an_interrupted_batch_by_sigint_leaves_nothing_half_written_and_resumes() {
    an_interrupted_batch_leaves_nothing_half_written_and_resumes("INT");
}

/// Found by hostile use: the per-file lines printed names raw, so a file named with a newline
/// forged a summary line; and the batch record was appended to through a symbolic link.
#[test]
fn file_names_cannot_forge_batch_lines_and_the_record_is_never_written_through_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    clip(&input.join("b\u{1b}[31mred.mp4"), 3, "mp4mux");
    std::fs::write(input.join("a\nveilcam: batch forged: 9 done.mp4"), b"").unwrap();
    let output = dir.path().join("out");
    let out = batch_with(&input, &output, &[]);
    let err = stderr(&out);
    assert!(!err.lines().any(|l| l.starts_with("veilcam: batch forged")), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(err.contains("a\\nveilcam: batch forged"), "the name shows escaped: {err}");

    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "VICTIM\n").unwrap();
    let linked = dir.path().join("out2");
    std::fs::create_dir(&linked).unwrap();
    std::os::unix::fs::symlink(&victim, linked.join(".veilcam-batch.jsonl")).unwrap();
    let out = batch_with(&input, &linked, &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "VICTIM\n");
}

/// Found by hostile use: `n\xff.png` and `n\xfe.png` were both recorded (and printed) as
/// `n\u{fffd}.png`, so they shared one record in the manifest and every re-run failed one of
/// them as "its input changed", without saying which.
#[test]
fn inputs_whose_names_differ_only_in_bytes_that_are_not_utf8_are_kept_apart() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    let (ff, fe) = (OsStr::from_bytes(b"n\xff.png"), OsStr::from_bytes(b"n\xfe.png"));
    for name in [ff, fe] {
        std::fs::copy(sample("astronaut.png"), input.join(name)).unwrap();
    }
    let first = batch(&input, &output);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(output.join(ff).is_file() && output.join(fe).is_file(), "each has its own output: {:?}", tree(&output));

    let again = batch(&input, &output);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(stderr(&again).contains("0 done, 2 skipped"), "{}", stderr(&again));

    std::fs::copy(sample("faces/camera.png"), input.join(fe)).unwrap();
    let changed = batch(&input, &output);
    let err = stderr(&changed);
    assert_eq!(changed.status.code(), Some(2), "{err}");
    assert!(err.contains("1 skipped (already done), 1 failed"), "{err}");
    let failed: Vec<&str> = err.lines().filter(|l| l.starts_with("veilcam: FAILED")).collect();
    assert_eq!(failed.len(), 1, "{err}");
    assert!(failed[0].contains("n\\xfe.png") && failed[0].contains("input changed"), "the name shows its bytes escaped: {err}");
}

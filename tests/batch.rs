//! `veilcam batch` over a small archive of real media: relative paths kept, a bad file reported
//! while the others finish (exit code 2), and a re-run skips what is done.

mod common;

use std::process::Command;

use common::*;

fn batch(input: &std::path::Path, output: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_veilcam"))
        .args(["-q", "batch"])
        .arg(input)
        .arg("-o")
        .arg(output)
        .args(["--jobs", "2", "--preset", "ultrafast", "--detect-width", "320"])
        .output()
        .expect("veilcam runs")
}

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

//! The model-conversion scripts' shared steps (`models/prepare_common.sh`), run without the
//! converter: a step that fails must leave nothing half-written beside the models.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// Regression (session 14): when the canonicalisation's python failed, both prepare scripts
/// left its half-written `OUT.tmp` beside the model.
#[test]
fn a_failed_canonicalisation_leaves_no_half_written_model() {
    let dir = tempfile::tempdir().unwrap();
    let (venv, out_dir) = (dir.path().join("venv"), dir.path().join("models"));
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    // A converter that writes part of its output (its 4th argument), then fails.
    let python = venv.join("bin/python");
    std::fs::write(&python, "#!/bin/sh\necho partial > \"$4\"\nexit 1\n").unwrap();
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg("-c")
        .arg("set -euo pipefail; source \"$ROOT/models/prepare_common.sh\"; canonicalise <<<'pass'")
        .env("ME", "prepare_test")
        .env("ROOT", root)
        .env("OUT", out_dir.join("model.onnx"))
        .env("VENV", &venv)
        .env("WORK", dir.path())
        .output()
        .expect("bash runs");
    assert!(!out.status.success(), "a failed canonicalisation must fail the script");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("prepare_test: canonicalising"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "left beside the models: {left:?}");
}

//! `scripts/install` and the relocatable binary (issue #10, item 17): an installed prefix,
//! moved elsewhere, redacts `sample_media/astronaut.png` with nothing from the build tree, and a
//! binary copied away from its models says where it looked for them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use veilcam::detect::runtime::{library_name, locate_library};
use veilcam::models::{BUNDLED, FACE_MODEL, SYSTEM_DIRS};

/// Runs an installed `veilcam` with no environment pointing at the build tree, the models or
/// the ONNX Runtime cache: it must find everything relative to itself.
fn run_isolated(bin: &Path, empty_cache: &Path, args: &[&Path]) -> Output {
    Command::new(bin)
        .args(args)
        .env_remove("VEILCAM_MODEL_DIR")
        .env_remove("VEILCAM_MODEL")
        .env_remove("VEILCAM_ORT_LIB")
        .env_remove("ORT_DYLIB_PATH")
        .env("VEILCAM_CACHE", empty_cache)
        .env("VEILCAM_NO_BUILD_TREE", "1")
        .output()
        .expect("installed veilcam runs")
}

fn install(prefix: &Path) {
    let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install"))
        .arg(prefix)
        .env("VEILCAM_BIN", env!("CARGO_BIN_EXE_veilcam"))
        .env("VEILCAM_ORT_LIB", locate_library(None))
        .output()
        .expect("scripts/install runs");
    assert!(out.status.success(), "scripts/install failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

fn rgb(path: &Path) -> image::RgbImage {
    image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

fn no_system_install() {
    for dir in SYSTEM_DIRS {
        assert!(!Path::new(dir).join(FACE_MODEL).exists(), "this test needs a machine without a system-wide veilcam ({dir})");
    }
}

#[test]
fn an_installed_prefix_moved_elsewhere_redacts_without_the_build_tree() {
    no_system_install();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("prefix");
    install(&prefix);
    for name in BUNDLED {
        assert!(prefix.join("share/veilcam/models").join(name).is_file(), "{name} installed");
    }
    assert!(prefix.join("lib/veilcam").join(library_name()).is_file(), "ONNX Runtime installed");

    // Move the whole prefix: nothing may point back to where it was installed.
    let moved = dir.path().join("elsewhere/opt");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(&prefix, &moved).unwrap();
    let empty_cache = dir.path().join("no-cache");
    let out = dir.path().join("astronaut.redacted.png");
    let input = sample("astronaut.png");
    let run = run_isolated(&moved.join("bin/veilcam"), &empty_cache, &[Path::new("-q"), Path::new("redact"), &input, Path::new("-o"), &out]);
    assert!(run.status.success(), "installed veilcam failed:\n{}", String::from_utf8_lossy(&run.stderr));

    // The same result as the build tree's binary with the build tree's model.
    let reference = dir.path().join("reference.png");
    redact_ok(&input, &reference, &[]);
    assert!(rgb(&out) == rgb(&reference), "the installed binary redacts as the built one does");
    assert!(rgb(&out) != rgb(&input), "the face was obscured");
}

#[test]
fn a_binary_copied_away_from_its_models_lists_where_it_looked() {
    no_system_install();
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = dir.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    let bin: PathBuf = bin_dir.join("veilcam");
    std::fs::copy(env!("CARGO_BIN_EXE_veilcam"), &bin).unwrap();
    let out = dir.path().join("out.png");
    let run = run_isolated(&bin, &dir.path().join("no-cache"), &[Path::new("redact"), &sample("astronaut.png"), Path::new("-o"), &out]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "no models anywhere, yet it ran:\n{stderr}");
    assert!(stderr.contains(FACE_MODEL) && stderr.contains("not found"), "{stderr}");
    for place in [bin_dir.join("models"), bin_dir.join("../share/veilcam/models")] {
        assert!(stderr.contains(&place.display().to_string()), "{} not listed:\n{stderr}", place.display());
    }
    for place in SYSTEM_DIRS {
        assert!(stderr.contains(place), "{place} not listed:\n{stderr}");
    }
    assert!(!out.exists(), "no output after a failed run");
}

#[test]
fn models_and_runtime_beside_a_copied_binary_are_found_and_a_missing_person_model_is_listed() {
    no_system_install();
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = dir.path().join("tools");
    std::fs::create_dir_all(bin_dir.join("models")).unwrap();
    let bin = bin_dir.join("veilcam");
    std::fs::copy(env!("CARGO_BIN_EXE_veilcam"), &bin).unwrap();
    std::fs::copy(locate_library(None), bin_dir.join(library_name())).unwrap();
    std::fs::copy(Path::new(veilcam::models::BUILD_TREE_DIR).join(FACE_MODEL), bin_dir.join("models").join(FACE_MODEL)).unwrap();
    let no_cache = dir.path().join("no-cache");
    let input = sample("astronaut.png");

    // <exe dir>/models/ and <exe dir>/libonnxruntime.so.1.31.1.
    let out = dir.path().join("faces.png");
    let run = run_isolated(&bin, &no_cache, &[Path::new("-q"), Path::new("redact"), &input, Path::new("-o"), &out]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    // A policy that needs the person model, which is nowhere.
    let config = dir.path().join("veilcam.toml");
    std::fs::write(&config, "[cameras.door.policy]\nbystanders = \"all\"\n").unwrap();
    for args in [
        vec![Path::new("redact"), &input, Path::new("-o"), &dir.path().join("persons.png"), Path::new("--config"), &config],
        vec![Path::new("zones"), Path::new("preview"), Path::new("--config"), &config, &input, Path::new("-o"), &dir.path().join("zones.png")],
    ] {
        let run = run_isolated(&bin, &no_cache, &args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{args:?} ran without a person model");
        assert!(stderr.contains("nanodet_416.onnx") && stderr.contains(&bin_dir.join("models").display().to_string()), "{args:?}: {stderr}");
    }
    assert_eq!(dir_entries(dir.path()), ["faces.png", "tools", "veilcam.toml"], "no output from the failed runs");
}

//! Where the bundled models are found, so that an installed or copied binary works without the
//! source tree it was built from.
//!
//! A model named on the command line (`--model`, `--person-model`) is used as given. Otherwise
//! its file name is looked for, in order, in
//! 1. `$VEILCAM_MODEL_DIR`;
//! 2. beside the executable: `<exe dir>/models/`, then `<exe dir>/../share/veilcam/models/`
//!    (the layout `scripts/install` writes);
//! 3. the system data directories `/usr/local/share/veilcam/models`, `/usr/share/veilcam/models`;
//! 4. `models/` of the build tree, unless `VEILCAM_NO_BUILD_TREE` is set (tests use it to prove
//!    an installed binary needs nothing from the build tree).
//!
//! The first directory holding the file wins; when none does, the error lists every place
//! searched.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// CenterFace quantised to 8 bits (models/quantize_centerface.py), about twice as fast as the
/// float original: the default face model.
pub const FACE_MODEL: &str = "centerface_int8.onnx";
/// The float CenterFace the 8-bit model is made from.
pub const FLOAT_FACE_MODEL: &str = "centerface.onnx";
/// NanoDet-m 416, the person model used when the policy obscures bystanders.
pub const PERSON_MODEL: &str = "nanodet_416.onnx";
/// BlazeFace full-range (MediaPipe), the audit's second face model.
pub const SECOND_FACE_MODEL: &str = "blazeface_full.onnx";
/// Every model `scripts/install` installs.
pub const BUNDLED: [&str; 4] = [FACE_MODEL, FLOAT_FACE_MODEL, PERSON_MODEL, SECOND_FACE_MODEL];

/// `models/` of the source tree this binary was built from: the last place looked.
pub const BUILD_TREE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models");
/// The build tree's copy of [`FACE_MODEL`], for tests and benches (the binary uses [`locate`]).
pub const DEFAULT_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/centerface_int8.onnx");
/// The build tree's copy of [`FLOAT_FACE_MODEL`], for tests and benches.
pub const FLOAT_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/centerface.onnx");
/// The build tree's copy of [`PERSON_MODEL`], for tests and benches.
pub const DEFAULT_PERSON_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/nanodet_416.onnx");

/// Directory searched first when set.
pub const MODEL_DIR_VAR: &str = "VEILCAM_MODEL_DIR";
/// When set (to anything), the build tree is not searched.
pub const NO_BUILD_TREE_VAR: &str = "VEILCAM_NO_BUILD_TREE";
/// System-wide data directories, searched after the executable's own.
pub const SYSTEM_DIRS: [&str; 2] = ["/usr/local/share/veilcam/models", "/usr/share/veilcam/models"];

/// One directory to look in, and why it is on the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchDir {
    pub dir: PathBuf,
    pub reason: &'static str,
}

/// The search list from explicit inputs: the value of `$VEILCAM_MODEL_DIR`, the executable's
/// path, and whether the build tree may be used.
pub fn search_dirs_for(model_dir: Option<OsString>, exe: Option<&Path>, build_tree: bool) -> Vec<SearchDir> {
    let mut dirs = Vec::new();
    if let Some(d) = model_dir.filter(|d| !d.is_empty()) {
        dirs.push(SearchDir { dir: PathBuf::from(d), reason: "$VEILCAM_MODEL_DIR" });
    }
    if let Some(exe_dir) = exe.and_then(Path::parent) {
        dirs.push(SearchDir { dir: exe_dir.join("models"), reason: "beside the executable" });
        dirs.push(SearchDir { dir: exe_dir.join("../share/veilcam/models"), reason: "the executable's prefix" });
    }
    dirs.extend(SYSTEM_DIRS.iter().map(|d| SearchDir { dir: PathBuf::from(d), reason: "system data directory" }));
    if build_tree {
        dirs.push(SearchDir { dir: PathBuf::from(BUILD_TREE_DIR), reason: "build tree" });
    }
    dirs
}

/// The search list of this process (environment and executable path).
pub fn search_dirs() -> Vec<SearchDir> {
    let exe = std::env::current_exe().ok();
    search_dirs_for(std::env::var_os(MODEL_DIR_VAR), exe.as_deref(), std::env::var_os(NO_BUILD_TREE_VAR).is_none())
}

/// The first `dirs` entry that holds `name`; the error lists every place searched.
pub fn find(name: &str, dirs: &[SearchDir]) -> Result<PathBuf> {
    if let Some(found) = dirs.iter().map(|d| d.dir.join(name)).find(|p| p.is_file()) {
        return Ok(found);
    }
    let searched: Vec<String> = dirs.iter().map(|d| format!("{} ({})", d.dir.display(), d.reason)).collect();
    Err(Error::Model {
        path: PathBuf::from(name),
        message: format!(
            "not found; searched {}. Name the file with --model / --person-model, set {MODEL_DIR_VAR}, or install veilcam with scripts/install",
            searched.join(", ")
        ),
    })
}

/// The model to load: `explicit` as given, else `name` looked up in [`search_dirs`].
pub fn locate(name: &str, explicit: Option<&Path>) -> Result<PathBuf> {
    match explicit {
        Some(path) => Ok(path.to_path_buf()),
        None => find(name, &search_dirs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(list: &[&Path]) -> Vec<SearchDir> {
        list.iter().map(|d| SearchDir { dir: d.to_path_buf(), reason: "test" }).collect()
    }

    #[test]
    fn the_search_order_is_env_exe_prefix_system_build_tree() {
        let list = search_dirs_for(Some("/env/models".into()), Some(Path::new("/opt/vc/bin/veilcam")), true);
        let got: Vec<&Path> = list.iter().map(|d| d.dir.as_path()).collect();
        let want: Vec<PathBuf> = vec![
            "/env/models".into(),
            "/opt/vc/bin/models".into(),
            "/opt/vc/bin/../share/veilcam/models".into(),
            "/usr/local/share/veilcam/models".into(),
            "/usr/share/veilcam/models".into(),
            BUILD_TREE_DIR.into(),
        ];
        assert_eq!(got, want.iter().map(PathBuf::as_path).collect::<Vec<_>>());
        let bare = search_dirs_for(None, None, false);
        assert_eq!(bare.len(), 2, "only the system directories: {bare:?}");
    }

    #[test]
    fn the_first_directory_holding_the_model_wins() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(b.path().join(FACE_MODEL), b"b").unwrap();
        assert_eq!(find(FACE_MODEL, &dirs(&[a.path(), b.path()])).unwrap(), b.path().join(FACE_MODEL));
        std::fs::write(a.path().join(FACE_MODEL), b"a").unwrap();
        assert_eq!(find(FACE_MODEL, &dirs(&[a.path(), b.path()])).unwrap(), a.path().join(FACE_MODEL));
    }

    #[test]
    fn a_missing_model_error_lists_every_place_searched() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let m = find(PERSON_MODEL, &dirs(&[a.path(), b.path()])).unwrap_err().to_string();
        assert!(m.contains(PERSON_MODEL) && m.contains("not found"), "{m}");
        for d in [a.path(), b.path()] {
            assert!(m.contains(&d.display().to_string()), "{m}");
        }
    }

    #[test]
    fn an_explicit_model_is_used_as_given() {
        assert_eq!(locate(FACE_MODEL, Some(Path::new("/x/my.onnx"))).unwrap(), PathBuf::from("/x/my.onnx"));
    }

    #[test]
    fn the_build_tree_holds_every_bundled_model() {
        for name in BUNDLED {
            assert!(Path::new(BUILD_TREE_DIR).join(name).is_file(), "{name}");
        }
    }
}

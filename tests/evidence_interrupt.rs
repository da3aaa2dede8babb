//! A signal while a bundle is being sealed leaves no bundle and no temp file. In a test binary
//! of its own: the interrupt flag is global to the process.

use std::path::Path;

use serde_json::json;
use veilcam::export::bundle::{seal, BundleFile};
use veilcam::export::keys::SigningKey;

#[test]
fn an_interrupt_while_sealing_leaves_nothing_under_the_final_name() {
    let dir = tempfile::tempdir().unwrap();
    // A large sparse file: copying it into the zip takes long enough to be interrupted.
    let big = dir.path().join("big.mp4");
    std::fs::File::create(&big).unwrap().set_len(8 << 30).unwrap();
    let small = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_media/faces.json");
    let files = [BundleFile { name: "sidecar.json".into(), path: small }, BundleFile { name: "video.mp4".into(), path: big }];
    let target = dir.path().join("case.zip");
    let signal = std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_millis(300));
        veilcam::interrupt::request();
    });
    let started = std::time::Instant::now();
    let result = seal(&target, &files, json!({ "case": "1" }), &SigningKey::generate().unwrap());
    signal.join().unwrap();
    assert!(matches!(result, Err(veilcam::Error::Interrupted)), "{result:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "stopped soon after the signal");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["big.mp4"], "neither the bundle nor its temp file");
}

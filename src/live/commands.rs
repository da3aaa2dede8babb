//! `veilcam live`: the cameras of a config run until a signal stops them, each start and stop
//! recorded in the audit log, and a summary line per camera printed at the end.

use super::camera::{self, Ready};
use super::config::{load_live, LateFrames};
use crate::cli::LiveArgs;
use crate::error::Result;
use crate::export::audit::AuditLog;

/// Runs the cameras of `args.config` until stopped; fails, after every camera's summary, when
/// a camera failed.
pub fn live(args: &LiveArgs, quiet: bool) -> Result<()> {
    let config = load_live(&args.config)?;
    tracing::info!(preset = %config.encoder_preset, cameras = config.cameras.len(), "x264 preset of each camera's encode");
    let ready = |ready: Ready<'_>| {
        if quiet {
            return;
        }
        match ready {
            Ready::Restream { camera, url } => say!("veilcam: camera {camera}: redacted restream at {url}"),
            Ready::Metrics(addr) => say!("veilcam: metrics at http://{addr}/metrics, health at http://{addr}/healthz"),
        }
    };
    // Every live start and stop goes into the audit log, with the config it ran.
    let (config_sha256, _) = super::segments::hash_file(&args.config)?;
    let cameras: Vec<&str> = config.cameras.iter().map(|c| c.name()).collect();
    let mut audit = AuditLog::open_default()?;
    let started = serde_json::json!({ "config": args.config.display().to_string(), "config_sha256": config_sha256, "cameras": cameras });
    audit.append("live.start", started)?;
    let result = camera::run(&config, &args.options(), &ready);
    let stopped = match &result {
        Ok(s) => {
            let frames = s.cameras.iter().map(|c| c.frames).sum::<u64>();
            let mut stopped = serde_json::json!({ "cameras": cameras, "frames": frames, "ok": s.failed.is_empty() });
            if !s.failed.is_empty() {
                let failed = s.failed.iter().map(|f| serde_json::json!({ "camera": f.name, "error": f.error.to_string() }));
                stopped["failed"] = failed.collect();
            }
            stopped
        }
        Err(e) => serde_json::json!({ "cameras": cameras, "ok": false, "error": e.to_string() }),
    };
    if let Err(e) = audit.append("live.stop", stopped).and_then(|()| audit.close()) {
        tracing::warn!("cannot record the stop in the audit log: {e}");
    }
    let summary = result?;
    let fate = if config.late_frames == LateFrames::Drop { "dropped" } else { "obscured" };
    for cam in &summary.cameras {
        say!(
            "veilcam: camera {}: {} frames, {} {fate} for the deadline ({}), {} without a look (tracker), {} filler while away",
            cam.name,
            cam.frames,
            cam.obscured,
            super::lag::causes(cam.obscured, cam.late),
            cam.shed,
            cam.filler
        );
    }
    // After the others' summaries: a failed camera, named, makes the exit non-zero.
    summary.outcome()?;
    Ok(())
}

//! The report: one JSON document (`report.json`) and a fixed-width table for the terminal.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::measure::{MeasureSettings, Measurement, Ratio};
use super::scene::Light;
use super::truth::SizeBucket;
use super::{EvalError, Result};

/// The `format` field of `report.json`.
pub const REPORT_FORMAT: &str = "veilcam-eval-report/1";
/// Tracks listed per variant under the table.
const TRACKS_SHOWN: usize = 8;

/// One variant's run.
#[derive(Clone, Debug, Serialize)]
pub struct VariantReport {
    pub variant: String,
    pub clip: PathBuf,
    pub truth: PathBuf,
    pub output: Option<PathBuf>,
    /// The clip was made by this run (false: taken from the cache).
    pub generated: bool,
    pub generate_seconds: Option<f64>,
    pub redact_seconds: Option<f64>,
    pub measure_seconds: Option<f64>,
    /// veilcam's own summary line.
    pub redact_summary: Option<String>,
    pub measurement: Option<Measurement>,
    /// Why this variant has no measurement.
    pub error: Option<String>,
}

/// A whole evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub format: String,
    pub veilcam: Option<PathBuf>,
    pub veilcam_args: Vec<String>,
    pub thresholds: MeasureSettings,
    pub variants: Vec<VariantReport>,
    pub total_seconds: f64,
}

impl Report {
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self).expect("report serialises");
        text.push('\n');
        std::fs::write(path, text).map_err(|e| EvalError::io(path, e))
    }
}

fn pct(r: &Ratio) -> String {
    match r.percent {
        Some(p) => format!("{p:.1}%"),
        None => "-".into(),
    }
}

/// The table: one row per variant, then the worst leak runs per track.
pub fn table(rows: &[(&str, &Measurement)], fps: f64) -> String {
    let mut out = String::new();
    let mut header = format!("{:<8} {:>6} {:>7}", "variant", "faces", "recall");
    for b in SizeBucket::SCORED {
        let _ = write!(header, " {:>13}", format!("{} px", b.label()));
    }
    let _ = write!(header, " {:>12} {:>16} {:>13} {:>9} {:>7} {:>8}", "partial", "leaked frames", "longest leak", "over-red", "frames", "duration");
    let _ = writeln!(out, "{header}");
    for (name, m) in rows {
        let mut line = format!("{:<8} {:>6} {:>7}", name, m.recall.total, pct(&m.recall));
        for b in SizeBucket::SCORED {
            let r = m.buckets.get(&b).copied().unwrap_or_default();
            let _ = write!(line, " {:>13}", format!("{} ({})", pct(&r), r.total));
        }
        let leaked = format!(
            "{}/{} ({})",
            m.leaks.leaked_frames,
            m.leaks.frames_with_faces,
            m.leaks.leaked_percent.map_or("-".into(), |p| format!("{p:.1}%"))
        );
        let longest = match m.leaks.longest_run_track {
            Some(t) => format!("{} f #{t}", m.leaks.longest_run),
            None => "0".into(),
        };
        let over = m.over_redaction.percent.map_or("-".into(), |p| format!("{p:.2}%"));
        let frames = if m.frames.frames_match { "ok".to_string() } else { format!("{}/{}", m.frames.output_frames, m.frames.input_frames) };
        let duration = if m.frames.duration_match { "ok" } else { "DIFFERS" };
        let _ = writeln!(
            line,
            " {:>12} {:>16} {:>13} {:>9} {:>7} {:>8}",
            format!("{} ({})", pct(&m.partial), m.partial.total),
            leaked,
            longest,
            over,
            frames,
            duration
        );
        out.push_str(&line);
    }
    out.push_str(&set_table(rows));
    out.push_str(&condition_table(rows));
    out.push_str(&reach_table(rows));
    for (name, m) in rows {
        let mut worst: Vec<_> = m.leaks.tracks.iter().filter(|t| t.longest_run > 0).collect();
        worst.sort_by_key(|t| (std::cmp::Reverse(t.longest_run), t.track));
        let clean = m.leaks.tracks.len() - worst.len();
        let listed: Vec<String> = worst
            .iter()
            .take(TRACKS_SHOWN)
            .map(|t| format!("#{} {} f ({:.2} s, {}/{} leaked)", t.track, t.longest_run, t.longest_run as f64 / fps, t.leaked_frames, t.scored_frames))
            .collect();
        let more = worst.len().saturating_sub(TRACKS_SHOWN);
        let _ = writeln!(
            out,
            "{name}: longest leak runs: {}{}; {clean} of {} tracks never leaked",
            if listed.is_empty() { "none".to_string() } else { listed.join(", ") },
            if more > 0 { format!(", … {more} more") } else { String::new() },
            m.leaks.tracks.len()
        );
        if let Some(n) = m.hidden_without_fill {
            let _ = writeln!(out, "{name}: faces changed as a fill would with no fill over them (counted visible): {n}");
        }
    }
    out
}

/// Tuning and held-out identities side by side: recall per size, leaked frames, longest leak.
fn set_table(rows: &[(&str, &Measurement)]) -> String {
    let mut out = format!("{:<8} {:<9} {:>6} {:>7}", "variant", "set", "faces", "recall");
    for b in SizeBucket::SCORED {
        let _ = write!(out, " {:>13}", format!("{} px", b.label()));
    }
    let _ = writeln!(out, " {:>16} {:>13}", "leaked frames", "longest leak");
    for (name, m) in rows {
        for (set, sm) in &m.sets {
            let mut line = format!("{:<8} {:<9} {:>6} {:>7}", name, set.name(), sm.recall.total, pct(&sm.recall));
            for b in SizeBucket::SCORED {
                let r = sm.buckets.get(&b).copied().unwrap_or_default();
                let _ = write!(line, " {:>13}", format!("{} ({})", pct(&r), r.total));
            }
            let leaked = format!(
                "{}/{} ({})",
                sm.leaked_frames,
                sm.frames_with_faces,
                sm.leaked_percent.map_or("-".into(), |p| format!("{p:.1}%"))
            );
            let longest = sm.longest_run_track.map_or("0".into(), |t| format!("{} f #{t}", sm.longest_run));
            let _ = writeln!(line, " {:>16} {:>13}", leaked, longest);
            out.push_str(&line);
        }
    }
    out
}

/// Recall per light condition, of fast (motion-blurred) tracks and of labelled profiles.
fn condition_table(rows: &[(&str, &Measurement)]) -> String {
    let mut out = format!("{:<8}", "variant");
    for light in Light::ALL {
        let _ = write!(out, " {:>14}", light.name());
    }
    let _ = writeln!(out, " {:>14} {:>14}", "motion blur", "profile >=60");
    let cell = |r: &Ratio| format!("{} ({})", pct(r), r.total);
    for (name, m) in rows {
        let mut line = format!("{:<8}", name);
        for light in Light::ALL {
            let _ = write!(line, " {:>14}", cell(&m.light.get(&light).copied().unwrap_or_default()));
        }
        let _ = writeln!(line, " {:>14} {:>14}", cell(&m.fast), cell(&m.profile));
        out.push_str(&line);
    }
    out
}

/// `21.0x #29 f83 held 47x77/12x14 held_out`: ratio, track, frame, origin, mask and face sizes,
/// the face's identity set.
fn large_mask(l: &crate::masks::LargeMask) -> String {
    let [mw, mh] = l.mask_size;
    let [fw, fh] = l.face_size;
    let set = l.set.map_or("-", |s| s.name());
    format!("{:.1}x #{} f{} {} {mw:.0}x{mh:.0}/{fw:.0}x{fh:.0} {set}", l.ratio, l.track, l.frame, l.origin)
}

/// Over-reach, measured like recall: mask area over its own track's face area (the old
/// any-face pairing beside it), masks of tracks with no labelled face, the widest mask against
/// its track's detected width, and the share of the frame changed away from any face.
fn reach_table(rows: &[(&str, &Measurement)]) -> String {
    let num = |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
    let line = |out: &mut String, cells: [&str; 8]| {
        let [a, b, c, d, e, f, g, h] = cells;
        let _ = writeln!(out, "{a:<8} {b:>7} {c:>24} {d:>16} {e:>8} {f:>13} {g:>34} {h:>20}");
    };
    let mut out = String::new();
    line(
        &mut out,
        ["variant", "masks", "unlabelled (tracks, area)", "mask/face p50/99", "max", "any-face p99", "widest mask / track's detected w", "changed away p50/95"],
    );
    for (name, m) in rows {
        let away = format!("{}/{} %", num(m.over_redaction.frame_p50_percent, 2), num(m.over_redaction.frame_p95_percent, 2));
        let Some(r) = &m.masks else {
            line(&mut out, [name, "-", "-", "-", "-", "-", "-", &away]);
            continue;
        };
        let widest = r.widest.as_ref().map_or("-".to_string(), |w| {
            format!("{:.2}x #{} f{} {} ({} >3x)", w.ratio, w.track, w.frame, w.origin, r.wider_than_3x)
        });
        let u = &r.unlabelled;
        line(
            &mut out,
            [
                name,
                &r.masks.to_string(),
                &format!("{} ({}, {:.2} %)", u.masks, u.tracks, u.frame_area_mean_percent),
                &format!("{}/{}", num(r.area_ratio_p50, 2), num(r.area_ratio_p99, 2)),
                &num(r.area_ratio_max, 1),
                &num(r.any_face.area_ratio_p99, 2),
                &widest,
                &away,
            ],
        );
        {
            let sets: Vec<String> = r.sets.iter().map(|(set, s)| format!("{} {}/{} ({})", set.name(), num(s.area_ratio_p50, 2), num(s.area_ratio_p99, 2), s.masks)).collect();
            let _ = writeln!(out, "{:<8} mask/face p50/99 per set: {}; masks off-picture own face: {}; of tracks moved on to something unlabelled: {}", name, sets.join(", "), r.own_face_absent, r.moved_on);
        }
        if !r.largest.is_empty() {
            let large: Vec<String> = r.largest.iter().map(large_mask).collect();
            let _ = writeln!(out, "{:<8} largest mask/face (a track each): {}", name, large.join(", "));
        }
    }
    out
}

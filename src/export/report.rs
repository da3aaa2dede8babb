//! What an export records about itself: [`Facts`] (serialised into the signed
//! `manifest.json`) and the human-readable `report.txt` rendered from the same facts, so the
//! two never disagree. Sections follow evidence practice: what was received, what was done
//! (and by which veilcam, models and settings), what was produced, and what a re-run repeats.

use serde::Serialize;

use super::chain::PartUse;
use super::credentials::CredentialFact;
use super::select::{Gap, Origin};
use crate::live::segments::format_rfc3339_ms;

/// One source file as received.
#[derive(Clone, Debug, Serialize)]
pub struct SourceFact {
    pub name: String,
    pub sha256: String,
    pub bytes: u64,
    /// Checked against the recording index (segments) or hashed on receipt (files).
    pub hash_checked_against: &'static str,
    /// UTC span the index gives (segments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames_indexed: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
    /// What of it went into the working copy.
    pub used: PartUse,
}

/// A model file the detectors loaded.
#[derive(Clone, Debug, Serialize)]
pub struct ModelFact {
    pub role: &'static str,
    pub file: String,
    pub sha256: String,
}

/// A privacy zone of the camera config.
#[derive(Clone, Debug, Serialize)]
pub struct ZoneFact {
    pub name: String,
    pub kind: String,
    pub coordinates: Vec<(f64, f64)>,
}

/// Who and what is obscured.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyFact {
    /// Camera config used for zones and policy (`None`: no config, every face obscured).
    pub camera_config: Option<String>,
    pub faces: String,
    pub bystanders: String,
    pub zones: Vec<ZoneFact>,
    /// Who stays visible (`nobody` unless subject access asked for one track).
    pub keep: String,
}

/// The working copy and its sidecar.
#[derive(Clone, Debug, Serialize)]
pub struct ProducedFact {
    pub working_copy: String,
    pub sidecar: String,
    pub report: String,
    pub frames: u64,
    pub duration_seconds: f64,
    pub width: u32,
    pub height: u32,
    pub fps: String,
    pub face_detections: u64,
    pub person_detections: u64,
}

/// Everything an export states about itself.
#[derive(Clone, Debug, Serialize)]
pub struct Facts {
    pub case: String,
    pub basis: String,
    pub requester: String,
    pub operator: String,
    /// UTC when the export was made.
    pub exported_at: String,
    pub veilcam_version: String,
    pub origin: Origin,
    /// `--from`/`--to` as UTC (recordings) or offsets (files), for people.
    pub range: String,
    pub gaps: Vec<Gap>,
    pub clock_notes: Vec<String>,
    pub sources: Vec<SourceFact>,
    pub models: Vec<ModelFact>,
    /// The effective detection, tracking and encoding settings.
    pub settings: serde_json::Value,
    pub policy: PolicyFact,
    pub produced: ProducedFact,
    /// Segments placed on legal hold for this case.
    pub holds: Vec<String>,
    pub repeatability: Vec<String>,
    pub provenance: Vec<String>,
    /// The C2PA manifest embedded in the working copy.
    pub content_credentials: CredentialFact,
}

/// What a re-run with the same sources, settings, models and veilcam repeats, as measured
/// (tests/export.rs `re_running_an_export_repeats_its_decisions_and_its_video_bytes`).
pub const REPEATABILITY: [&str; 3] = [
    "Redaction decisions are repeatable: detection is planned in frame order and each frame is detected on its own, \
     so the sidecar (every detection and every obscured region, per frame) is byte-identical on a re-run with the same \
     sources, settings, models and veilcam version, whatever the number of detection workers.",
    "The working copy is encoded with one x264 thread, and its encoded pictures (the MP4's mdat box) were \
     byte-identical on a re-run on the same machine (measured); the file as a whole is not, because its MP4 header \
     records when it was written and its C2PA manifest is signed anew (time, instance ids). A different x264 or GStreamer build may encode other bytes for the same decisions: \
     compare the sidecar, or the decoded frames, rather than the video's hash.",
    "report.txt and manifest.json differ on every run (export time) and the bundle's signature with them.",
];

/// Text for the report's provenance section: what the working copy's C2PA manifest holds and
/// what standard tools will say of its self-generated certificate.
pub fn provenance(c: &CredentialFact) -> Vec<String> {
    vec![
        format!(
            "The working copy carries Content Credentials (a C2PA manifest, signed {} by veilcam's own certificate \
             \"{}\", SHA-256 {}): actions {}; ingredients {}; edit: {}; software agent {}.",
            c.signature_algorithm,
            c.certificate,
            c.certificate_sha256,
            c.actions.join(", "),
            c.ingredients.join(", "),
            c.edit_description,
            c.software_agent,
        ),
        "The certificate is self-generated and on no C2PA trust list: standard C2PA tools (c2patool, \
         contentcredentials.org/verify) report the manifest's signature and data hash as valid and its credential as \
         \"untrusted\" (signingCredential.untrusted). That is expected; the bundle's Ed25519 signature over \
         manifest.json, which records the certificate's fingerprint, is what ties it to this export."
            .into(),
    ]
}

/// Appends one line of the report, formatted like `writeln!`, with every control character in
/// it shown as an escape ([`crate::one_line`]): free text (file names, --basis, --requester,
/// --operator, zone names, paths) cannot break a line and forge another one of the signed report
/// (found by hostile use: an --input file name holding a newline wrote a fake "Gaps:" line).
/// The report's own text holds no control character, so only what was filled in is changed.
macro_rules! put_line {
    ($r:expr, $($arg:tt)*) => {{
        let text: String = format!($($arg)*);
        $r.push_str(&crate::one_line(&text));
        $r.push('\n');
    }};
}

/// Renders the report.
pub fn render(f: &Facts) -> String {
    let mut r = String::new();
    let line = |r: &mut String, text: &str| {
        put_line!(r, "{text}");
    };
    put_line!(r, "veilcam export report: case {}", f.case);
    line(&mut r, &"=".repeat(40));
    put_line!(r, "Basis:      {}", f.basis);
    put_line!(r, "Requester:  {}", f.requester);
    put_line!(r, "Operator:   {}", f.operator);
    put_line!(r, "Exported:   {} (UTC)", f.exported_at);
    put_line!(r, "veilcam:    {}", f.veilcam_version);
    line(&mut r, "");
    line(&mut r, "1. Received");
    line(&mut r, "-----------");
    match &f.origin {
        Origin::Recordings { root, camera, .. } => {
            put_line!(r, "Recordings of camera '{camera}' under {}.", root.display());
        }
        Origin::Files { .. } => line(&mut r, "Files given by the operator (--input)."),
    }
    put_line!(r, "Requested range: {}", f.range);
    line(&mut r, "Sources (SHA-256):");
    for s in &f.sources {
        let span = match (&s.start, &s.end) {
            (Some(a), Some(b)) => format!(", recorded {a} to {b}"),
            _ => String::new(),
        };
        let frames = s.frames_indexed.map_or(String::new(), |n| format!(", {n} frames indexed"));
        put_line!(r, "  {}  {} ({} bytes{span}{frames}{})", s.sha256, s.name, s.bytes, if s.recovered { ", recovered" } else { "" });
        put_line!(r, "      hash checked against: {}", s.hash_checked_against);
    }
    if f.gaps.is_empty() {
        line(&mut r, "Gaps: none; the sources cover the whole range.");
    } else {
        put_line!(r, "Gaps: {} part(s) of the range have NO recording; the working copy runs on across them:", f.gaps.len());
        for g in &f.gaps {
            put_line!(r, "  - {}", g.describe());
        }
    }
    line(&mut r, "Clock:");
    for n in &f.clock_notes {
        put_line!(r, "  - {n}");
    }
    line(&mut r, "");
    line(&mut r, "2. Done");
    line(&mut r, "-------");
    put_line!(r, "Redacted by veilcam {} (the same engine as `veilcam redact`), decoded with GStreamer.", f.veilcam_version);
    line(&mut r, "Models (SHA-256):");
    for m in &f.models {
        put_line!(r, "  {}  {} ({})", m.sha256, m.file, m.role);
    }
    let p = &f.policy;
    put_line!(
        r,
        "Policy: faces {}, bystanders {}, keep visible: {}; camera config: {}",
        p.faces,
        p.bystanders,
        p.keep,
        p.camera_config.as_deref().unwrap_or("none (every face obscured)")
    );
    for z in &p.zones {
        put_line!(r, "  zone '{}' ({}): {:?}", z.name, z.kind, z.coordinates);
    }
    put_line!(r, "Settings: {}", serde_json::to_string(&f.settings).unwrap_or_default());
    line(&mut r, "Trimming: every frame shown at some instant of the range is kept, no other; frames keep their own durations.");
    if !f.holds.is_empty() {
        put_line!(r, "Legal hold placed for case {} on {} source segment(s) (released with `veilcam hold release --case {}`).", f.case, f.holds.len(), f.case);
    }
    line(&mut r, "");
    line(&mut r, "3. Produced");
    line(&mut r, "-----------");
    let o = &f.produced;
    put_line!(
        r,
        "{}: {} frames, {:.3} s, {}x{} at {} fps (H.264 in MP4); {} face and {} person detections.",
        o.working_copy, o.frames, o.duration_seconds, o.width, o.height, o.fps, o.face_detections, o.person_detections
    );
    put_line!(r, "{}: per frame, what was detected and what was obscured.", o.sidecar);
    put_line!(r, "{}: this report. manifest.json: these facts, the SHA-256 of every file, signed (Ed25519).", o.report);
    line(&mut r, "Where each source sits in the working copy:");
    for s in &f.sources {
        let u = &s.used;
        match (u.out_start_ns, u.out_end_ns, u.first_ns, u.end_ns) {
            (Some(a), Some(b), Some(fa), Some(fb)) => {
                let at = |ns: u64| match &s.start {
                    Some(start) => crate::live::segments::parse_rfc3339_ms(start)
                        .map_or(format!("{:.3} s", ns as f64 / 1e9), |ms| format_rfc3339_ms(ms + (ns / 1_000_000) as i64)),
                    None => format!("{:.3} s into the file", ns as f64 / 1e9),
                };
                put_line!(
                    r,
                    "  {:>9.3} s to {:>9.3} s: {} frames of {} ({} to {})",
                    a as f64 / 1e9,
                    b as f64 / 1e9,
                    u.frames,
                    s.name,
                    at(fa),
                    at(fb)
                );
            }
            _ => {
                put_line!(r, "  no frame of {} lies in the range", s.name);
            }
        }
    }
    line(&mut r, "");
    line(&mut r, "4. Repeatability");
    line(&mut r, "----------------");
    for n in &f.repeatability {
        put_line!(r, "  - {n}");
    }
    line(&mut r, "");
    line(&mut r, "5. Provenance");
    line(&mut r, "-------------");
    for n in &f.provenance {
        put_line!(r, "  - {n}");
    }
    r
}

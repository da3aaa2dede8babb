//! The job message: which object to redact, where the redacted object goes, with which
//! settings, and the camera config pinned by its SHA-256.
//!
//! Settings travel as the `veilcam redact` flags that set them ([`options_to_args`]); the
//! worker parses them back with the same clap struct ([`crate::cli::RedactOptions`]), so the
//! queue has no second list of redaction options to drift from the CLI's. What is the worker
//! machine's business (model paths, ONNX Runtime library, threads) is not carried.

use clap::{Parser, ValueEnum};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::QueueError;
use crate::cli::RedactOptions;
use crate::settings::Cadence;
use crate::export::keys::hex;

/// Version of the job message; a worker refuses another.
pub const JOB_VERSION: u32 = 1;

/// One object to redact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub version: u32,
    /// Hex SHA-256 (first 32 digits) of everything below: the `Nats-Msg-Id` and the status key.
    pub id: String,
    /// `s3://bucket/key` of the raw input.
    pub input: String,
    /// The input's ETag when submitted (a changed input is another job).
    pub input_etag: Option<String>,
    /// `s3://bucket/key` of the redacted output.
    pub output: String,
    /// `veilcam redact` flags ([`options_to_args`]).
    pub options: Vec<String>,
    /// The camera config, pinned.
    pub camera: Option<PinnedConfig>,
}

/// A camera config carried in the job: its text, the camera to use and the text's SHA-256.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedConfig {
    /// The config file's name when submitted (for messages only).
    pub file: String,
    pub camera: Option<String>,
    pub toml: String,
    pub sha256: String,
}

impl PinnedConfig {
    pub fn new(file: &str, camera: Option<String>, toml: String) -> Self {
        let sha256 = hex(&Sha256::digest(toml.as_bytes()));
        PinnedConfig { file: file.to_string(), camera, toml, sha256 }
    }

    /// The text, once its hash is checked.
    pub fn verified(&self) -> Result<&str, String> {
        let got = hex(&Sha256::digest(self.toml.as_bytes()));
        if got != self.sha256 {
            return Err(format!("camera config {}: SHA-256 {got} is not the pinned {}", self.file, self.sha256));
        }
        Ok(&self.toml)
    }
}

impl Job {
    /// A job with its id computed from the rest.
    pub fn new(input: String, input_etag: Option<String>, output: String, options: Vec<String>, camera: Option<PinnedConfig>) -> Self {
        let mut job = Job { version: JOB_VERSION, id: String::new(), input, input_etag, output, options, camera };
        job.id = job.compute_id();
        job
    }

    fn compute_id(&self) -> String {
        let mut h = Sha256::new();
        for part in [self.input.as_str(), self.input_etag.as_deref().unwrap_or(""), self.output.as_str()] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        for a in &self.options {
            h.update(a.as_bytes());
            h.update([0]);
        }
        h.update(self.camera.as_ref().map_or("", |c| c.sha256.as_str()).as_bytes());
        h.update(self.camera.as_ref().and_then(|c| c.camera.as_deref()).unwrap_or("").as_bytes());
        hex(&h.finalize())[..32].to_string()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a job serialises")
    }

    /// Parses and checks a job message (version, id matches its content).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, QueueError> {
        let job: Job = serde_json::from_slice(bytes).map_err(|e| QueueError::Job { id: "?".into(), message: format!("not a job message: {e}") })?;
        if job.version != JOB_VERSION {
            return Err(QueueError::Job { id: job.id, message: format!("job version {} (this worker reads {JOB_VERSION})", job.version) });
        }
        if job.compute_id() != job.id {
            return Err(QueueError::Job { id: job.id.clone(), message: "the id does not match the job's content".into() });
        }
        Ok(job)
    }

    /// The redaction options of the job, parsed by the CLI's own struct.
    pub fn redact_options(&self) -> Result<RedactOptions, QueueError> {
        args_to_options(&self.options).map_err(|message| QueueError::Job { id: self.id.clone(), message })
    }
}

/// What a job may not carry: outputs other than the redacted object, and switches that would
/// break exactly-once outputs.
pub fn check_submittable(o: &RedactOptions) -> Result<(), QueueError> {
    let refused = [
        (o.sidecar.is_some(), "--sidecar"),
        (o.preview.is_some(), "--preview"),
        (o.stats.is_some(), "--stats"),
        (o.overwrite, "--overwrite"),
        // The encoder's threads are the worker machine's business, as the detector's are.
        (o.encoder_threads != 0, "--encoder-threads"),
    ];
    if let Some((_, flag)) = refused.iter().find(|(set, _)| *set) {
        return Err(QueueError::Usage(format!(
            "{flag} is not supported by the work queue (a job writes exactly one object, once; see docs/queue.md)"
        )));
    }
    Ok(())
}

fn value_name<T: ValueEnum>(v: &T) -> String {
    v.to_possible_value().expect("every variant is a flag value").get_name().to_string()
}

fn cadence(c: Cadence) -> String {
    match c {
        Cadence::Auto => "auto".into(),
        Cadence::Every(n) => n.to_string(),
    }
}

/// The `veilcam redact` flags that give `o`'s redaction settings (not the worker-local ones:
/// models, ONNX Runtime library, threads; not the config, which travels pinned).
pub fn options_to_args(o: &RedactOptions) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "--fill".into(),
        value_name(&o.fill),
        "--shape".into(),
        value_name(&o.shape),
        "--threshold".into(),
        o.threshold.to_string(),
        "--mask-scale".into(),
        o.mask_scale.to_string(),
        "--detect-width".into(),
        o.detect_width.to_string(),
        "--detect-every".into(),
        cadence(o.detect_every),
        "--lookahead".into(),
        o.lookahead.to_string(),
        "--hold".into(),
        o.hold.to_string(),
        "--person-threshold".into(),
        o.person_threshold.to_string(),
        "--person-every".into(),
        cadence(o.person_every),
        "--preset".into(),
        o.preset.clone(),
        "--crf".into(),
        o.crf.to_string(),
        "--local-contrast".into(),
        value_name(&o.local_contrast),
        "--night".into(),
        value_name(&o.night),
    ];
    for (set, flag) in [(o.no_small_faces, "--no-small-faces"), (o.low_light, "--low-light"), (o.keep_audio, "--keep-audio"), (o.salvage, "--salvage")] {
        if set {
            a.push(flag.into());
        }
    }
    a
}

/// Parses job flags back into options (the worker then sets its own local ones).
pub fn args_to_options(args: &[String]) -> Result<RedactOptions, String> {
    #[derive(Parser)]
    #[command(name = "job")]
    struct Wire {
        #[command(flatten)]
        o: RedactOptions,
    }
    let allowed = options_to_args(&RedactOptions::default());
    if let Some(bad) = args.iter().filter(|a| a.starts_with("--")).find(|a| !allowed.contains(a) && !["--no-small-faces", "--low-light", "--keep-audio", "--salvage"].contains(&a.as_str())) {
        return Err(format!("job option {bad} is not one a job may carry"));
    }
    Wire::try_parse_from(std::iter::once("job".to_string()).chain(args.iter().cloned())).map(|w| w.o).map_err(|e| format!("bad job options: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::{FillMode, Shape};

    #[test]
    fn redaction_options_survive_the_trip_through_a_job() {
        let o = RedactOptions {
            fill: FillMode::Solid,
            shape: Shape::Box,
            threshold: 0.35,
            mask_scale: 1.7,
            detect_width: crate::detect::centerface::DetectWidth::Pixels(480),
            no_small_faces: true,
            low_light: true,
            local_contrast: crate::detect::centerface::LocalContrast::On,
            detect_every: Cadence::Every(2),
            lookahead: 0.5,
            hold: 2.0,
            person_threshold: 0.45,
            person_every: Cadence::Every(3),
            preset: "ultrafast".into(),
            crf: 30,
            keep_audio: true,
            salvage: true,
            night: crate::policy::NightProfile::Off,
            ..RedactOptions::default()
        };
        let back = args_to_options(&options_to_args(&o)).unwrap();
        // Every carried field, compared through Debug (the structs have no PartialEq).
        let carried = |o: &RedactOptions| {
            format!(
                "{:?} {:?} {} {} {} {} {} {:?} {:?} {} {} {} {:?} {} {} {} {} {:?}",
                o.fill, o.shape, o.threshold, o.mask_scale, o.detect_width, o.no_small_faces, o.low_light, o.local_contrast, o.detect_every, o.lookahead, o.hold,
                o.person_threshold, o.person_every, o.preset, o.crf, o.keep_audio, o.salvage, o.night
            )
        };
        assert_eq!(carried(&back), carried(&o));
        assert_eq!(carried(&args_to_options(&options_to_args(&RedactOptions::default())).unwrap()), carried(&RedactOptions::default()));
    }

    #[test]
    fn a_job_may_not_carry_paths_of_the_worker_machine() {
        for bad in [["--model", "/etc/shadow"], ["--sidecar", "/tmp/x.json"], ["--ort-lib", "/tmp/evil.so"]] {
            let err = args_to_options(&bad.map(String::from)).unwrap_err();
            assert!(err.contains(bad[0]), "{err}");
        }
    }

    #[test]
    fn a_tampered_job_or_config_is_refused() {
        let cfg = PinnedConfig::new("cam.toml", Some("front".into()), "[cameras.front]\n".into());
        let job = Job::new("s3://b/in/a.avi".into(), Some("e1".into()), "s3://b/out/a.mp4".into(), options_to_args(&RedactOptions::default()), Some(cfg));
        assert_eq!(Job::from_bytes(&job.to_bytes()).unwrap(), job);
        let mut other = job.clone();
        other.output = "s3://b/elsewhere/a.mp4".into();
        assert!(Job::from_bytes(&other.to_bytes()).unwrap_err().to_string().contains("does not match"));
        let mut edited = job.clone();
        edited.camera.as_mut().unwrap().toml.push_str("# edited\n");
        assert!(edited.camera.unwrap().verified().unwrap_err().contains("not the pinned"));
        let changed_input = Job::new(job.input.clone(), Some("e2".into()), job.output.clone(), job.options.clone(), job.camera.clone());
        assert_ne!(changed_input.id, job.id, "a changed input is another job");
    }
}

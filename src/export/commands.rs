//! The export subcommands: `veilcam export` and `veilcam hold`, and the evidence subcommands
//! `veilcam keys`, `veilcam verify` and `veilcam log`. Each evidence subcommand returns whether
//! everything checked (the exit code is 0 only then); results go to stdout, one line per file
//! or problem.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::audit::{self, AuditLog};
use super::hold;
use super::keys::{self, PublicKey, SigningKey};
use super::run::{recordings_root, Request};
use super::verify;
use crate::cli::{ExportArgs, HoldCommand, KeysCommand, LogCommand, VerifyArgs};
use crate::error::Result;
use crate::one_line;

/// `veilcam export`: the bundle of a case; unless `quiet`, a line saying what it holds, and a
/// warning for each gap in the recordings.
pub fn export(args: &ExportArgs, quiet: bool) -> Result<()> {
    let request = Request::from_args(args)?;
    let done = super::run::export(&request, quiet)?;
    if !quiet {
        say!(
            "veilcam: case {} exported to {}: {} ({} frames, {:.2} s); {} segment(s) on legal hold",
            request.case,
            done.bundle.display(),
            done.working_copy,
            done.frames,
            done.duration_seconds,
            done.held.len()
        );
    }
    for gap in &done.gaps {
        say!("veilcam: warning: no recording {}; listed in the report", gap.describe());
    }
    Ok(())
}

/// `veilcam hold list|release`. `list` prints each held segment and its cases on stdout;
/// `release` records what it freed in the audit log.
pub fn hold(command: &HoldCommand) -> Result<()> {
    match command {
        HoldCommand::List(at) => {
            let root = recordings_root(at.recordings.as_deref(), at.config.as_deref())?;
            let held = hold::list(&root)?;
            for h in &held {
                out!("{}\t{}", one_line(&h.segment.display().to_string()), one_line(&h.cases.join(",")));
            }
            // An export killed outright (SIGKILL) cannot take back the holds it placed
            // first; they keep raw footage past retention until released.
            for case in hold::unfinished_cases(&held, &keys::data_dir()) {
                say!(
                    "veilcam: case {case}: held, but no export of it finished (one running now, or one that was killed: `veilcam hold release --case {case}` frees its segments)"
                );
            }
        }
        HoldCommand::Release { case, at } => {
            let root = recordings_root(at.recordings.as_deref(), at.config.as_deref())?;
            let mut log = AuditLog::open_default()?;
            let released = hold::release(&root, case)?;
            if released.freed.is_empty() && released.still_held.is_empty() {
                // Found by hostile use: a mistyped case id "released" nothing and exited 0.
                return Err(crate::Error::Settings(hold::holds_nothing(&root, case)?));
            }
            let names = |v: &[PathBuf]| v.iter().map(|p| p.display().to_string()).collect::<Vec<_>>();
            log.append("hold_release", json!({ "case": case, "released": names(&released.freed), "still_held": names(&released.still_held) }))?;
            log.close()?;
            say!(
                "veilcam: case {case}: {} segment(s) released, {} still held by other cases",
                released.freed.len(),
                released.still_held.len()
            );
        }
    }
    Ok(())
}

/// `veilcam keys init|show`. `init` prints the fingerprint alone on stdout (for scripts) and,
/// unless `quiet`, where the files are on stderr.
pub fn keys(command: &KeysCommand, quiet: bool) -> Result<bool> {
    match command {
        KeysCommand::Init(args) => {
            let dir = args.dir.clone().unwrap_or_else(keys::default_dir);
            let key = keys::init(&dir)?;
            let public = key.public();
            out!("{}", public.fingerprint());
            if !quiet {
                say!(
                    "veilcam: new signing key {} (secret, mode 0600) and {} (public, minisign key id {}); its fingerprint is above",
                    dir.join(keys::SECRET_FILE).display(),
                    dir.join(keys::PUBLIC_FILE).display(),
                    public.key_id_display()
                );
            }
            let details = json!({ "dir": dir, "fingerprint": public.fingerprint(), "key_id": public.key_id_display(), "public_key": public.to_minisign_base64() });
            AuditLog::open_default().and_then(|mut log| log.append("keys.init", details).and_then(|()| log.close())).map_err(|e| {
                crate::Error::Pipeline(format!("the signing key was created in {}, but recording it in the audit log failed: {e}", dir.display()))
            })?;
            Ok(true)
        }
        KeysCommand::Show(args) => {
            let dir = args.dir.clone().unwrap_or_else(keys::default_dir);
            let public = PublicKey::load(&dir.join(keys::PUBLIC_FILE))?;
            // The secret key must load too: `show` is how a user checks the key is usable.
            let secret = SigningKey::load(&dir)?;
            if secret.public() != public {
                return Err(crate::Error::io(dir.join(keys::PUBLIC_FILE), std::io::Error::other("does not belong to veilcam.key")));
            }
            out!("fingerprint: {}", public.fingerprint());
            out!("key id:      {} (minisign)", public.key_id_display());
            out!("public key:  {}", dir.join(keys::PUBLIC_FILE).display());
            Ok(true)
        }
    }
}

/// `veilcam verify BUNDLE [--key PUBFILE]`: prints the report and records it in the audit
/// log (a log that cannot be written is a warning: verifying changes nothing).
pub fn verify(args: &VerifyArgs) -> Result<bool> {
    let report = verify::verify(&args.bundle, args.key.as_deref());
    out!("{report}");
    let failed: Vec<&str> = report.failures().map(|f| f.name.as_str()).collect();
    let details = json!({
        "bundle": args.bundle,
        "case": report.manifest.as_ref().and_then(|m| m.get("case")).cloned(),
        "ok": report.ok(),
        "signer": report.signer,
        "expected_key": report.expected,
        "failed": failed,
    });
    if let Err(e) = AuditLog::open_default().and_then(|mut log| log.append("verify", details).and_then(|()| log.close())) {
        tracing::warn!("cannot record the verification in the audit log: {e}");
    }
    Ok(report.ok())
}

/// `veilcam log verify|show|seal`.
pub fn log(command: &LogCommand) -> Result<bool> {
    match command {
        LogCommand::Verify(args) => {
            let path = log_path(args.log.log.as_deref());
            let trusted: Vec<PublicKey> = if args.key.is_empty() {
                let default = keys::default_dir().join(keys::PUBLIC_FILE);
                default.exists().then(|| PublicKey::load(&default)).transpose()?.into_iter().collect()
            } else {
                args.key.iter().map(|k| PublicKey::load(k)).collect::<Result<_>>()?
            };
            let report = audit::verify(&path, &trusted)?;
            for problem in &report.problems {
                out!("FAILED  {problem}");
            }
            out!("{}", describe(&path, &report, !trusted.is_empty()));
            Ok(report.ok())
        }
        LogCommand::Show(args) => {
            for e in audit::read_entries(&log_path(args.log.as_deref()))? {
                out!("{}", one_line(&format!("{:>6} {} {}@{} {} {}", e.seq, e.time, e.user, e.host, e.action, e.details)));
            }
            Ok(true)
        }
        LogCommand::Seal(args) => {
            let path = log_path(args.log.as_deref());
            let mut log = AuditLog::open_signed(&path)?;
            if !log.seal()? {
                let why = format!("no signing key in {}; create one with `veilcam keys init`", keys::default_dir().display());
                return Err(crate::Error::io(&path, std::io::Error::other(why)));
            }
            out!("{}: checkpoint written", path.display());
            Ok(true)
        }
    }
}

fn log_path(given: Option<&Path>) -> PathBuf {
    given.map_or_else(audit::default_path, Path::to_path_buf)
}

/// The summary line of `log verify`.
fn describe(path: &Path, report: &audit::LogReport, trusted: bool) -> String {
    let verdict = if report.ok() { "intact" } else { "DAMAGED" };
    let head = report.head.as_ref().map_or("empty".to_string(), |(seq, hash)| format!("head seq {seq} {hash}"));
    let signed = match (report.sealed_through, &report.head) {
        (Some(through), Some((last, _))) => {
            let by = if trusted { "the trusted key" } else { "the key it names (no trusted key given)" };
            let tail = if *last > through + 1 { format!("; seq {}–{last} are covered by the chain only", through + 1) } else { String::new() };
            format!("{} checkpoint(s), signed through seq {through} by {by} {}{tail}", report.checkpoints, report.signers.join(", "))
        }
        _ => "no signed checkpoint".to_string(),
    };
    format!("{}: {verdict}: {} entries, {signed}; {head}", path.display(), report.entries)
}

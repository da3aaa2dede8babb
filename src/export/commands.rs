//! The evidence subcommands: `veilcam keys`, `veilcam verify` and `veilcam log`. Each returns
//! whether everything checked (the exit code is 0 only then); results go to stdout, one line
//! per file or problem.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::audit::{self, AuditLog};
use super::keys::{self, PublicKey, SigningKey};
use super::verify;
use crate::cli::{KeysCommand, LogCommand, VerifyArgs};
use crate::error::Result;

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
                let _ = writeln!(
                    std::io::stderr().lock(),
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
                out!("{}", crate::one_line(&format!("{:>6} {} {}@{} {} {}", e.seq, e.time, e.user, e.host, e.action, e.details)));
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

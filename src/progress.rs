//! Progress reporting: an indicatif bar on a terminal, periodic log lines otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

const LOG_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_log: Instant,
    frames: u64,
    total: Option<u64>,
    quiet: bool,
}

impl Progress {
    pub fn new(label: &str, total: Option<u64>, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = total.map(ProgressBar::new).unwrap_or_else(ProgressBar::new_spinner);
            let template = if total.is_some() {
                "{msg} [{bar:30}] {pos}/{len} frames  {per_sec}  ETA {eta}"
            } else {
                "{spinner} {msg} {pos} frames  {per_sec}"
            };
            bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
            bar.set_message(label.to_string());
            bar
        });
        let now = Instant::now();
        Progress { bar, started: now, last_log: now, frames: 0, total, quiet }
    }

    pub fn frame_done(&mut self) {
        self.frames += 1;
        if let Some(bar) = &self.bar {
            if self.total.is_some_and(|t| self.frames > t) {
                bar.set_length(self.frames);
            }
            bar.inc(1);
        } else if !self.quiet && self.last_log.elapsed() >= LOG_EVERY {
            self.last_log = Instant::now();
            let fps = self.frames as f64 / self.started.elapsed().as_secs_f64();
            match self.total {
                Some(t) => tracing::info!("{}/{} frames, {:.1} fps", self.frames, t, fps),
                None => tracing::info!("{} frames, {:.1} fps", self.frames, fps),
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

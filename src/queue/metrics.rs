//! Worker metrics for Prometheus, served on `/metrics` (OpenMetrics text, as
//! [`crate::live::metrics`] serves the live ones) when `veilcam worker --metrics ADDR` is given.
//!
//! | series | type | meaning |
//! |---|---|---|
//! | `veilcam_queue_depth` | gauge | jobs waiting in the queue (not yet delivered to any worker) |
//! | `veilcam_queue_unacked` | gauge | jobs delivered to some worker and not yet finished |
//! | `veilcam_queue_running` | gauge | jobs this worker is running |
//! | `veilcam_queue_jobs_done_total` | counter | jobs this worker finished (output committed) |
//! | `veilcam_queue_jobs_failed_total` | counter | failed attempts on this worker (retried or dead-lettered) |
//! | `veilcam_queue_jobs_dead_total` | counter | jobs this worker sent to the dead-letter subject |
//! | `veilcam_queue_frames_total` | counter | frames redacted by this worker |

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::live::metrics::METRICS_CONTENT_TYPE;

/// The worker's counters; every method is an atomic add or store.
#[derive(Default)]
pub struct WorkerMetrics {
    registry: Registry,
    pub depth: Gauge<i64, AtomicI64>,
    pub unacked: Gauge<i64, AtomicI64>,
    pub running: Gauge<i64, AtomicI64>,
    pub done: Counter,
    pub failed: Counter,
    pub dead: Counter,
    pub frames: Counter,
}

impl WorkerMetrics {
    pub fn new() -> Self {
        let mut m = WorkerMetrics { registry: Registry::with_prefix("veilcam_queue"), ..Default::default() };
        m.registry.register("depth", "Jobs waiting in the queue", m.depth.clone());
        m.registry.register("unacked", "Jobs delivered to a worker and not yet finished", m.unacked.clone());
        m.registry.register("running", "Jobs this worker is running", m.running.clone());
        m.registry.register("jobs_done", "Jobs this worker finished", m.done.clone());
        m.registry.register("jobs_failed", "Failed attempts on this worker", m.failed.clone());
        m.registry.register("jobs_dead", "Jobs this worker sent to the dead-letter subject", m.dead.clone());
        m.registry.register("frames", "Frames redacted by this worker", m.frames.clone());
        m
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

/// `/metrics` on its own thread; stops when dropped.
pub struct MetricsServer {
    pub addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    pub fn start(addr: SocketAddr, metrics: Arc<WorkerMetrics>) -> crate::Result<Self> {
        let server = tiny_http::Server::http(addr).map_err(|e| crate::Error::Pipeline(format!("metrics server: cannot listen on {addr}: {e}")))?;
        let addr = server.server_addr().to_ip().expect("bound to an IP address");
        let server = Arc::new(server);
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("veilcam-queue-metrics".into())
            .spawn({
                let (server, stopping) = (server.clone(), stopping.clone());
                move || loop {
                    match server.recv_timeout(Duration::from_millis(200)) {
                        Ok(Some(request)) => {
                            let (status, body) = if request.url().split('?').next() == Some("/metrics") { (200, metrics.encode()) } else { (404, "not found: try /metrics\n".into()) };
                            let header = tiny_http::Header::from_bytes("Content-Type", METRICS_CONTENT_TYPE).expect("valid header");
                            let _ = request.respond(tiny_http::Response::from_string(body).with_status_code(status).with_header(header));
                        }
                        _ if stopping.load(Ordering::SeqCst) => return,
                        Ok(None) => {}
                        Err(e) => tracing::warn!("metrics server: {e}"),
                    }
                }
            })
            .map_err(|e| crate::Error::Pipeline(format!("metrics server: cannot start its thread: {e}")))?;
        tracing::info!(%addr, "queue metrics on http://{addr}/metrics");
        Ok(MetricsServer { addr, server, stopping, thread: Some(thread) })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_series_are_exposed_with_their_values() {
        let m = WorkerMetrics::new();
        m.depth.set(7);
        m.done.inc();
        m.dead.inc();
        let text = m.encode();
        for line in ["veilcam_queue_depth 7", "veilcam_queue_jobs_done_total 1", "veilcam_queue_jobs_dead_total 1", "veilcam_queue_jobs_failed_total 0"] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
    }
}

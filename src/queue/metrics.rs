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
use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::live::metrics::METRICS_CONTENT_TYPE;
use crate::metrics_http::{HttpServer, Request, Response};

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

/// `/metrics` on its own thread, bounded against idle and slow clients
/// ([`crate::metrics_http`]); stops when dropped.
pub struct MetricsServer {
    pub addr: SocketAddr,
    _server: HttpServer,
}

impl MetricsServer {
    pub fn start(addr: SocketAddr, metrics: Arc<WorkerMetrics>) -> crate::Result<Self> {
        let server = HttpServer::start(addr, "veilcam-queue-metrics", "metrics server", Arc::new(move |request: Request<'_>| respond(request, &metrics)))?;
        let addr = server.local_addr();
        tracing::info!(%addr, "queue metrics on http://{addr}/metrics");
        Ok(MetricsServer { addr, _server: server })
    }
}

/// `/metrics` whatever the method; anything else 404.
fn respond(request: Request<'_>, metrics: &WorkerMetrics) -> Response {
    let (status, body) = if request.path == "/metrics" { (200, metrics.encode()) } else { (404, "not found: try /metrics\n".into()) };
    Response { status, content_type: METRICS_CONTENT_TYPE, body }
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

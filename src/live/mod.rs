//! Live cameras: configuration ([`config`]) and Prometheus metrics with health ([`metrics`]).

pub mod config;
pub mod metrics;

//! Sinks: where redacted frames go. The file sink encodes to H.264 and muxes into a container
//! written atomically.

pub mod file;

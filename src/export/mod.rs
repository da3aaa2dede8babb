//! Legal-request export (issue #12): a redacted, signed, verifiable case bundle and the
//! hash-chained audit log of what was done.

pub mod audit;
pub mod bundle;
pub mod commands;
pub mod keys;
pub mod minisig;
pub mod verify;

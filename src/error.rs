//! Typed errors. Every variant names the file (or element) it concerns and the cause, so a
//! user reading one line of stderr knows what went wrong and where.

use std::path::PathBuf;

/// Everything that can end a redaction run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: no such file")]
    InputNotFound { path: PathBuf },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: cannot decode: {message}")]
    Decode { path: PathBuf, message: String },

    #[error("{path}: contains no video stream")]
    NoVideo { path: PathBuf },

    #[error("{path}: cannot encode: {message}")]
    Encode { path: PathBuf, message: String },

    #[error("{path}: already exists (pass --overwrite to replace it)")]
    OutputExists { path: PathBuf },

    #[error("{path}: cannot read image: {message}")]
    Image { path: PathBuf, message: String },

    #[error("{path}: cannot write image: {message}")]
    ImageWrite { path: PathBuf, message: String },

    #[error("model {path}: {message}")]
    Model { path: PathBuf, message: String },

    #[error("ONNX Runtime library {path}: {message}")]
    Runtime { path: PathBuf, message: String },

    #[error("detector failed on frame {frame}: {message}")]
    Detect { frame: u64, message: String },

    #[error("{path}: GStreamer element missing: {message}")]
    MissingElement { path: PathBuf, message: String },

    #[error("{0}")]
    Pipeline(String),

    #[error("config {path}: {message}")]
    Config { path: PathBuf, message: String },

    #[error("invalid setting: {0}")]
    Settings(String),

    /// Results could not all be written to stdout (a full disk, an I/O error; not a reader
    /// that has gone, which is no error).
    #[error("cannot write to standard output: {0}")]
    Stdout(#[source] std::io::Error),

    #[error("interrupted")]
    Interrupted,

    #[error(transparent)]
    Export(#[from] crate::export::ExportError),

    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// The same error, naming `input` where it names no file of its own (a detector or
    /// pipeline failure), so the user knows which file it concerns.
    pub fn naming(self, input: &std::path::Path) -> Self {
        match self {
            Error::Detect { .. } | Error::Pipeline(_) => Error::Pipeline(format!("{}: {self}", input.display())),
            other => other,
        }
    }
}

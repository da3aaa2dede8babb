//! Typed errors. Every variant names the file (or element) it concerns and the cause, so a
//! user reading one line of stderr knows what went wrong and where.

use std::path::PathBuf;

/// Everything that can end a redaction run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: no such file", crate::one_line_path(.path))]
    InputNotFound { path: PathBuf },

    #[error("{}: {source}", crate::one_line_path(.path))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: cannot decode: {message}", crate::one_line_path(.path))]
    Decode { path: PathBuf, message: String },

    #[error("{}: contains no video stream", crate::one_line_path(.path))]
    NoVideo { path: PathBuf },

    #[error("{}: cannot encode: {message}", crate::one_line_path(.path))]
    Encode { path: PathBuf, message: String },

    #[error("{}: already exists (pass --overwrite to replace it)", crate::one_line_path(.path))]
    OutputExists { path: PathBuf },

    #[error("{}: cannot read image: {message}", crate::one_line_path(.path))]
    Image { path: PathBuf, message: String },

    #[error("{}: cannot write image: {message}", crate::one_line_path(.path))]
    ImageWrite { path: PathBuf, message: String },

    #[error("model {}: {message}", crate::one_line_path(.path))]
    Model { path: PathBuf, message: String },

    #[error("ONNX Runtime library {}: {message}", crate::one_line_path(.path))]
    Runtime { path: PathBuf, message: String },

    #[error("detector failed on frame {frame}: {message}")]
    Detect { frame: u64, message: String },

    #[error("{}: GStreamer element missing: {message}", crate::one_line_path(.path))]
    MissingElement { path: PathBuf, message: String },

    #[error("{0}")]
    Pipeline(String),

    #[error("config {}: {message}", crate::one_line_path(.path))]
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
            Error::Detect { .. } | Error::Pipeline(_) => Error::Pipeline(format!("{}: {self}", crate::one_line_path(input))),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStrExt;

    use super::*;

    #[test]
    fn an_error_names_a_file_whose_name_is_not_utf8_by_its_bytes() {
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(b"/in/n\xff\n.mp4"));
        let err = Error::io(&path, std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(err.to_string().starts_with(r"/in/n\xff\n.mp4: "), "{err}");
        let err = Error::Pipeline("detector failed".into()).naming(&path);
        assert_eq!(err.to_string(), r"/in/n\xff\n.mp4: detector failed");
    }
}

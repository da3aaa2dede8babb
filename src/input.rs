//! Input files: what veilcam agrees to read. Only a regular file (or a symlink to one) is read;
//! a FIFO, device or socket would block or never end, and is refused with what it is.

use std::path::Path;

use crate::error::{Error, Result};

/// Checks that `path` is a readable, non-empty regular file, naming the cause otherwise.
pub fn check(path: &Path) -> Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(match std::fs::symlink_metadata(path) {
                Ok(_) => Error::io(path, std::io::Error::other("is a symbolic link to a file that does not exist")),
                Err(_) => Error::InputNotFound { path: path.to_path_buf() },
            });
        }
        // A symlink loop, a permission problem …: the system's own words.
        Err(e) => return Err(Error::io(path, e)),
    };
    if meta.is_dir() {
        return Err(Error::io(path, std::io::Error::other("is a directory")));
    }
    if !meta.is_file() {
        return Err(Error::io(path, std::io::Error::other(kind_of(&meta))));
    }
    if meta.len() == 0 {
        return Err(Error::Decode { path: path.to_path_buf(), message: "file is empty".into() });
    }
    std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    Ok(())
}

/// The bytes of the small file `path` (a config, a report, a key): a regular file of at most
/// `max` bytes. A FIFO, device or directory is refused with what it is, without waiting on it
/// (it is opened non-blocking), and a larger file without reading past `max` (found by hostile
/// use: `--config /dev/zero` grew to 9 GB, and `--config FIFO` waited for ever).
pub fn read_small(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other(kind_of(&meta)));
    }
    let mut bytes = Vec::new();
    // One byte past the limit, so that a file of exactly `max` bytes is read whole.
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        let size = if max >= 1 << 20 { format!("{} MiB", max >> 20) } else { format!("{max} bytes") };
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("is larger than {size}")));
    }
    Ok(bytes)
}

/// Which file `path` is, following symbolic links: its device and inode, the same for every
/// path to one file (another spelling, a hard link, a symbolic link). `None` when it cannot be
/// read.
pub fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|meta| (meta.dev(), meta.ino()))
}

/// "is not a regular file (…)" with what the file is instead.
pub fn kind_of(meta: &std::fs::Metadata) -> String {
    format!("is not a regular file (a {})", type_name(&meta.file_type()))
}

/// What a file that is not a regular file is: "FIFO", "character device" ….
pub fn type_name(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_fifo() {
        "FIFO"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_socket() {
        "socket"
    } else if t.is_dir() {
        "directory"
    } else if t.is_symlink() {
        "symbolic link"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_devices_and_symlink_loops_are_refused_with_their_real_cause() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("p.jpg");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(check(&fifo).unwrap_err().to_string().contains("a FIFO"));
        assert!(check(Path::new("/dev/zero")).unwrap_err().to_string().contains("a character device"));
        let looped = dir.path().join("loop.mp4");
        std::os::unix::fs::symlink(&looped, &looped).unwrap();
        let err = check(&looped).unwrap_err().to_string();
        assert!(err.contains("symbolic links"), "{err}");
        let dangling = dir.path().join("dangling.mp4");
        std::os::unix::fs::symlink(dir.path().join("gone.mp4"), &dangling).unwrap();
        assert!(check(&dangling).unwrap_err().to_string().contains("does not exist"));
        assert!(matches!(check(&dir.path().join("none.mp4")), Err(Error::InputNotFound { .. })));
    }
}

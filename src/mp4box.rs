//! ISO base media file boxes (MP4, MOV): the box headers and big-endian fields that veilcam
//! reads in the files its muxers wrote (the live recorder's fragments, `live::segments`) and
//! mends in place (a late picture's edit list, `sink::edit_list`).
//!
//! Every box is `size: u32 BE, type: [u8; 4]`, then its body; `size == 1` means a `u64` size
//! follows the type, and `size == 0` "to the end of the file" (ISO/IEC 14496-12).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// `(type, body start, box size)` of the box at `pos`, or `None` at the end or on a cut header.
pub(crate) fn read_box_header(file: &mut File, pos: u64, len: u64) -> std::io::Result<Option<([u8; 4], u64, u64)>> {
    if pos + 8 > len {
        return Ok(None);
    }
    let mut header = [0u8; 8];
    file.seek(SeekFrom::Start(pos))?;
    file.read_exact(&mut header)?;
    let kind: [u8; 4] = header[4..8].try_into().expect("4 bytes");
    let size = u32::from_be_bytes(header[0..4].try_into().expect("4 bytes")) as u64;
    let (start, size) = match size {
        0 => (pos + 8, len - pos),
        1 => {
            if pos + 16 > len {
                return Ok(None);
            }
            let mut large = [0u8; 8];
            file.read_exact(&mut large)?;
            (pos + 16, u64::from_be_bytes(large))
        }
        n => (pos + 8, n),
    };
    if size < start - pos {
        return Ok(None);
    }
    Ok(Some((kind, start, size)))
}

/// The big-endian `u32` at `at` of `body`.
pub(crate) fn be32(body: &[u8], at: usize) -> Option<u32> {
    body.get(at..at + 4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")))
}

/// The child boxes `(type, body)` of a container body (32-bit sizes, as in `moof`).
pub(crate) fn children(body: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let header = body.get(pos..pos + 8)?;
        let size = u32::from_be_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
        let kind: [u8; 4] = header[4..8].try_into().expect("4 bytes");
        if size < 8 || pos + size > body.len() {
            return None;
        }
        let child = &body[pos + 8..pos + size];
        pos += size;
        Some((kind, child))
    })
}

/// The first child of `body` of type `kind`.
pub(crate) fn child<'a>(body: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(body).find(|(k, _)| k == kind).map(|(_, b)| b)
}

/// The big-endian `u64` at `at` of `body`.
pub(crate) fn be64(body: &[u8], at: usize) -> Option<u64> {
    body.get(at..at + 8).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
}

//! A PNG's compressed metadata, dropped before decoding: an ICC profile (`iCCP`) or compressed
//! text (`zTXt`, `iTXt`) inflates to whatever size its deflate stream says, and the decoder
//! inflated an `iCCP` whole (found by hostile use: a 2.9 MB PNG whose profile inflates to 2 GB
//! took 2.1 GB). veilcam writes images without metadata and applies no colour profile, so the
//! picture decodes the same without them.

use std::borrow::Cow;

/// The PNG signature that starts every PNG file.
const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Chunks holding compressed metadata, which nothing veilcam does reads.
const COMPRESSED_METADATA: [&[u8; 4]; 3] = [b"iCCP", b"zTXt", b"iTXt"];

/// `bytes` without their compressed metadata chunks; `bytes` as they are when they hold none, or
/// when their chunks do not parse (the decoder then says what is wrong).
pub fn without_compressed_metadata(bytes: &[u8]) -> Cow<'_, [u8]> {
    let Some(chunks) = chunks(bytes) else { return Cow::Borrowed(bytes) };
    if !chunks.iter().any(|c| is_compressed_metadata(&bytes[c.clone()])) {
        return Cow::Borrowed(bytes);
    }
    let mut kept = SIGNATURE.to_vec();
    for chunk in chunks.into_iter().filter(|c| !is_compressed_metadata(&bytes[c.clone()])) {
        kept.extend_from_slice(&bytes[chunk]);
    }
    Cow::Owned(kept)
}

/// Whether the whole `chunk` (length, type, data and CRC) holds compressed metadata.
fn is_compressed_metadata(chunk: &[u8]) -> bool {
    COMPRESSED_METADATA.iter().any(|kind| &chunk[4..8] == *kind)
}

/// The byte ranges of the chunks of the PNG `bytes`, each whole (length, type, data and CRC), up
/// to the end of the file; `None` when it is no PNG or a chunk runs past the end.
fn chunks(bytes: &[u8]) -> Option<Vec<std::ops::Range<usize>>> {
    let mut at = SIGNATURE.len();
    if bytes.get(..at)? != SIGNATURE {
        return None;
    }
    let mut found = Vec::new();
    while at < bytes.len() {
        let length = u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
        let end = at.checked_add(12)?.checked_add(length)?;
        bytes.get(at..end)?;
        found.push(at..end);
        at = end;
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk of `kind` holding `data`, with its CRC (PNG's CRC-32, bit by bit).
    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in kind.iter().chain(data) {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        [&(data.len() as u32).to_be_bytes()[..], kind, data, &(!crc).to_be_bytes()].concat()
    }

    /// A 2×2 grey PNG made by the image crate, with `extra` chunks after its header.
    fn png_with(extra: &[Vec<u8>]) -> (Vec<u8>, Vec<u8>) {
        let img = image::GrayImage::from_raw(2, 2, vec![10, 20, 30, 40]).unwrap();
        let mut plain = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut plain), image::ImageFormat::Png).unwrap();
        let after_header = SIGNATURE.len() + 12 + 13;
        let crafted = [&plain[..after_header], &extra.concat(), &plain[after_header..]].concat();
        (plain, crafted)
    }

    #[test]
    fn an_icc_profile_and_compressed_text_are_dropped_and_the_picture_decodes_the_same() {
        let profile = chunk(b"iCCP", b"icc\0\0\x78\x9c\x03\x00\x00\x00\x00\x01");
        let (plain, crafted) = png_with(&[profile, chunk(b"zTXt", b"k\0\0\x78\x9c\x03\x00\x00\x00\x00\x01"), chunk(b"iTXt", b"k\0\0\0\0\0v")]);
        let kept = without_compressed_metadata(&crafted);
        assert_eq!(kept.as_ref(), plain.as_slice());
        let decode = |b: &[u8]| image::load_from_memory(b).unwrap().to_luma8().into_raw();
        assert_eq!(decode(&kept), vec![10, 20, 30, 40]);
    }

    #[test]
    fn a_png_without_compressed_metadata_or_that_does_not_parse_is_left_as_it_is() {
        let (plain, with_text) = png_with(&[chunk(b"tEXt", b"k\0v")]);
        assert!(matches!(without_compressed_metadata(&with_text), Cow::Borrowed(_)));
        assert!(matches!(without_compressed_metadata(&plain), Cow::Borrowed(_)));
        let cut = &with_text[..with_text.len() - 5];
        assert!(matches!(without_compressed_metadata(cut), Cow::Borrowed(b) if b == cut));
        assert!(matches!(without_compressed_metadata(b"GIF89a"), Cow::Borrowed(_)));
    }
}

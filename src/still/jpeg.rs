//! Is a JPEG whole? A JPEG cut short and closed with an end-of-image marker decodes without an
//! error in every decoder veilcam has, its missing part grey or blurred (found by hostile use).
//! Two checks tell it apart, each for the way a cut shows in one kind of JPEG:
//! - **its last scan cut**: decoding must stop before a run of ones placed ahead of the end
//!   marker ([`damage`]); this finds a cut baseline JPEG, and a progressive one cut inside a scan;
//! - **its last scans missing** (progressive only): the scans that remain must still bring every
//!   coefficient of every component to full precision ([`unfinished_coefficients`]).

use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

/// The markers that carry no length: restarts, start and end of image, and `TEM`.
const fn stands_alone(marker: u8) -> bool {
    matches!(marker, 0x01 | 0xD0..=0xD9)
}

/// Why the JPEG `bytes` is not whole, if it is not, decoding it in zune-jpeg's strict mode.
///
/// A cut JPEG decodes cleanly to the end marker that closes it, the decoder reading zeros after
/// the marker. So the marker is put after 64 bits of ones (stuffed `FF 00` bytes): a whole picture
/// reads no further than its own data, while a cut one reads on into them, and a run of ones is
/// no Huffman code (the spec reserves it), so it fails. (Without the marker, a whole picture
/// failed too: the decoder reads ahead.) A progressive scan that reads raw bits (a DC refinement)
/// takes the ones, and a scan never begun leaves no trace here: [`unfinished_coefficients`] finds
/// those.
pub(super) fn damage(bytes: &[u8]) -> Option<String> {
    let strict = |data| JpegDecoder::new_with_options(std::io::Cursor::new(data), DecoderOptions::default().set_strict_mode(true));
    let mut headers = strict(bytes);
    if let Err(e) = headers.decode_headers() {
        return Some(format!("{e:?}"));
    }
    let progressive = headers.info().is_some_and(|info| !info.sof.is_sequential_dct());
    let padded;
    let data = match bytes.strip_suffix(&[0xFF, 0xD9]) {
        Some(open) => {
            padded = [open, &[0xFF, 0x00].repeat(8), &[0xFF, 0xD9][..]].concat();
            &padded[..]
        }
        None => bytes,
    };
    if let Err(e) = strict(data).decode() {
        return Some(format!("{e:?}"));
    }
    progressive.then(|| unfinished_coefficients(bytes)).flatten()
}

/// Why the progressive JPEG `bytes` leaves part of its picture unfinished, if it does: a
/// component's coefficient that no scan brings to full precision (successive approximation down
/// to bit 0). The scans of a progressive JPEG cut short at a scan's start are each whole, and the
/// picture decodes blurred; what is missing is a later scan.
///
/// libjpeg writes every coefficient to full precision (its default scan script and Pillow's,
/// ImageMagick's, jpegtran's and mozjpeg's), as does every encoder seen; the spec allows a
/// progressive JPEG to stop earlier, and such a rare picture is refused as unfinished.
pub(super) fn unfinished_coefficients(bytes: &[u8]) -> Option<String> {
    let mut components: Vec<u8> = Vec::new();
    let mut finished: Vec<[bool; 64]> = Vec::new();
    for (marker, payload) in segments(bytes) {
        match marker {
            // SOF2: precision, height, width, the component count, then 3 bytes a component.
            0xC2 => {
                let count = usize::from(*payload.get(5)?);
                components = (0..count).filter_map(|c| payload.get(6 + 3 * c).copied()).collect();
                finished = vec![[false; 64]; components.len()];
            }
            // SOS: the component count, 2 bytes a component, then Ss, Se and Ah|Al.
            0xDA => {
                let count = usize::from(*payload.first()?);
                let band = payload.get(1 + 2 * count..4 + 2 * count)?;
                let (first, last, low_bit) = (usize::from(band[0]), usize::from(band[1]).min(63), band[2] & 0x0F);
                if low_bit != 0 || first > last {
                    continue;
                }
                for c in 0..count {
                    if let Some(index) = components.iter().position(|&id| Some(&id) == payload.get(1 + 2 * c)) {
                        finished[index][first..=last].fill(true);
                    }
                }
            }
            _ => {}
        }
    }
    let unfinished: usize = finished.iter().map(|coefficients| coefficients.iter().filter(|&&done| !done).count()).sum();
    (components.is_empty() || unfinished > 0).then(|| {
        format!("its scans stop short: {unfinished} of {} coefficients never reach full precision", 64 * components.len())
    })
}

/// The marker segments of a JPEG after its start marker, up to its end marker: each marker with
/// its payload (the bytes after the length). A scan's entropy-coded data is skipped: there a
/// `FF` is followed by a stuffed `00`, a restart marker, or more `FF` fill.
fn segments(bytes: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut at = 2;
    std::iter::from_fn(move || loop {
        let rest = bytes.get(at..)?;
        let found = rest.windows(2).position(|w| w[0] == 0xFF && w[1] != 0x00 && w[1] != 0xFF && !(0xD0..=0xD7).contains(&w[1]))?;
        let marker = rest[found + 1];
        at += found + 2;
        if marker == 0xD9 {
            return None;
        }
        if stands_alone(marker) {
            continue;
        }
        let length = usize::from(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?])).max(2);
        let payload = bytes.get(at + 2..at + length)?;
        at += length;
        return Some((marker, payload));
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;
    use image::RgbImage;

    /// A baseline JPEG of `width`×`height` (a gradient, so that its blocks differ) at `quality`.
    fn baseline(width: u32, height: u32, quality: u8) -> Vec<u8> {
        let img = RgbImage::from_fn(width, height, |x, y| image::Rgb([(x * 7 % 256) as u8, (y * 5 % 256) as u8, ((x + y) % 256) as u8]));
        let mut bytes = Vec::new();
        img.write_with_encoder(JpegEncoder::new_with_quality(&mut bytes, quality)).unwrap();
        bytes
    }

    /// `tests/data/grace_hopper_progressive.jpg`: the sample portrait made progressive by
    /// `jpegtran -progressive -copy none` (libjpeg's default scan script, ten scans).
    fn progressive() -> Vec<u8> {
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/grace_hopper_progressive.jpg")).unwrap()
    }

    fn cut_and_closed(whole: &[u8], keep: usize) -> Vec<u8> {
        [&whole[..keep], &[0xFF, 0xD9][..]].concat()
    }

    /// Complete baseline JPEGs of any size decode without their end marker, and every one cut
    /// short and closed with the marker is damaged.
    #[test]
    fn a_baseline_jpeg_cut_and_closed_with_an_end_marker_is_damaged_and_a_whole_one_is_not() {
        for (width, height, quality) in [(1, 1, 90), (7, 300, 20), (333, 217, 92), (640, 480, 100), (1000, 9, 50)] {
            let whole = baseline(width, height, quality);
            assert_eq!(damage(&whole), None, "{width}×{height} q{quality}");
            for keep in [whole.len() / 4, whole.len() / 2, whole.len() - 40] {
                if keep > 700 {
                    assert!(damage(&cut_and_closed(&whole, keep)).is_some(), "{width}×{height} q{quality}, cut at {keep} of {}", whole.len());
                }
            }
        }
    }

    /// Found by hostile use: a progressive JPEG cut and closed with an end marker decoded blurred,
    /// or grey where its first scans were missing. Cut anywhere, in a scan's data (the ones), in
    /// its refinement of raw bits or between scans (the coefficients), it is damaged.
    #[test]
    fn a_progressive_jpeg_cut_anywhere_and_closed_with_an_end_marker_is_damaged_and_a_whole_one_is_not() {
        let whole = progressive();
        assert_eq!(damage(&whole), None);
        for keep in (300..whole.len() - 2).step_by(997) {
            assert!(damage(&cut_and_closed(&whole, keep)).is_some(), "cut at {keep} of {}", whole.len());
        }
    }

    /// The one cut the run of ones cannot find: the DC refinement scan (raw bits, any bits
    /// valid) cut short, the scans after it missing. Its picture decodes; its coefficients say
    /// what is missing.
    #[test]
    fn a_progressive_jpeg_whose_last_scans_are_missing_leaves_coefficients_unfinished() {
        let whole = progressive();
        assert_eq!(unfinished_coefficients(&whole), None);
        let scans: Vec<usize> = whole.windows(2).enumerate().filter(|(_, w)| w == &[0xFF, 0xDA]).map(|(at, _)| at).collect();
        assert_eq!(scans.len(), 10, "libjpeg's default script");
        // The seventh scan refines the DC coefficients to full precision; cut in its middle.
        let cut = cut_and_closed(&whole, (scans[6] + scans[7]) / 2);
        let why = unfinished_coefficients(&cut).expect("unfinished");
        assert!(why.contains("189 of 192 coefficients"), "{why}");
        assert!(damage(&cut).is_some());
    }
}

//! A picture that starts late keeps its start in an MP4 or MOV: an empty edit before it.
//!
//! mp4mux and qtmux measure each track's start from the earliest stream's, so an output always
//! starts at its earliest frame or sound: a video whose first frame comes a second into the
//! input (an MP4 whose edit list starts the picture late, as a camera's recording whose sound
//! starts first, once veilcam has dropped the sound; or a picture and a kept sound that both
//! start late) was written a second early, every frame shifted and the clip a second short.
//! [`start_late`] rewrites the finished file's movie box the way ffmpeg and mp4mux itself write
//! a late stream: in every track an empty edit of the lateness first, then the media as before,
//! and the movie and track durations longer by it.
//!
//! Only the movie box changes, and it stays where the muxer put it: last in the file, after the
//! media, so no chunk offset moves. A file laid out otherwise is refused (the muxer is veilcam's
//! own, so that would be a bug, and the run fails instead of writing a shifted file).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::mp4box::{be32, be64, children, read_box_header};

/// A box: its type and body.
type Atom<'a> = ([u8; 4], &'a [u8]);

/// Rewrites the MP4 or MOV at `path` so that every track starts `late_ns` later than the muxer
/// wrote it (see the module's docs). Returns why not when the file is not laid out as mp4mux and
/// qtmux write it.
pub fn start_late(path: &Path, late_ns: u64) -> Result<(), String> {
    let mut file = OpenOptions::new().read(true).write(true).open(path).map_err(|e| e.to_string())?;
    let (moov_at, moov) = last_box(&mut file)?;
    let moov = moov.ok_or("the movie box is not the last box of the file")?;
    let new = with_leading_gap(&moov, late_ns)?;
    file.seek(SeekFrom::Start(moov_at)).map_err(|e| e.to_string())?;
    file.write_all(&new).map_err(|e| e.to_string())?;
    // Synced with the rest of the output when it is committed.
    file.set_len(moov_at + new.len() as u64).map_err(|e| e.to_string())
}

/// The offset of the file's last top-level box, and the whole box when it is the movie box.
fn last_box(file: &mut File) -> Result<(u64, Option<Vec<u8>>), String> {
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let (mut at, mut last) = (0u64, None);
    while let Some((kind, _, size)) = read_box_header(file, at, len).map_err(|e| e.to_string())? {
        if at + size > len {
            return Err(format!("a box of {size} bytes at byte {at} does not fit the file of {len}"));
        }
        last = Some((at, size, kind));
        at += size;
    }
    if at < len {
        return Err(format!("a box header is cut off at byte {at}"));
    }
    let Some((at, size, kind)) = last else { return Err("the file is empty".into()) };
    if &kind != b"moov" {
        return Ok((at, None));
    }
    let mut moov = vec![0u8; size as usize];
    file.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
    file.read_exact(&mut moov).map_err(|e| e.to_string())?;
    Ok((at, Some(moov)))
}

/// The child boxes of `body`, which they must fill exactly: the movie box is written back
/// whole, and a box not read would be lost.
fn atoms(body: &[u8]) -> Result<Vec<Atom<'_>>, String> {
    let found: Vec<Atom<'_>> = children(body).collect();
    let read: usize = found.iter().map(|(_, b)| b.len() + 8).sum();
    if read != body.len() {
        return Err(format!("a box is cut off ({} bytes left)", body.len() - read));
    }
    Ok(found)
}

/// `body` as a box of `kind`.
fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let size = u32::try_from(body.len() + 8).expect("a movie box under 4 GiB");
    [&size.to_be_bytes()[..], kind, body].concat()
}

/// The movie box `moov` (whole, header included) with every track starting `late_ns` later.
fn with_leading_gap(moov: &[u8], late_ns: u64) -> Result<Vec<u8>, String> {
    let children = atoms(&moov[8..])?;
    let (_, mvhd) = children.iter().find(|(kind, _)| kind == b"mvhd").ok_or("no movie header")?;
    let timescale = u64::from(be32(mvhd, if mvhd.first() == Some(&1) { 20 } else { 12 }).ok_or_else(|| too_short(mvhd))?);
    if timescale == 0 {
        return Err("the movie's time scale is 0".into());
    }
    // The nearest tick (mp4mux's movie time scale is 1000: milliseconds).
    let late = ((u128::from(late_ns) * u128::from(timescale) + 500_000_000) / 1_000_000_000) as u64;
    if late == 0 {
        return Ok(moov.to_vec());
    }
    let mut body = Vec::with_capacity(moov.len() + 64);
    for (kind, child) in &children {
        let rewritten = match kind {
            b"mvhd" => boxed(b"mvhd", &longer(child, 16, 24, late)?),
            b"trak" => boxed(b"trak", &late_track(child, late)?),
            kind => boxed(kind, child),
        };
        body.extend_from_slice(&rewritten);
    }
    Ok(boxed(b"moov", &body))
}

fn too_short(header: &[u8]) -> String {
    format!("a header of {} bytes is too short", header.len())
}

/// A header's duration (`header`, version 0 or 1), at `v0_at` (32 bits) in version 0 and at
/// `v1_at` (64 bits) in version 1.
fn duration(header: &[u8], v0_at: usize, v1_at: usize) -> Result<u64, String> {
    let d = if header.first() == Some(&1) { be64(header, v1_at) } else { be32(header, v0_at).map(u64::from) };
    d.ok_or_else(|| too_short(header))
}

/// A movie or track header (`header`, version 0 or 1) with its [`duration`] longer by `late`
/// ticks of the movie's time scale.
fn longer(header: &[u8], v0_at: usize, v1_at: usize, late: u64) -> Result<Vec<u8>, String> {
    let mut out = header.to_vec();
    let d = duration(header, v0_at, v1_at)?;
    if header.first() == Some(&1) {
        out[v1_at..v1_at + 8].copy_from_slice(&d.saturating_add(late).to_be_bytes());
    } else {
        let longer = u32::try_from(d + late).map_err(|_| "the movie is too long for a version 0 header")?;
        out[v0_at..v0_at + 4].copy_from_slice(&longer.to_be_bytes());
    }
    Ok(out)
}

/// One edit of an edit list: its length in movie ticks, where it starts in the media (-1: an
/// empty edit, nothing shown) and its rate (16.16 fixed point).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Edit {
    length: u64,
    media_time: i64,
    rate: u32,
}

/// A track box's body with an empty edit of `late` ticks first, its header longer by it.
fn late_track(trak: &[u8], late: u64) -> Result<Vec<u8>, String> {
    let children = atoms(trak)?;
    let (_, tkhd) = children.iter().find(|(kind, _)| kind == b"tkhd").ok_or("a track without a header")?;
    let mut edits = match children.iter().find(|(kind, _)| kind == b"edts") {
        Some((_, edts)) => {
            let (_, elst) = atoms(edts)?.into_iter().find(|(kind, _)| kind == b"elst").ok_or("an edit box without a list")?;
            read_edits(elst)?
        }
        // No list: the whole media, from its start.
        None => vec![Edit { length: duration(tkhd, 20, 28)?, media_time: 0, rate: 1 << 16 }],
    };
    match edits.first_mut() {
        Some(first) if first.media_time == -1 => first.length += late,
        _ => edits.insert(0, Edit { length: late, media_time: -1, rate: 1 << 16 }),
    }
    let edts = boxed(b"edts", &boxed(b"elst", &write_edits(&edits)));
    let mut out = Vec::with_capacity(trak.len() + 64);
    for (kind, child) in &children {
        match kind {
            b"tkhd" => {
                out.extend_from_slice(&boxed(b"tkhd", &longer(child, 20, 28, late)?));
                // The edit box follows the header, as mp4mux writes it.
                out.extend_from_slice(&edts);
            }
            b"edts" => {}
            kind => out.extend_from_slice(&boxed(kind, child)),
        }
    }
    Ok(out)
}

/// The edits of an edit list box's body.
fn read_edits(elst: &[u8]) -> Result<Vec<Edit>, String> {
    let v1 = elst.first() == Some(&1);
    let count = be32(elst, 4).ok_or_else(|| too_short(elst))? as usize;
    let size = if v1 { 20 } else { 12 };
    let edit = |at: usize| -> Option<Edit> {
        Some(if v1 {
            Edit { length: be64(elst, at)?, media_time: be64(elst, at + 8)? as i64, rate: be32(elst, at + 16)? }
        } else {
            Edit { length: u64::from(be32(elst, at)?), media_time: i64::from(be32(elst, at + 4)? as i32), rate: be32(elst, at + 8)? }
        })
    };
    (0..count).map(|i| edit(8 + i * size).ok_or_else(|| too_short(elst))).collect()
}

/// An edit list box's body: version 0 (32-bit fields, as mp4mux writes) when every edit
/// fits, else version 1.
fn write_edits(edits: &[Edit]) -> Vec<u8> {
    let fits = edits.iter().all(|e| u32::try_from(e.length).is_ok() && i32::try_from(e.media_time).is_ok());
    let mut out = vec![u8::from(!fits), 0, 0, 0];
    out.extend_from_slice(&(edits.len() as u32).to_be_bytes());
    for e in edits {
        if fits {
            out.extend_from_slice(&(e.length as u32).to_be_bytes());
            out.extend_from_slice(&(e.media_time as i32).to_be_bytes());
        } else {
            out.extend_from_slice(&e.length.to_be_bytes());
            out.extend_from_slice(&e.media_time.to_be_bytes());
        }
        out.extend_from_slice(&e.rate.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_list_reads_back_as_written_in_either_version() {
        let short = [Edit { length: 1000, media_time: -1, rate: 1 << 16 }, Edit { length: 2000, media_time: 0, rate: 1 << 16 }];
        let payload = write_edits(&short);
        assert_eq!((payload[0], payload.len()), (0, 8 + 2 * 12), "version 0 when every edit fits");
        assert_eq!(read_edits(&payload).unwrap(), short);
        let long = [Edit { length: 1 << 33, media_time: 7, rate: 1 << 16 }];
        let payload = write_edits(&long);
        assert_eq!((payload[0], payload.len()), (1, 8 + 20));
        assert_eq!(read_edits(&payload).unwrap(), long);
    }

    #[test]
    fn a_late_track_gets_an_empty_edit_first_or_a_longer_one_and_a_longer_header() {
        // tkhd version 0: flags, creation, modification, id, reserved, duration 2000, rest.
        let tkhd = |duration: u32| [&[0u8; 20][..], &duration.to_be_bytes(), &[0u8; 60]].concat();
        let media = boxed(b"mdia", b"media");
        let plain = [boxed(b"tkhd", &tkhd(2000)), media.clone()].concat();
        let edits_of = |trak: &[u8]| {
            let children = atoms(trak).unwrap();
            let kinds: Vec<&[u8; 4]> = children.iter().map(|(kind, _)| kind).collect();
            assert_eq!(kinds, [b"tkhd", b"edts", b"mdia"]);
            let duration = be32(children[0].1, 20).unwrap();
            (duration, read_edits(atoms(children[1].1).unwrap()[0].1).unwrap())
        };
        let (duration, edits) = edits_of(&late_track(&plain, 500).unwrap());
        let whole = Edit { length: 2000, media_time: 0, rate: 1 << 16 };
        assert_eq!((duration, edits.as_slice()), (2500, &[Edit { length: 500, media_time: -1, rate: 1 << 16 }, whole][..]));
        // Already late: the empty edit grows.
        let listed = [boxed(b"tkhd", &tkhd(2500)), boxed(b"edts", &boxed(b"elst", &write_edits(&edits))), media].concat();
        let (duration, edits) = edits_of(&late_track(&listed, 250).unwrap());
        assert_eq!((duration, edits.as_slice()), (2750, &[Edit { length: 750, media_time: -1, rate: 1 << 16 }, whole][..]));
    }

    #[test]
    fn a_file_whose_movie_box_is_not_last_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("faststart.mp4");
        let bytes = [boxed(b"ftyp", b"isom"), boxed(b"moov", &boxed(b"mvhd", &[0; 100])), boxed(b"mdat", b"frames")].concat();
        std::fs::write(&path, &bytes).unwrap();
        let why = start_late(&path, 1_000_000_000).unwrap_err();
        assert!(why.contains("not the last box"), "{why}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(start_late(&path, 1).unwrap_err().contains("does not fit"));
    }
}

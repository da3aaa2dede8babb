//! A picture that starts late keeps its start in an MP4 or MOV: an empty edit before it.
//!
//! mp4mux and qtmux measure each track's start from the earliest stream's, so an output with one
//! track always starts at its first frame: a video whose first frame comes a second into the
//! input (an MP4 whose edit list starts the picture late, as a camera's recording whose sound
//! starts first, once veilcam has dropped the sound) was written a second early, every frame
//! shifted and the clip a second short. [`start_late`] rewrites the finished file's movie box
//! the way ffmpeg and mp4mux itself write a late stream: an empty edit of the lateness first,
//! then the media as before, and the movie and track durations longer by it.
//!
//! Only the movie box changes, and it stays where the muxer put it: last in the file, after the
//! media, so no chunk offset moves. A file laid out otherwise is refused (the muxer is veilcam's
//! own, so that would be a bug, and the run fails instead of writing a shifted file).

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// One box: its type and payload (what follows its header).
struct Atom<'a> {
    kind: [u8; 4],
    payload: &'a [u8],
}

/// Rewrites the MP4 or MOV at `path` so that its picture starts `late_ns` after the movie
/// starts (see the module's docs). Returns why not when the file is not laid out as mp4mux and
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
fn last_box(file: &mut std::fs::File) -> Result<(u64, Option<Vec<u8>>), String> {
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let (mut at, mut last) = (0u64, None);
    while at < len {
        let mut header = [0u8; 16];
        file.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
        file.read_exact(&mut header[..8]).map_err(|_| format!("a box header is cut off at byte {at}"))?;
        let size = match u32::from_be_bytes(header[..4].try_into().expect("4 bytes")) {
            0 => len - at,
            1 => {
                file.read_exact(&mut header[8..]).map_err(|_| format!("a box header is cut off at byte {at}"))?;
                u64::from_be_bytes(header[8..].try_into().expect("8 bytes"))
            }
            n => u64::from(n),
        };
        if size < 8 || at + size > len {
            return Err(format!("a box of {size} bytes at byte {at} does not fit the file of {len}"));
        }
        last = Some((at, size, [header[4], header[5], header[6], header[7]]));
        at += size;
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

/// The boxes of `data`, one after another.
fn atoms(mut data: &[u8]) -> Result<Vec<Atom<'_>>, String> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let short = || format!("a box is cut off ({} bytes left)", data.len());
        let size = data.get(..4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes"))).ok_or_else(short)?;
        let (header, size) = match size {
            1 => (16, data.get(8..16).map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes"))).ok_or_else(short)?),
            0 => (8, data.len() as u64),
            n => (8, u64::from(n)),
        };
        let size = usize::try_from(size).map_err(|_| short())?;
        if size < header || size > data.len() {
            return Err(short());
        }
        out.push(Atom { kind: data[4..8].try_into().expect("4 bytes"), payload: &data[header..size] });
        data = &data[size..];
    }
    Ok(out)
}

/// `payload` as a box of `kind`.
fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let size = u32::try_from(payload.len() + 8).expect("a movie box under 4 GiB");
    [&size.to_be_bytes()[..], kind, payload].concat()
}

/// The movie box `moov` (whole, header included) with every track starting `late_ns` later.
fn with_leading_gap(moov: &[u8], late_ns: u64) -> Result<Vec<u8>, String> {
    let children = atoms(&moov[8..])?;
    let mvhd = children.iter().find(|a| &a.kind == b"mvhd").ok_or("no movie header")?;
    let timescale = u64::from(u32::from_be_bytes(field(mvhd.payload, if mvhd.payload[0] == 1 { 20 } else { 12 }, 4)?.try_into().expect("4 bytes")));
    if timescale == 0 {
        return Err("the movie's time scale is 0".into());
    }
    // The nearest tick (mp4mux's movie time scale is 1000: milliseconds).
    let late = ((u128::from(late_ns) * u128::from(timescale) + 500_000_000) / 1_000_000_000) as u64;
    if late == 0 {
        return Ok(moov.to_vec());
    }
    let mut payload = Vec::with_capacity(moov.len() + 64);
    for child in &children {
        let rewritten = match &child.kind {
            b"mvhd" => boxed(b"mvhd", &longer(child.payload, 16, 24, late)?),
            b"trak" => boxed(b"trak", &late_track(child.payload, late)?),
            kind => boxed(kind, child.payload),
        };
        payload.extend_from_slice(&rewritten);
    }
    Ok(boxed(b"moov", &payload))
}

/// `len` bytes of `payload` at `at`.
fn field(payload: &[u8], at: usize, len: usize) -> Result<&[u8], String> {
    payload.get(at..at + len).ok_or_else(|| format!("a header of {} bytes is too short", payload.len()))
}

/// A movie or track header (`payload`, version 0 or 1) with its duration longer by `late`
/// ticks of the movie's time scale; the duration lies at `v0_at` (32 bits) in version 0 and at
/// `v1_at` (64 bits) in version 1.
fn longer(payload: &[u8], v0_at: usize, v1_at: usize, late: u64) -> Result<Vec<u8>, String> {
    let mut out = payload.to_vec();
    if payload.first() == Some(&1) {
        let d = u64::from_be_bytes(field(payload, v1_at, 8)?.try_into().expect("8 bytes"));
        out[v1_at..v1_at + 8].copy_from_slice(&d.saturating_add(late).to_be_bytes());
    } else {
        let d = u32::from_be_bytes(field(payload, v0_at, 4)?.try_into().expect("4 bytes"));
        let longer = u32::try_from(u64::from(d) + late).map_err(|_| "the movie is too long for a version 0 header")?;
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

/// A track box's payload with an empty edit of `late` ticks first, its header longer by it.
fn late_track(trak: &[u8], late: u64) -> Result<Vec<u8>, String> {
    let children = atoms(trak)?;
    let tkhd = children.iter().find(|a| &a.kind == b"tkhd").ok_or("a track without a header")?;
    let duration = if tkhd.payload.first() == Some(&1) {
        u64::from_be_bytes(field(tkhd.payload, 28, 8)?.try_into().expect("8 bytes"))
    } else {
        u64::from(u32::from_be_bytes(field(tkhd.payload, 20, 4)?.try_into().expect("4 bytes")))
    };
    let mut edits = match children.iter().find(|a| &a.kind == b"edts") {
        Some(edts) => {
            let elst = atoms(edts.payload)?.into_iter().find(|a| &a.kind == b"elst").ok_or("an edit box without a list")?;
            read_edits(elst.payload)?
        }
        // No list: the whole media, from its start.
        None => vec![Edit { length: duration, media_time: 0, rate: 1 << 16 }],
    };
    match edits.first_mut() {
        Some(first) if first.media_time == -1 => first.length += late,
        _ => edits.insert(0, Edit { length: late, media_time: -1, rate: 1 << 16 }),
    }
    let edts = boxed(b"edts", &boxed(b"elst", &write_edits(&edits)));
    let mut out = Vec::with_capacity(trak.len() + 64);
    for child in &children {
        match &child.kind {
            b"tkhd" => {
                out.extend_from_slice(&boxed(b"tkhd", &longer(child.payload, 20, 28, late)?));
                // The edit box follows the header, as mp4mux writes it.
                out.extend_from_slice(&edts);
            }
            b"edts" => {}
            kind => out.extend_from_slice(&boxed(kind, child.payload)),
        }
    }
    Ok(out)
}

/// The edits of an edit list box's payload.
fn read_edits(elst: &[u8]) -> Result<Vec<Edit>, String> {
    let v1 = elst.first() == Some(&1);
    let count = u32::from_be_bytes(field(elst, 4, 4)?.try_into().expect("4 bytes")) as usize;
    let size = if v1 { 20 } else { 12 };
    (0..count)
        .map(|i| {
            let e = field(elst, 8 + i * size, size)?;
            Ok(if v1 {
                Edit {
                    length: u64::from_be_bytes(e[..8].try_into().expect("8 bytes")),
                    media_time: i64::from_be_bytes(e[8..16].try_into().expect("8 bytes")),
                    rate: u32::from_be_bytes(e[16..].try_into().expect("4 bytes")),
                }
            } else {
                Edit {
                    length: u64::from(u32::from_be_bytes(e[..4].try_into().expect("4 bytes"))),
                    media_time: i64::from(i32::from_be_bytes(e[4..8].try_into().expect("4 bytes"))),
                    rate: u32::from_be_bytes(e[8..].try_into().expect("4 bytes")),
                }
            })
        })
        .collect()
}

/// An edit list box's payload: version 0 (32-bit fields, as mp4mux writes) when every edit
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
            let tkhd = &children[0];
            assert_eq!((&tkhd.kind, &children[1].kind, &children[2].kind), (b"tkhd", b"edts", b"mdia"));
            let duration = u32::from_be_bytes(tkhd.payload[20..24].try_into().unwrap());
            (duration, read_edits(atoms(children[1].payload).unwrap()[0].payload).unwrap())
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

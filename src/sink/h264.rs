//! Constant-quality H.264 encoding with x264enc: the quality the user asks for (`--crf`),
//! capped only where the H.264 level of the picture's size and rate caps it.
//!
//! In constant quality (`pass=qual`) x264enc also caps the peak bit rate at its `bitrate`
//! property, 2048 kbit/s unless set, over a 600 ms buffer. Left at that, every output was
//! squeezed into 2 Mbit/s whatever its size: a 4K night clip came out at 1 Mbit/s, its sensor
//! noise gone, its faces blocks of mush and the flat background copied from frame to frame
//! ([`constant_quality`] documents the figures). Uncapped (the property at its maximum) x264
//! signals level 6.2 for any picture, which decoders of phones and browsers may refuse. The
//! cap here is the peak rate of the lowest level that holds the picture's size and macroblock
//! rate (of two such levels, the one of the higher rate): 14 Mbit/s for 768 × 576 at 25 fps
//! (level 3.1), 50 Mbit/s at 1080p30 (4.1), 240 Mbit/s at 4K30 (5.1).

use gstreamer as gst;
use gstreamer_video as gst_video;
use gst::prelude::*;

/// One H.264 level's limits (ITU-T H.264 table A-1): frame size and macroblock rate, and its
/// peak video bit rate in kbit/s for the Baseline and Main profiles (the High profile may reach
/// 1.25 times that; the lower figure keeps an encode within the level whatever its profile).
struct Level {
    frame_macroblocks: u64,
    macroblocks_per_second: u64,
    max_kbps: u32,
}

/// The levels from 2 up, lowest first; of levels with the same limits but for their rate
/// (1.3 and 2, 4 and 4.1) only the one of the higher rate: that of 4.1, the level of Blu-ray,
/// for 1080p at up to 30 fps. Below, x264enc's own cap, [`X264_DEFAULT_KBPS`], is higher.
const LEVELS: [Level; 14] = [
    Level { frame_macroblocks: 396, macroblocks_per_second: 11_880, max_kbps: 2_000 },
    Level { frame_macroblocks: 792, macroblocks_per_second: 19_800, max_kbps: 4_000 },
    Level { frame_macroblocks: 1_620, macroblocks_per_second: 20_250, max_kbps: 4_000 },
    Level { frame_macroblocks: 1_620, macroblocks_per_second: 40_500, max_kbps: 10_000 },
    Level { frame_macroblocks: 3_600, macroblocks_per_second: 108_000, max_kbps: 14_000 },
    Level { frame_macroblocks: 5_120, macroblocks_per_second: 216_000, max_kbps: 20_000 },
    Level { frame_macroblocks: 8_192, macroblocks_per_second: 245_760, max_kbps: 50_000 },
    Level { frame_macroblocks: 8_704, macroblocks_per_second: 522_240, max_kbps: 50_000 },
    Level { frame_macroblocks: 22_080, macroblocks_per_second: 589_824, max_kbps: 135_000 },
    Level { frame_macroblocks: 36_864, macroblocks_per_second: 983_040, max_kbps: 240_000 },
    Level { frame_macroblocks: 36_864, macroblocks_per_second: 2_073_600, max_kbps: 240_000 },
    Level { frame_macroblocks: 139_264, macroblocks_per_second: 4_177_920, max_kbps: 240_000 },
    Level { frame_macroblocks: 139_264, macroblocks_per_second: 8_355_840, max_kbps: 480_000 },
    Level { frame_macroblocks: 139_264, macroblocks_per_second: 16_711_680, max_kbps: 800_000 },
];

/// x264enc's cap when its `bitrate` is not set, in kbit/s: no picture gets less.
pub const X264_DEFAULT_KBPS: u32 = 2048;

/// Frame rate assumed for a picture whose caps give none (variable rate): a camera's.
const UNKNOWN_FPS: f64 = 30.0;

/// The peak bit rate, in kbit/s, of the lowest H.264 level that holds `width` × `height`
/// pictures at `fps` frames a second (`None`: unknown), and never below
/// [`X264_DEFAULT_KBPS`]; past the highest level, its rate.
pub fn peak_kbps(width: u32, height: u32, fps: Option<f64>) -> u32 {
    let macroblocks = u64::from(width.div_ceil(16)) * u64::from(height.div_ceil(16));
    let rate = (macroblocks as f64 * fps.filter(|f| f.is_finite() && *f > 0.0).unwrap_or(UNKNOWN_FPS)).ceil() as u64;
    let fits = |l: &&Level| l.frame_macroblocks >= macroblocks && l.macroblocks_per_second >= rate;
    LEVELS.iter().find(fits).unwrap_or(&LEVELS[LEVELS.len() - 1]).max_kbps.max(X264_DEFAULT_KBPS)
}

/// Milliseconds of the peak rate the encoder's buffer holds: a second, within every level's
/// coded picture buffer (at least its peak rate's second) and room for a key frame.
const BUFFER_MS: u32 = 1000;

/// Sets `encoder` (an x264enc) to constant quality `crf`, its peak rate capped by the level of
/// the pictures it is given ([`peak_kbps`]), set from their caps when they come.
///
/// Found by measuring the evaluation's 4K night clip: x264enc's default cap of 2048 kbit/s held
/// its 10 s to 1.2 MB, with most of the background a flat copy (a 40 px square's spread 0.0
/// luma levels where the generator drew sensor noise of 5); the harness's faces at 4K were
/// blocks, and veilcam's own outputs of any size were held to the same 2 Mbit/s.
pub fn constant_quality(encoder: &gst::Element, crf: u32) {
    encoder.set_property("quantizer", crf);
    encoder.set_property_from_str("pass", "qual");
    encoder.set_property("vbv-buf-capacity", BUFFER_MS);
    let sink = encoder.static_pad("sink").expect("x264enc has a sink pad");
    let weak = encoder.downgrade();
    sink.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, probe| {
        let Some(gst::PadProbeData::Event(event)) = &probe.data else { return gst::PadProbeReturn::Ok };
        if let (gst::EventView::Caps(caps), Some(encoder)) = (event.view(), weak.upgrade()) {
            if let Ok(info) = gst_video::VideoInfo::from_caps(caps.caps()) {
                let fps = info.fps();
                let fps = (fps.numer() > 0 && fps.denom() > 0).then(|| fps.numer() as f64 / fps.denom() as f64);
                encoder.set_property("bitrate", peak_kbps(info.width(), info.height(), fps));
            }
        }
        gst::PadProbeReturn::Ok
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_rate_is_that_of_the_lowest_level_holding_the_picture() {
        assert_eq!(peak_kbps(768, 576, Some(25.0)), 14_000, "level 3.1");
        assert_eq!(peak_kbps(1280, 720, Some(30.0)), 14_000, "level 3.1");
        assert_eq!(peak_kbps(1920, 1080, Some(30.0)), 50_000, "level 4.1");
        assert_eq!(peak_kbps(1920, 1080, Some(60.0)), 50_000, "level 4.2");
        assert_eq!(peak_kbps(3840, 2160, Some(30.0)), 240_000, "level 5.1");
        assert_eq!(peak_kbps(7680, 4320, Some(60.0)), 480_000, "level 6.1");
    }

    #[test]
    fn a_small_picture_keeps_at_least_x264s_own_cap() {
        assert_eq!(peak_kbps(16, 16, Some(15.0)), X264_DEFAULT_KBPS);
        assert_eq!(peak_kbps(352, 288, Some(30.0)), X264_DEFAULT_KBPS);
        assert_eq!(peak_kbps(640, 480, Some(30.0)), 10_000, "level 3");
    }

    #[test]
    fn a_picture_of_unknown_rate_is_taken_at_a_cameras_rate() {
        assert_eq!(peak_kbps(1920, 1080, None), peak_kbps(1920, 1080, Some(30.0)));
        assert_eq!(peak_kbps(1920, 1080, Some(f64::NAN)), peak_kbps(1920, 1080, Some(30.0)));
    }

    #[test]
    fn a_picture_beyond_every_level_gets_the_highest_levels_rate() {
        assert_eq!(peak_kbps(16_384, 16_384, Some(120.0)), 800_000);
    }
}

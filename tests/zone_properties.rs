//! Property tests (proptest) for the camera config parser and the zone rasteriser: what must
//! hold for every input, not only for the examples in the unit tests.
//!
//! Config: arbitrary TOML-ish text never panics the parser; every valid config round-trips
//! (written out as TOML and read back to the same camera); a NaN, infinite or out-of-range
//! coordinate is rejected with its key path named.
//!
//! Rasteriser: every pixel whose centre is strictly inside a convex polygon is covered; listing
//! a polygon's points twice, reversing them or starting elsewhere covers the same pixels; the
//! mask never writes outside the frame or into row padding, for any polygon (coordinates at
//! exactly 0 and 1 included) and tiny frames from 1×1 to 17×9.

use std::path::Path;

use proptest::prelude::*;
use veilcam::config::{parse_camera, BystanderPolicy, Camera, FacePolicy, PolicyConfig, Zone, ZoneKind};
use veilcam::frame::{Layout, PictureMut};
use veilcam::zones::{covers_a_pixel, ZoneMask};

const FILE: &str = "veilcam.toml";

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// A bare TOML key: lowercase letters, digits and `_`.
fn ident() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(b"abcdefghijklmnopqrstuvwxyz0123456789_".to_vec()), 1..8)
        .prop_map(|v| String::from_utf8(v).unwrap())
}

/// A relative coordinate, often exactly on the frame's edge.
fn coordinate() -> impl Strategy<Value = f64> {
    prop_oneof![1 => Just(0.0), 1 => Just(1.0), 6 => 0.0..=1.0f64]
}

fn polygon(points: std::ops::Range<usize>) -> impl Strategy<Value = Vec<(f64, f64)>> {
    prop::collection::vec((coordinate(), coordinate()), points)
}

fn kind() -> impl Strategy<Value = ZoneKind> {
    prop_oneof![Just(ZoneKind::Street), Just(ZoneKind::Property)]
}

fn policy() -> impl Strategy<Value = PolicyConfig> {
    let faces = prop_oneof![Just(FacePolicy::All), Just(FacePolicy::AllHeads), Just(FacePolicy::None), Just(FacePolicy::OutsideProperty)];
    let bystanders = prop_oneof![Just(BystanderPolicy::None), Just(BystanderPolicy::OutsideProperty), Just(BystanderPolicy::All)];
    (faces, bystanders).prop_map(|(faces, bystanders)| PolicyConfig { faces, bystanders })
}

/// A valid camera: named zones (sorted by name, as the parser returns them) that each cover a
/// pixel, and a policy.
fn camera() -> impl Strategy<Value = Camera> {
    let zone = (kind(), polygon(3..9).prop_filter("encloses an area", |p| covers_a_pixel(p)));
    (ident(), prop::collection::btree_map(ident(), zone, 0..4), policy()).prop_map(|(name, zones, policy)| Camera {
        name,
        zones: zones.into_iter().map(|(name, (kind, polygon))| Zone { name, kind, polygon }).collect(),
        policy,
    })
}

/// Text made of TOML fragments the config uses, and arbitrary characters.
fn tomlish() -> impl Strategy<Value = String> {
    const TOKENS: &[&str] = &[
        "[cameras.c]", "[cameras.c.zones.z]", "[cameras.c.zones.y]", "[cameras.d.zones.z]", "[cameras.c.policy]",
        "[[cameras.c.zones]]", "kind = \"street\"", "kind = \"property\"", "kind = 3", "coordinates = ", "faces = \"all\"",
        "faces = \"outside_property\"", "faces = \"some\"", "bystanders = \"outside_property\"", "bystanders = \"all\"", "[", "]", "[[", "]]", ",", "=", "{",
        "}", "\"", "'", "#", ".", "\n", " ", "0.0", "1.0", "0.5", "1", "-0.0", "nan", "inf", "-inf", "+inf", "1e308",
        "-1e-308", "5e-324", "0.999999999999999999", "true", "\"x\"", "cameras", "zones", "policy", "\u{feff}", "\u{0}",
    ];
    let piece = prop_oneof![4 => prop::sample::select(TOKENS).prop_map(String::from), 1 => any::<char>().prop_map(String::from)];
    prop::collection::vec(piece, 0..80).prop_map(|v| v.concat())
}

/// Writes a camera as the TOML a user would.
fn to_toml(c: &Camera) -> String {
    let mut text = format!("[cameras.{}]\n", c.name);
    for z in &c.zones {
        let kind = match z.kind {
            ZoneKind::Street => "street",
            ZoneKind::Property => "property",
        };
        let points: Vec<String> = z.polygon.iter().map(|(x, y)| format!("[{x:?}, {y:?}]")).collect();
        text += &format!("[cameras.{}.zones.{}]\nkind = \"{kind}\"\ncoordinates = [{}]\n", c.name, z.name, points.join(", "));
    }
    let faces = match c.policy.faces {
        FacePolicy::All => "all",
        FacePolicy::AllHeads => "all+heads",
        FacePolicy::None => "none",
        FacePolicy::OutsideProperty => "outside_property",
    };
    let bystanders = match c.policy.bystanders {
        BystanderPolicy::None => "none",
        BystanderPolicy::OutsideProperty => "outside_property",
        BystanderPolicy::All => "all",
    };
    text + &format!("[cameras.{}.policy]\nfaces = \"{faces}\"\nbystanders = \"{bystanders}\"\n", c.name)
}

fn street(polygon: &[(f64, f64)]) -> Camera {
    Camera {
        name: "c".into(),
        zones: vec![Zone { name: "z".into(), kind: ZoneKind::Street, polygon: polygon.to_vec() }],
        policy: PolicyConfig::default(),
    }
}

fn mask(polygon: &[(f64, f64)], w: usize, h: usize) -> ZoneMask {
    ZoneMask::new(&street(polygon), ZoneKind::Street, w, h)
}

/// A convex polygon: `n` points at sorted angles on an ellipse that fits in the frame.
fn convex() -> impl Strategy<Value = Vec<(f64, f64)>> {
    let ellipse = (0.0..=1.0f64, 0.0..=1.0f64, 0.0..=1.0f64, 0.0..=1.0f64);
    let angles = prop::collection::vec(0.0..std::f64::consts::TAU, 3..10);
    (ellipse, angles).prop_map(|((cx, cy, fx, fy), mut angles)| {
        let (rx, ry) = (fx * cx.min(1.0 - cx), fy * cy.min(1.0 - cy));
        angles.sort_by(f64::total_cmp);
        angles.iter().map(|a| ((cx + rx * a.cos()).clamp(0.0, 1.0), (cy + ry * a.sin()).clamp(0.0, 1.0))).collect()
    })
}

/// An axis-aligned rectangle whose sides are often exactly on the frame's edge.
fn rectangle() -> impl Strategy<Value = Vec<(f64, f64)>> {
    (coordinate(), coordinate(), coordinate(), coordinate()).prop_map(|(x0, y0, x1, y1)| vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
}

/// Whether pixel-space point `p` is inside convex `poly` by more than `margin` from every edge.
fn strictly_inside(poly: &[(f64, f64)], p: (f64, f64), margin: f64) -> bool {
    let n = poly.len();
    let area: f64 = (0..n).map(|i| poly[i].0 * poly[(i + 1) % n].1 - poly[(i + 1) % n].0 * poly[i].1).sum();
    if area == 0.0 {
        return false;
    }
    (0..n).all(|i| {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        let (ex, ey) = (b.0 - a.0, b.1 - a.1);
        let len = (ex * ex + ey * ey).sqrt();
        len == 0.0 || area.signum() * (ex * (p.1 - a.1) - ey * (p.0 - a.0)) > margin * len
    })
}

// ---------------------------------------------------------------------------------------------
// Config parser
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_tomlish_input_never_panics_the_parser(text in tomlish()) {
        for camera in [None, Some("c"), Some("d")] {
            if let Err(e) = parse_camera(&text, Path::new(FILE), camera) {
                prop_assert!(e.to_string().contains(FILE), "the error names the file: {e}");
            }
        }
    }

    #[test]
    fn a_valid_config_round_trips(camera in camera()) {
        let text = to_toml(&camera);
        let parsed = parse_camera(&text, Path::new(FILE), Some(&camera.name));
        prop_assert_eq!(parsed.as_ref().ok(), Some(&camera), "{}\n{:?}", text, parsed.as_ref().err().map(ToString::to_string));
        prop_assert_eq!(parse_camera(&text, Path::new(FILE), None).ok(), Some(camera), "the only camera need not be named");
    }

    #[test]
    fn nan_infinite_and_out_of_range_coordinates_are_rejected_naming_the_key(
        camera in camera().prop_filter("has a zone", |c| !c.zones.is_empty()),
        pick in any::<prop::sample::Index>(),
        axis in 0..2usize,
        bad in prop_oneof![
            Just("nan".to_string()), Just("-nan".to_string()), Just("inf".to_string()), Just("-inf".to_string()),
            (1.0f64..1e300).prop_filter("above 1", |v| *v > 1.0).prop_map(|v| format!("{v:?}")),
            (-1e300f64..0.0).prop_filter("below 0", |v| *v < 0.0).prop_map(|v| format!("{v:?}")),
        ],
    ) {
        let zone = &camera.zones[pick.index(camera.zones.len())];
        let i = pick.index(zone.polygon.len());
        let mut points: Vec<[String; 2]> = zone.polygon.iter().map(|(x, y)| [format!("{x:?}"), format!("{y:?}")]).collect();
        points[i][axis] = bad.clone();
        let list: Vec<String> = points.iter().map(|[x, y]| format!("[{x}, {y}]")).collect();
        let kind = if zone.kind == ZoneKind::Street { "street" } else { "property" };
        let text = format!("[cameras.{}.zones.{}]\nkind = \"{kind}\"\ncoordinates = [{}]\n", camera.name, zone.name, list.join(", "));
        let message = parse_camera(&text, Path::new(FILE), None).expect_err("a bad coordinate is rejected").to_string();
        let key = format!("cameras.{}.zones.{}.coordinates[{i}]", camera.name, zone.name);
        prop_assert!(message.contains(&key) && message.contains("outside 0–1"), "{} -> {}", bad, message);
    }
}

// ---------------------------------------------------------------------------------------------
// Rasteriser
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_pixel_strictly_inside_a_convex_polygon_is_covered(
        poly in prop_oneof![convex(), rectangle()],
        w in 1..64usize,
        h in 1..64usize,
    ) {
        let m = mask(&poly, w, h);
        let pixels: Vec<(f64, f64)> = poly.iter().map(|&(x, y)| (x * w as f64, y * h as f64)).collect();
        for y in 0..h {
            for x in 0..w {
                if strictly_inside(&pixels, (x as f64 + 0.5, y as f64 + 0.5), 1e-7) {
                    prop_assert!(m.covers(x, y), "{}x{} pixel ({},{}) inside {:?} is not covered", w, h, x, y, poly);
                }
            }
        }
    }

    #[test]
    fn listing_a_polygon_twice_reversed_or_rotated_covers_the_same_pixels(
        poly in polygon(3..9),
        rotate in any::<prop::sample::Index>(),
        w in 1..48usize,
        h in 1..48usize,
    ) {
        let once = mask(&poly, w, h);
        let twice: Vec<_> = poly.iter().chain(&poly).copied().collect();
        let reversed: Vec<_> = poly.iter().rev().copied().collect();
        let mut rotated = poly.clone();
        rotated.rotate_left(rotate.index(poly.len()));
        for (what, other) in [("twice", twice), ("reversed", reversed), ("rotated", rotated)] {
            prop_assert!(mask(&other, w, h) == once, "{} differs from {:?} at {}x{}", what, poly, w, h);
        }
    }

    #[test]
    fn the_mask_never_writes_outside_the_frame(
        polys in prop::collection::vec(polygon(3..7), 1..3),
        w in 1..=17usize,
        h in 1..=9usize,
        rgb in any::<bool>(),
    ) {
        const UNTOUCHED: u8 = 77;
        const PAD: usize = 3;
        const GUARD: usize = 16;
        let camera = Camera {
            name: "c".into(),
            zones: polys.iter().enumerate().map(|(i, p)| Zone { name: format!("z{i}"), kind: ZoneKind::Street, polygon: p.clone() }).collect(),
            policy: PolicyConfig::default(),
        };
        let m = ZoneMask::new(&camera, ZoneKind::Street, w, h);
        for y in 0..h {
            for &(a, b) in m.spans(y) {
                prop_assert!(a < b && b <= w, "span {:?} of row {} outside a {}-pixel row", (a, b), y, w);
            }
        }
        let layout = if rgb { Layout::Rgb } else { Layout::I420 };
        // Each plane: rows padded by PAD bytes, and GUARD bytes after the last row.
        let dims: Vec<(usize, usize, usize)> = layout
            .planes()
            .iter()
            .map(|k| (w.div_ceil(1 << k.x_shift) * k.channels, h.div_ceil(1 << k.y_shift), k.channels))
            .collect();
        let mut buffers: Vec<Vec<u8>> = dims.iter().map(|&(row, rows, _)| vec![UNTOUCHED; (row + PAD) * rows + GUARD]).collect();
        {
            let planes = buffers.iter_mut().zip(&dims).map(|(b, &(row, _, _))| (&mut b[..], row + PAD));
            m.blacken(&mut PictureMut::from_planes(layout, w, h, planes));
        }
        for (b, &(row, rows, _)) in buffers.iter().zip(&dims) {
            let stride = row + PAD;
            for y in 0..rows {
                prop_assert!(b[y * stride + row..(y + 1) * stride].iter().all(|&v| v == UNTOUCHED), "row {} padding written", y);
            }
            prop_assert!(b[stride * rows..].iter().all(|&v| v == UNTOUCHED), "bytes after the frame written");
        }
        // The first plane (luma or RGB) is black exactly where the mask is.
        let (row, _, ch) = dims[0];
        let black = layout.planes()[0].black[0];
        for y in 0..h {
            for x in 0..w {
                let px = &buffers[0][y * (row + PAD) + x * ch..][..ch];
                prop_assert_eq!(px.iter().all(|&v| v == black), m.covers(x, y), "pixel ({}, {})", x, y);
            }
        }
    }
}

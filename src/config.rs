//! The camera configuration file (TOML): privacy zones and the redaction policy per camera.
//!
//! ```toml
//! [cameras.front_door.zones.street]
//! kind = "street"              # always fully obscured, every frame
//! coordinates = [[0.0, 0.0], [1.0, 0.0], [1.0, 0.35], [0.0, 0.45]]
//! [cameras.front_door.zones.driveway]
//! kind = "property"            # the owner's own ground
//! coordinates = [[0.2, 0.5], [0.8, 0.5], [0.9, 1.0], [0.1, 1.0]]
//! [cameras.front_door.policy]
//! faces = "all"                # or "all+heads", "none", "outside_property"
//! bystanders = "outside_property"   # or "none", "all"
//! ```
//! Coordinates are relative (0–1, origin top-left), so one config fits every resolution.
//! Unknown keys are errors that name the key; so are malformed zones: fewer than 3 points,
//! a coordinate outside 0–1 (NaN and infinity included), or an outline that encloses no area.
//!
//! The same file may hold live-camera settings (a `[live]` table, and `source`, `retain_hours`
//! and `transport` per camera); file commands accept and ignore them, and
//! [`crate::live::config`] validates them. Errors give line, column and key path but never
//! quote the file's text, which may hold a camera password.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::live::config::{redact_credentials, LiveTable, Secret, Transport};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Live-mode settings (`veilcam live`), checked by [`crate::live::config::load_live`].
    #[serde(default)]
    pub live: Option<LiveTable>,
    #[serde(default)]
    pub cameras: BTreeMap<String, CameraConfig>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    #[serde(default)]
    pub zones: BTreeMap<String, ZoneConfig>,
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Live camera URL (`rtsp://` or `rtsps://`, credentials allowed, never printed).
    #[serde(default)]
    pub source: Option<Secret>,
    /// Live recording retention for this camera, overriding `[live] retain_hours`.
    #[serde(default)]
    pub retain_hours: Option<f64>,
    /// RTP transport from this camera, overriding `[live] transport`.
    #[serde(default)]
    pub transport: Option<Transport>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub kind: ZoneKind,
    /// Polygon corners as `[x, y]`, relative to the frame (0–1).
    #[serde(deserialize_with = "points")]
    pub coordinates: Vec<[f64; 2]>,
}

/// Polygon corners, each exactly `[x, y]`: a point of three numbers (someone thinking in 3-D,
/// a typo) is an error, not cut to two (TOML's deserializer reads an array into `[f64; 2]`
/// and ignores the rest).
fn points<'de, D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Vec<[f64; 2]>, D::Error> {
    let points: Vec<Vec<f64>> = Deserialize::deserialize(deserializer)?;
    points
        .into_iter()
        .enumerate()
        .map(|(i, p)| match p[..] {
            [x, y] => Ok([x, y]),
            _ => Err(serde::de::Error::custom(format!("point {i} has {} numbers; each point is [x, y]", p.len()))),
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneKind {
    /// Public space: every pixel obscured in every frame, whatever is detected.
    Street,
    /// The owner's ground: persons standing here are not bystanders.
    Property,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    #[serde(default)]
    pub faces: FacePolicy,
    #[serde(default)]
    pub bystanders: BystanderPolicy,
}

/// Which faces are obscured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FacePolicy {
    /// Every face (privacy first: the default).
    #[default]
    All,
    /// Every face, and the head of every detected person (a face-shaped mask on the top of the
    /// body box), everywhere, property zones included: a face the face detector misses is
    /// still covered when its body is found. Needs the person detector.
    #[serde(rename = "all+heads")]
    AllHeads,
    /// No face (faces are kept; bystanders and street zones still follow their policy).
    None,
    /// Faces of persons standing outside every property zone (the person's ground point, or
    /// with no person found around the face, the face itself): people on the owner's ground
    /// stay recognisable, passers-by do not. Needs the person detector.
    OutsideProperty,
}

impl FacePolicy {
    /// The value as written in a camera config.
    pub fn as_str(self) -> &'static str {
        match self {
            FacePolicy::All => "all",
            FacePolicy::AllHeads => "all+heads",
            FacePolicy::None => "none",
            FacePolicy::OutsideProperty => "outside_property",
        }
    }
}

/// Which whole persons are obscured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BystanderPolicy {
    /// Persons are not obscured as a whole (faces still follow the face policy).
    #[default]
    None,
    /// Persons whose feet (bottom centre of the box) are outside every property zone.
    OutsideProperty,
    /// Every person.
    All,
}

/// One camera's settings, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Camera {
    pub name: String,
    pub zones: Vec<Zone>,
    pub policy: PolicyConfig,
}

/// A named polygon in relative coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct Zone {
    pub name: String,
    pub kind: ZoneKind,
    pub polygon: Vec<(f64, f64)>,
}

impl Camera {
    pub fn needs_persons(&self) -> bool {
        self.policy.bystanders != BystanderPolicy::None || matches!(self.policy.faces, FacePolicy::OutsideProperty | FacePolicy::AllHeads)
    }

    pub fn zones_of(&self, kind: ZoneKind) -> impl Iterator<Item = &Zone> {
        self.zones.iter().filter(move |z| z.kind == kind)
    }
}

/// Reads `path` and returns camera `name` (optional when the file has exactly one camera).
pub fn load_camera(path: &Path, name: Option<&str>) -> Result<Camera> {
    parse_camera(&read_text(path)?, path, name)
}

/// The largest config file veilcam reads: a property zone of 200,000 points takes about 6 MiB.
pub const MAX_CONFIG: u64 = 16 << 20;

/// The text of the config file `path`: a regular file of at most [`MAX_CONFIG`] bytes
/// ([`crate::input::read_small`]), named in the error.
pub fn read_text(path: &Path) -> Result<String> {
    let err = |message: String| Error::Config { path: path.to_path_buf(), message };
    let bytes = crate::input::read_small(path, MAX_CONFIG).map_err(|e| err(e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| err("not UTF-8 text".into()))
}

pub fn parse_camera(text: &str, path: &Path, name: Option<&str>) -> Result<Camera> {
    let err = |message: String| Error::Config { path: path.to_path_buf(), message };
    let config: Config = parse_toml(text, path)?;
    let (name, camera) = match name {
        Some(n) => config.cameras.get_key_value(n).ok_or_else(|| {
            let known: Vec<&str> = config.cameras.keys().map(String::as_str).collect();
            err(format!("unknown camera '{n}' (cameras in this file: {})", if known.is_empty() { "none".into() } else { known.join(", ") }))
        })?,
        None if config.cameras.len() == 1 => config.cameras.iter().next().expect("one camera"),
        None if config.cameras.is_empty() => {
            return Err(err("no camera is defined; add a [cameras.NAME] table (README: \"Camera config\")".into()))
        }
        None => {
            let known: Vec<&str> = config.cameras.keys().map(String::as_str).collect();
            return Err(err(format!("{} cameras are defined ({}); choose one with --camera", known.len(), known.join(", "))));
        }
    };
    validate_camera(name, camera, path)
}

/// Camera `name` as written (`camera`) turned into a [`Camera`]; `path` is named in errors.
pub fn validate_camera(name: &str, camera: &CameraConfig, path: &Path) -> Result<Camera> {
    let err = |message: String| Error::Config { path: path.to_path_buf(), message };
    let zones = camera
        .zones
        .iter()
        .map(|(zone_name, z)| validate_zone(name, zone_name, z).map_err(err))
        .collect::<Result<Vec<_>>>()?;
    Ok(Camera { name: name.to_string(), zones, policy: camera.policy })
}

/// Deserializes `text` (read from `path`). An error reads `line L, column C: key.path: cause`,
/// without the source line, and with any URL credentials in the cause replaced by `***`.
pub fn parse_toml<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T> {
    let err = |message: String| Error::Config { path: path.to_path_buf(), message };
    let deserializer = toml::Deserializer::parse(text).map_err(|e| err(describe_toml_error(text, &e, None)))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        err(describe_toml_error(text, e.inner(), Some(&key)))
    })
}

fn describe_toml_error(text: &str, e: &toml::de::Error, key: Option<&str>) -> String {
    let mut message = String::new();
    if let Some(span) = e.span() {
        let (line, column) = line_and_column(text, span.start);
        message.push_str(&format!("line {line}, column {column}: "));
    }
    if let Some(key) = key.filter(|k| !k.is_empty() && *k != ".") {
        message.push_str(&format!("{key}: "));
    }
    // A secret's value is never quoted, whatever its type (found by hostile use: a numeric
    // `password = 12345` was echoed in "invalid type: integer `12345`").
    let secret = key.is_some_and(|k| k.rsplit('.').next().is_some_and(|last| SECRET_KEYS.contains(&last)));
    if secret {
        message.push_str("invalid value (not shown: it is a secret; a quoted string is expected)");
    } else {
        message.push_str(e.message().trim_end());
    }
    redact_credentials(&message)
}

/// Config keys whose values are secrets: never quoted in an error.
const SECRET_KEYS: [&str; 3] = ["password", "password_file", "secret"];

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn validate_zone(camera: &str, name: &str, z: &ZoneConfig) -> std::result::Result<Zone, String> {
    let key = format!("cameras.{camera}.zones.{name}.coordinates");
    if z.coordinates.len() < 3 {
        return Err(format!("{key}: a polygon needs at least 3 points, got {}", z.coordinates.len()));
    }
    for (i, [x, y]) in z.coordinates.iter().enumerate() {
        if !(0.0..=1.0).contains(x) || !(0.0..=1.0).contains(y) {
            return Err(format!("{key}[{i}]: [{x}, {y}] is outside 0–1 (coordinates are relative to the frame)"));
        }
    }
    let polygon: Vec<(f64, f64)> = z.coordinates.iter().map(|[x, y]| (*x, *y)).collect();
    if !crate::zones::covers_a_pixel(&polygon) {
        let n = crate::zones::CHECK_RESOLUTION;
        return Err(format!(
            "{key}: the polygon encloses no area (its points are collinear or repeated, or it is too small to cover a pixel of a {n}×{n} frame)"
        ));
    }
    Ok(Zone { name: name.to_string(), kind: z.kind, polygon })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_that_is_no_regular_file_or_too_large_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_camera(dir.path(), None).unwrap_err().to_string();
        assert!(err.starts_with("config ") && err.ends_with(": is not a regular file (a directory)"), "{err}");
        let err = load_camera(Path::new("/dev/zero"), None).unwrap_err().to_string();
        assert_eq!(err, "config /dev/zero: is not a regular file (a character device)");
        // Found by hostile use: a FIFO with no writer was waited on for ever.
        let fifo = dir.path().join("fifo.toml");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let err = load_camera(&fifo, None).unwrap_err().to_string();
        assert!(err.ends_with("fifo.toml: is not a regular file (a FIFO)"), "{err}");
        let big = dir.path().join("big.toml");
        std::fs::File::create(&big).unwrap().set_len(MAX_CONFIG + 1).unwrap();
        let err = load_camera(&big, None).unwrap_err().to_string();
        assert!(err.ends_with("big.toml: is larger than 16 MiB"), "{err}");
        std::fs::File::create(&big).unwrap().set_len(MAX_CONFIG).unwrap();
        let err = load_camera(&big, None).unwrap_err().to_string();
        assert!(!err.contains("larger"), "a config of exactly the limit is read: {err}");
        let err = load_camera(&dir.path().join("none.toml"), None).unwrap_err().to_string();
        assert!(err.starts_with("config ") && err.contains("No such file"), "{err}");
    }

    const EXAMPLE: &str = r#"
[cameras.front_door.zones.street]
kind = "street"
coordinates = [[0.0, 0.0], [1.0, 0.0], [1.0, 0.35], [0.0, 0.45]]
[cameras.front_door.zones.driveway]
kind = "property"
coordinates = [[0.2, 0.5], [0.8, 0.5], [0.9, 1.0], [0.1, 1.0]]
[cameras.front_door.policy]
faces = "all"
bystanders = "outside_property"
"#;

    fn parse(text: &str, camera: Option<&str>) -> Result<Camera> {
        parse_camera(text, Path::new("veilcam.toml"), camera)
    }

    fn message(r: Result<Camera>) -> String {
        r.expect_err("should be rejected").to_string()
    }

    #[test]
    fn the_documented_example_parses() {
        let cam = parse(EXAMPLE, Some("front_door")).unwrap();
        assert_eq!(cam.zones.len(), 2);
        assert_eq!(cam.policy.bystanders, BystanderPolicy::OutsideProperty);
        assert_eq!(cam.zones_of(ZoneKind::Street).count(), 1);
        assert!(cam.needs_persons());
    }

    #[test]
    fn a_single_camera_need_not_be_named() {
        assert_eq!(parse(EXAMPLE, None).unwrap().name, "front_door");
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it() {
        let m = message(parse(&EXAMPLE.replace("kind = \"street\"", "kind = \"street\"\nopacity = 1"), None));
        assert!(m.contains("opacity") && m.contains("veilcam.toml"), "{m}");
    }

    #[test]
    fn a_polygon_with_two_points_is_an_error_naming_the_zone() {
        let text = "[cameras.c.zones.z]\nkind = \"street\"\ncoordinates = [[0.0, 0.0], [1.0, 1.0]]\n";
        let m = message(parse(text, None));
        assert!(m.contains("cameras.c.zones.z.coordinates") && m.contains("at least 3"), "{m}");
    }

    #[test]
    fn a_point_of_more_or_fewer_than_two_numbers_is_an_error() {
        for point in ["[0.5, 0.5, 0.5]", "[0.5]", "[0.5, 0.5, \"junk\"]"] {
            let text = format!("[cameras.c.zones.z]\nkind = \"street\"\ncoordinates = [[0.0, 0.0], {point}, [1.0, 0.2]]\n");
            let m = parse_camera(&text, Path::new("c.toml"), None).unwrap_err().to_string();
            assert!(m.contains("c.toml") && m.contains("coordinates"), "{point}: {m}");
        }
    }

    #[test]
    fn a_file_without_cameras_says_so_and_one_with_several_names_them() {
        let m = parse_camera("", Path::new("c.toml"), None).unwrap_err().to_string();
        assert!(m.contains("no camera is defined"), "{m}");
        let m = parse_camera("[cameras.front]\n[cameras.back]\n", Path::new("c.toml"), None).unwrap_err().to_string();
        assert!(m.contains("back, front") && m.contains("--camera"), "{m}");
    }

    #[test]
    fn coordinates_outside_zero_to_one_are_errors() {
        let text = "[cameras.c.zones.z]\nkind = \"street\"\ncoordinates = [[0.0, 0.0], [1.2, 0.0], [0.5, 0.5]]\n";
        let m = message(parse(text, None));
        assert!(m.contains("coordinates[1]") && m.contains("outside 0–1"), "{m}");
    }

    #[test]
    fn a_zone_enclosing_no_area_is_an_error_naming_the_zone() {
        for coordinates in ["[[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]", "[[0.2, 0.2], [0.8, 0.2], [0.2, 0.2]]", "[[0.5, 0.5], [0.5001, 0.5], [0.5, 0.5001]]"] {
            let text = format!("[cameras.c.zones.z]\nkind = \"street\"\ncoordinates = {coordinates}\n");
            let m = message(parse(&text, None));
            assert!(m.contains("cameras.c.zones.z.coordinates") && m.contains("encloses no area"), "{coordinates}: {m}");
        }
    }

    #[test]
    fn nan_and_infinite_coordinates_are_errors() {
        for bad in ["nan", "inf", "-inf"] {
            let text = format!("[cameras.c.zones.z]\nkind = \"street\"\ncoordinates = [[0.0, 0.0], [{bad}, 0.0], [0.5, 0.5]]\n");
            let m = message(parse(&text, None));
            assert!(m.contains("cameras.c.zones.z.coordinates[1]") && m.contains("outside 0–1"), "{bad}: {m}");
        }
    }

    #[test]
    fn an_unknown_camera_lists_the_known_ones() {
        let m = message(parse(EXAMPLE, Some("back_door")));
        assert!(m.contains("back_door") && m.contains("front_door"), "{m}");
    }

    #[test]
    fn an_unknown_zone_kind_is_an_error() {
        let m = message(parse(&EXAMPLE.replace("kind = \"property\"", "kind = \"garden\""), None));
        assert!(m.contains("garden") && m.contains("street"), "{m}");
    }

    #[test]
    fn faces_outside_property_parses_and_needs_the_person_detector() {
        let cam = parse("[cameras.c.policy]\nfaces = \"outside_property\"\nbystanders = \"none\"\n", None).unwrap();
        assert_eq!(cam.policy.faces, FacePolicy::OutsideProperty);
        assert!(cam.needs_persons());
    }

    #[test]
    fn faces_all_plus_heads_parses_and_needs_the_person_detector() {
        let cam = parse("[cameras.c.policy]\nfaces = \"all+heads\"\n", None).unwrap();
        assert_eq!(cam.policy.faces, FacePolicy::AllHeads);
        assert_eq!(cam.policy.bystanders, BystanderPolicy::None);
        assert!(cam.needs_persons(), "heads come from the person detector");
        let m = message(parse("[cameras.c.policy]\nfaces = \"heads\"\n", None));
        assert!(m.contains("heads") && m.contains("all+heads"), "the error lists the accepted values: {m}");
    }

    #[test]
    fn policy_defaults_to_all_faces_and_no_bystanders() {
        let cam = parse("[cameras.c]\n", None).unwrap();
        assert_eq!(cam.policy, PolicyConfig { faces: FacePolicy::All, bystanders: BystanderPolicy::None });
        assert!(!cam.needs_persons());
    }
}

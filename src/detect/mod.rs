//! Detection: from a picture to boxes in source pixels.
//!
//! Each stage is a separate piece: [`preprocess`] resizes and pads a picture into a reused
//! tensor, [`runtime`] loads ONNX Runtime and builds one session per worker, a decoder per
//! model ([`centerface`]; [`nanodet`] for persons; [`blazeface`], the second face model of
//! grey frames) turns the model's output heads into boxes, and [`nms`] removes duplicates.
//! The [`Planner`] decides in frame order what each frame is searched for (where to look
//! closer: [`motion`] finds the moving regions, [`turns`] chooses among them within the
//! budget), and a [`DetectorSet`] (one per worker) carries it out.

pub mod blazeface;
pub mod centerface;
pub mod motion;
pub mod nanodet;
pub mod nms;
pub mod preprocess;
pub mod runtime;
pub mod turns;

use serde::Serialize;

use crate::geometry::BBox;

/// What a detection is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Face,
    Person,
}

/// One object found in one frame, in source pixel coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Detection {
    pub class: Class,
    #[serde(rename = "box")]
    pub bbox: BBox,
    pub score: f32,
}

/// A rectangle of source pixels: `(x, y, width, height)`.
pub type Region = (usize, usize, usize, usize);

/// What to detect in one frame. Decided in frame order by the [`Planner`] before the frame
/// reaches a worker, so the result never depends on how many workers there are or which one
/// takes the frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub faces: bool,
    pub persons: bool,
    /// Regions to search again for small faces, each enlarged by [`enlargement`].
    pub closer: Vec<Region>,
    /// Face-sized regions around dark patches in a lit picture ([`motion::dark_in_light`]), to
    /// search again enlarged by [`CLOSER_SCALE`] and equalised.
    pub shade: Vec<Region>,
    /// Where the closer look at the heads of detected persons starts in their list (the
    /// number of face looks so far), so that when there are more heads than its budget
    /// holds, each gets its turn over successive frames.
    pub head_turn: usize,
    /// Tiles of [`closer`](Plan::closer) (of at most [`blazeface::TILE`] a side) that the night
    /// profile's second face model looks at, beside the heads of the persons found (grey
    /// frames only): all of them in a file; live, half of them in turn ([`Planner::live`]).
    pub second: Vec<Region>,
    /// The frame is a night/infrared (grey) picture ([`preprocess::is_grey`]). Decided once,
    /// here, for every stage: the detectors' equalisation, the night profile's person look and
    /// the policy's head masks all follow the same decision.
    pub grey: bool,
    /// The picture changed since the frame before more than motion can change it
    /// ([`motion::is_cut`]: a cut, or a stream that jumped in time), or a live camera is back
    /// from an absence ([`Planner::camera_away`]): the frame gets a
    /// look of its own whatever the cadence, and live, no box found before it stands in for
    /// one (the frame and those after it are obscured whole until a look at or after it
    /// comes back).
    pub cut: bool,
    /// A face look with no earlier picture to compare with: a stream's first pictures, or the
    /// first after a cut (a live camera back from an absence included). Small faces, which the
    /// closer look finds where the picture moved, could not be looked for; live, such a look
    /// does not stand for its frame, which leaves obscured whole (found by hostile use: a
    /// 12×17 px face showed on the first frame of every camera connection, found only 267 ms
    /// in, past the 200 ms look-ahead).
    pub first_sight: bool,
    /// On a frame without a face look: regions where something appeared since the frame before
    /// where nothing moved lately ([`motion::Stir`]), in tiles of at most [`CLOSER_TILE`], to
    /// search enlarged by [`CLOSER_SCALE`]. A face shown only between two looks is found
    /// there; what the glance finds starts tracks of its own
    /// ([`Tracker::glimpse`](crate::track::Tracker::glimpse)), and the frame is no look of its
    /// own. Never on a frame with a look.
    pub glance: Vec<Region>,
}

impl Plan {
    /// Everything, once: for a single picture `pic`.
    pub fn single(pic: &crate::frame::Picture<'_>, persons: bool) -> Self {
        Plan { faces: true, persons, grey: preprocess::is_grey(pic), ..Plan::default() }
    }

    /// Whether any detector runs on the frame.
    pub fn any(&self) -> bool {
        self.is_look() || !self.glance.is_empty()
    }

    /// Whether the frame has a look of its own (faces or persons), not only a glance.
    pub fn is_look(&self) -> bool {
        self.faces || self.persons
    }
}

/// Decides, frame by frame and in order, which detectors run and where the closer look for
/// small faces goes (regions that moved since a look at least [`MOTION_SPAN_SECONDS`] earlier,
/// and first the backlit heads among them, `glow_looks`).
#[derive(Debug)]
pub struct Planner {
    pub face_every: u64,
    /// `None` when no person detector is loaded.
    pub person_every: Option<u64>,
    /// The night profile's person cadence: on grey (night/infrared) frames the person detector
    /// runs every this many frames even when `person_every` is `None` (its closer look at the
    /// heads it finds, and the policy's head masks, are for faces the global pass misses).
    pub night_person_every: Option<u64>,
    /// Plan the closer look for small faces.
    pub small_faces: bool,
    /// Plan the equalised looks at dark faces in lit pictures ([`Plan::shade`]).
    pub shade: bool,
    /// Frames between the two pictures compared for motion, at least.
    motion_span: u64,
    /// Cell images of recent looks, oldest first: the newest one at least `motion_span`
    /// frames old is what the next look is compared with.
    recent: std::collections::VecDeque<(u64, motion::CellImage)>,
    /// When each part of the picture was last looked at closely, so that when the moving
    /// regions exceed the budget, those that waited longest go first ([`turns`]).
    looked: turns::LookMap,
    /// The same for the equalised looks at dark faces, which take turns of their own.
    shaded: turns::LookMap,
    /// Face looks planned so far (the heads' rotation, see [`Plan::head_turn`]).
    looks: usize,
    /// Plans for a live camera ([`Planner::live`]): the second face model's tiles take turns
    /// ([`Plan::second`]), and person looks yield to face looks when detection falls behind.
    live: bool,
    /// When each part of the picture was last looked at by the second model, so that its
    /// tiles take turns.
    seconded: turns::LookMap,
    /// A person look was planned but its frame skipped detection (live, detectors busy), or
    /// put off for the face looks ([`LIVE_LOOKS_PER_PERSON_LOOK`]): the next frame that can
    /// have one gets it, rather than waiting for the cadence to come round.
    persons_owed: bool,
    /// Live: face looks without the person detector planned (and not skipped) since the last
    /// person look.
    looks_since_persons: u64,
    /// The cell image of the frame before, to tell a cut ([`Plan::cut`]).
    previous: Option<motion::CellImage>,
    /// A live camera was away since the frame before ([`Planner::camera_away`]): the next
    /// frame is a cut.
    was_away: bool,
    /// Files: the longest a face look may wait, in nanoseconds of the frames' timestamps (the
    /// cadence's spacing at the declared rate, and half a frame), when looks skip frames;
    /// `None` live ([`Planner::live`]), where deadlines pace the looks.
    look_gap: Option<u64>,
    /// The timestamp of the latest face look.
    last_face_look: Option<u64>,
    /// Where the picture changed lately, to give a frame in which something appeared a glance
    /// ([`motion::Stir`], [`Plan::glance`]).
    stir: motion::Stir,
    /// Frames that change is remembered for, to explain change next to it (the motion already
    /// under way): [`STIR_MEMORY_SECONDS`] at the declared rate.
    stir_memory: u64,
    /// The face tracks lost lately, for the next face look to look again where their motion
    /// puts them ([`Planner::look_again`]).
    lost: Vec<crate::track::LostFace>,
}

/// Enlargement of the regions looked at closely: a 12 px face becomes 24 px.
pub const CLOSER_SCALE: f64 = 2.0;
/// Largest region (in source pixels, each side) looked at closely in one piece; larger moving
/// regions are cut into tiles of this size.
pub const CLOSER_TILE: usize = 256;
/// Source pixels looked at closely per look, at most, counted at [`CLOSER_SCALE`] (about one
/// 512×512 detector input; a region that [`enlargement`] enlarges less costs less,
/// `closer_cost`). When moving regions exceed it, successive looks take turns over them. Heads
/// of detected persons have a budget of the same size of their own, also taken in turns (on the
/// 1080p walkers clip up to 8 heads, ≤ 57,000 px, fit in one look; about 9 walkers of that size
/// or fewer, nearer ones would not).
pub const CLOSER_BUDGET: usize = 64_000;

/// The picture [`CLOSER_BUDGET`] is for: 1080p's pixels.
pub const BUDGET_PICTURE: usize = 1920 * 1080;

/// A file's moving-regions budget for a picture of `width` × `height`: [`CLOSER_BUDGET`] up to
/// [`BUDGET_PICTURE`]'s pixels, and in proportion to the picture's pixels beyond (a live
/// camera keeps [`CLOSER_BUDGET`]).
///
/// A street filmed with more pixels has its walkers' regions larger in proportion, and a fixed
/// budget came round to each of them less often: vtest.avi's walkers at 2880 × 2160 (300–560
/// px tall, two or three tiles each) took it a few at a time, and that copy gave 174 face
/// detections in 55 frames where the clip gives 264 (247 with this budget). Decoding and
/// encoding such a picture cost about as much more. The harness's 4K day clip took 25 % longer,
/// its night clip 2.3 times as long (the night profile's second model looks at every tile of
/// the closer look).
pub fn closer_budget(width: usize, height: usize) -> usize {
    CLOSER_BUDGET * (width * height).max(BUDGET_PICTURE) / BUDGET_PICTURE
}

/// Source pixels of [`CLOSER_BUDGET`] that the looks at backlit heads
/// ([`motion::dark_in_glow`]) may take on one call, at most: three heads of about 48 px with
/// their margins. They are looked at before the moving regions, which share the rest.
pub const GLOW_BUDGET: usize = 3 * 96 * 112;

/// Live, a person look (the person detector, and the closer look at the heads it finds: at
/// night about twice a face look's time) comes after at least this many looks, itself
/// included: the share of looks files have at the automatic cadences (15 face looks, 5 of
/// them with persons, a second). While the detectors keep up, the person cadence in frames
/// is what spaces them; when they fall behind, looks come back further apart and the person
/// looks space out with them, instead of taking the time of face looks that keep frames from
/// leaving obscured whole (the tracker stands in only shortly after a look).
pub const LIVE_LOOKS_PER_PERSON_LOOK: u64 = 3;

/// Seconds between the two pictures compared for motion, at least: over a single frame at
/// 30 fps a small, slow face hardly changes its cells.
pub const MOTION_SPAN_SECONDS: f64 = 0.06;

/// Source pixels a glance ([`Plan::glance`]) may look at: what appeared over more than this
/// gets a look of its own.
pub const GLANCE_BUDGET: usize = CLOSER_BUDGET;

/// Seconds that change in the picture explains change next to it ([`motion::Stir`]): people
/// walking change their cells every frame or two, and a face that appears where nothing moved
/// for half a second is news.
pub const STIR_MEMORY_SECONDS: f64 = 0.5;

/// The longest a file's face look may wait, in nanoseconds: `face_every` frames at `fps`,
/// and half a frame for timestamps rounded to the clock of the container; `None` when every
/// frame is looked at.
fn look_gap(face_every: u64, fps: f64) -> Option<u64> {
    (face_every > 1 && fps > 0.0).then(|| ((face_every as f64 + 0.5) * 1e9 / fps) as u64)
}

impl Planner {
    /// A planner for a video at `fps` frames per second; `person_every` is `None` when no
    /// person detector is loaded.
    pub fn new(face_every: u64, person_every: Option<u64>, small_faces: bool, fps: f64) -> Self {
        Planner {
            face_every: face_every.max(1),
            person_every: person_every.map(|n| n.max(1)),
            night_person_every: None,
            small_faces,
            shade: false,
            motion_span: (MOTION_SPAN_SECONDS * fps).ceil().max(1.0) as u64,
            recent: Default::default(),
            looked: turns::LookMap::default(),
            shaded: turns::LookMap::default(),
            looks: 0,
            live: false,
            seconded: turns::LookMap::default(),
            persons_owed: false,
            looks_since_persons: LIVE_LOOKS_PER_PERSON_LOOK,
            previous: None,
            was_away: false,
            look_gap: look_gap(face_every, fps),
            last_face_look: None,
            stir: motion::Stir::default(),
            stir_memory: (STIR_MEMORY_SECONDS * fps).ceil().max(1.0) as u64,
            lost: Vec::new(),
        }
    }

    /// The face tracks the tracker lost, as of a frame before the next one planned
    /// ([`crate::track::Tracker::lost_faces`]): each face look looks closer where the motion of
    /// one of them puts it, in turn, beside the moving regions ([`LOOK_AGAIN_BUDGET`]).
    pub fn look_again(&mut self, lost: Vec<crate::track::LostFace>) {
        self.lost = lost;
    }

    /// The same planner, planning equalised looks at dark faces in lit pictures or not
    /// ([`Plan::shade`], `--local-contrast dark`).
    pub fn in_shade(self, shade: bool) -> Self {
        Planner { shade, ..self }
    }

    /// The same planner for a live camera, where a look must come back within the frame's
    /// deadline: on grey frames the second face model looks at half of the closer regions'
    /// tiles on each look (rounded up), those that waited longest ([`turns::in_turn`]). On the
    /// night bench clip a look then costs 59–62 ms instead of 68–76 (one worker), and a live
    /// 1080p30 camera left about half as many frames obscured for the deadline (8 runs, each
    /// beside one of the build before); with every frame looked at, night recall is within 0.8
    /// points of every tile's (docs/evaluation.md, "The second model in turns, live"). Files
    /// look at every tile: they have no deadline. Live, too, a person look comes after at
    /// least [`LIVE_LOOKS_PER_PERSON_LOOK`] looks. Face looks keep their cadence in frames: no
    /// look is added for a frame that comes late (the deadlines pace them).
    pub fn live(self) -> Self {
        Planner { live: true, look_gap: None, ..self }
    }

    /// Every how many frames person looks are planned on a frame like one that is grey or not
    /// (`person_every`, or at night the night profile's cadence if sooner); `None`: none are.
    pub fn person_cadence(&self, grey: bool) -> Option<u64> {
        let night = self.night_person_every.filter(|_| grey);
        match (self.person_every, night) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether it plans for a live camera ([`Planner::live`]).
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// The same planner, running the person detector every `every` frames on grey frames (the
    /// night profile; `None`: off).
    pub fn at_night(self, every: Option<u64>) -> Self {
        Planner { night_person_every: every.map(|n| n.max(1)), ..self }
    }

    /// The plan for frame `index`, shown at `pts` (nanoseconds; `None` when it has none).
    ///
    /// Faces are looked for every `face_every` frames, on a cut, and, in files, whenever the
    /// frame comes `look_gap` or more after the latest face look: the cadence is planned in
    /// frames at the rate the file declares, and a file whose frames come further apart
    /// (variable rate, or a false rate in its container: 300 fps declared over frames 40 ms
    /// apart was looked at every 20th frame, 0.8 s) is still looked at as often in time.
    /// Between looks, a frame where something appeared where nothing moved lately
    /// ([`motion::Stir`]: a face shown only between two looks would otherwise be seen by none)
    /// gets a glance there ([`Plan::glance`]), or a face look when that is more than
    /// [`GLANCE_BUDGET`] or the frame has a person look.
    pub fn plan(&mut self, index: u64, pts: Option<u64>, pic: &crate::frame::Picture<'_>) -> Plan {
        let cells = motion::CellImage::from_picture(pic);
        let cut = std::mem::take(&mut self.was_away) || self.previous.as_ref().is_some_and(|previous| motion::is_cut(previous, &cells));
        let overdue = match (self.look_gap, pts, self.last_face_look) {
            (Some(gap), Some(pts), Some(last)) => pts.saturating_sub(last) >= gap,
            _ => false,
        };
        let mut faces = cut || overdue || index.is_multiple_of(self.face_every);
        let grey = preprocess::is_grey(pic);
        let due = |n: u64| self.persons_owed || index.is_multiple_of(n);
        let wanted = self.person_every.is_some_and(due) || (grey && self.night_person_every.is_some_and(due));
        let persons = wanted && (!self.live || self.looks_since_persons + 1 >= LIVE_LOOKS_PER_PERSON_LOOK);
        let mut glance = self.glance(&cells, index, (pic.width, pic.height));
        if faces || persons || glance.iter().map(|r| r.2 * r.3).sum::<usize>() > GLANCE_BUDGET {
            // A frame with a look of its own has no glance (what a look finds is observed
            // whole; a glance's finds only add): what appeared gets a face look with it, as
            // does what appeared over more of the picture than a glance takes.
            faces |= !glance.is_empty();
            glance.clear();
        }
        if faces && pts.is_some() {
            self.last_face_look = pts;
        }
        self.persons_owed = (self.persons_owed || wanted) && !persons;
        if persons {
            self.looks_since_persons = 0;
        } else if faces {
            self.looks_since_persons += 1;
        }
        let (closer, shade, compared) = if faces && self.small_faces { self.closer_regions(index, pic, &cells, grey) } else { Default::default() };
        let first_sight = faces && self.small_faces && (cut || !compared);
        self.previous = Some(cells);
        let head_turn = self.looks;
        self.looks += usize::from(faces);
        let second = if grey { self.second_tiles(&closer, pic.width, pic.height) } else { Vec::new() };
        Plan { faces, persons, closer, shade, head_turn, second, grey, cut, first_sight, glance }
    }

    /// The tiles where something appeared since the frame before, on a frame whose picture has
    /// the cells `cells` ([`motion::Stir::news`]); none when every frame is looked at.
    fn glance(&mut self, cells: &motion::CellImage, index: u64, size: (usize, usize)) -> Vec<Region> {
        let Some(previous) = self.previous.as_ref().filter(|_| self.face_every > 1) else { return Vec::new() };
        let news = self.stir.news(previous, cells, index, self.stir_memory, size, 2 * motion::CELL);
        news.into_iter().flat_map(tile).collect()
    }

    /// The tiles of the closer regions that the second face model looks at: all of them, or
    /// in turn ([`Planner::live`]).
    fn second_tiles(&mut self, closer: &[Region], width: usize, height: usize) -> Vec<Region> {
        let tiles: Vec<Region> = closer.iter().flat_map(|&r| small_tiles(r, blazeface::TILE, blazeface::TILE_STEP)).collect();
        if !self.live {
            return tiles;
        }
        self.seconded.next_look(width, height);
        turns::in_turn(&tiles, &mut self.seconded, tiles.len().div_ceil(2))
    }

    /// A live camera is away (a filler frame stands in for its picture): what it shows when it
    /// is back is planned as a cut ([`Plan::cut`]), with nothing from before to compare with,
    /// as at the stream's start. Found in review: a camera back after an absence with the same
    /// size and view was no cut, so its first look compared with the picture from before the
    /// absence and its first second left with masks, while at a start or after a cut it
    /// leaves obscured whole (a small face that walked in meanwhile is found only once it
    /// moved under a look).
    pub fn camera_away(&mut self) {
        self.was_away = true;
        self.previous = None;
        self.recent.clear();
    }

    /// `plan` was not carried out: its frame skipped detection (live, every detector busy).
    /// A person look it held is owed to the next frame that can have one, so that shedding
    /// cannot starve the person detector, whose cadence is sparser than the faces'.
    pub fn skipped(&mut self, plan: &Plan) {
        self.persons_owed |= plan.persons;
        if plan.persons {
            self.looks_since_persons = LIVE_LOOKS_PER_PERSON_LOOK;
        } else if plan.faces {
            self.looks_since_persons = self.looks_since_persons.saturating_sub(1);
        }
    }

    /// The regions of `pic` that moved since an earlier look, within the budget, the dark
    /// patches among them to look at equalised (colour pictures only: a grey picture is
    /// equalised whole), and whether there was an earlier look to compare with.
    fn closer_regions(&mut self, index: u64, pic: &crate::frame::Picture<'_>, current: &motion::CellImage, grey: bool) -> (Vec<Region>, Vec<Region>, bool) {
        // Keep only the newest look old enough to compare with, and those after it.
        let old_enough = |i: u64| i + self.motion_span <= index;
        while self.recent.len() > 1 && old_enough(self.recent[1].0) {
            self.recent.pop_front();
        }
        let earlier = self.recent.front().filter(|(i, _)| old_enough(*i));
        let compared = earlier.is_some();
        let mut regions = earlier.map_or_else(Vec::new, |(_, prev)| motion::moving_regions(prev, current, pic.width, pic.height, 2 * motion::CELL));
        // Backlit heads first, on every look; the moving regions share what is left.
        self.looked.next_look(pic.width, pic.height);
        let mut chosen = glow_looks(current, &regions, pic.width, pic.height);
        let shade = if self.shade && !grey { self.shade_looks(current, &regions, &chosen, pic.width, pic.height) } else { Vec::new() };
        let glow_area: usize = chosen.iter().map(|r| r.2 * r.3).sum();
        chosen.extend(look_again_regions(&self.lost, index, pic.width, pic.height, self.looks));
        chosen.iter().for_each(|&r| self.looked.looked(r));
        self.recent.push_back((index, current.clone()));
        // A live camera keeps 1080p's budget whatever its size: a larger one would bring its looks
        // back later, and more of its frames would leave obscured whole.
        let budget = if self.live { CLOSER_BUDGET } else { closer_budget(pic.width, pic.height) };
        chosen.extend(turns::within_budget(&mut regions, &mut self.looked, budget - glow_area, closer_cost));
        (chosen, shade, compared)
    }

    /// The equalised looks at dark faces in the moving `regions` ([`motion::dark_in_light`]): a
    /// face-sized crop around each dark patch in a lit picture that no look at a backlit head
    /// (`glow`) already covers, within [`SHADE_BUDGET`]; when they exceed it, they take turns
    /// as the moving regions do ([`turns::within_budget`]: the smallest on every look, the
    /// others longest waiting first).
    fn shade_looks(&mut self, cells: &motion::CellImage, regions: &[Region], glow: &[Region], width: usize, height: usize) -> Vec<Region> {
        let mut shade = motion::shade_outside_glow(cells, regions, glow, width, height);
        self.shaded.next_look(width, height);
        turns::within_budget(&mut shade, &mut self.shaded, SHADE_BUDGET, turns::source_pixels)
    }
}

/// How much a closer look enlarges `region`: [`CLOSER_SCALE`] up to [`FIGURE_HEIGHT`] px tall,
/// and less for taller ones, down to the picture's own pixels at [`CLOSER_TILE`] (a tile of
/// a larger region).
///
/// A moving region is about as tall as the figure moving in it, and a face is about an eighth
/// of a figure: the closer look is for faces too small for the global pass, and a tall mover's
/// face needs less enlarging than a short one's. Enlarged 2× whatever their height, the tall
/// movers of a picture with many pixels (vtest.avi's walkers scaled from 768 × 576 to
/// 1920 × 1440, 200 px tall) took the budget four at a time, and that copy gave 78 face
/// detections in 55 frames where the clip gives 279.
pub fn enlargement(region: &Region) -> f64 {
    (CLOSER_SCALE * FIGURE_HEIGHT as f64 / region.3 as f64).clamp(1.0, CLOSER_SCALE)
}

/// The tallest moving region a closer look enlarges by the full [`CLOSER_SCALE`] (its face
/// about 16 px, 32 px enlarged).
pub const FIGURE_HEIGHT: usize = CLOSER_TILE / 2;

/// What a closer look at `region` costs, in source pixels at [`CLOSER_SCALE`] (the unit of
/// [`CLOSER_BUDGET`]): what the detector is given.
fn closer_cost(region: &Region) -> usize {
    let scale = enlargement(region) / CLOSER_SCALE;
    (region.2 as f64 * region.3 as f64 * scale * scale).ceil() as usize
}

/// The looks at backlit heads in the moving `regions` of the picture whose cells are `cells`
/// ([`motion::dark_in_glow`]): a face-sized crop around each dark patch in a glow, smallest
/// first, within [`GLOW_BUDGET`]. The glow around such a head moves with it as one region about
/// five times the face's width, nearly a whole look's budget: it waits for its turn behind the
/// small movers of a busy street, and at 2× the face in it is found less surely than in a crop
/// of its own (day seed 6, a 33×47 px backlit face: heatmap 0.4–0.8 in its own crop, equalised).
fn glow_looks(cells: &motion::CellImage, regions: &[Region], width: usize, height: usize) -> Vec<Region> {
    let mut glow = motion::dark_in_glow(cells, regions, width, height);
    glow.sort_by_key(|r| (r.2 * r.3, r.1, r.0));
    let mut spent = 0;
    glow.retain(|r| {
        spent += r.2 * r.3;
        spent <= GLOW_BUDGET
    });
    glow
}

/// What the look again at a lost face ([`Planner::look_again`]) may cost, in the unit of
/// [`CLOSER_BUDGET`], on top of it: a face of about 48 px with its margins at
/// [`CLOSER_SCALE`]. Lost faces larger than fits are for the global pass.
///
/// Taken from the moving regions' budget instead (two such looks a look), the looks displaced
/// found fewer small faces elsewhere: on the harness, night tuning faces missed rose from 57
/// to 91 and day tuning ones from 238 to 264, while day held-out ones fell from 31 to 2.
pub const LOOK_AGAIN_BUDGET: usize = 144 * 144;

/// A look again at a lost face spans this many times its last detected width and height about
/// where its motion puts it: the face may have drifted from its motion while unseen.
const LOOK_AGAIN_REACH: f32 = 3.0;

/// The region to look again at one of the `lost` faces in frame `index` of a `width` ×
/// `height` picture, on the look numbered `turn`: around where its motion puts it. Only faces
/// no held box covers any more (theirs shows, if it is still there) whose region is inside the
/// picture and within [`LOOK_AGAIN_BUDGET`]; one a look, in turn, most recently lost first.
fn look_again_regions(lost: &[crate::track::LostFace], index: u64, width: usize, height: usize, turn: usize) -> Vec<Region> {
    let mut candidates: Vec<(u64, Region)> = lost
        .iter()
        .filter(|l| index > l.held_until)
        .filter_map(|l| Some((l.frame, look_again_region(l, index, width, height)?)))
        .filter(|(_, r)| closer_cost(r) <= LOOK_AGAIN_BUDGET)
        .collect();
    candidates.sort_by_key(|&(frame, r)| (std::cmp::Reverse(frame), r.1, r.0));
    if candidates.is_empty() {
        return Vec::new();
    }
    vec![candidates[turn % candidates.len()].1]
}

/// [`LOOK_AGAIN_REACH`] times `lost`'s box where its motion puts it in frame `index`, inside
/// the picture; `None` when that is (almost) all outside.
fn look_again_region(lost: &crate::track::LostFace, index: u64, width: usize, height: usize) -> Option<Region> {
    let b = lost.at(index).scaled(LOOK_AGAIN_REACH).clamped(width as f32, height as f32);
    let (x0, y0, x1, y1) = (b.x1 as usize, b.y1 as usize, b.x2 as usize, b.y2 as usize);
    (x1 > x0 + 8 && y1 > y0 + 8).then(|| (x0, y0, x1 - x0, y1 - y0))
}

/// Source pixels the equalised looks at dark faces (`Planner::shade_looks`) may take on one
/// call: two faces of up to about 24 px with their margins. Their cost is on top of
/// [`CLOSER_BUDGET`] (taken from it, the moving regions' turns came round more slowly and day
/// tuning faces missed rose from 240 to 285 on the harness; with three faces' worth 250 were
/// missed, with one, smallest first, 320: docs/evaluation.md).
pub const SHADE_BUDGET: usize = 2 * 72 * 72;

/// The detectors one worker owns, each with its own ONNX Runtime session. They keep no state
/// between frames: what to do with a frame is in its [`Plan`].
pub struct DetectorSet {
    pub face: centerface::CenterFace,
    pub person: Option<PersonDetector>,
    /// The night profile's second face model, run beside CenterFace's closer looks on grey
    /// frames (`DetectorSet::second_look`); `None` with `--night off`.
    pub second: Option<SecondDetector>,
}

/// Loads a worker's detector of one kind.
pub type Load<T> = Box<dyn FnOnce() -> crate::error::Result<T> + Send>;
/// Loads a worker's person detector.
pub type LoadPersons = Load<nanodet::NanoDet>;

/// A worker's detector of one kind: loaded with the worker when every frame may need it, or on
/// the first frame that does when only the night profile does (grey frames), so that a run on
/// colour footage never holds the model's memory (the person model: about 56 MB a worker).
pub enum Deferred<T> {
    Loaded(T),
    OnFirstUse(Option<Load<T>>),
}

/// A worker's person detector.
pub type PersonDetector = Deferred<nanodet::NanoDet>;
/// A worker's second face model (BlazeFace full-range), for grey frames.
pub type SecondDetector = Deferred<blazeface::BlazeFace>;

impl<T> Deferred<T> {
    /// The detector, loaded now if it was not yet. A load that fails is reported on every later
    /// call too (never a frame looked at without it).
    fn get(&mut self) -> Result<&mut T, String> {
        if let Deferred::OnFirstUse(load) = self {
            let load = load.take().ok_or("the model failed to load on an earlier frame")?;
            *self = Deferred::Loaded(load().map_err(|e| e.to_string())?);
        }
        match self {
            Deferred::Loaded(detector) => Ok(detector),
            Deferred::OnFirstUse(_) => unreachable!("loaded just above"),
        }
    }

    /// Whether the model is in memory.
    pub fn is_loaded(&self) -> bool {
        matches!(self, Deferred::Loaded(_))
    }
}

impl DetectorSet {
    /// Runs what `plan` asks for on `pic`.
    pub fn run(&mut self, pic: &crate::frame::Picture<'_>, plan: &Plan) -> Result<Vec<Detection>, String> {
        let mut found = Vec::new();
        if let (true, Some(person)) = (plan.persons, self.person.as_mut()) {
            found.extend(person.get()?.detect(pic)?);
        }
        if !plan.faces {
            found.extend(self.glance(pic, plan)?);
            return Ok(found);
        }
        // Night/infrared or not is a property of the frame, decided by the planner for every
        // look at it.
        let grey = plan.grey;
        let mut faces = self.face.detect(pic, grey)?;
        // Heads are in the top part of each person box; they get a closer look as well.
        let heads: Vec<Region> = found.iter().filter(|d| d.class == Class::Person).map(|d| head_region(&d.bbox)).collect();
        let heads = turns::heads_in_turn(&heads, plan.head_turn);
        // A face cut by the crop edge yields a partial box; it is kept (masking part of a face
        // more is harmless) but never replaces a global detection.
        let mut closer = self.closer_looks(pic, plan.closer.iter(), enlargement, grey)?;
        closer.extend(self.closer_looks(pic, heads.iter(), |_| CLOSER_SCALE, grey)?);
        for &region in &plan.shade {
            closer.extend(self.face.detect_crop_equalised(pic, region, CLOSER_SCALE)?);
        }
        if grey {
            let heads = heads.iter().flat_map(|&r| small_tiles(r, blazeface::TILE, blazeface::TILE_STEP));
            closer.extend(self.second_look(pic, plan.second.iter().copied().chain(heads))?);
        }
        // The global pass wins: a closer look only adds faces it did not find.
        let closer = nms::non_maximum_suppression(closer, centerface::NMS_IOU);
        let new: Vec<Detection> = closer.into_iter().filter(|c| faces.iter().all(|g| g.bbox.iou(&c.bbox) < centerface::NMS_IOU)).collect();
        faces.extend(new);
        found.extend(faces);
        Ok(found)
    }
}

impl DetectorSet {
    /// CenterFace on `regions` of `pic`, each enlarged by `scale` of it.
    fn closer_looks<'r>(&mut self, pic: &crate::frame::Picture<'_>, regions: impl Iterator<Item = &'r Region>, scale: fn(&Region) -> f64, grey: bool) -> Result<Vec<Detection>, String> {
        let mut found = Vec::new();
        for region in regions {
            found.extend(self.face.detect_crop(pic, *region, scale(region), grey)?);
        }
        Ok(found)
    }

    /// CenterFace on the tiles of the plan's glance, enlarged by [`CLOSER_SCALE`].
    fn glance(&mut self, pic: &crate::frame::Picture<'_>, plan: &Plan) -> Result<Vec<Detection>, String> {
        let found = self.closer_looks(pic, plan.glance.iter(), |_| CLOSER_SCALE, plan.grey)?;
        Ok(nms::non_maximum_suppression(found, centerface::NMS_IOU))
    }

    /// The second face model on `tiles` (the closer look's and the heads', [`blazeface::TILE`]
    /// a side at most): on grey frames it finds small backlit, over-exposed and dark faces that
    /// CenterFace misses at any enlargement (docs/evaluation.md). Nothing without it.
    fn second_look(&mut self, pic: &crate::frame::Picture<'_>, tiles: impl Iterator<Item = Region>) -> Result<Vec<Detection>, String> {
        let Some(second) = self.second.as_mut() else { return Ok(Vec::new()) };
        let second = second.get()?;
        let mut found = Vec::new();
        for tile in tiles {
            found.extend(second.detect_crop(pic, tile)?);
        }
        Ok(found)
    }
}

/// The region `(x, y, w, h)` in tiles of at most `size` a side (smaller only where the region
/// is), `step` apart, row by row, the last of each row and column flush with the region's edge.
pub fn small_tiles((x, y, w, h): Region, size: usize, step: usize) -> Vec<Region> {
    let starts = |origin: usize, len: usize| -> Vec<(usize, usize)> {
        if len <= size {
            return vec![(origin, len)];
        }
        let mut v: Vec<(usize, usize)> = (origin..origin + len - size).step_by(step).map(|s| (s, size)).collect();
        v.push((origin + len - size, size));
        v
    };
    let (xs, ys) = (starts(x, w), starts(y, h));
    ys.iter().flat_map(|&(ty, th)| xs.iter().map(move |&(tx, tw)| (tx, ty, tw, th))).collect()
}

/// Cuts a region into tiles of at most `CLOSER_TILE` per side (overlapping by a little so a
/// face on a cut is whole in one tile).
fn tile(region: Region) -> Vec<Region> {
    tiles(region, CLOSER_TILE)
}

/// How much neighbouring tiles overlap: faces up to this size lie whole inside some tile;
/// larger ones are for the pass that looks at more of the picture.
pub const TILE_OVERLAP: usize = 64;

/// Cuts the region `(x, y, w, h)` into tiles of at most `size` pixels a side overlapping by
/// [`TILE_OVERLAP`] ([`small_tiles`] with that step).
pub fn tiles(region: Region, size: usize) -> Vec<Region> {
    small_tiles(region, size, size - TILE_OVERLAP)
}

/// The upper third of a person box, widened a little, as a pixel region.
fn head_region(b: &BBox) -> Region {
    let h = b.height() / 3.0;
    let x0 = (b.x1 - b.width() * 0.1).max(0.0);
    let w = b.width() * 1.2;
    (x0 as usize, b.y1.max(0.0) as usize, w.max(1.0) as usize, h.max(1.0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_regions_are_cut_into_overlapping_tiles_that_cover_them() {
        let tiles = tile((10, 20, 600, 100));
        assert!(tiles.iter().all(|t| t.2 <= CLOSER_TILE && t.3 <= CLOSER_TILE));
        assert_eq!(tiles.first().unwrap().0, 10);
        let last = tiles.last().unwrap();
        assert_eq!(last.0 + last.2, 610);
        for pair in tiles.windows(2) {
            assert!(pair[1].0 < pair[0].0 + pair[0].2, "tiles overlap: {pair:?}");
        }
        assert_eq!(tile((0, 0, 100, 50)), vec![(0, 0, 100, 50)]);
    }

    #[test]
    fn a_tall_mover_is_looked_at_less_enlarged_and_costs_less_of_the_budget() {
        // A distant walker, and any mover up to FIGURE_HEIGHT tall: 2×, its source pixels.
        assert_eq!(enlargement(&(0, 0, 60, 80)), CLOSER_SCALE);
        assert_eq!(closer_cost(&(0, 0, 60, 80)), 60 * 80);
        assert_eq!(enlargement(&(0, 0, 60, FIGURE_HEIGHT)), CLOSER_SCALE);
        // Taller: a face of about an eighth of its height still becomes about 32 px.
        assert!((enlargement(&(0, 0, 100, 192)) - 4.0 / 3.0).abs() < 1e-9);
        // A whole tile: the picture's own pixels, a quarter of the cost at 2×.
        assert_eq!(enlargement(&(0, 0, 100, CLOSER_TILE)), 1.0);
        assert_eq!(closer_cost(&(0, 0, 100, CLOSER_TILE)), 100 * CLOSER_TILE / 4);
    }

    fn lost(x: f32, y: f32, size: f32, frame: u64, held_until: u64) -> crate::track::LostFace {
        crate::track::LostFace { bbox: crate::geometry::BBox::from_xywh(x, y, size, size), frame, velocity: [2.0, 0.0], held_until }
    }

    #[test]
    fn a_lost_face_no_longer_held_is_looked_at_again_where_its_motion_puts_it_in_turn() {
        // Lost at frame 80 at x 100..150, moving 2 px a frame, held until frame 95: at frame 100
        // it is at 140..190, and the look spans three times its size about there.
        assert_eq!(look_again_regions(&[lost(100.0, 500.0, 50.0, 80, 95)], 100, 1920, 1080, 0), vec![(90, 450, 150, 150)]);
        // Still under its held box, gone out of the picture, or too large for a closer look: none.
        assert!(look_again_regions(&[lost(100.0, 500.0, 50.0, 80, 105)], 100, 1920, 1080, 0).is_empty());
        assert!(look_again_regions(&[lost(1900.0, 500.0, 50.0, 80, 95)], 130, 1920, 1080, 0).is_empty());
        assert!(look_again_regions(&[lost(100.0, 300.0, 120.0, 80, 95)], 100, 1920, 1080, 0).is_empty());
        // Two lost faces no longer held take turns, the most recently lost first.
        let faces = [lost(600.0, 100.0, 48.0, 70, 95), lost(1100.0, 100.0, 48.0, 80, 105), lost(100.0, 100.0, 48.0, 90, 115)];
        let centre = |turn| look_again_regions(&faces, 110, 1920, 1080, turn).iter().map(|r| r.0 + r.2 / 2).collect::<Vec<_>>();
        assert_eq!((centre(0), centre(1), centre(2)), (vec![1184], vec![704], vec![1184]));
    }

    #[test]
    fn the_moving_regions_budget_grows_with_pictures_larger_than_1080p_and_no_smaller() {
        assert_eq!(closer_budget(1920, 1080), CLOSER_BUDGET);
        assert_eq!(closer_budget(1440, 1080), CLOSER_BUDGET, "smaller pictures keep the whole budget");
        assert_eq!(closer_budget(640, 360), CLOSER_BUDGET);
        assert_eq!(closer_budget(3840, 2160), 4 * CLOSER_BUDGET);
        assert_eq!(closer_budget(2880, 2160), 3 * CLOSER_BUDGET);
    }

    #[test]
    fn tall_movers_of_a_busy_street_fit_in_one_look_where_enlarged_twice_they_took_turns() {
        // Eight walkers 100 × 240 px (vtest.avi's at 1920 × 1440 are about that tall).
        let walkers: Vec<Region> = (0..8).map(|k| (k * 200, 100, 100, 240)).collect();
        let mut map = turns::LookMap::default();
        map.next_look(1920, 1440);
        let chosen = turns::within_budget(&mut walkers.clone(), &mut map, CLOSER_BUDGET, closer_cost);
        assert_eq!(chosen.len(), walkers.len(), "{chosen:?}");
        let mut map = turns::LookMap::default();
        map.next_look(1920, 1440);
        let at_twice = turns::within_budget(&mut walkers.clone(), &mut map, CLOSER_BUDGET, turns::source_pixels);
        assert!(at_twice.len() <= 3, "{at_twice:?}");
    }

    #[test]
    fn a_file_whose_frames_come_slower_than_its_declared_rate_is_looked_at_as_often_in_time() {
        let (y, u, v) = (vec![0u8; 64 * 64], vec![128u8; 32 * 32], vec![128u8; 32 * 32]);
        let pic = crate::frame::Picture::from_planes(crate::frame::Layout::I420, 64, 64, [(&y[..], 64), (&u[..], 32), (&v[..], 32)]);
        let looked = |declared: f64, every: u64, gap_ms: u64| -> Vec<u64> {
            let mut planner = Planner::new(every, None, false, declared);
            (0..12).filter(|&i| planner.plan(i, Some(i * gap_ms * 1_000_000), &pic).faces).collect()
        };
        // 300 fps declared (every 20th frame at 15 looks a second), frames 40 ms apart: every
        // 2nd frame, 80 ms, not every 20th (0.8 s).
        assert_eq!(looked(300.0, 20, 40), vec![0, 2, 4, 6, 8, 10]);
        // Frames as declared: the cadence in frames alone, as before.
        assert_eq!(looked(25.0, 2, 40), vec![0, 2, 4, 6, 8, 10]);
        // A variable rate clip declared at 30 fps whose frames come 108 ms apart: every frame.
        assert_eq!(looked(30.0, 2, 108), (0..12).collect::<Vec<_>>());
        // Live cameras keep their cadence in frames (their deadlines pace them).
        let mut live = Planner::new(20, None, false, 300.0).live();
        assert_eq!((0..12).filter(|&i| live.plan(i, Some(i * 40_000_000), &pic).faces).count(), 1);
    }

    /// A 320×240 I420 picture, grey 60, with a bright 32×32 square at `square` (x, y).
    fn still_with(square: Option<(usize, usize)>) -> (Vec<u8>, Vec<u8>) {
        let mut y = vec![60u8; 320 * 240];
        if let Some((sx, sy)) = square {
            (sy..sy + 32).for_each(|r| y[r * 320 + sx..r * 320 + sx + 32].fill(220));
        }
        (y, vec![128u8; 160 * 120])
    }

    #[test]
    fn something_shown_only_between_two_looks_gets_a_glance_where_it_is() {
        let plan = |planner: &mut Planner, i: u64, square: Option<(usize, usize)>| {
            let (y, uv) = still_with(square);
            let pic = crate::frame::Picture::from_planes(crate::frame::Layout::I420, 320, 240, [(&y[..], 320), (&uv[..], 160), (&uv[..], 160)]);
            planner.plan(i, None, &pic)
        };
        let mut planner = Planner::new(2, None, true, 30.0);
        let plans: Vec<Plan> = (0..6).map(|i| plan(&mut planner, i, (i == 3).then_some((100, 80)))).collect();
        assert_eq!(plans.iter().map(|p| p.faces).collect::<Vec<_>>(), [true, false, true, false, true, false], "the cadence is kept");
        assert!(plans.iter().enumerate().all(|(i, p)| p.glance.is_empty() == (i != 3)), "a glance at frame 3 only: {plans:?}");
        let (x, y, w, h) = plans[3].glance[0];
        assert!(x <= 100 && y <= 80 && x + w >= 132 && y + h >= 112, "the glance covers the square: {:?}", plans[3].glance);
        assert!(plans[3].any() && !plans[3].is_look(), "a glance is no look of its own");
        // What appears on a looked-at frame needs no glance; with every frame looked at, none.
        let mut on_look = Planner::new(2, None, true, 30.0);
        assert!((0..4).all(|i| plan(&mut on_look, i, (i == 2).then_some((100, 80))).glance.is_empty()));
        let mut every = Planner::new(1, None, true, 30.0);
        assert!((0..4).all(|i| plan(&mut every, i, (i == 1).then_some((100, 80))).glance.is_empty()));
        // A frame with a person look of its own gets a face look instead (a look's finds are
        // observed whole; a glance's only add).
        let mut persons = Planner::new(2, Some(3), true, 30.0);
        let third = (0..4).map(|i| plan(&mut persons, i, (i == 3).then_some((100, 80)))).last().unwrap();
        assert!(third.persons && third.faces && third.glance.is_empty(), "{third:?}");
    }

    #[test]
    fn what_appears_over_more_than_a_glance_takes_gets_a_look_of_its_own() {
        let mut planner = Planner::new(2, None, true, 30.0);
        let big = |on: bool| -> Vec<u8> {
            let mut y = vec![60u8; 1280 * 720];
            if on {
                // 300×240 px of something new: more than the glance budget, less than a cut.
                (100..340).for_each(|r| y[r * 1280 + 100..r * 1280 + 400].fill(220));
            }
            y
        };
        let uv = vec![128u8; 640 * 360];
        let faces: Vec<bool> = (0..4)
            .map(|i| {
                let y = big(i == 1);
                let pic = crate::frame::Picture::from_planes(crate::frame::Layout::I420, 1280, 720, [(&y[..], 1280), (&uv[..], 640), (&uv[..], 640)]);
                let plan = planner.plan(i, None, &pic);
                assert!(plan.glance.is_empty() && !plan.cut);
                plan.faces
            })
            .collect();
        assert_eq!(faces, [true, true, true, false]);
    }

    /// Regression (issue 13): the heads' closer look always started at the same place in the
    /// list, so with more heads than its budget the same heads were skipped on every frame.
    #[test]
    fn with_more_heads_than_the_budget_every_head_gets_its_turn() {
        // Two dozen walkers of a 1080p street: heads of 60×80 px to 130×170 px.
        let heads: Vec<Region> = (0..24).map(|i| (i * 70, 300, 60 + i * 3, 80 + i * 4)).collect();
        let total: usize = heads.iter().map(|r| r.2 * r.3).sum();
        assert!(total > 3 * CLOSER_BUDGET, "more heads than one look holds: {total}");
        let mut planner = Planner::new(1, Some(1), false, 25.0);
        let (y, u, v) = (vec![0u8; 64 * 64], vec![128u8; 32 * 32], vec![128u8; 32 * 32]);
        let pic = crate::frame::Picture::from_planes(crate::frame::Layout::I420, 64, 64, [(&y[..], 64), (&u[..], 32), (&v[..], 32)]);
        let mut seen = std::collections::HashSet::new();
        // One second at 25 fps.
        for i in 0..25 {
            let plan = planner.plan(i, None, &pic);
            seen.extend(turns::heads_in_turn(&heads, plan.head_turn));
        }
        let missed: Vec<&Region> = heads.iter().filter(|h| !seen.contains(*h)).collect();
        assert!(missed.is_empty(), "heads never looked at in 25 frames: {missed:?}");
    }

    #[test]
    fn the_planner_runs_each_detector_at_its_cadence() {
        let (y, u, v) = (vec![0u8; 64 * 64], vec![128u8; 32 * 32], vec![128u8; 32 * 32]);
        let pic = crate::frame::Picture::from_planes(crate::frame::Layout::I420, 64, 64, [(&y[..], 64), (&u[..], 32), (&v[..], 32)]);
        let mut planner = Planner::new(2, Some(3), true, 25.0);
        let plans: Vec<(bool, bool)> = (0..6).map(|i| planner.plan(i, None, &pic)).map(|p| (p.faces, p.persons)).collect();
        assert_eq!(plans, vec![(true, true), (false, false), (true, false), (false, true), (true, false), (false, false)]);
        let mut faces_only = Planner::new(2, None, true, 25.0);
        assert!((0..6).all(|i| !faces_only.plan(i, None, &pic).persons), "no person detector, no person detection");
    }

    #[test]
    fn live_person_looks_space_out_with_the_looks_when_detection_falls_behind() {
        let (y, u, v) = flat_picture(128, 128);
        let grey = crate::frame::Picture::from_planes(crate::frame::Layout::I420, 64, 64, [(&y[..], 64), (&u[..], 32), (&v[..], 32)]);
        // Keeping up: every frame looked at, the person look every 6 frames as in files.
        let mut keeping_up = Planner::new(1, None, true, 30.0).at_night(Some(6)).live();
        let persons: Vec<u64> = (0..24).filter(|&i| keeping_up.plan(i, None, &grey).persons).collect();
        assert_eq!(persons, vec![0, 6, 12, 18]);
        // Behind: only every fourth frame finds a detector free (the rest skipped). By frames,
        // every sent look would be a person look; here one sent look in three is.
        let mut behind = Planner::new(1, None, true, 30.0).at_night(Some(6)).live();
        let mut sent = Vec::new();
        for i in 0..48 {
            let plan = behind.plan(i, None, &grey);
            if i % 4 == 0 {
                sent.push(plan.persons);
            } else {
                behind.skipped(&plan);
            }
        }
        assert_eq!(sent.iter().filter(|&&p| p).count(), 4, "person looks among 12 sent looks: {sent:?}");
        assert!(sent.windows(2).all(|w| !(w[0] && w[1])), "never two person looks in a row: {sent:?}");
        // Files are planned by frames alone.
        let mut file = Planner::new(1, None, true, 30.0).at_night(Some(2));
        assert!((0..8).all(|i| file.plan(i, None, &grey).persons == (i % 2 == 0)));
    }

    /// Regression test: live, a frame whose detection is skipped (detectors busy) lost its
    /// person look until the cadence came round again, and under load every person look could
    /// fall on a skipped frame, so the night profile found no one.
    #[test]
    fn a_person_look_on_a_skipped_frame_goes_to_the_next_frame() {
        let (y, u, v) = flat_picture(128, 128);
        let grey = crate::frame::Picture::from_planes(crate::frame::Layout::I420, 64, 64, [(&y[..], 64), (&u[..], 32), (&v[..], 32)]);
        for mut planner in [Planner::new(1, Some(5), true, 25.0), Planner::new(1, None, true, 25.0).at_night(Some(5))] {
            let first = planner.plan(0, None, &grey);
            assert!(first.persons);
            planner.skipped(&first);
            let persons: Vec<bool> = (1..11).map(|i| planner.plan(i, None, &grey).persons).collect();
            assert_eq!(persons, vec![true, false, false, false, true, false, false, false, false, true], "owed once, then the cadence");
        }
        let mut planner = Planner::new(1, Some(5), true, 25.0);
        let skipped_without_persons = planner.plan(1, None, &grey);
        planner.skipped(&skipped_without_persons);
        assert!(!planner.plan(2, None, &grey).persons, "nothing owed for a skipped frame without a person look");
    }

    /// A flat 64×64 I420 picture with chroma `(u, v)`: (128, 128) is grey (night/infrared).
    fn flat_picture(u: u8, v: u8) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        (vec![60u8; 64 * 64], vec![u; 32 * 32], vec![v; 32 * 32])
    }

    #[test]
    fn the_night_profile_runs_the_person_detector_on_grey_frames_only() {
        let (y, u, v) = flat_picture(128, 128);
        let grey = crate::frame::Picture::from_planes(crate::frame::Layout::I420, 64, 64, [(&y[..], 64), (&u[..], 32), (&v[..], 32)]);
        let (cy, cu, cv) = flat_picture(90, 170);
        let colour = crate::frame::Picture::from_planes(crate::frame::Layout::I420, 64, 64, [(&cy[..], 64), (&cu[..], 32), (&cv[..], 32)]);
        let mut night = Planner::new(2, None, true, 25.0).at_night(Some(3));
        let at_night: Vec<bool> = (0..7).map(|i| night.plan(i, None, &grey).persons).collect();
        assert_eq!(at_night, vec![true, false, false, true, false, false, true], "grey: the person detector at its cadence");
        assert!((0..7).all(|i| !night.plan(i, None, &colour).persons), "colour: unchanged, no person detector");
        let mut off = Planner::new(2, None, true, 25.0).at_night(None);
        assert!((0..7).all(|i| !off.plan(i, None, &grey).persons), "night profile off: no person detector at night either");
        // A policy that needs persons anyway keeps its own cadence by day and by night.
        let mut both = Planner::new(2, Some(3), true, 25.0).at_night(Some(3));
        assert_eq!((0..4).map(|i| both.plan(i, None, &colour).persons).collect::<Vec<_>>(), vec![true, false, false, true]);
    }

    /// A grey 640×320 street at night with eight small walkers (14×20 px, bright in infrared),
    /// each 6 px further on in frame `i`.
    fn night_street(i: usize) -> Vec<u8> {
        let mut y = vec![40u8; 640 * 320];
        for k in 0..8 {
            let (x0, y0) = (20 + 70 * k + 6 * i, 40 + 30 * (k % 4) + 90 * (k % 2));
            for row in y0..y0 + 20 {
                y[row * 640 + x0..row * 640 + x0 + 14].fill(170);
            }
        }
        y
    }

    #[test]
    fn live_the_second_model_takes_half_the_closer_tiles_in_turn() {
        let (u, v) = (vec![128u8; 320 * 160], vec![128u8; 320 * 160]);
        let (mut file, mut live) = (Planner::new(1, None, true, 30.0), Planner::new(1, None, true, 30.0).live());
        let mut turns = 0;
        for i in 0..8 {
            let y = night_street(i);
            let pic = crate::frame::Picture::from_planes(crate::frame::Layout::I420, 640, 320, [(&y[..], 640), (&u[..], 320), (&v[..], 320)]);
            let (f, l) = (file.plan(i as u64, None, &pic), live.plan(i as u64, None, &pic));
            assert_eq!(f.closer, l.closer, "the same closer look");
            let tiles: Vec<Region> = f.closer.iter().flat_map(|&r| small_tiles(r, blazeface::TILE, blazeface::TILE_STEP)).collect();
            assert_eq!(f.second, tiles, "a file: every tile, on every look");
            assert!(l.second.iter().all(|t| tiles.contains(t)), "live: tiles of the closer look");
            assert!(l.second.len() <= tiles.len().div_ceil(2), "live: half of them, {:?}", l.second);
            turns += usize::from(!l.second.is_empty() && l.second.len() < tiles.len());
        }
        assert!(turns >= 5, "live: they take turns ({turns} looks)");
    }

    #[test]
    fn a_dark_face_moving_on_a_lit_street_is_looked_at_equalised_in_colour_pictures_only() {
        // A 16×24 px dark face (level 50) walking across a street at 140, 30 fps.
        let picture = |x0: usize| {
            let mut y = vec![140u8; 256 * 128];
            for row in 50..74 {
                y[row * 256 + x0..row * 256 + x0 + 16].fill(50);
            }
            y
        };
        for (chroma, grey) in [(100u8, false), (128u8, true)] {
            let (u, v) = (vec![chroma; 128 * 64], vec![128u8; 128 * 64]);
            let (mut planner, mut without) = (Planner::new(1, None, true, 30.0).in_shade(true), Planner::new(1, None, true, 30.0));
            let mut shade = Vec::new();
            for i in 0..4u64 {
                let y = picture(100 + 4 * i as usize);
                let pic = crate::frame::Picture::from_planes(crate::frame::Layout::I420, 256, 128, [(&y[..], 256), (&u[..], 128), (&v[..], 128)]);
                let plan = planner.plan(i, None, &pic);
                assert_eq!(plan.grey, grey);
                shade.extend(plan.shade);
                assert!(without.plan(i, None, &pic).shade.is_empty(), "`--local-contrast backlit` plans no such look");
            }
            if grey {
                assert!(shade.is_empty(), "a grey picture is equalised whole: {shade:?}");
            } else {
                assert!(!shade.is_empty(), "the dark face gets a look of its own");
                assert!(shade.iter().all(|r| r.2 * r.3 <= SHADE_BUDGET), "{shade:?}");
            }
        }
    }

    /// Regression (a live restream showed all three faces of the sample clip in the frame
    /// where the camera looped: that frame had no look of its own, 1 in 2 at 25 fps, and the
    /// tracker's boxes were where the faces had been before the cut).
    #[test]
    fn a_picture_that_changed_whole_gets_a_look_of_its_own_and_walking_people_do_not() {
        // 128×64: a square walking 4 px a frame, then the view changes (a bright upper half).
        let picture = |x0: usize, view: u8| {
            let mut y = vec![60u8; 128 * 64];
            y[..128 * 32].fill(view);
            for row in 40..56 {
                y[row * 128 + x0..row * 128 + x0 + 16].fill(200);
            }
            y
        };
        let (u, v) = (vec![128u8; 64 * 32], vec![128u8; 64 * 32]);
        let mut planner = Planner::new(2, None, true, 25.0);
        let plans: Vec<Plan> = [(10, 60), (14, 60), (18, 60), (22, 160), (26, 160)]
            .iter()
            .enumerate()
            .map(|(i, &(x0, view))| {
                let y = picture(x0, view);
                let pic = crate::frame::Picture::from_planes(crate::frame::Layout::I420, 128, 64, [(&y[..], 128), (&u[..], 64), (&v[..], 64)]);
                planner.plan(i as u64, None, &pic)
            })
            .collect();
        assert_eq!(plans.iter().map(|p| p.cut).collect::<Vec<_>>(), [false, false, false, true, false]);
        assert_eq!(plans.iter().map(|p| p.faces).collect::<Vec<_>>(), [true, false, true, true, true], "the cut (frame 3) is looked at");
    }

    /// Found in review: a live camera back after an absence with the same size and view was no
    /// cut, so its first look compared with the picture from before and did not count as a
    /// first sight: the frames after it left with masks instead of obscured whole.
    #[test]
    fn a_camera_back_from_an_absence_is_a_cut_seen_for_the_first_time() {
        let (y, u, v) = (vec![90u8; 128 * 64], vec![128u8; 64 * 32], vec![128u8; 64 * 32]);
        let pic = crate::frame::Picture::from_planes(crate::frame::Layout::I420, 128, 64, [(&y[..], 128), (&u[..], 64), (&v[..], 64)]);
        let mut planner = Planner::new(2, None, true, 25.0);
        let before: Vec<Plan> = (0..30).map(|i| planner.plan(i, None, &pic)).collect();
        assert!(before.iter().all(|p| !p.cut) && !before[28].first_sight, "a still view, compared once a motion span went by");
        planner.camera_away();
        let back: Vec<Plan> = (45..55).map(|i| planner.plan(i, None, &pic)).collect();
        assert_eq!(back.iter().map(|p| p.cut).collect::<Vec<_>>(), [true, false, false, false, false, false, false, false, false, false]);
        assert!(back[0].faces && back[0].first_sight, "the first frame back is looked at as if for the first time");
        assert!(back[1].first_sight && !back[3].first_sight, "later looks compare only with pictures from after the absence");
    }

    #[test]
    fn motion_is_measured_over_at_least_the_motion_span() {
        // 60 fps, a look on every frame: a square moving 1 px a frame is compared over 4 frames.
        let picture = |x0: usize| {
            let mut y = vec![0u8; 128 * 64];
            for row in 20..40 {
                y[row * 128 + x0..row * 128 + x0 + 20].fill(200);
            }
            y
        };
        let (u, v) = (vec![128u8; 64 * 32], vec![128u8; 64 * 32]);
        let mut planner = Planner::new(1, None, true, 60.0);
        assert_eq!(planner.motion_span, 4);
        let mut moved = Vec::new();
        for i in 0..8 {
            let y = picture(40 + i);
            let pic = crate::frame::Picture::from_planes(crate::frame::Layout::I420, 128, 64, [(&y[..], 128), (&u[..], 64), (&v[..], 64)]);
            moved.push(!planner.plan(i as u64, None, &pic).closer.is_empty());
        }
        assert_eq!(moved, vec![false, false, false, false, true, true, true, true]);
        assert!(planner.recent.len() <= 5, "only the looks still needed are kept");
    }
}

"""Deterministic synthetic traffic-camera videos with CVAT-for-video annotations, for `make demo` and tests.

Layout written by :func:`generate_demo_data`::

    landing_dir/<scene>/<day>/<scene>_<day>_<n>.mp4   mp4v, spec.width x spec.height, round(seconds * fps) frames
    landing_dir/<scene>/<day>/<scene>_<day>_<n>.xml   "CVAT for video 1.1" tracks of every drawn object
    landing_dir/<scene>/<day>/<scene>_<day>_<n>.json  sidecar: device, capture_start, weather, lighting, tags

``n`` counts from 0 within a day. Sidecars are written before their video, so a consumer that reacts to a new
video finds its annotations already in place. Every write goes to a hidden ``.<name>.partial[.mp4]`` file in the
same folder and is then renamed, so consumers that ignore dotfiles never see a half-written file.

Box convention: ``xtl, ytl`` is the top-left corner of the first covered pixel and ``xbr, ybr`` the edge after the
last covered pixel, so a box covering pixel columns 10..19 has ``xtl=10, xbr=20``; valid boxes satisfy
``0 <= xtl < xbr <= width`` and ``0 <= ytl < ybr <= height``.

Deliberately bad labels (for QC to catch), per video ``max(1, round(bad_label_share * tracks))`` tracks when the
share is positive, each with one of:

* ``out_of_frame``: one keyframe's ``xbr`` lies 40-120 px beyond the image width;
* ``inverted``: one keyframe has ``xbr < xtl``;
* ``unknown_label``: the whole (shortest available) track is labelled ``"truck"``.

A corrupted keyframe always has true keyframes on the frames right before and after it, so interpolation never
spreads it: it costs exactly one per-frame box. An ``unknown_label`` track costs all its visible frames.
``bad_boxes`` in the summary is the sum of those, i.e. the number of per-frame boxes that an importer expanding
tracks as CVAT does would produce and that QC (box inside the image, positive size, class in DEMO_CLASSES)
rejects. ``boxes`` counts all per-frame boxes, bad ones included.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import cv2
import numpy as np

from vision_assets.core.lake import atomic_write_bytes

DEMO_CLASSES = ("car", "pedestrian", "cyclist")
UNKNOWN_LABEL = "truck"
BAD_LABEL_KINDS = ("out_of_frame", "inverted", "unknown_label")
KEYFRAME_STEP = 5
OCCLUSION_SHARE = 0.3  # share of a box hidden by objects in front of it that makes it "occluded"

_CLASS_WEIGHTS = {"car": 0.45, "pedestrian": 0.30, "cyclist": 0.25}
_LANE_KIND = {"car": "car", "pedestrian": "sidewalk", "cyclist": "bike"}
_SPEED_PX_S = {"car": (60.0, 110.0), "pedestrian": (12.0, 24.0), "cyclist": (28.0, 48.0)}
_MIN_VISIBLE, _MAX_VISIBLE = 3, 8
_SPAWN_PER_SECOND = 1.0  # arrivals while the scene is between the min and max crowd
_LANE_GAP_PX = 8


@dataclass(frozen=True)
class DemoSpec:
    scenes: tuple[str, ...] = ("cam-north", "cam-south", "cam-east")
    days: tuple[str, ...] = ("2026-11-18", "2026-11-19")  # YYYY-MM-DD
    videos_per_day: int = 2
    seconds: float = 12.0
    fps: int = 10
    width: int = 320
    height: int = 192
    seed: int = 7
    bad_label_share: float = 0.01  # share of tracks given a deliberately corrupted label, for QC to catch

    def __post_init__(self) -> None:
        for day in self.days:
            date.fromisoformat(day)  # raises on anything but YYYY-MM-DD
        if self.n_frames < 1 or self.width < 64 or self.height < 64:
            raise ValueError(f"DemoSpec too small to draw a street scene: {self}")
        if not 0 <= self.bad_label_share <= 1:
            raise ValueError(f"bad_label_share must lie in [0, 1], got {self.bad_label_share}")

    @property
    def n_frames(self) -> int:
        return int(round(self.seconds * self.fps))


def generate_demo_data(landing_dir: Path, spec: DemoSpec = DemoSpec()) -> dict:  # noqa: B008 (frozen, immutable)
    """Write every scene/day/video of ``spec`` under ``landing_dir`` and return a summary.

    Files whose content is already on disk are left alone, so a second call writes nothing and returns the same
    summary. ``files`` lists every video path of the spec (as strings), whether written now or before.
    """
    landing_dir = Path(landing_dir)
    summary = {"videos": 0, "scenes": len(spec.scenes), "days": len(spec.days), "frames": 0, "boxes": 0,
               "bad_boxes": 0, "files": []}
    for scene in spec.scenes:
        backdrop = _build_scene(scene, spec)
        for day_index, day in enumerate(spec.days):
            for index in range(spec.videos_per_day):
                night = (day_index * spec.videos_per_day + index) % 2 == 1
                video = _plan_video(backdrop, scene, day, index, night, spec)
                folder = landing_dir / scene / day
                folder.mkdir(parents=True, exist_ok=True)
                _write_if_changed(folder / f"{video.stem}.xml", _cvat_xml(video, spec).encode())
                _write_if_changed(folder / f"{video.stem}.json", _sidecar_json(video, spec).encode())
                path = folder / f"{video.stem}.mp4"
                _write_video(path, _render_frames(video, backdrop, spec), spec)
                summary["videos"] += 1
                summary["frames"] += spec.n_frames
                summary["boxes"] += video.n_boxes
                summary["bad_boxes"] += video.n_bad_boxes
                summary["files"].append(str(path))
    return summary


# ---------------------------------------------------------------------------------------------- randomness


def _rng(*parts: object) -> np.random.Generator:
    # Python's hash() is salted per process; sha256 keeps runs reproducible across processes and machines.
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _bgr(rng: np.random.Generator, lo: int, hi: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, size=3))


# ---------------------------------------------------------------------------------------------- scene


@dataclass(frozen=True)
class _Lane:
    kind: str  # "car", "bike" or "sidewalk": which class may use it
    bottom_lo: int  # range of the object's bottom edge (y, exclusive hi)
    bottom_hi: int
    direction: int  # +1 moves right, -1 left, 0 either way


@dataclass
class _Backdrop:
    """Everything about a scene that does not change between its videos."""

    image: np.ndarray  # uint8 HxWx3, daylight, no objects
    lanes: tuple[_Lane, ...]
    lamp_light: np.ndarray  # float32 HxW, 0..1 pool of light under the street lamps at night
    windows: np.ndarray  # bool HxW, windows lit at night


def _build_scene(scene: str, spec: DemoSpec) -> _Backdrop:
    rng = _rng(spec.seed, "scene", scene)
    w, h = spec.width, spec.height
    sidewalk_h = [int(h * rng.uniform(0.15, 0.18)) for _ in range(2)]
    road_h = int(h * rng.uniform(0.38, 0.43))
    verge_h = int(h * rng.uniform(0.02, 0.07))
    top_h = h - sum(sidewalk_h) - road_h - verge_h
    walk1 = top_h
    road0 = walk1 + sidewalk_h[0]
    road1 = road0 + road_h
    walk2_end = road1 + sidewalk_h[1]

    img = np.zeros((h, w, 3), np.uint8)
    windows = np.zeros((h, w), bool)
    img[:] = _bgr(rng, 40, 90)  # verge: shrubs or dirt below the far sidewalk
    img[:, :, 1] = np.clip(img[:, :, 1].astype(int) + 50, 0, 255)
    img[:top_h] = (int(rng.integers(200, 235)), int(rng.integers(170, 205)), int(rng.integers(120, 160)))  # sky
    _paint_buildings(img, windows, top_h, rng)
    grey, beige = int(rng.integers(150, 185)), bool(rng.random() < 0.5)
    sidewalk = (grey, grey + 5 * beige, grey + 12 * beige)
    for y0, y1 in ((walk1, road0), (road1, walk2_end)):
        _paint_sidewalk(img, y0, y1, sidewalk, rng)
    bike_h = max(6, int(road_h * 0.18))
    _paint_road(img, road0, road1, bike_h, rng)
    if rng.random() < 0.5:
        _paint_side_street(img, windows, road0, rng)
    _paint_trees(img, top_h, walk2_end, rng)
    lamps = _paint_lamps(img, walk1, road0, rng)
    # A faint fixed texture so the background is not flat colour, which no real camera delivers.
    texture = cv2.GaussianBlur(rng.normal(0, 4, (h, w, 1)).astype(np.float32), (3, 3), 0)[:, :, None]
    img = np.clip(img + texture, 0, 255).astype(np.uint8)

    mid = road0 + road_h // 2
    lanes = (
        _Lane("sidewalk", walk1 + int(sidewalk_h[0] * 0.45), road0 - 1, 0),
        _Lane("bike", road0 + bike_h - 3, road0 + bike_h + 1, -1),
        _Lane("car", mid - 4, mid, -1),
        _Lane("car", road1 - bike_h - 4, road1 - bike_h, +1),
        _Lane("bike", road1 - 3, road1, +1),
        _Lane("sidewalk", road1 + int(sidewalk_h[1] * 0.45), walk2_end, 0),
    )
    return _Backdrop(img, lanes, _lamp_pools(lamps, road0, road1, w, h), windows)


def _paint_buildings(img: np.ndarray, windows: np.ndarray, base: int, rng: np.random.Generator) -> None:
    x = int(rng.integers(-30, 0))
    while x < img.shape[1]:
        bw = int(rng.integers(40, 95))
        top = int(base * rng.uniform(0.0, 0.6))
        if rng.random() < 0.2:  # a gap in the row lets the sky through and breaks repetition
            x += bw // 2
            continue
        colour = _bgr(rng, 70, 190)
        cv2.rectangle(img, (x, top), (x + bw - 1, base - 1), colour, -1)
        window = tuple(int(c * 0.45) for c in colour)
        for wy in range(top + 4, base - 8, 10):
            for wx in range(x + 4, x + bw - 8, 11):
                cv2.rectangle(img, (wx, wy), (wx + 5, wy + 5), window, -1)
                if rng.random() < 0.35:
                    windows[max(wy, 0):wy + 6, max(wx, 0):wx + 6] = True
        x += bw


def _paint_sidewalk(img: np.ndarray, y0: int, y1: int, colour: tuple, rng: np.random.Generator) -> None:
    img[y0:y1] = colour
    joint = tuple(max(c - 25, 0) for c in colour)
    for x in range(int(rng.integers(0, 16)), img.shape[1], 16):
        img[y0:y1, x] = joint
    img[y0] = joint
    img[y1 - 1] = tuple(min(c + 30, 255) for c in colour)  # curb


def _paint_road(img: np.ndarray, y0: int, y1: int, bike_h: int, rng: np.random.Generator) -> None:
    img[y0:y1] = (int(rng.integers(70, 95)),) * 3
    white = (235, 235, 235)
    centre = (40, 190, 230) if rng.random() < 0.5 else white  # yellow or white centre line
    mid = (y0 + y1) // 2
    dash, gap = int(rng.integers(10, 18)), int(rng.integers(8, 14))
    for x in range(int(rng.integers(0, dash + gap)) - dash, img.shape[1], dash + gap):
        cv2.rectangle(img, (x, mid - 1), (x + dash, mid), centre, -1)
    for y in (y0 + bike_h, y1 - bike_h):
        img[y] = white
    if rng.random() < 0.6:
        x = int(rng.integers(30, img.shape[1] - 70))
        for sx in range(x, x + 40, 8):
            img[y0 + 2:y1 - 2, sx:sx + 4] = white


def _paint_side_street(img: np.ndarray, windows: np.ndarray, road0: int, rng: np.random.Generator) -> None:
    width = int(rng.integers(36, 60))
    x = int(rng.integers(20, img.shape[1] - width - 20))
    img[road0 // 3:road0, x:x + width] = img[road0 + 2, 0]
    img[road0 // 3:road0, x + width // 2] = (230, 230, 230)
    windows[:, x:x + width] = False


def _paint_trees(img: np.ndarray, horizon: int, bottom: int, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(1, 5))):
        x = int(rng.integers(0, img.shape[1]))
        behind_sidewalk = rng.random() < 0.6
        y = int(horizon * rng.uniform(0.55, 0.95)) if behind_sidewalk else int(rng.integers(bottom, img.shape[0] + 1))
        r = int(rng.integers(8, 16))
        cv2.rectangle(img, (x - 1, y - r), (x + 1, y), (30, 50, 70), -1)
        cv2.circle(img, (x, y - r - r // 2), r, (int(rng.integers(20, 50)), int(rng.integers(90, 140)), 40), -1)


def _paint_lamps(img: np.ndarray, walk: int, road0: int, rng: np.random.Generator) -> list[int]:
    """Lamp posts along the far curb; returns the x of each lamp head."""
    lamps = []
    spacing = int(rng.integers(70, 120))
    for x in range(int(rng.integers(10, spacing)), img.shape[1], spacing):
        top = max(walk - 30, 2)
        cv2.line(img, (x, road0 - 2), (x, top), (45, 45, 50), 1)
        cv2.line(img, (x, top), (x + 6, top), (45, 45, 50), 1)
        lamps.append(x + 6)
    return lamps


def _lamp_pools(lamps: list[int], road0: int, road1: int, w: int, h: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    pool = np.zeros((h, w), np.float32)
    cy = (road0 + road1) / 2 - (road1 - road0) * 0.2  # lamps overhang the road, so their pools centre on it
    for lx in lamps:
        pool += np.exp(-((xx - lx) ** 2 / (2 * 30.0**2) + (yy - cy) ** 2 / (2 * 40.0**2)))
    return np.clip(pool, 0, 1)


# ---------------------------------------------------------------------------------------------- objects


@dataclass
class _Sprite:
    colour: np.ndarray  # uint8 hxwx3
    mask: np.ndarray  # bool hxw, exactly the drawn pixels; the sprite is trimmed to them so the box is tight
    lights: np.ndarray  # uint8 hxw: 1 head/front lamp, 2 tail lamp; shine only at night

    @property
    def size(self) -> tuple[int, int]:
        return self.mask.shape[1], self.mask.shape[0]


class _Canvas:
    """Draws the object's colour, its mask and its lamps in one go, so they cannot drift apart."""

    def __init__(self, w: int, h: int) -> None:
        self.colour = np.zeros((h, w, 3), np.uint8)
        self.mask = np.zeros((h, w), np.uint8)
        self.lights = np.zeros((h, w), np.uint8)

    def draw(self, fn, *args, colour, light: int = 0, **kwargs) -> None:
        fn(self.colour, *args, colour, **kwargs)
        fn(self.mask, *args, 255, **kwargs)
        fn(self.lights, *args, light, **kwargs)

    def sprite(self, flip: bool) -> _Sprite:
        ys, xs = np.nonzero(self.mask)
        crop = np.s_[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        colour, mask, lights = self.colour[crop], self.mask[crop] > 0, self.lights[crop]
        if flip:
            colour, mask, lights = colour[:, ::-1], mask[:, ::-1], lights[:, ::-1]
        return _Sprite(np.ascontiguousarray(colour), np.ascontiguousarray(mask), np.ascontiguousarray(lights))


_CAR_COLOURS = [(40, 40, 200), (170, 80, 30), (235, 235, 235), (30, 30, 30), (40, 200, 230), (60, 140, 50),
                (190, 190, 195), (20, 120, 240), (120, 40, 120)]


def _car_sprite(w: int, h: int, direction: int, rng: np.random.Generator) -> _Sprite:
    body = _CAR_COLOURS[int(rng.integers(len(_CAR_COLOURS)))]
    glass = tuple(int(c * 0.25) + 25 for c in body)
    c = _Canvas(w, h)
    r = max(3, round(h * 0.2))
    top = round(h * 0.4)

    def pts(*corners: tuple[float, float]) -> list[np.ndarray]:  # corners as fractions of the sprite size
        return [np.array([(round(x * w), round(y * h)) for x, y in corners], np.int32)]

    c.draw(cv2.fillPoly, pts((0.2, 0.4), (0.32, 0), (0.66, 0), (0.8, 0.4)), colour=body)
    c.draw(cv2.fillPoly, pts((0.27, 0.38), (0.35, 0.1), (0.47, 0.1), (0.47, 0.38)), colour=glass)
    c.draw(cv2.fillPoly, pts((0.51, 0.38), (0.51, 0.1), (0.63, 0.1), (0.73, 0.38)), colour=glass)
    c.draw(cv2.rectangle, (0, top), (w - 1, h - 1 - r // 2), colour=body, thickness=-1)
    for cx in (round(w * 0.2), round(w * 0.8)):
        c.draw(cv2.circle, (cx, h - 1 - r), r, colour=(25, 25, 25), thickness=-1)
        c.draw(cv2.circle, (cx, h - 1 - r), max(1, r // 2), colour=(140, 140, 140), thickness=-1)
    c.draw(cv2.rectangle, (w - 3, top + 1), (w - 1, top + 3), colour=(200, 225, 235), light=1, thickness=-1)
    c.draw(cv2.rectangle, (0, top + 1), (1, top + 3), colour=(30, 30, 160), light=2, thickness=-1)
    return c.sprite(flip=direction < 0)


def _pedestrian_sprite(w: int, h: int, rng: np.random.Generator) -> _Sprite:
    skin = [(60, 90, 140), (110, 150, 200), (150, 190, 230), (40, 60, 90)][int(rng.integers(4))]
    shirt, pants = _bgr(rng, 30, 255), _bgr(rng, 20, 110)
    c = _Canvas(w, h)
    r = max(2, round(w * 0.25))
    hip, inset = round(h * 0.6), round(w * 0.18)
    c.draw(cv2.rectangle, (inset, 2 * r), (w - 1 - inset, hip), colour=shirt, thickness=-1)
    for x in (0, w - 1):  # arms
        c.draw(cv2.line, (x, 2 * r + 1), (x, round(h * 0.55)), colour=tuple(v // 2 + 20 for v in shirt))
    c.draw(cv2.rectangle, (round(w * 0.2), hip), (w // 2 - 1, h - 1), colour=pants, thickness=-1)
    c.draw(cv2.rectangle, (w // 2 + 1, hip), (w - 1 - round(w * 0.2), h - 1), colour=pants, thickness=-1)
    c.draw(cv2.circle, (w // 2, r), r, colour=skin, thickness=-1)
    return c.sprite(flip=False)


def _cyclist_sprite(w: int, h: int, direction: int, rng: np.random.Generator) -> _Sprite:
    frame_colour, jacket, pants = _bgr(rng, 60, 255), _bgr(rng, 80, 255), _bgr(rng, 20, 100)
    c = _Canvas(w, h)
    r = max(3, round(w * 0.2))
    rear, front = (r, h - 1 - r), (w - 1 - r, h - 1 - r)
    seat, crank = (round(w * 0.42), round(h * 0.55)), (round(w * 0.5), h - 1 - r)
    bar = (round(w * 0.72), round(h * 0.5))
    shoulder, head_r = (round(w * 0.58), round(h * 0.25)), max(2, round(h * 0.1))
    for hub in (rear, front):
        c.draw(cv2.circle, hub, r, colour=(20, 20, 20), thickness=2)
    for a, b in ((rear, seat), (seat, crank), (crank, front), (seat, bar), (bar, front)):
        c.draw(cv2.line, a, b, colour=frame_colour)
    c.draw(cv2.line, seat, crank, colour=pants, thickness=2)
    c.draw(cv2.line, seat, shoulder, colour=jacket, thickness=3)
    c.draw(cv2.line, shoulder, bar, colour=jacket, thickness=2)
    c.draw(cv2.circle, (round(w * 0.62), head_r), head_r, colour=(60, 60, 60), thickness=-1)
    c.draw(cv2.rectangle, (bar[0], bar[1]), (bar[0] + 1, bar[1] + 1), colour=(210, 210, 210), light=1, thickness=-1)
    c.draw(cv2.rectangle, (rear[0] - 1, rear[1] - r - 2), (rear[0], rear[1] - r - 1), colour=(40, 40, 170), light=2,
           thickness=-1)
    return c.sprite(flip=direction < 0)


def _make_sprite(cls: str, depth: float, direction: int, rng: np.random.Generator) -> _Sprite:
    # Nearer objects (lower in the image) are drawn a little bigger; the rest of the size is individual.
    def size(lo: int, hi: int) -> int:
        return int(round(lo + (hi - lo) * (0.6 * rng.random() + 0.4 * depth)))

    if cls == "car":
        return _car_sprite(size(40, 70), size(20, 30), direction, rng)
    if cls == "pedestrian":
        return _pedestrian_sprite(size(8, 12), size(20, 30), rng)
    return _cyclist_sprite(size(16, 24), size(20, 28), direction, rng)


@dataclass
class _Track:
    track_id: int
    cls: str
    lane: int
    sprite: _Sprite
    start: int  # first frame the object exists
    left0: float  # x of its left edge at `start`
    top: int
    vx: float  # px per frame
    z: int = 0  # painter's order: higher is drawn later, i.e. in front

    def left(self, frame: int) -> int:
        return int(np.floor(self.left0 + self.vx * (frame - self.start) + 0.5))

    def raw_box(self, frame: int) -> tuple[int, int, int, int]:
        w, h = self.sprite.size
        x = self.left(frame)
        return x, self.top, x + w, self.top + h

    @property
    def bottom(self) -> int:
        return self.top + self.sprite.size[1]


def _clip(box: tuple[int, int, int, int], w: int, h: int) -> tuple[int, int, int, int] | None:
    x1, y1, x2, y2 = max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h)
    return (x1, y1, x2, y2) if x1 < x2 and y1 < y2 else None


def _simulate(backdrop: _Backdrop, spec: DemoSpec, rng: np.random.Generator) -> list[_Track]:
    """Spawn objects so that roughly 3-8 are on screen at any time; each moves at constant velocity."""
    tracks: list[_Track] = []
    rearmost: dict[int, _Track] = {}  # last object that entered each one-way lane: new ones queue behind it
    speeds = {i: rng.uniform(*_SPEED_PX_S["car" if lane.kind == "car" else "cyclist"]) / spec.fps
              for i, lane in enumerate(backdrop.lanes) if lane.kind != "sidewalk"}

    def visible(frame: int) -> int:
        return sum(_clip(t.raw_box(frame), spec.width, spec.height) is not None for t in tracks if t.start <= frame)

    for _ in range(int(rng.integers(4, 7))):
        _spawn(tracks, rearmost, speeds, backdrop, spec, rng, frame=0, inside=True)
    p_spawn = _SPAWN_PER_SECOND / spec.fps
    for frame in range(1, spec.n_frames):
        on_screen = visible(frame)
        if on_screen >= _MAX_VISIBLE or (on_screen >= _MIN_VISIBLE and rng.random() >= p_spawn):
            continue
        for _ in range(3):  # a lane can be blocked at its entry; try another pick
            if _spawn(tracks, rearmost, speeds, backdrop, spec, rng, frame, inside=False):
                break

    for z, t in enumerate(sorted(tracks, key=lambda t: (t.bottom, t.track_id))):
        t.z = z
    return tracks


def _spawn(tracks, rearmost, speeds, backdrop: _Backdrop, spec: DemoSpec, rng: np.random.Generator,
           frame: int, inside: bool) -> bool:
    cls = str(rng.choice(list(_CLASS_WEIGHTS), p=list(_CLASS_WEIGHTS.values())))
    lanes = [i for i, lane in enumerate(backdrop.lanes) if lane.kind == _LANE_KIND[cls]]
    lane_id = int(rng.choice(lanes))
    lane = backdrop.lanes[lane_id]
    direction = lane.direction or int(rng.choice([-1, 1]))
    bottom = int(rng.integers(lane.bottom_lo, lane.bottom_hi))
    sprite = _make_sprite(cls, bottom / spec.height, direction, rng)
    w, h = sprite.size
    speed = speeds.get(lane_id) or rng.uniform(*_SPEED_PX_S[cls]) / spec.fps
    if cls != "pedestrian":
        speed *= rng.uniform(0.95, 1.05)
    # Pedestrians may also step out of a doorway mid-frame; vehicles always drive in from an edge.
    appear = inside or (cls == "pedestrian" and rng.random() < 0.2)

    if lane.kind == "sidewalk":
        left = rng.uniform(0, spec.width - w) if appear else _edge_entry(direction, w, speed, spec.width, rng)
        box = (left, bottom - h, left + w, bottom)
        if any(_overlap(box, t.raw_box(frame)) for t in tracks if t.lane == lane_id and t.start <= frame):
            return False
    else:
        # One-way lanes keep their order: the newcomer goes behind the rearmost object and never catches it up.
        rear = rearmost.get(lane_id)
        rear_edge = None
        if rear is not None:
            rx1, _, rx2, _ = rear.raw_box(frame)
            rear_edge = rx1 - _LANE_GAP_PX if direction > 0 else rx2 + _LANE_GAP_PX
            speed = min(speed, abs(rear.vx))
        if appear:
            lo, hi = (0.0, spec.width - w) if rear_edge is None else (
                (-w / 2, rear_edge - w) if direction > 0 else (rear_edge, spec.width - w / 2))
            if lo >= hi:
                return False
            left = rng.uniform(lo, hi)
        else:
            left = _edge_entry(direction, w, speed, spec.width, rng)
            if rear_edge is not None and (left + w > rear_edge if direction > 0 else left < rear_edge):
                return False
    track = _Track(len(tracks), cls, lane_id, sprite, frame, float(left), bottom - h, direction * speed)
    tracks.append(track)
    if lane.kind != "sidewalk":
        rearmost[lane_id] = track
    return True


def _edge_entry(direction: int, w: int, speed: float, width: int, rng: np.random.Generator) -> float:
    # Just peeking in: between one pixel and one frame's travel of the object is inside.
    inside = rng.uniform(1, max(speed, 1.01))
    return inside - w if direction > 0 else width - inside


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# ---------------------------------------------------------------------------------------------- per video


@dataclass
class _TrackLabels:
    label: str
    shapes: list[tuple[int, int, int, tuple[float, float, float, float]]]  # (frame, outside, occluded, box)
    n_boxes: int
    n_bad: int


@dataclass
class _Video:
    scene: str
    day: str
    index: int
    night: bool
    weather: str
    tracks: list[_Track]
    labels: list[_TrackLabels] = field(default_factory=list)

    @property
    def stem(self) -> str:
        return f"{self.scene}_{self.day}_{self.index}"

    @property
    def n_boxes(self) -> int:
        return sum(t.n_boxes for t in self.labels)

    @property
    def n_bad_boxes(self) -> int:
        return sum(t.n_bad for t in self.labels)


def _plan_video(backdrop: _Backdrop, scene: str, day: str, index: int, night: bool, spec: DemoSpec) -> _Video:
    parts = (spec.seed, scene, day, index)
    rng = _rng(*parts)
    weather = str(rng.choice(["clear", "rain", "fog"], p=[0.6, 0.25, 0.15]))
    video = _Video(scene, day, index, night, weather, _simulate(backdrop, spec, rng))
    tracks = video.tracks
    boxes, occluded = _visible_boxes(tracks, spec)
    corruptions = _pick_corruptions(tracks, boxes, spec.bad_label_share, _rng(*parts, "bad-labels"))
    video.labels = [_label_track(t, boxes[t.track_id], occluded[t.track_id], corruptions.get(t.track_id), spec,
                                 _rng(*parts, "bad-labels", t.track_id)) for t in tracks]
    return video


def _visible_boxes(tracks: list[_Track], spec: DemoSpec):
    """Per track: {frame: clipped box} for every frame it is on screen, and {frame: occluded flag}."""
    boxes: dict[int, dict[int, tuple]] = {t.track_id: {} for t in tracks}
    for t in tracks:
        for frame in range(t.start, spec.n_frames):
            box = _clip(t.raw_box(frame), spec.width, spec.height)
            if box is None and boxes[t.track_id]:
                break  # constant velocity: once gone, gone for good
            if box is not None:
                boxes[t.track_id][frame] = box
    occluded = {t.track_id: {} for t in tracks}
    for t in tracks:
        for frame, box in boxes[t.track_id].items():
            area = (box[2] - box[0]) * (box[3] - box[1])
            hidden = max((_intersection(box, boxes[o.track_id][frame]) for o in tracks
                          if o.z > t.z and frame in boxes[o.track_id]), default=0)
            occluded[t.track_id][frame] = int(hidden > OCCLUSION_SHARE * area)
    return boxes, occluded


def _intersection(a, b) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def _pick_corruptions(tracks, boxes, share: float, rng: np.random.Generator) -> dict[int, str]:
    if share <= 0 or not tracks:
        return {}
    wanted = max(1, int(round(share * len(tracks))))
    picked: dict[int, str] = {}
    for _ in range(wanted):
        kind = str(rng.choice(BAD_LABEL_KINDS))
        free = [t.track_id for t in tracks if t.track_id not in picked and boxes[t.track_id]]
        if kind != "unknown_label":
            free = [i for i in free if len(boxes[i]) >= 3]  # needs true neighbours on both sides
        if not free:
            continue
        if kind == "unknown_label":
            picked[min(free, key=lambda i: (len(boxes[i]), i))] = kind
        else:
            picked[int(rng.choice(free))] = kind
    return picked


def _label_track(track: _Track, boxes: dict, occluded: dict, corruption: str | None, spec: DemoSpec,
                 rng: np.random.Generator) -> _TrackLabels:
    if not boxes:
        return _TrackLabels(track.cls, [], 0, 0)
    frames = sorted(boxes)
    first, last = frames[0], frames[-1]
    keys = {first, last} | {f for f in frames if (f - first) % KEYFRAME_STEP == 0}
    for f in frames[1:]:
        # Clipping at the image edge bends the otherwise linear motion; keyframes on both sides of the bend
        # keep interpolation exact. Occlusion is read from the preceding keyframe, so mark where it changes.
        if _is_clipped(track, f, spec) != _is_clipped(track, f - 1, spec):
            keys |= {f - 1, f}
        if occluded[f] != occluded[f - 1]:
            keys.add(f)
    shown = {f: tuple(float(v) for v in boxes[f]) for f in frames}
    label, n_bad = track.cls, 0
    if corruption == "unknown_label":
        label, n_bad = UNKNOWN_LABEL, len(frames)
    elif corruption is not None:
        k = int(rng.integers(first + 1, last))
        keys |= {k - 1, k, k + 1}  # true neighbours stop interpolation from spreading the bad box
        x1, y1, x2, y2 = shown[k]
        x2 = spec.width + rng.uniform(40, 120) if corruption == "out_of_frame" else x1 - (x2 - x1)
        shown[k] = (x1, y1, x2, y2)
        n_bad = 1
    shapes = [(f, 0, occluded[f], shown[f]) for f in sorted(keys)]
    if last < spec.n_frames - 1:
        shapes.append((last + 1, 1, 0, shown[last]))  # ends the track; CVAT would otherwise extend it
    return _TrackLabels(label, shapes, len(frames), n_bad)


def _is_clipped(track: _Track, frame: int, spec: DemoSpec) -> bool:
    x1, y1, x2, y2 = track.raw_box(frame)
    return x1 < 0 or y1 < 0 or x2 > spec.width or y2 > spec.height


# ---------------------------------------------------------------------------------------------- rendering


def _render_frames(video: _Video, backdrop: _Backdrop, spec: DemoSpec) -> Iterator[np.ndarray]:
    rng = _rng(spec.seed, video.stem, "pixels")
    gain, offset, sigma = _lighting(video, backdrop, rng)
    # At night the camera's own illuminator lights the nearby traffic more than the far background, which keeps
    # objects about as learnable as by day.
    object_gain = np.minimum(gain * 1.6, 1.0) if video.night else gain
    base = backdrop.image.astype(np.float32) * gain + offset
    if video.night:
        base[backdrop.windows] = (90, 190, 235)  # lit windows glow whatever the ambient light
    beams = {t.track_id: _beam(t) for t in video.tracks if video.night and t.cls == "car"}
    order = sorted(video.tracks, key=lambda t: t.z)
    noise = np.empty((spec.height, spec.width, 3), np.float32)
    for frame in range(spec.n_frames):
        img = base.copy()
        on_screen = [t for t in order if t.start <= frame and _clip(t.raw_box(frame), spec.width, spec.height)]
        for t in on_screen:
            # Objects share the ambient light of the spot they are in, so light each sprite by the gain under it.
            _paste(img, t.sprite.colour, t.sprite.mask, t.left(frame), t.top, object_gain, offset)
        if video.night:
            for t in on_screen:
                _shine(img, t, frame, beams.get(t.track_id))
        if video.weather == "rain":
            _rain(img, rng, video.night)
        rng.standard_normal(out=noise, dtype=np.float32)
        noise *= sigma
        img += noise
        np.clip(img, 0, 255, out=img)
        yield img.astype(np.uint8)


def _lighting(video: _Video, backdrop: _Backdrop, rng: np.random.Generator):
    """Per-pixel gain and offset that turn the daylight backdrop into this video's look, and the noise sigma."""
    h, w = backdrop.lamp_light.shape
    if video.night:
        # Dark and bluish, with warm pools of light under the street lamps.
        base = np.array([0.42, 0.33, 0.27], np.float32) * rng.uniform(0.85, 1.1)
        warm = np.array([0.35, 0.5, 0.6], np.float32)
        gain = base + backdrop.lamp_light[:, :, None] * warm
        offset, sigma = np.zeros(3, np.float32), 6.0
    else:
        gain = np.broadcast_to(np.array([1.0, 1.0, 1.0], np.float32) * rng.uniform(0.88, 1.1), (h, w, 3))
        gain = gain * np.array([1.0, 1.0, rng.uniform(0.97, 1.05)], np.float32)  # slight warm/cool white balance
        offset, sigma = np.zeros(3, np.float32), 3.0
    if video.weather == "fog":
        haze = 45.0 if video.night else 175.0
        gain = gain * 0.7
        offset = offset + 0.3 * haze
    elif video.weather == "rain":
        gain = gain * 0.85
    return np.ascontiguousarray(gain, np.float32), offset, sigma


def _paste(dst: np.ndarray, colour: np.ndarray, mask: np.ndarray, x: int, y: int,
           gain: np.ndarray | None = None, offset: np.ndarray | None = None) -> None:
    """Copy the masked sprite pixels into dst at (x, y), clipped to dst, optionally lit as gain * colour + offset."""
    h, w = mask.shape
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + w, dst.shape[1]), min(y + h, dst.shape[0])
    if x1 >= x2 or y1 >= y2:
        return
    src = np.s_[y1 - y:y2 - y, x1 - x:x2 - x]
    m = mask[src]
    pixels = colour[src][m]
    if gain is not None:
        pixels = pixels * gain[y1:y2, x1:x2][m] + offset
    dst[y1:y2, x1:x2][m] = pixels


def _beam(track: _Track) -> np.ndarray:
    w, h = track.sprite.size
    bw, bh = int(w * 1.2), max(6, h // 2)
    yy, xx = np.mgrid[0:bh, 0:bw].astype(np.float32)
    fall = np.exp(-xx / (bw * 0.45)) if track.vx > 0 else np.exp(-(bw - 1 - xx) / (bw * 0.45))
    return (55 * fall * np.exp(-((yy - bh / 2) ** 2) / (2 * (bh / 4) ** 2)))[:, :, None]


def _shine(img: np.ndarray, track: _Track, frame: int, beam: np.ndarray | None) -> None:
    """Lamps glow whatever the ambient light; car headlights also throw a beam on the road ahead."""
    x, y = track.left(frame), track.top
    w, h = track.sprite.size
    for value, colour in ((1, (235, 250, 255)), (2, (40, 40, 235))):
        m = track.sprite.lights == value
        if m.any():
            _paste(img, np.broadcast_to(np.array(colour, np.float32), (h, w, 3)), m, x, y)
    if beam is None:
        return
    bh, bw = beam.shape[:2]
    bx = x + w if track.vx > 0 else x - bw
    by = y + h // 3
    x1, y1, x2, y2 = max(bx, 0), max(by, 0), min(bx + bw, img.shape[1]), min(by + bh, img.shape[0])
    if x1 < x2 and y1 < y2:
        img[y1:y2, x1:x2] += beam[y1 - by:y2 - by, x1 - bx:x2 - bx]


def _rain(img: np.ndarray, rng: np.random.Generator, night: bool) -> None:
    h, w = img.shape[:2]
    colour = (80.0, 80.0, 90.0) if night else (200.0, 200.0, 205.0)
    for x, y, length in zip(rng.integers(0, w, 60), rng.integers(0, h, 60), rng.integers(4, 8, 60)):
        cv2.line(img, (int(x), int(y)), (int(x) - 2, int(y) + int(length)), colour, 1)


# ---------------------------------------------------------------------------------------------- files


def _cvat_xml(video: _Video, spec: DemoSpec) -> str:
    n = spec.n_frames
    stamp = f"{video.day} 23:30:00.000000+00:00"  # fixed, so regeneration is byte-identical
    task_id = int.from_bytes(hashlib.sha256(video.stem.encode()).digest()[:3], "little")
    labels = "".join(f"        <label>\n          <name>{escape(c)}</name>\n          <attributes>\n"
                      f"          </attributes>\n        </label>\n" for c in DEMO_CLASSES)
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n  <meta>\n    <task>\n',
        f"      <id>{task_id}</id>\n      <name>{escape(video.stem)}</name>\n      <size>{n}</size>\n",
        "      <mode>interpolation</mode>\n      <overlap>0</overlap>\n      <bugtracker></bugtracker>\n",
        f"      <created>{stamp}</created>\n      <updated>{stamp}</updated>\n",
        f"      <start_frame>0</start_frame>\n      <stop_frame>{n - 1}</stop_frame>\n",
        "      <frame_filter></frame_filter>\n      <z_order>True</z_order>\n",
        f"      <labels>\n{labels}      </labels>\n",
        f"      <segments>\n        <segment>\n          <id>{task_id}</id>\n          <start>0</start>\n"
        f"          <stop>{n - 1}</stop>\n          <url></url>\n        </segment>\n      </segments>\n",
        "      <owner>\n        <username>demo-generator</username>\n        <email></email>\n      </owner>\n",
        "      <assignee></assignee>\n",
        f"      <original_size>\n        <width>{spec.width}</width>\n        <height>{spec.height}</height>\n"
        "      </original_size>\n    </task>\n",
        f"    <dumped>{stamp}</dumped>\n    <source>{escape(video.stem)}.mp4</source>\n  </meta>\n",
    ]
    for track, labels_ in zip(video.tracks, video.labels):
        if not labels_.shapes:
            continue
        out.append(f'  <track id="{track.track_id}" label={quoteattr(labels_.label)} source="manual">\n')
        for frame, outside, occluded, (x1, y1, x2, y2) in labels_.shapes:
            out.append(f'    <box frame="{frame}" outside="{outside}" occluded="{occluded}" keyframe="1" '
                       f'xtl="{x1:.2f}" ytl="{y1:.2f}" xbr="{x2:.2f}" ybr="{y2:.2f}" z_order="{track.z}">\n'
                       "    </box>\n")
        out.append("  </track>\n")
    out.append("</annotations>\n")
    return "".join(out)


def _sidecar_json(video: _Video, spec: DemoSpec) -> str:
    rng = _rng(spec.seed, video.stem, "sidecar")
    hour = 18 + video.index % 5 if video.night else 8 + (3 * video.index) % 9
    start = f"{video.day}T{hour:02d}:{int(rng.integers(60)):02d}:{int(rng.integers(60)):02d}+00:00"
    lighting = "night" if video.night else "day"
    meta = {"device": f"demo-{video.scene}", "capture_start": start, "weather": video.weather, "lighting": lighting,
            "tags": ["synthetic", "demo", video.scene, lighting, video.weather]}
    return json.dumps(meta, indent=2) + "\n"


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.exists() and path.read_bytes() == data:
        return False
    atomic_write_bytes(path, data)
    return True


def _write_video(path: Path, frames: Iterator[np.ndarray], spec: DemoSpec) -> bool:
    # cv2 picks the container from the extension, so the temp name must end in .mp4; the leading dot hides it.
    tmp = path.with_name(f".{path.stem}.partial.mp4")
    try:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), spec.fps, (spec.width, spec.height))
        if not writer.isOpened():
            raise RuntimeError(f"cv2 cannot write mp4v video to {tmp}")
        try:
            for frame in frames:
                writer.write(frame)
        finally:
            writer.release()
        # mp4v output is byte-stable for identical frames, so a byte compare is a content compare.
        if path.exists() and path.read_bytes() == tmp.read_bytes():
            return False
        os.replace(tmp, path)
        return True
    finally:
        tmp.unlink(missing_ok=True)

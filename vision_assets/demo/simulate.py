"""Traffic: which objects enter a scene, in which lane, when and how fast. Every object moves at constant velocity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vision_assets.demo.scene import Backdrop
from vision_assets.demo.spec import DemoSpec
from vision_assets.demo.sprites import Sprite, make_sprite

_CLASS_WEIGHTS = {"car": 0.45, "pedestrian": 0.30, "cyclist": 0.25}
_LANE_KIND = {"car": "car", "pedestrian": "sidewalk", "cyclist": "bike"}
_SPEED_PX_S = {"car": (60.0, 110.0), "pedestrian": (12.0, 24.0), "cyclist": (28.0, 48.0)}
_MIN_VISIBLE, _MAX_VISIBLE = 3, 8
_SPAWN_PER_SECOND = 1.0  # arrivals while the scene is between the min and max crowd
_LANE_GAP_PX = 8


@dataclass
class Track:
    track_id: int
    cls: str
    lane: int
    sprite: Sprite
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


def clip_box(box: tuple[int, int, int, int], w: int, h: int) -> tuple[int, int, int, int] | None:
    x1, y1, x2, y2 = max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h)
    return (x1, y1, x2, y2) if x1 < x2 and y1 < y2 else None


def simulate_traffic(backdrop: Backdrop, spec: DemoSpec, rng: np.random.Generator) -> list[Track]:
    """Spawn objects so that roughly 3-8 are on screen at any time; each moves at constant velocity."""
    tracks: list[Track] = []
    rearmost: dict[int, Track] = {}  # last object that entered each one-way lane: new ones queue behind it
    speeds = {i: rng.uniform(*_SPEED_PX_S["car" if lane.kind == "car" else "cyclist"]) / spec.fps
              for i, lane in enumerate(backdrop.lanes) if lane.kind != "sidewalk"}

    def visible(frame: int) -> int:
        return sum(clip_box(t.raw_box(frame), spec.width, spec.height) is not None for t in tracks if t.start <= frame)

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


def _spawn(tracks, rearmost, speeds, backdrop: Backdrop, spec: DemoSpec, rng: np.random.Generator,
           frame: int, inside: bool) -> bool:
    cls = str(rng.choice(list(_CLASS_WEIGHTS), p=list(_CLASS_WEIGHTS.values())))
    lanes = [i for i, lane in enumerate(backdrop.lanes) if lane.kind == _LANE_KIND[cls]]
    lane_id = int(rng.choice(lanes))
    lane = backdrop.lanes[lane_id]
    direction = lane.direction or int(rng.choice([-1, 1]))
    bottom = int(rng.integers(lane.bottom_lo, lane.bottom_hi))
    sprite = make_sprite(cls, bottom / spec.height, direction, rng)
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
    track = Track(len(tracks), cls, lane_id, sprite, frame, float(left), bottom - h, direction * speed)
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

"""Each track's CVAT keyframes, and the labels deliberately corrupted for QC to catch.

Box convention: ``xtl, ytl`` is the top-left corner of the first covered pixel and ``xbr, ybr`` the edge after the
last covered pixel, so a box covering pixel columns 10..19 has ``xtl=10, xbr=20``; valid boxes satisfy
``0 <= xtl < xbr <= width`` and ``0 <= ytl < ybr <= height``.

Deliberately bad labels, per video ``max(1, round(bad_label_share * tracks))`` tracks when the share is positive,
each with one of:

* ``out_of_frame``: one keyframe's ``xbr`` lies 40-120 px beyond the image width;
* ``inverted``: one keyframe has ``xbr < xtl``;
* ``unknown_label``: the whole (shortest available) track is labelled ``"truck"``.

A corrupted keyframe always has true keyframes on the frames right before and after it, so interpolation never
spreads it: it costs exactly one per-frame box. An ``unknown_label`` track costs all its visible frames.
``n_bad`` is the number of per-frame boxes that an importer expanding tracks as CVAT does would produce and that
QC (box inside the image, positive size, class in DEMO_CLASSES) rejects. ``n_boxes`` counts all per-frame boxes,
bad ones included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vision_assets.demo.simulate import Track, clip_box
from vision_assets.demo.spec import DemoSpec, seeded_rng

UNKNOWN_LABEL = "truck"
BAD_LABEL_KINDS = ("out_of_frame", "inverted", "unknown_label")
KEYFRAME_STEP = 5
OCCLUSION_SHARE = 0.3  # share of a box hidden by objects in front of it that makes it "occluded"


@dataclass
class TrackLabels:
    label: str
    shapes: list[tuple[int, int, int, tuple[float, float, float, float]]]  # (frame, outside, occluded, box)
    n_boxes: int
    n_bad: int


def label_tracks(tracks: list[Track], spec: DemoSpec, seed_parts: tuple) -> list[TrackLabels]:
    """One TrackLabels per track, in track order; ``seed_parts`` name the video, seeding the corruptions."""
    boxes, occluded = _visible_boxes(tracks, spec)
    corruptions = _pick_corruptions(tracks, boxes, spec.bad_label_share, seeded_rng(*seed_parts, "bad-labels"))
    return [_label_track(t, boxes[t.track_id], occluded[t.track_id], corruptions.get(t.track_id), spec,
                         seeded_rng(*seed_parts, "bad-labels", t.track_id)) for t in tracks]


def _visible_boxes(tracks: list[Track], spec: DemoSpec):
    """Per track: {frame: clipped box} for every frame it is on screen, and {frame: occluded flag}."""
    boxes: dict[int, dict[int, tuple]] = {t.track_id: {} for t in tracks}
    for t in tracks:
        for frame in range(t.start, spec.n_frames):
            box = clip_box(t.raw_box(frame), spec.width, spec.height)
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


def _label_track(track: Track, boxes: dict, occluded: dict, corruption: str | None, spec: DemoSpec,
                 rng: np.random.Generator) -> TrackLabels:
    if not boxes:
        return TrackLabels(track.cls, [], 0, 0)
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
    return TrackLabels(label, shapes, len(frames), n_bad)


def _is_clipped(track: Track, frame: int, spec: DemoSpec) -> bool:
    x1, y1, x2, y2 = track.raw_box(frame)
    return x1 < 0 or y1 < 0 or x2 > spec.width or y2 > spec.height

"""Deterministic synthetic traffic-camera videos with CVAT-for-video annotations, for `make demo` and tests.

Layout written by :func:`generate_demo_data`::

    landing_dir/<scene>/<day>/<scene>_<day>_<n>.mp4   mp4v, spec.width x spec.height, round(seconds * fps) frames
    landing_dir/<scene>/<day>/<scene>_<day>_<n>.xml   "CVAT for video 1.1" tracks of every drawn object
    landing_dir/<scene>/<day>/<scene>_<day>_<n>.json  sidecar: device, capture_start, weather, lighting, tags

``n`` counts from 0 within a day. Sidecars are written before their video, so a consumer that reacts to a new
video finds its annotations already in place. Every write goes to a hidden ``.<name>.partial[.mp4]`` file in the
same folder and is then renamed, so consumers that ignore dotfiles never see a half-written file.

Which labels are deliberately wrong, and how they are counted, is described in :mod:`vision_assets.demo.labels`.
"""

from __future__ import annotations

from pathlib import Path

from vision_assets.core.lake import atomic_write_bytes
from vision_assets.demo.label_files import cvat_xml, sidecar_json
from vision_assets.demo.plan import plan_video
from vision_assets.demo.render import render_frames, write_video
from vision_assets.demo.scene import build_backdrop
from vision_assets.demo.spec import DEMO_CLASSES, DemoSpec

# Re-exported so code written against the one-module generator (vision_assets.demo.generator) keeps working.
__all__ = ["DEMO_CLASSES", "DemoSpec", "generate_demo_data"]


def generate_demo_data(landing_dir: Path, spec: DemoSpec = DemoSpec()) -> dict:  # noqa: B008 (frozen, immutable)
    """Write every scene/day/video of ``spec`` under ``landing_dir`` and return a summary.

    Files whose content is already on disk are left alone, so a second call writes nothing and returns the same
    summary. ``files`` lists every video path of the spec (as strings), whether written now or before;
    ``boxes`` counts every per-frame box and ``bad_boxes`` the deliberately bad ones among them.
    """
    landing_dir = Path(landing_dir)
    summary = {"videos": 0, "scenes": len(spec.scenes), "days": len(spec.days), "frames": 0, "boxes": 0,
               "bad_boxes": 0, "files": []}
    for scene in spec.scenes:
        backdrop = build_backdrop(scene, spec)
        for day_index, day in enumerate(spec.days):
            for index in range(spec.videos_per_day):
                # Day and night alternate, so every scene and (with two or more videos) every day has both.
                night = (day_index * spec.videos_per_day + index) % 2 == 1
                video = plan_video(backdrop, scene, day, index, night, spec)
                folder = landing_dir / scene / day
                folder.mkdir(parents=True, exist_ok=True)
                _write_if_changed(folder / f"{video.stem}.xml", cvat_xml(video, spec).encode())
                _write_if_changed(folder / f"{video.stem}.json", sidecar_json(video, spec).encode())
                path = folder / f"{video.stem}.mp4"
                write_video(path, render_frames(video, backdrop, spec), spec)
                summary["videos"] += 1
                summary["frames"] += spec.n_frames
                summary["boxes"] += video.n_boxes
                summary["bad_boxes"] += video.n_bad_boxes
                summary["files"].append(str(path))
    return summary


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.exists() and path.read_bytes() == data:
        return False
    atomic_write_bytes(path, data)
    return True

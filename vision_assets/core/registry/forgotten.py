"""The forgotten-videos list: one record per video a person asked to delete (or retention removed), kept in the
lake as `forgotten/<sha256>.json`. Ingest, sampling, label import and dataset builds consult it, so nothing
forgotten comes back through a rerun of an old partition."""

from __future__ import annotations

from vision_assets.core.lake import Lake

FORGOTTEN_FOLDER = "forgotten"


def forgotten_key(video_sha256: str) -> str:
    return f"{FORGOTTEN_FOLDER}/{video_sha256}.json"


def forgotten_videos(lake: Lake) -> set[str]:
    """The sha256 of every forgotten video."""
    return {path.rsplit("/", 1)[-1].removesuffix(".json")
            for path in lake.fs.glob(lake.path(FORGOTTEN_FOLDER, "*.json"))}


def mark_forgotten(lake: Lake, video_sha256: str, record: dict) -> str:
    return lake.write_json(forgotten_key(video_sha256), {"video_sha256": video_sha256, **record})

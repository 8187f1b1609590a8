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


def forget_record(lake: Lake, video_sha256: str) -> dict | None:
    """The forget record of a video (reason, actor, time, action), or None when it was never forgotten."""
    key = forgotten_key(video_sha256)
    return lake.read_json(key) if lake.exists(key) else None


def describe_forget(record: dict) -> str:
    """One line naming a forget: which video, when, by whom, why, and where its record is."""
    sha = record.get("video_sha256", "")
    return (f"video {sha[:16]} {record.get('action', 'forget')} {str(record.get('time', ''))[:19]} by "
            f"{record.get('actor', '?')}: {record.get('reason', '')} (record {forgotten_key(sha)})")

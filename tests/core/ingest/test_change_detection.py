"""A landed file whose bytes changed while its name, size and mtime stayed the same is ingested again once it is due
to be hashed again (VISION_REHASH_DAYS)."""

from __future__ import annotations

import datetime as dt
import os
import shutil

import pandas as pd

from vision_assets.core.ingest import ingest_partition
from vision_assets.core.ingest.changes import landing_changes
from vision_assets.core.ingest.landing import scan_landing
from vision_assets.core.ingest.video_index import update_video_index
from vision_assets.core.lake import Lake, keys, sha256_file

PARTITION = {"scene": "cam-1", "day": "2024-01-02"}


def _ingest(lake: Lake, landing, cache, previous=None) -> pd.DataFrame:
    table = ingest_partition(lake, scan_landing(landing), previous, cache)
    lake.write_table(keys.RAW_VIDEOS, table, PARTITION)
    update_video_index(lake, PARTITION["scene"], PARTITION["day"], table)
    return table


def _rewrite_keeping_size_and_mtime(path, source) -> None:
    """Other bytes of the same length, with the old mtime put back (cp -p, rsync -t, or a write in the same tick)."""
    before = os.stat(path)
    data = bytearray(source.read_bytes())
    data[-64:] = bytes(64)  # the tail of the last packet: same size, other content
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (os.stat(path).st_size, os.stat(path).st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def _setup(tmp_path, material):
    landing = tmp_path / "landing"
    video = landing / "cam-1" / "2024-01-02" / "clip.mp4"
    video.parent.mkdir(parents=True)
    shutil.copyfile(material / "videos" / "realshort.mp4", video)
    return Lake(str(tmp_path / "lake")), landing, video


def test_a_file_hashed_again_and_found_the_same_is_settled(tmp_path, material):
    lake, landing, video = _setup(tmp_path, material)
    old = (dt.datetime.now() - dt.timedelta(days=1)).timestamp()
    os.utime(video, (old, old))
    first = _ingest(lake, landing, tmp_path / "cache")

    assert landing_changes(lake, landing).changed == []
    again = _ingest(lake, landing, tmp_path / "cache", first)
    assert again.drop(columns=["source_path", "label_files"]).equals(first.drop(columns=["source_path", "label_files"]))


def test_on_schedule_a_same_size_same_mtime_replacement_is_found(tmp_path, material, monkeypatch):
    lake, landing, video = _setup(tmp_path, material)
    old = (dt.datetime.now() - dt.timedelta(days=30)).timestamp()
    os.utime(video, (old, old))
    first = _ingest(lake, landing, tmp_path / "cache")
    _rewrite_keeping_size_and_mtime(video, material / "videos" / "realshort.mp4")
    assert landing_changes(lake, landing).changed == []  # within the period, name, size and mtime are trusted

    week_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=8)).isoformat(timespec="seconds")
    hashed_long_ago = first.assign(hashed_at=week_ago)  # as if it was ingested eight days ago
    lake.write_table(keys.RAW_VIDEOS, hashed_long_ago, PARTITION)
    update_video_index(lake, PARTITION["scene"], PARTITION["day"], hashed_long_ago)
    changes = landing_changes(lake, landing)
    second = _ingest(lake, landing, tmp_path / "cache", hashed_long_ago)

    assert [f.path.name for c in changes.changed for f in c.fresh] == ["clip.mp4"]
    assert second["video_sha256"].tolist() == [sha256_file(video)] != first["video_sha256"].tolist()
    monkeypatch.setenv("VISION_REHASH_DAYS", "0")  # off: trusted forever, as before
    lake.write_table(keys.RAW_VIDEOS, hashed_long_ago, PARTITION)
    update_video_index(lake, PARTITION["scene"], PARTITION["day"], hashed_long_ago)
    assert landing_changes(lake, landing).changed == []

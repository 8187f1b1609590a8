"""The lake-wide video index ingest looks copies up in, instead of reading every partition's raw_videos table."""

from __future__ import annotations

import pandas as pd

from vision_assets.core.ingest.video_index import other_partitions, read_video_index, update_video_index
from vision_assets.core.lake import Lake, keys


def raw(*rows):
    return pd.DataFrame([{"source_name": n, "video_sha256": sha, "outcome": "ok", "duplicate_of": "",
                          "signature": sig, "duration_s": 3.0, "frames_decoded": 30} for n, sha, sig in rows])


def test_index_is_built_once_from_older_tables_then_kept_per_partition(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    lake.write_table(keys.RAW_VIDEOS, raw(("a.mp4", "aa", "s1")), {"scene": "cam-1", "day": "2024-01-01"})
    lake.write_table(keys.RAW_VIDEOS, raw(("b.mp4", "bb", "s2")), {"scene": "cam-2", "day": "2024-01-01"})

    index = read_video_index(lake)  # a lake from before the index: built from the partitions' tables
    assert sorted(index["video_sha256"]) == ["aa", "bb"] and lake.exists(keys.table_key(keys.VIDEO_INDEX))

    lake.write_table(keys.RAW_VIDEOS, raw(("c.mp4", "cc", "s3")), {"scene": "cam-3", "day": "2024-01-02"})
    assert sorted(read_video_index(lake)["video_sha256"]) == ["aa", "bb"]  # read from the index, not the tables
    update_video_index(lake, "cam-3", "2024-01-02", raw(("c.mp4", "cc", "s3")))
    update_video_index(lake, "cam-1", "2024-01-01", raw(("a.mp4", "aa", "s1"), ("d.mp4", "dd", "s4")))

    index = read_video_index(lake)
    assert sorted(zip(index["scene"], index["video_sha256"])) == [
        ("cam-1", "aa"), ("cam-1", "dd"), ("cam-2", "bb"), ("cam-3", "cc")]
    elsewhere = other_partitions(index, "cam-1", "2024-01-01")
    assert sorted(elsewhere["video_sha256"]) == ["bb", "cc"]
    assert set(elsewhere.columns) >= {"scene", "day", "source_name", "signature", "duration_s", "outcome"}

"""`vision-assets compare A B`: two real evaluations' numbers side by side with paired intervals, the missing
evaluation computed on the other's test set, and a one-line error for what cannot be found."""

from __future__ import annotations

import json
import re

import pytest
from report_helpers import two_evaluations

from vision_assets import cli

pytestmark = pytest.mark.slow  # three YOLO evaluations of two 12-frame videos


def test_compare_evaluates_the_missing_model_and_prints_deltas_with_intervals(tmp_path, monkeypatch, capsys):
    from vision_assets.core.evaluation.compare import stored_evaluations
    from vision_assets.core.lake import keys

    lake, untrained, confident = two_evaluations(tmp_path)
    # The confident model's checkpoint in the lake under its real hash: never evaluated under that hash.
    sha, _, _ = lake.put_blob_file(keys.CHECKPOINT_BLOBS, tmp_path / "confident.pt", ".pt")
    assert stored_evaluations(lake, sha) == []
    monkeypatch.setenv("VISION_DATA_DIR", str(tmp_path))  # the lake is <data>/lake

    capsys.readouterr()
    assert cli.main(["compare", untrained["evaluation_key"], sha]) == 0
    out = capsys.readouterr().out
    (evaluated,) = stored_evaluations(lake, sha)
    assert evaluated["test_set_hash"] == untrained["test_set_hash"]
    assert evaluated["evaluation_config"] == untrained["evaluation_config"]  # evaluated the way A was
    assert evaluated["overall"] == confident["overall"]  # the same weights: the same numbers
    lines = out.splitlines()
    assert lines[0].startswith(f"{untrained['evaluation_key'][:16]} vs {sha[:12]} on test set "
                               f"{untrained['test_set_hash']} (6 images)")
    assert re.fullmatch(r"  map50_95 +0\.0000 -> 0\.0000  delta \+0\.0000 \[[+-]\d\.\d{4}, [+-]\d\.\d{4}\]  "
                        r"within noise", lines[1]), lines[1]
    page = next(line for line in lines if line.startswith("page: "))
    assert lake.exists(f"evaluations/{evaluated['evaluation_key']}/compare_{untrained['evaluation_key']}.html")
    assert page.endswith(f"compare_{untrained['evaluation_key']}.html")

    assert cli.main(["compare", untrained["evaluation_key"], evaluated["evaluation_key"], "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["headline"]["map50_95"]["verdict"] == "within noise"
    tracking = [r for r in listed["rows"] if r["metric"] == "tracking_mota" and r["slice_dimension"] == "all"]
    assert tracking and tracking[0]["delta_low"] is not None  # two videos: MOTA's change has an interval

    assert cli.main(["compare", "nope", sha]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vision-assets: error: nope: neither a stored evaluation") and "\n" not in err

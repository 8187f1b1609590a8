"""`lineage --served`: which version served which scene when, replayed from the audit trail of real promotions,
canaries and rollbacks against a real MLflow (SQLite)."""

from __future__ import annotations

import json

import pytest
from registry_helpers import prepared_data_folder, register, registry_of

from vision_assets import cli
from vision_assets.core.lake import Lake
from vision_assets.core.registry import DEFAULT_MODEL_NAME, read_audit, record_event

NAME = DEFAULT_MODEL_NAME


@pytest.fixture
def registry(tmp_path, monkeypatch):
    settings = prepared_data_folder(tmp_path, monkeypatch, user="release-rita")
    registry = registry_of(settings)
    for n in (1, 2, 3):
        register(registry, tmp_path, n, gate="pass", dataset_version="d1")
    registry.lake = Lake(settings.lake_root)
    return registry


def served_json(capsys) -> list[dict]:
    capsys.readouterr()
    assert cli.main(["lineage", "--served", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == NAME
    return report["served"]


def row(scene, version, role, start, end):
    return {"scene": scene, "version": version, "role": role, "start": start, "end": end}


def test_promote_canary_complete_and_rollbacks_give_exact_intervals(registry, capsys):
    from vision_assets.core.monitoring.canary import rollback_canary
    from vision_assets.core.registry.consistency import champion_moved_outside

    lake = registry.lake
    assert served_json(capsys) == [] and cli.main(["lineage", "--served"]) == 0
    assert "served: nowhere" in capsys.readouterr().out

    assert cli.main(["promote", "1"]) == 0
    record_event(lake, "promote", "another_model v9", "another model's champion moves nothing here")
    assert cli.main(["promote", "2", "--canary", "cam-a"]) == 0
    record_event(lake, "pull", f"{NAME} v3", "a pull moves no alias")
    assert cli.main(["promote", "2", "--complete"]) == 0
    assert champion_moved_outside(lake, NAME, "2") is None  # a completed canary is a sanctioned champion move
    assert cli.main(["promote", "3", "--canary", "cam-b"]) == 0
    rollback_canary(registry, lake, NAME, "3", "cam-b/2026-11-19: disagrees with the champion on 80% of boxes")
    assert cli.main(["rollback", "--reason", "v2 misses at night"]) == 0

    events = read_audit(lake)
    mine = events[events["object"].str.startswith(f"{NAME} v") & (events["action"] != "pull")]
    assert mine["action"].tolist() == ["promote", "canary", "canary_complete", "canary", "canary_rollback", "rollback"]
    t1, t2, t3, t4, t5, t6 = mine["time"].tolist()

    assert served_json(capsys) == [
        row("cam-a", "1", "champion", t1, t2), row("cam-a", "2", "canary", t2, t3),
        row("cam-a", "2", "champion", t3, t6), row("cam-a", "1", "champion", t6, None),
        row("cam-b", "1", "champion", t1, t3), row("cam-b", "2", "champion", t3, t4),
        row("cam-b", "3", "canary", t4, t5), row("cam-b", "2", "champion", t5, t6),
        row("cam-b", "1", "champion", t6, None),
        row("*", "1", "champion", t1, t3), row("*", "2", "champion", t3, t6), row("*", "1", "champion", t6, None),
    ]

    capsys.readouterr()
    assert cli.main(["lineage", "--served"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0] == NAME and len(text) == 2 + 12
    assert text[5].split() == ["cam-a", "v1", "champion", t6, "->", "now"]
    assert text[8].split() == ["cam-b", "v3", "canary", t4, "->", t5]


def test_a_scene_of_the_lake_and_a_withdrawn_alias(registry, capsys):
    """Scenes with footage in the lake are listed by name; a champion withdrawn from a tainted version ends there."""
    import pandas as pd

    lake = registry.lake
    lake.write_table("raw_videos", pd.DataFrame([{"video_sha256": "a" * 64}]), {"scene": "cam-z", "day": "2026-11-18"})
    assert cli.main(["promote", "1"]) == 0
    assert cli.main(["promote", "2"]) == 0
    record_event(lake, "alias_withdrawn", f"{NAME}@champion v2", "tainted: video forgotten",
                 details="champion is now v1 (latest untainted version that passed the gate)")
    record_event(lake, "alias_withdrawn", f"{NAME}@champion v1", "tainted: video forgotten",
                 details="champion is now no version: the next clean training takes it")
    t1, t2, t3, t4 = read_audit(lake)["time"].tolist()
    served = served_json(capsys)
    assert served == [row(scene, v, "champion", start, end) for scene in ("cam-z", "*")
                      for v, start, end in (("1", t1, t2), ("2", t2, t3), ("1", t3, t4))]

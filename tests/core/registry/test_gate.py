"""The promotion gate on crafted evaluations, and the champion policy that applies it against a real MLflow."""

from __future__ import annotations

from dataclasses import replace

import pytest

from vision_assets.core.lake import Lake, keys
from vision_assets.core.records import Evaluation
from vision_assets.core.registry import (
    CHALLENGER,
    DEFAULT_MODEL_NAME,
    GateConfig,
    ModelRegistry,
    gate_decision,
    read_audit,
    record_decision,
)


def evaluation(overall: float, scenes: dict[str, float], *, boxes: int = 50, idf1: dict[str, float] | None = None,
               split: str = "split-1") -> dict:
    slices = [{"dimension": "scene", "value": s, "n_images": 10, "n_boxes": boxes, "map50_95": v, "map50": v + 0.2,
               "map75": v, "precision": 0.5, "recall": 0.5, "too_few": boxes < 20, "confounded_with": []}
              for s, v in scenes.items()]
    report = {"overall": {"map50_95": overall, "map50": overall + 0.2}, "slices": slices, "test_split_hash": split}
    if idf1 is not None:
        report["tracking"] = {"overall": {"idf1": 0.5}, "by_scene": {s: {"idf1": v, "mota": 0.4} for s, v in idf1.items()}}
    return report


def typed(report: dict, sha: str = "c" * 64) -> Evaluation:
    """A crafted evaluation as the candidate's record (what eval_report hands registered_model)."""
    return Evaluation.from_json({"evaluation_key": f"{sha[:16]}-t-c", "checkpoint_sha256": sha,
                                 "dataset_version": "d1", **report})


def test_winning_overall_but_losing_a_scene_is_not_promoted_and_names_the_scene():
    champion = evaluation(0.40, {"cam-a": 0.40, "cam-b": 0.40})
    candidate = evaluation(0.46, {"cam-a": 0.60, "cam-b": 0.30})

    gate = gate_decision(champion, candidate, GateConfig(slice_tolerance=0.05), champion_version="1")

    assert not gate.promote
    assert [r.metric for r in gate.regressed] == ["map50_95 scene=cam-b"]
    assert gate.primary.result == "pass" and gate.primary.delta == pytest.approx(0.06)
    assert gate.one_line() == "not promoted: regressed: map50_95 scene=cam-b 0.4000 -> 0.3000 (-0.1000)"
    table = gate.markdown()
    assert "| map50_95 scene=cam-b | 0.4000 | 0.3000 | -0.1000 | fail |" in table
    assert "| map50_95 scene=cam-a | 0.4000 | 0.6000 | +0.2000 | pass |" in table


def test_a_slice_drop_within_its_bootstrap_interval_is_noise_and_beyond_it_regresses():
    champion = evaluation(0.40, {"cam-a": 0.40, "cam-b": 0.40}, idf1={"cam-a": 0.7})
    candidate = evaluation(0.46, {"cam-a": 0.30, "cam-b": 0.30}, idf1={"cam-a": 0.5})
    deltas = {("scene", "cam-a", "map50_95"): {"delta_low": -0.25, "delta_high": 0.04},  # holds 0: noise
              ("scene", "cam-b", "map50_95"): {"delta_low": -0.16, "delta_high": -0.03},  # below 0: real
              ("scene", "cam-a", "tracking_idf1"): {"delta_low": -0.3, "delta_high": 0.1}}

    gate = gate_decision(champion, candidate, GateConfig(slice_tolerance=0.05), "1", deltas=deltas)

    assert [r.metric for r in gate.regressed] == ["map50_95 scene=cam-b"] and not gate.promote
    rows = {r.metric: r for r in gate.rows}
    assert rows["map50_95 scene=cam-a"].result == "pass"
    assert rows["map50_95 scene=cam-a"].note == "drop within the noise: 95 % interval of the change [-0.2500, +0.0400]"
    assert "beyond the noise" in rows["map50_95 scene=cam-b"].note
    assert rows["idf1 scene=cam-a"].result == "pass"
    # Without an interval (e.g. a one-video slice) the tolerance alone decides, as before.
    no_noise = gate_decision(champion, candidate, GateConfig(slice_tolerance=0.05), "1")
    assert {r.metric for r in no_noise.regressed} == {"map50_95 scene=cam-a", "map50_95 scene=cam-b",
                                                      "idf1 scene=cam-a"}


def test_margin_tolerance_and_minimum_count_decide_what_counts():
    champion = evaluation(0.40, {"cam-a": 0.40, "cam-b": 0.40})
    # Within tolerance on cam-b, and beating by 0.05 overall: promoted with margin 0.01, not with 0.1.
    candidate = evaluation(0.45, {"cam-a": 0.50, "cam-b": 0.37})
    assert gate_decision(champion, candidate, GateConfig(margin=0.01, slice_tolerance=0.05), "1").promote
    refused = gate_decision(champion, candidate, GateConfig(margin=0.1), "1")
    assert not refused.promote and refused.regressed == []
    assert refused.one_line().startswith("not promoted: map50_95 0.4500 does not beat v1's 0.4000 by more than 0.1")
    # A collapse on a slice of 5 boxes does not flap the decision: shown, not gated.
    tiny = gate_decision(evaluation(0.4, {"cam-a": 0.4}, boxes=5), evaluation(0.5, {"cam-a": 0.0}, boxes=5),
                         GateConfig(min_boxes=20), "1")
    assert tiny.promote and tiny.rows[1].result == "skipped"


def test_tracking_idf1_per_scene_is_gated_and_partial_evaluations_are_skipped_not_crashed():
    champion = evaluation(0.4, {"cam-a": 0.4}, idf1={"cam-a": 0.70, "cam-b": 0.60})
    candidate = evaluation(0.5, {"cam-a": 0.5}, idf1={"cam-a": 0.72, "cam-b": 0.40})
    gate = gate_decision(champion, candidate, GateConfig(tracking_tolerance=0.05), "1")
    assert [r.metric for r in gate.regressed] == ["idf1 scene=cam-b"] and not gate.promote

    # An old report: overall plus per-scene tables, no slices, no tracking; and one with the overall only.
    old = {"overall": {"map50_95": 0.3}, "by_scene": {"cam-a": {"map50_95": 0.3, "n_ground_truth": 40}},
           "test_split_hash": "split-1"}
    new = {"overall": {"map50_95": 0.35}, "by_scene": {"cam-a": {"map50_95": 0.1, "n_ground_truth": 40}},
           "test_split_hash": "split-1"}
    assert [r.metric for r in gate_decision(old, new, None, "1").regressed] == ["map50_95 scene=cam-a"]
    bare = gate_decision({"overall": {"map50_95": 0.3}}, {"overall": {"map50_95": 0.35}}, None, "1")
    assert bare.promote and len(bare.rows) == 1
    with pytest.raises(ValueError, match="same test images"):
        gate_decision(evaluation(0.4, {}), evaluation(0.5, {}, split="split-2"), None, "1")


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    return ModelRegistry(f"sqlite:///{tmp_path / 'mlflow.db'}", (tmp_path / "artifacts").as_uri())


def register(registry, tmp_path, sha: str, **tags):
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"weights")
    with registry.run("train", {}) as run_id:
        registry.log_artifact(run_id, weights, "weights")
    version = registry.register(DEFAULT_MODEL_NAME, run_id, "weights", {"checkpoint_sha256": sha, **tags})
    return registry.client.get_model_version(DEFAULT_MODEL_NAME, version.version)


def test_a_candidate_losing_a_scene_becomes_challenger_with_the_table_on_the_version(tmp_path, registry):
    lake, work = Lake(str(tmp_path / "lake")), tmp_path / "work"
    champion_eval = evaluation(0.40, {"cam-a": 0.40, "cam-b": 0.40})
    v1 = register(registry, tmp_path, "a" * 64, test_split_hash="split-1", map50_95="0.4")
    lake.write_json(f"{keys.report_folder('a' * 64)}/eval.json", champion_eval)  # what eval_report stores
    assert record_decision(registry, DEFAULT_MODEL_NAME, v1, typed(champion_eval), lake, work) == \
        "champion (first model)"
    v2 = register(registry, tmp_path, "b" * 64, test_split_hash="split-1", map50_95="0.46")

    decision = record_decision(registry, DEFAULT_MODEL_NAME, v2, typed(evaluation(0.46, {"cam-a": 0.6, "cam-b": 0.3})),
                               lake, work)

    assert decision == ("not promoted (v1 keeps it: regressed: map50_95 scene=cam-b 0.4000 -> 0.3000, "
                        "its score from its stored evaluation (same test split))")
    assert str(registry.champion(DEFAULT_MODEL_NAME).version) == "1"
    assert str(registry.by_alias(DEFAULT_MODEL_NAME, CHALLENGER).version) == "2"
    tags = registry.client.get_model_version(DEFAULT_MODEL_NAME, "2").tags
    assert tags["gate"] == "fail" and tags["gate_regressed"] == "map50_95 scene=cam-b"
    table = registry.client.download_artifacts(v2.run_id, "gate/decision.md", str(tmp_path))
    assert "| map50_95 scene=cam-b | 0.4000 | 0.3000 | -0.1000 | fail |" in open(table).read()
    assert read_audit(lake).empty  # the automatic decision is on the version; the audit is for people's acts


def test_eval_reports_own_champion_evaluation_is_used_only_for_the_current_champion(tmp_path, registry):
    from vision_assets.core.registry import champion_evaluation

    lake = Lake(str(tmp_path / "lake"))
    v1 = register(registry, tmp_path, "a" * 64, test_split_hash="split-1", map50_95="0.4")
    registry.promote(DEFAULT_MODEL_NAME, v1.version)
    theirs = evaluation(0.41, {"cam-a": 0.5})
    report = typed({**evaluation(0.5, {"cam-a": 0.5}), "champion": {"version": "1"}, "champion_evaluation": theirs})
    champion = registry.champion(DEFAULT_MODEL_NAME)
    assert champion_evaluation(DEFAULT_MODEL_NAME, champion, report, lake) == (theirs, "eval_report (same test split)")
    stale = replace(report, champion={"version": "7"})
    assert champion_evaluation(DEFAULT_MODEL_NAME, champion, stale, lake)[1] == "its registry tags (same test split)"

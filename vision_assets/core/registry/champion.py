"""The champion policy: a new model version takes the champion alias only if there is none or it passes the
promotion gate (core/registry/gate.py) against the current champion on the same test images; a candidate that
fails it becomes the `challenger`."""

from __future__ import annotations

import json
from pathlib import Path

from vision_assets.core.errors import VisionError
from vision_assets.core.lake import Lake, keys
from vision_assets.core.numbers import finite_number
from vision_assets.core.records import Evaluation
from vision_assets.core.registry.gate import GateConfig, GateDecision, gate_decision
from vision_assets.core.registry.mlflow_registry import CHALLENGER, ModelRegistry

PRIMARY_METRIC = "map50_95"
# The decision is recorded on the version it was made for, so it is made once per version (see record_decision).
DECISION_TAG = "champion_decision"
GATE_TAG = "gate"  # pass / fail / override
GATE_REGRESSED_TAG = "gate_regressed"
GATE_ARTIFACT = "gate/decision.md"


class ChampionNotEvaluated(VisionError, LookupError):
    """The champion has no evaluation on the candidate's test split for the gate to read."""


def champion_evaluation(name: str, champion, evaluation: Evaluation, lake: Lake) -> tuple[dict, str]:
    """(the champion's evaluation on this evaluation's test split, where it came from): read, never computed.

    eval_report evaluated the champion beside the candidate (its own image size, tracking included); when the
    champion changed since, the new champion's own stored evaluation on the same test images, else its registry
    tags (overall only) on the same images. Without any, ChampionNotEvaluated: rematerializing eval_report
    evaluates it. Nothing is evaluated here: the gate reads."""
    split = evaluation.test_split_hash
    made_for = (evaluation.champion or {}).get("version")  # the champion may have changed since evaluation
    stored = evaluation.champion_evaluation
    if isinstance(stored, dict) and stored.get("test_split_hash") == split and made_for == str(champion.version):
        return stored, "eval_report (same test split)"
    sha = champion.tags.get("checkpoint_sha256", "")
    for own_key in stored_evaluations(lake, sha):
        own = lake.read_json(own_key)
        if own.get("test_split_hash") == split and own.get("checkpoint_sha256", sha) == sha:
            return own, "its stored evaluation (same test split)"
    if champion.tags.get("test_split_hash") == split and PRIMARY_METRIC in champion.tags:
        # The overall number only: the slice and tracking rows of the gate show "not in the champion's evaluation".
        return {"overall": {PRIMARY_METRIC: float(champion.tags[PRIMARY_METRIC])}, "test_split_hash": split}, \
            "its registry tags (same test split)"
    raise ChampionNotEvaluated(f"{name} v{champion.version}: the champion has no evaluation on test split {split}; "
                               "rematerialize eval_report to evaluate it beside the candidate")


def stored_evaluations(lake: Lake, checkpoint_sha256: str) -> list[str]:
    """Keys of the evaluations the lake holds for a checkpoint: its report folder, and every evaluation record
    (one per checkpoint x test set x config) that names it."""
    if not checkpoint_sha256:
        return []
    found = [f"{keys.report_folder(checkpoint_sha256)}/eval.json"]
    base = lake.path("")
    for path in sorted(lake.fs.glob(lake.path("evaluations", f"{checkpoint_sha256[:16]}-*", "eval.json"))):
        found.append(path[len(base):].lstrip("/") if path.startswith(base) else path)
    return [key for key in found if lake.exists(key)]


def gate_against_champion(registry: ModelRegistry, name: str, evaluation: Evaluation, lake: Lake,
                          config: GateConfig | None = None) -> tuple[GateDecision, str]:
    """The gate's decision for the candidate `evaluation` describes and where the champion's numbers came from.
    Raises RegistryUnavailable when the registry cannot be asked: an outage is never "no champion"."""
    champion = registry.champion(name)
    ours = evaluation.to_json()
    if champion is None:
        return gate_decision(None, ours, config), "no champion"
    theirs, source = champion_evaluation(name, champion, evaluation, lake)
    from vision_assets.core.evaluation.uncertainty import gate_deltas

    return gate_decision(theirs, ours, config, champion_version=str(champion.version),
                         deltas=gate_deltas(lake, theirs, ours)), source


def decide_champion(registry: ModelRegistry, name: str, version, evaluation: Evaluation, lake: Lake,
                    config: GateConfig | None = None, gate_out: list | None = None, floor: float = 0.0) -> str:
    """Promote `version` (evaluated in `evaluation`) if it passes the gate, else make it the challenger; the
    decision, in words. gate_out, when given, receives the GateDecision (for the table recorded beside it). Under
    `floor` (the project's promotion.min_map50_95) a version never becomes champion, not even the first one."""
    champion = registry.champion(name)
    if champion is not None and str(champion.version) == str(version.version):
        return "champion"
    below = below_floor(evaluation, floor)
    if below:
        return below
    gate, source = gate_against_champion(registry, name, evaluation, lake, config)
    if gate_out is not None:
        gate_out.append(gate)
    if champion is None:
        registry.promote(name, version.version)
        return "champion (first model)"
    primary = gate.primary
    if gate.promote:
        registry.promote(name, version.version)
        return (f"champion (beat v{champion.version}: {primary.candidate:.4f} > {primary.champion:.4f}, "
                f"its score from {source})")
    registry.set_alias(name, CHALLENGER, str(version.version))
    reasons = []
    if primary.result != "pass":
        reasons.append(f"{_fmt(primary.champion)} >= {_fmt(primary.candidate)}"
                       + (f" + margin {gate.config.margin:g}" if gate.config.margin else ""))
    if gate.regressed:
        reasons.append("regressed: " + "; ".join(f"{r.metric} {_fmt(r.champion)} -> {_fmt(r.candidate)}"
                                                for r in gate.regressed))
    return f"not promoted (v{champion.version} keeps it: {', '.join(reasons)}, its score from {source})"


def below_floor(evaluation: Evaluation, floor: float) -> str | None:
    """The decision for an evaluation under the champion floor; None when it is at or over it."""
    score = finite_number((evaluation.overall or {}).get(PRIMARY_METRIC))
    if floor > 0 and (score is None or score < floor):
        shown = "-" if score is None else f"{score:.4f}"
        return f"not promoted ({PRIMARY_METRIC} {shown} < floor {floor:g}, promotion.min_map50_95)"
    return None


def record_decision(registry: ModelRegistry, name: str, version, evaluation: Evaluation, lake: Lake, work_dir: Path,
                    config: GateConfig | None = None, gate_out: list | None = None, floor: float = 0.0) -> str:
    """The decision recorded on `version`, or decide_champion's, recorded now (tags, and the gate's table as a
    Markdown artifact of the version's run).

    Recorded on the version, so a run that died between registering and deciding decides on its rerun instead
    of reporting "already registered"."""
    decision = version.tags.get(DECISION_TAG)
    if decision is not None:
        return decision
    gates: list[GateDecision] = []
    decision = decide_champion(registry, name, version, evaluation, lake, config, gates, floor)
    if gates:
        gate = gates[0]
        if gate_out is not None:
            gate_out.append(gate)
        tags = {GATE_TAG: "pass" if gate.promote else "fail", GATE_REGRESSED_TAG: ", ".join(r.metric for r in gate.regressed),
                "gate_summary": gate.one_line()[:4900]}
        for key, value in tags.items():
            registry.client.set_model_version_tag(name, str(version.version), key, value)
        if version.run_id:
            _log_gate_artifact(registry, version.run_id, gate, work_dir)
    registry.client.set_model_version_tag(name, str(version.version), DECISION_TAG, decision)
    return decision


def _log_gate_artifact(registry: ModelRegistry, run_id: str, gate: GateDecision, work_dir: Path) -> None:
    folder = work_dir / "gate" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "decision.md").write_text(gate.markdown() + "\n")
    (folder / "decision.json").write_text(json.dumps(gate.as_dict(), indent=1, default=str))
    registry.log_artifact(run_id, folder / "decision.md", "gate")
    registry.log_artifact(run_id, folder / "decision.json", "gate")


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"

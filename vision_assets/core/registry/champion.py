"""The champion policy: a new model version takes the champion alias only if there is none or it passes the
promotion gate (core/registry/gate.py) against the current champion on the same test images; a candidate that
fails it becomes the `challenger`."""

from __future__ import annotations

import json
from pathlib import Path

from vision_assets.core.evaluation.comparison import finite_number
from vision_assets.core.lake import Lake, keys
from vision_assets.core.registry.gate import GateConfig, GateDecision, gate_decision
from vision_assets.core.registry.mlflow_registry import CHALLENGER, ModelRegistry

PRIMARY_METRIC = "map50_95"
# The decision is recorded on the version it was made for, so it is made once per version (see record_decision).
DECISION_TAG = "champion_decision"
GATE_TAG = "gate"  # pass / fail / override
GATE_REGRESSED_TAG = "gate_regressed"
GATE_ARTIFACT = "gate/decision.md"


def champion_evaluation(registry: ModelRegistry, name: str, champion, dataset: dict, report: dict,
                        lake: Lake, work_dir: Path, device: str) -> tuple[dict, str]:
    """(the champion's evaluation on this report's test split, where it came from).

    In order: what eval_report already computed for the champion on this split; the champion's own stored
    evaluation when it was made on the very same images; its registry tags (overall only) on the same images;
    otherwise its own weights evaluated, at its own image size, on them now."""
    split = report.get("test_split_hash")
    stored = report.get("champion_evaluation")
    made_for = (report.get("champion") or {}).get("version")  # the champion may have changed since evaluation
    if isinstance(stored, dict) and stored.get("test_split_hash") == split \
            and made_for in (None, str(champion.version)):
        return stored, "eval_report (same test split)"
    sha = champion.tags.get("checkpoint_sha256", "")
    for own_key in _stored_evaluations(lake, sha):
        own = lake.read_json(own_key)
        if own.get("test_split_hash") == split and own.get("checkpoint_sha256", sha) == sha:
            return own, "its stored evaluation (same test split)"
    if champion.tags.get("test_split_hash") == split and PRIMARY_METRIC in champion.tags:
        return {"overall": {PRIMARY_METRIC: float(champion.tags[PRIMARY_METRIC])}, "test_split_hash": split}, \
            "its registry tags (same test split)"
    # Imported here: evaluation needs training, whose checkpoint step imports this package to log to MLflow.
    from vision_assets.core.evaluation import evaluate_checkpoint

    weights_dir = registry.download(name, champion.version, work_dir / "registry" / f"v{champion.version}")
    weights = next(Path(weights_dir).rglob("*.pt"))
    again = evaluate_checkpoint(lake, dataset, weights, work_dir=work_dir,
                                imgsz=int(champion.tags.get("imgsz", 320)), device=device)
    again = {k: v for k, v in again.items() if k not in ("detections", "ground_truth", "test")}
    return again, "re-evaluated on this test split"


def _stored_evaluations(lake: Lake, checkpoint_sha256: str) -> list[str]:
    """Keys of the evaluations the lake holds for a checkpoint: its report folder, and every evaluation record
    (one per checkpoint x test split x config) that names it."""
    if not checkpoint_sha256:
        return []
    found = [f"{keys.report_folder(checkpoint_sha256)}/eval.json"]
    base = lake.path("")
    for path in sorted(lake.fs.glob(lake.path("evaluations", "*", "eval.json"))):
        found.append(path[len(base):].lstrip("/") if path.startswith(base) else path)
    return [key for key in found if lake.exists(key)]


def champion_score_on(registry: ModelRegistry, name: str, champion, dataset: dict, report: dict,
                      lake: Lake, work_dir: Path, device: str) -> tuple[float, str]:
    evaluation, source = champion_evaluation(registry, name, champion, dataset, report, lake, work_dir, device)
    return float(evaluation["overall"][PRIMARY_METRIC]), source


def gate_against_champion(registry: ModelRegistry, name: str, version, report: dict, dataset: dict, lake: Lake,
                          work_dir: Path, device: str, config: GateConfig | None = None) -> tuple[GateDecision, str]:
    """The gate's decision for `version` (evaluated in `report`) and where the champion's numbers came from.
    Raises RegistryUnavailable when the registry cannot be asked: an outage is never "no champion"."""
    champion = registry.champion(name)
    if champion is None:
        return gate_decision(None, report, config), "no champion"
    theirs, source = champion_evaluation(registry, name, champion, dataset, report, lake, work_dir, device)
    return gate_decision(theirs, report, config, champion_version=str(champion.version)), source


def decide_champion(registry: ModelRegistry, name: str, version, report: dict, dataset: dict,
                    lake: Lake, work_dir: Path, device: str, config: GateConfig | None = None,
                    gate_out: list | None = None, floor: float = 0.0) -> str:
    """Promote `version` (evaluated in `report`) if it passes the gate, else make it the challenger; the decision,
    in words. gate_out, when given, receives the GateDecision (for the table recorded beside it). Under `floor`
    (the project's promotion.min_map50_95) a version never becomes champion, not even the first one."""
    champion = registry.champion(name)
    if champion is not None and str(champion.version) == str(version.version):
        return "champion"
    below = below_floor(report, floor)
    if below:
        return below
    gate, source = gate_against_champion(registry, name, version, report, dataset, lake, work_dir, device, config)
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


def below_floor(report: dict, floor: float) -> str | None:
    """The decision for an evaluation under the champion floor; None when it is at or over it."""
    score = finite_number((report.get("overall") or {}).get(PRIMARY_METRIC))
    if floor > 0 and (score is None or score < floor):
        shown = "-" if score is None else f"{score:.4f}"
        return f"not promoted ({PRIMARY_METRIC} {shown} < floor {floor:g}, promotion.min_map50_95)"
    return None


def record_decision(registry: ModelRegistry, name: str, version, report: dict, dataset: dict,
                    lake: Lake, work_dir: Path, device: str, config: GateConfig | None = None,
                    gate_out: list | None = None, floor: float = 0.0) -> str:
    """The decision recorded on `version`, or decide_champion's, recorded now (tags, and the gate's table as a
    Markdown artifact of the version's run).

    Recorded on the version, so a run that died between registering and deciding decides on its rerun instead
    of reporting "already registered"."""
    decision = version.tags.get(DECISION_TAG)
    if decision is not None:
        return decision
    gates: list[GateDecision] = []
    decision = decide_champion(registry, name, version, report, dataset, lake, work_dir, device, config, gates, floor)
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

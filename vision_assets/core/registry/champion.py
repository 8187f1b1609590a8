"""The champion policy: a new model version takes the champion alias only if there is none or it beats the
current champion on the same test images."""

from __future__ import annotations

from pathlib import Path

from vision_assets.core.lake import Lake
from vision_assets.core.registry.mlflow_registry import ModelRegistry

PRIMARY_METRIC = "map50_95"
# The decision is recorded on the version it was made for, so it is made once per version (see record_decision).
DECISION_TAG = "champion_decision"


def champion_score_on(registry: ModelRegistry, name: str, champion, dataset: dict, report: dict,
                      lake: Lake, work_dir: Path, device: str) -> tuple[float, str]:
    """The champion's score on this report's test split: from its tags when it was evaluated on the very same
    images, otherwise by evaluating its own weights, at its own image size, on them now."""
    if champion.tags.get("test_split_hash") == report["test_split_hash"]:
        return float(champion.tags[PRIMARY_METRIC]), "its registry tags (same test split)"
    # Imported here: evaluation needs training, whose checkpoint step imports this package to log to MLflow.
    from vision_assets.core.evaluation import evaluate_checkpoint

    weights_dir = registry.download(name, champion.version, work_dir / "registry" / f"v{champion.version}")
    weights = next(Path(weights_dir).rglob("*.pt"))
    again = evaluate_checkpoint(lake, dataset, weights, work_dir=work_dir,
                                imgsz=int(champion.tags.get("imgsz", 320)), device=device)
    return float(again["overall"][PRIMARY_METRIC]), "re-evaluated on this test split"


def decide_champion(registry: ModelRegistry, name: str, version, report: dict, dataset: dict,
                    lake: Lake, work_dir: Path, device: str) -> str:
    """Promote `version` (evaluated in `report`) if it deserves it; the decision, in words."""
    champion = registry.champion(name)
    ours = report["overall"][PRIMARY_METRIC]
    if champion is None:
        registry.promote(name, version.version)
        return "champion (first model)"
    if str(champion.version) == str(version.version):
        return "champion"
    theirs, source = champion_score_on(registry, name, champion, dataset, report, lake, work_dir, device)
    if ours > theirs:
        registry.promote(name, version.version)
        return f"champion (beat v{champion.version}: {ours:.4f} > {theirs:.4f}, its score from {source})"
    return f"not promoted (v{champion.version} keeps it: {theirs:.4f} >= {ours:.4f}, its score from {source})"


def record_decision(registry: ModelRegistry, name: str, version, report: dict, dataset: dict,
                    lake: Lake, work_dir: Path, device: str) -> str:
    """The decision recorded on `version`, or decide_champion's, recorded now.

    Recorded on the version, so a run that died between registering and deciding decides on its rerun instead
    of reporting "already registered"."""
    decision = version.tags.get(DECISION_TAG)
    if decision is None:
        decision = decide_champion(registry, name, version, report, dataset, lake, work_dir, device)
        registry.client.set_model_version_tag(name, str(version.version), DECISION_TAG, decision)
    return decision

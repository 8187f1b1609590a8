"""The champion beside a candidate: the champion's evaluation on the candidate's very test set, made once, by the
same evaluate() as any checkpoint (its own recorded image size, the same config, tracking included), and the
comparison of the two. eval_report does this; the promotion gate only reads what it recorded."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from vision_assets.core.evaluation.checkpoint_report import EvaluationConfig, evaluate, evaluation_key, find_evaluation
from vision_assets.core.evaluation.comparison import compare_reports
from vision_assets.core.lake import Lake, sha256_file
from vision_assets.core.records import DatasetVersion, Evaluation

# The champion's evaluation as kept beside the candidate's: what the gate and the report read.
CHAMPION_FIELDS = ("evaluation_key", "checkpoint_sha256", "test_split_hash", "test_set_hash", "dataset_version",
                   "inference_config", "overall", "by_scene", "by_lighting", "per_class_ap50_95", "per_class", "slices")
TRACKING_FIELDS = ("overall", "by_scene", "by_lighting", "tracker")


def champion_imgsz(lake: Lake, champion) -> int | None:
    """The image size the champion was trained at: its registry tag, else its checkpoint record's config."""
    if champion.tags.get("imgsz"):
        return int(champion.tags["imgsz"])
    record = champion.tags.get("checkpoint_record")
    if record and lake.exists(record):
        imgsz = (lake.read_json(record).get("config") or {}).get("imgsz")
        return int(imgsz) if imgsz else None
    return None


def compare_with_champion(lake: Lake, registry, model_name: str, dataset: DatasetVersion, evaluation: Evaluation, *,
                          work_dir: Path, device: str = "auto", config: EvaluationConfig | None = None) -> Evaluation:
    """`evaluation` with `champion` (version, evaluation key, where its numbers came from), `champion_evaluation`
    (its evaluation on this very test set: CHAMPION_FIELDS and its tracking) and `comparison` (compare_reports'
    rows) set.

    The champion's evaluation is looked up by its key in the lake first; only when it was never evaluated on
    this test set with this config are its weights fetched from the registry and evaluated, once."""
    config = config or EvaluationConfig()
    champion = registry.champion(model_name)
    if champion is None:
        return replace(evaluation, champion={"version": None, "note": "no champion yet: nothing to compare with"},
                       champion_evaluation=None, comparison=[])
    sha = champion.tags.get("checkpoint_sha256", "")
    info = {"version": str(champion.version), "checkpoint_sha256": sha}

    def note(text: str) -> Evaluation:
        return replace(evaluation, champion={**info, "note": text}, champion_evaluation=None, comparison=[])

    if sha == evaluation.checkpoint_sha256:
        return note("this checkpoint is the champion")
    theirs = find_evaluation(lake, evaluation_key(sha, evaluation.test_set_hash, config)) if sha else None
    source = "its stored evaluation on this test set"
    if theirs is None:
        imgsz = champion_imgsz(lake, champion)
        if imgsz is None:
            return note("the champion has no recorded image size (no imgsz tag, no checkpoint record): not compared")
        try:
            weights_dir = registry.download(model_name, champion.version, work_dir / "registry" / f"v{champion.version}")
            weights = next(Path(weights_dir).rglob("*.pt"))
        except (OSError, StopIteration, LookupError) as error:
            return note(f"the champion's weights could not be fetched: {error}")
        sha = sha or sha256_file(weights)  # a version registered without its hash tag
        theirs, _ = evaluate(lake, dataset, weights, checkpoint_sha256=sha, imgsz=imgsz, work_dir=work_dir,
                             device=device, config=config, registry=registry, mlflow_run_id=champion.run_id)
        source = "evaluated now on this test set"
    stored = theirs.to_json()
    kept = {k: stored.get(k) for k in CHAMPION_FIELDS}
    kept["tracking"] = {k: v for k, v in (theirs.tracking or {}).items() if k in TRACKING_FIELDS}
    return replace(evaluation, champion={**info, "evaluation_key": theirs.evaluation_key, "source": source},
                   champion_evaluation=kept, comparison=compare_reports(stored, evaluation.to_json()))

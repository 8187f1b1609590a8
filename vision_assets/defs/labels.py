"""Stage 3: annotations imported into one canonical table, and the QC gate in front of training."""


import hashlib
from typing import TYPE_CHECKING

import dagster as dg

from vision_assets.core.lake import keys as lake_keys
from vision_assets.defs import keys
from vision_assets.defs.automation import CARRY_NEW_PARTITION, INPUTS_TAG, hold_back_reason
from vision_assets.defs.checks import scene_day_check, severity_when_passing
from vision_assets.defs.frames import sampled_frames
from vision_assets.defs.ingest import raw_videos
from vision_assets.defs.markdown import md_table, readable
from vision_assets.defs.partitions import lake_partition, scene_and_day, scene_day, scene_day_key
from vision_assets.defs.resources import LakeResource, QcPolicyResource, TaxonomyResource

# The label import and QC core (pandas, Great Expectations) is imported inside the asset and sensor bodies: loading
# the code location should cost little more than importing dagster.
if TYPE_CHECKING:
    import pandas as pd

    from vision_assets.core.labels.partition import PartitionLabels
    from vision_assets.core.qc import QcConfig as QcEngineConfig
    from vision_assets.core.qc.partition import PartitionQc

OWNERS = ["team:vision-labels"]


@dg.asset(
    partitions_def=scene_day,
    # sampled_frames: annotations counts its boxes on the sampled frames, so it runs after them (and again when they
    # change), never before with a count of 0.
    deps=[raw_videos, sampled_frames],
    group_name=keys.DATA_GROUP,
    kinds={"parquet"},
    owners=OWNERS,
    code_version="2",
    automation_condition=CARRY_NEW_PARTITION,
    check_specs=[
        scene_day_check(keys.LABEL_FILES_READABLE, keys.ANNOTATIONS,
                          description="Every label file of the partition parsed; the failing ones are named."),
        scene_day_check(keys.LABEL_FILES_MATCHED, keys.ANNOTATIONS,
                          description="Warns about drop-zone label files named after no video of the partition."),
        scene_day_check(keys.VIDEOS_LABELLED, keys.ANNOTATIONS,
                          description="Warns about usable videos with no label file (they cannot enter datasets)."),
        scene_day_check(keys.CANONICAL_TABLE_EXPECTATIONS, keys.ANNOTATIONS,
                          description="Great Expectations validation of the imported table (before QC): what it "
                                      "finds here is what QC will reject."),
    ],
    description=(
        "Every label of the partition's videos in one canonical table (video hash, frame index, class, pixel box, "
        "track id, occlusion, attributes, annotator, source file and row id), imported from label files beside each "
        "video (CVAT for video XML, MOTChallenge txt, MOTChallenge's own gt.txt beside a single video or in "
        "`<stem>/gt/`) and from the drop zone `landing/annotations/<scene>/<day>/` (COCO JSON, YOLO folders with their "
        "data yaml, CVAT, MOTChallenge, Label Studio JSON, named after the video; a Label Studio export with several "
        "tasks is split by each task's video or refused whole). Labels attach to frames by (video hash, frame "
        "index), each format's numbering read as README 'Labels: which frames, which video' says; a file that would "
        "expand past its video is refused. Labels of frames that were not sampled stay. "
        "label_version is a content hash of the rows; every version stays readable in annotation_versions."
    ),
)
def annotations(context: dg.AssetExecutionContext, lake: LakeResource, taxonomy: TaxonomyResource):
    from vision_assets.core.ingest import dropped_labels_for, label_files_for, usable_videos
    from vision_assets.core.labels.aliases import unknown_class_lines, unknown_classes
    from vision_assets.core.labels.partition import LabelFile, boxes_on_sampled_frames, import_partition_labels
    from vision_assets.core.qc import validate_table

    scene, day = scene_and_day(context)
    store, partition = lake.lake(), lake_partition(scene, day)
    videos = usable_videos(store.read_table(lake_keys.RAW_VIDEOS, partition)).to_dict("records")
    beside = {v["video_sha256"]: label_files_for(lake.landing / v["source_path"]) for v in videos}
    dropped = [LabelFile(d.path, d.video_stem, d.fingerprint) for d in dropped_labels_for(lake.landing, scene, day)]
    labels = import_partition_labels(store, partition, videos, beside, dropped, dict(taxonomy.aliases))
    for error in labels.errors:
        context.log.error(error["error"])
    table = labels.table
    expectations = validate_table(table.drop(columns=["label_version"]), taxonomy.class_names)
    findings = sorted({f for text in table["file_findings"].unique() for f in text.split(";") if f})
    stray = unknown_classes(table, taxonomy.class_names)
    for line in unknown_class_lines(stray):
        context.log.warning(line)
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "label_version": labels.version,
            "frames_labelled": int(table[["video_sha256", "frame_index"]].drop_duplicates().shape[0]),
            "boxes_on_sampled_frames": boxes_on_sampled_frames(table, store.read_table(lake_keys.SAMPLED_FRAMES, partition)),
            "tracks": int(table.loc[table["track_id"] >= 0, ["video_sha256", "track_id"]].drop_duplicates().shape[0]),
            "annotators": dg.MetadataValue.json(table["annotator"].value_counts().to_dict()),
            "classes": dg.MetadataValue.json(table["class_name"].value_counts().to_dict()),
            "formats": dg.MetadataValue.json(table["source_format"].value_counts().to_dict()),
            "file_findings": dg.MetadataValue.json(findings),
            "label_files": dg.MetadataValue.md(md_table(
                labels.sources[["source_file", "format", "label_file_sha256", "rows", "problem", "note"]])),
            "expectations": dg.MetadataValue.json(expectations),
            # Class names in no class of the project file, per label file (QC rejects them: add an alias)
            "unknown_classes": dg.MetadataValue.json(stray),
        },
        data_version=dg.DataVersion(labels.version),
    )
    yield from _import_checks(labels, expectations, scene, day)


def _import_checks(labels: "PartitionLabels", expectations: dict, scene: str, day: str):
    import pandas as pd

    errors, unmatched, unlabelled = labels.errors, labels.unmatched, labels.unlabelled
    yield dg.AssetCheckResult(
        check_name=keys.LABEL_FILES_READABLE, passed=not errors, severity=dg.AssetCheckSeverity.ERROR,
        description=f"{len(errors)} label file(s) could not be read" if errors else "every label file was read",
        metadata={"unreadable": dg.MetadataValue.md(md_table(pd.DataFrame(errors)))},
    )
    yield dg.AssetCheckResult(
        check_name=keys.LABEL_FILES_MATCHED, passed=not unmatched, severity=dg.AssetCheckSeverity.WARN,
        description=(f"{len(unmatched)} drop-zone entr(ies) named after no video of {scene}/{day}" if unmatched
                     else "every drop-zone entry names a video"),
        metadata={"unmatched": dg.MetadataValue.json(unmatched), "videos": dg.MetadataValue.json(labels.videos)},
    )
    # Zero usable videos is not "every video labelled": a check never passes on nothing.
    yield dg.AssetCheckResult(
        check_name=keys.VIDEOS_LABELLED, passed=bool(labels.videos) and not unlabelled,
        severity=dg.AssetCheckSeverity.WARN,
        description=(f"{len(unlabelled)} video(s) without a label file: they stay out of datasets" if unlabelled
                     else "every usable video has labels" if labels.videos
                     else f"no usable video in {scene}/{day}: nothing to label"),
        metadata={"unlabelled_videos": dg.MetadataValue.json(unlabelled)},
    )
    yield dg.AssetCheckResult(
        check_name=keys.CANONICAL_TABLE_EXPECTATIONS, passed=bool(expectations["success"]),
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{expectations['successful']} of {expectations['evaluated']} expectations met",
        metadata={"failed": dg.MetadataValue.json(expectations["failed"])},
    )


class QcConfig(dg.Config):
    """One run's overrides of the project file's `qc` (unset: the project's value, see QcPolicyResource)."""

    min_pass_rate: float | None = None
    min_agreement: float | None = None  # annotator pairs agreeing less than this on double-labelled frames are flagged
    duplicate_iou: float | None = None
    max_gap_frames: float | None = None
    max_jump: float | None = None
    review_share: float | None = None

    def effective(self, policy: QcPolicyResource) -> dict:
        return {name: getattr(policy, name) if getattr(self, name) is None else getattr(self, name)
                for name in QcConfig.model_fields}


def qc_engine(values: dict, class_names: list[str]) -> "QcEngineConfig":
    from vision_assets.core.qc import QcConfig as QcEngineConfig

    return QcEngineConfig(duplicate_iou=values["duplicate_iou"], max_gap_frames=values["max_gap_frames"],
                          max_jump=values["max_jump"], review_share=values["review_share"],
                          class_names=tuple(class_names))


@dg.asset(
    partitions_def=scene_day,
    deps=[annotations, raw_videos],
    group_name=keys.DATA_GROUP,
    kinds={"parquet"},
    owners=OWNERS,
    code_version="2",
    automation_condition=CARRY_NEW_PARTITION,
    check_specs=[
        scene_day_check(keys.QC_PASS_RATE, keys.QC_ANNOTATIONS, blocking=True,
                          description="Share of the partition's labels that pass QC; blocks below the threshold."),
        scene_day_check(keys.QC_WARNINGS, keys.QC_ANNOTATIONS,
                          description="Warns when warning-level rules (track gaps and jumps, annotator disagreement, "
                                      "declared areas, absolute dataset paths) flagged rows; per-rule counts."),
        scene_day_check(keys.ANNOTATOR_AGREEMENT, keys.QC_ANNOTATIONS,
                          description="Agreement of annotator pairs on double-labelled frames (boxes matched by IoU)."),
        scene_day_check(keys.KEPT_ROWS_MEET_EXPECTATIONS, keys.QC_ANNOTATIONS, blocking=True,
                          description="Great Expectations validation of the rows QC kept: anything failing here "
                                      "slipped past the rules and must not reach training."),
    ],
    description=(
        "The labels that passed QC. Error rules reject a row (box outside the image or not positive, unknown "
        "class, non-finite coordinates, frame that does not decode, duplicate box, a track twice in one frame, a "
        "reused track id, class ids off by one); warning rules flag it and keep it (track gaps and implausible "
        "jumps, annotator disagreement, declared area off the box, absolute paths in a data yaml). Rejected and "
        "flagged rows are kept in qc_rejected and qc_flagged with the rules they broke; qc_review holds a spot-check "
        "sample of every annotator's frames and qc_agreement the agreement per annotator pair. Only partitions "
        "that pass reach dataset versions."
    ),
)
def qc_annotations(context: dg.AssetExecutionContext, config: QcConfig, lake: LakeResource, taxonomy: TaxonomyResource,
                   qc_policy: QcPolicyResource):
    from vision_assets.core.qc import summarise, validate_table
    from vision_assets.core.qc.partition import qc_partition
    from vision_assets.defs.scene_day_grid import check_states_of_results, grid_markdown_metadata

    scene, day = scene_and_day(context)
    values = config.effective(qc_policy)
    qc = qc_partition(lake.lake(), lake_partition(scene, day), taxonomy.class_names,
                      qc_engine(values, taxonomy.class_names), values["min_pass_rate"])
    result = qc.result
    rules = summarise(result)
    expectations = validate_table(result.kept, taxonomy.class_names, allow_empty=True)
    sample = result.rejected[["source_file", "source_id", "class_name", "x1", "y1", "x2", "y2", "reasons"]]
    rule_counts = {name: int(count) for name, count in result.rule_counts.items()}
    checks = list(_qc_checks(context, qc, rules, rule_counts, expectations, values["min_agreement"]))
    # Every scene-day's state as of now, this partition's with the check results yielded below.
    grid = grid_markdown_metadata(context, lake.lake(), {
        context.partition_key: check_states_of_results(keys.QC_ANNOTATIONS.to_user_string(), checks)})
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(result.kept),
            "kept": len(result.kept),
            "rejected": len(result.rejected),
            "flagged": len(result.flagged),
            "review_frames": len(result.review),
            "pass_rate": readable(result.pass_rate),
            "label_version": qc.label_version,
            "rules": dg.MetadataValue.md(md_table(rules, max_rows=30)),
            "rule_counts": dg.MetadataValue.json(rule_counts),
            "rejected_sample": dg.MetadataValue.md(md_table(sample, max_rows=15)),
            "flagged_sample": dg.MetadataValue.md(md_table(
                result.flagged[["source_file", "source_id", "class_name", "track_id", "reasons"]], max_rows=15)),
            "agreement": dg.MetadataValue.md(md_table(result.agreement)),
            "scene_day_grid": grid,
        },
        data_version=dg.DataVersion(f"{qc.label_version}:{len(result.kept)}"),
    )
    yield from checks


def _qc_checks(context: dg.AssetExecutionContext, qc: "PartitionQc", rules: "pd.DataFrame", rule_counts: dict,
               expectations: dict, min_agreement: float):
    from vision_assets.core.qc.failure import pass_rate_line

    result = qc.result
    # No labels is no evidence: the check fails (as a warning: nothing bad reached a dataset) and says so.
    passed = qc.passed and qc.labels > 0
    yield dg.AssetCheckResult(
        check_name=keys.QC_PASS_RATE,
        passed=passed,
        severity=(severity_when_passing(context, keys.QC_PASS_RATE) if passed
                  else dg.AssetCheckSeverity.ERROR if qc.labels else dg.AssetCheckSeverity.WARN),
        description=(pass_rate_line(float(result.pass_rate), qc.min_pass_rate, qc.labels, rule_counts, result.rejected)
                     if qc.labels else "no labels in this partition: nothing to judge"),
        metadata={"pass_rate": readable(result.pass_rate), "labels": qc.labels, "threshold": qc.min_pass_rate,
                  "rules": dg.MetadataValue.json(rule_counts)},
    )
    warnings = {r.rule: int(r.rows) for r in rules.itertuples() if r.severity == "warning" and r.rows}
    yield dg.AssetCheckResult(
        check_name=keys.QC_WARNINGS, passed=not warnings, severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(result.flagged)} row(s) flagged" if warnings else "no warning-level findings",
        metadata={"warnings": dg.MetadataValue.json(warnings)},
    )
    weak_pairs = result.agreement[result.agreement["agreement"] < min_agreement]
    yield dg.AssetCheckResult(
        check_name=keys.ANNOTATOR_AGREEMENT, passed=weak_pairs.empty, severity=dg.AssetCheckSeverity.WARN,
        description=(f"{len(weak_pairs)} annotator pair(s) below {min_agreement:.0%} agreement" if len(weak_pairs)
                     else f"{len(result.agreement)} annotator pair(s) on double-labelled frames, none below "
                          f"{min_agreement:.0%}"),
        metadata={"pairs": dg.MetadataValue.md(md_table(result.agreement))},
    )
    yield dg.AssetCheckResult(
        check_name=keys.KEPT_ROWS_MEET_EXPECTATIONS, passed=bool(expectations["success"]),
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{expectations['successful']} of {expectations['evaluated']} expectations met by the kept rows",
        metadata={"failed": dg.MetadataValue.json(expectations["failed"])},
    )


import_labels_job = dg.define_asset_job("import_labels", selection=[annotations], partitions_def=scene_day,
                                        description="Re-import one scene x day's labels after label files changed.")


@dg.sensor(job=import_labels_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Watches the label drop zone `landing/annotations/<scene>/<YYYY-MM-DD>/` (files or YOLO folders "
                       "named after the video they label) and re-imports a partition's labels when an entry is new "
                       "or changed. QC follows through automation.")
def label_drop_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    from vision_assets.core.ingest import scan_label_drop_zone
    from vision_assets.core.ingest.tables import read_table_or_none

    store = lake.lake()
    by_partition: dict[tuple[str, str], list] = {}
    for dropped in scan_label_drop_zone(lake.landing):
        if dropped.refused:
            context.log.warning(f"refused: {dropped.refused}")
            continue
        by_partition.setdefault((dropped.scene, dropped.day), []).append(dropped)
    known = set(context.instance.get_dynamic_partitions(scene_day.name))
    requests = []
    for (scene, day), entries in sorted(by_partition.items()):
        key = scene_day_key(scene, day)
        if key not in known:
            context.log.info(f"{scene}/{day}: labels wait for the partition's videos to land")
            continue
        imported = read_table_or_none(store, lake_keys.LABEL_SOURCES, lake_partition(scene, day))
        seen = set() if imported is None or "fingerprint" not in imported else set(imported["fingerprint"])
        fresh = [e for e in entries if e.fingerprint not in seen]
        if not fresh:
            continue
        fingerprint = hashlib.sha256(",".join(sorted(e.fingerprint for e in entries)).encode()).hexdigest()[:16]
        held = hold_back_reason(context.instance, import_labels_job.name, key, fingerprint)
        if held:
            context.log.info(f"{scene}/{day}: not requested: {held}")
            continue
        requests.append(dg.RunRequest(partition_key=key, tags={INPUTS_TAG: fingerprint}))
        context.log.info(f"{scene}/{day}: new or changed labels: {', '.join(e.path.name for e in fresh)}")
    if not requests:
        return dg.SkipReason("no new label files in the drop zone")
    return dg.SensorResult(run_requests=requests)

"""Stage 3: annotations imported into one canonical table, and the QC gate in front of training."""


import hashlib
from pathlib import Path

import dagster as dg
import pandas as pd

from vision_assets.core.ingest import dropped_labels_for, label_files_for, scan_label_drop_zone, usable_videos
from vision_assets.core.labels import (
    AnnotationFormatError,
    empty_annotations,
    label_version,
    read_annotations,
)
from vision_assets.core.qc import QcConfig as QcEngineConfig
from vision_assets.core.qc import run_qc, summarise, validate_table
from vision_assets.defs.automation import CARRY_NEW_PARTITION, INPUTS_TAG, hold_back_reason
from vision_assets.defs.ingest import raw_videos
from vision_assets.defs.markdown import md_table
from vision_assets.defs.partitions import days, lake_partition, scene_and_day, scene_day, scene_day_key, scenes
from vision_assets.defs.resources import LakeResource, TaxonomyResource

OWNERS = ["team:vision-labels"]


@dg.asset(
    partitions_def=scene_day,
    deps=[raw_videos],
    group_name="labels",
    kinds={"parquet"},
    owners=OWNERS,
    code_version="2",
    automation_condition=CARRY_NEW_PARTITION,
    check_specs=[
        dg.AssetCheckSpec("label_files_readable", asset="annotations",
                          description="Every label file of the partition parsed; the failing ones are named."),
        dg.AssetCheckSpec("label_files_matched", asset="annotations",
                          description="Warns about drop-zone label files named after no video of the partition."),
        dg.AssetCheckSpec("videos_labelled", asset="annotations",
                          description="Warns about usable videos with no label file (they cannot enter datasets)."),
        dg.AssetCheckSpec("canonical_table_expectations", asset="annotations",
                          description="Great Expectations validation of the imported table (before QC): what it "
                                      "finds here is what QC will reject."),
    ],
    description=(
        "Every label of the partition's videos in one canonical table (video hash, frame index, class, pixel box, "
        "track id, occlusion, attributes, annotator, source file and row id), imported from label files beside each "
        "video (CVAT for video XML, MOTChallenge txt) and from the drop zone landing/annotations/<scene>/<day>/ "
        "(COCO JSON, YOLO folders with their data yaml, CVAT, MOTChallenge, Label Studio JSON, named after the "
        "video). Labels attach to frames by (video hash, frame index); labels of frames that were not sampled stay. "
        "label_version is a content hash of the rows; every version stays readable in annotation_versions."
    ),
)
def annotations(context: dg.AssetExecutionContext, lake: LakeResource, taxonomy: TaxonomyResource):
    scene, day = scene_and_day(context)
    store = lake.lake()
    partition = lake_partition(scene, day)
    videos = usable_videos(store.read_table("raw_videos", partition)).to_dict("records")
    dropped = dropped_labels_for(lake.landing, scene, day)
    stems = {Path(v["source_name"]).stem for v in videos}
    unmatched = [d.path.name for d in dropped if d.video_stem not in stems]
    tables, sources, errors, unlabelled = [], [], [], []
    for video in videos:
        stem = Path(video["source_name"]).stem
        label_paths = [(p, "") for p in label_files_for(Path(video["source_path"]))]
        label_paths += [(d.path, d.fingerprint) for d in dropped if d.video_stem == stem]
        if not label_paths:
            unlabelled.append(video["source_name"])
        for label_path, fingerprint in label_paths:
            try:
                rows = read_annotations(label_path, image_size=(int(video["width"]), int(video["height"])))
            except AnnotationFormatError as error:
                errors.append({"file": label_path.name, "error": str(error)})
                context.log.error(str(error))
                # Recorded as seen, so the drop-zone sensor waits for a corrected file instead of retrying.
                sources.append({"video_sha256": video["video_sha256"], "source_file": label_path.name,
                                "format": "unreadable", "label_file_sha256": "", "stored_path": "", "rows": 0,
                                "fingerprint": fingerprint})
                continue
            tables.append(rows.assign(video_sha256=video["video_sha256"]))
            # The exact label bytes are kept, content-addressed, so a dataset traces back to them.
            digest, stored, _ = (store.put_blob_tree("labels", label_path) if label_path.is_dir()
                                 else store.put_blob_file("labels", label_path, label_path.suffix.lower()))
            sources.append({"video_sha256": video["video_sha256"], "source_file": label_path.name,
                            "format": str(rows["source_format"].iloc[0]) if len(rows) else "",
                            "label_file_sha256": digest, "stored_path": stored, "rows": len(rows),
                            "fingerprint": fingerprint})
    sources += [{"video_sha256": "", "source_file": d.path.name, "format": "unmatched", "label_file_sha256": "",
                 "stored_path": "", "rows": 0, "fingerprint": d.fingerprint} for d in dropped if d.video_stem not in stems]
    table = pd.concat(tables, ignore_index=True) if tables else empty_annotations()
    table.attrs.clear()  # a reader's declared image sizes are for audits; the lake's frame sizes come from probing
    version = label_version(table)
    versioned = table.assign(label_version=version)
    store.write_table("annotations", versioned, partition)
    store.write_table("annotation_versions", versioned, {**partition, "label_version": version})
    sources_table = pd.DataFrame(sources, columns=["video_sha256", "source_file", "format", "label_file_sha256",
                                                   "stored_path", "rows", "fingerprint"])
    store.write_table("label_sources", sources_table.assign(label_version=version), partition)
    expectations = validate_table(table, taxonomy.class_names)
    findings = sorted({f for text in table["file_findings"].unique() for f in text.split(";") if f})
    frames = store.read_table("sampled_frames", partition)
    on_sampled = 0 if frames is None or table.empty else int(
        table.merge(frames[["video_sha256", "frame_index"]].drop_duplicates(), on=["video_sha256", "frame_index"]).shape[0])
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "label_version": version,
            "frames_labelled": int(table[["video_sha256", "frame_index"]].drop_duplicates().shape[0]),
            "boxes_on_sampled_frames": on_sampled,
            "tracks": int(table.loc[table["track_id"] >= 0, ["video_sha256", "track_id"]].drop_duplicates().shape[0]),
            "annotators": dg.MetadataValue.json(table["annotator"].value_counts().to_dict()),
            "classes": dg.MetadataValue.json(table["class_name"].value_counts().to_dict()),
            "formats": dg.MetadataValue.json(table["source_format"].value_counts().to_dict()),
            "file_findings": dg.MetadataValue.json(findings),
            "label_files": dg.MetadataValue.md(md_table(sources_table[["source_file", "format", "label_file_sha256", "rows"]])),
            "expectations": dg.MetadataValue.json(expectations),
        },
        data_version=dg.DataVersion(version),
    )
    yield dg.AssetCheckResult(
        check_name="label_files_readable", passed=not errors, severity=dg.AssetCheckSeverity.ERROR,
        description=f"{len(errors)} label file(s) could not be read" if errors else "every label file was read",
        metadata={"unreadable": dg.MetadataValue.md(md_table(pd.DataFrame(errors)))},
    )
    yield dg.AssetCheckResult(
        check_name="label_files_matched", passed=not unmatched, severity=dg.AssetCheckSeverity.WARN,
        description=(f"{len(unmatched)} drop-zone entr(ies) named after no video of {scene}/{day}" if unmatched
                     else "every drop-zone entry names a video"),
        metadata={"unmatched": dg.MetadataValue.json(unmatched), "videos": dg.MetadataValue.json(sorted(stems))},
    )
    yield dg.AssetCheckResult(
        check_name="videos_labelled", passed=not unlabelled, severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(unlabelled)} video(s) without a label file: they stay out of datasets" if unlabelled
        else "every usable video has labels",
        metadata={"unlabelled_videos": dg.MetadataValue.json(unlabelled)},
    )
    yield dg.AssetCheckResult(
        check_name="canonical_table_expectations", passed=bool(expectations["success"]),
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{expectations['successful']} of {expectations['evaluated']} expectations met",
        metadata={"failed": dg.MetadataValue.json(expectations["failed"])},
    )


class QcConfig(dg.Config):
    min_pass_rate: float = 0.9
    min_agreement: float = 0.8  # annotator pairs agreeing less than this on double-labelled frames are flagged
    duplicate_iou: float = 0.9
    max_gap_frames: float = 5.0
    max_jump: float = 0.5
    review_share: float = 0.05

    def engine(self, class_names: list[str]) -> QcEngineConfig:
        return QcEngineConfig(duplicate_iou=self.duplicate_iou, max_gap_frames=self.max_gap_frames,
                              max_jump=self.max_jump, review_share=self.review_share, class_names=tuple(class_names))


@dg.asset(
    partitions_def=scene_day,
    deps=[annotations, raw_videos],
    group_name="labels",
    kinds={"parquet"},
    owners=OWNERS,
    code_version="2",
    automation_condition=CARRY_NEW_PARTITION,
    check_specs=[
        dg.AssetCheckSpec("qc_pass_rate", asset="qc_annotations", blocking=True,
                          description="Share of the partition's labels that pass QC; blocks below the threshold."),
        dg.AssetCheckSpec("qc_warnings", asset="qc_annotations",
                          description="Warns when warning-level rules (track gaps and jumps, annotator disagreement, "
                                      "declared areas, absolute dataset paths) flagged rows; per-rule counts."),
        dg.AssetCheckSpec("annotator_agreement", asset="qc_annotations",
                          description="Agreement of annotator pairs on double-labelled frames (boxes matched by IoU)."),
        dg.AssetCheckSpec("kept_rows_meet_expectations", asset="qc_annotations", blocking=True,
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
def qc_annotations(context: dg.AssetExecutionContext, config: QcConfig, lake: LakeResource, taxonomy: TaxonomyResource):
    scene, day = scene_and_day(context)
    store = lake.lake()
    partition = lake_partition(scene, day)
    labels = store.read_table("annotations", partition)
    labels = empty_annotations() if labels is None else labels
    version = str(labels["label_version"].iloc[0]) if "label_version" in labels and len(labels) else label_version(labels)
    videos = store.read_table("raw_videos", partition)
    sizes = {} if videos is None else {r.video_sha256: (int(r.width), int(r.height)) for r in videos.itertuples()}
    counts = {} if videos is None else dict(zip(videos["video_sha256"], videos["frames_decoded"].astype(int)))
    result = run_qc(labels.drop(columns=["label_version"], errors="ignore"), sizes, taxonomy.class_names,
                    frame_counts=counts, config=config.engine(taxonomy.class_names))
    passed = result.pass_rate >= config.min_pass_rate
    for table, rows in (("qc_annotations", result.kept), ("qc_rejected", result.rejected), ("qc_flagged", result.flagged),
                        ("qc_review", result.review), ("qc_agreement", result.agreement)):
        store.write_table(table, rows.assign(label_version=version), partition)
    weak_pairs = result.agreement[result.agreement["agreement"] < config.min_agreement]
    store.write_table("qc_summary", pd.DataFrame([{
        "label_version": version, "kept": len(result.kept), "rejected": len(result.rejected),
        "flagged": len(result.flagged), "review_frames": len(result.review), "pass_rate": result.pass_rate,
        "min_pass_rate": config.min_pass_rate, "passed": passed,
    }]), partition)
    rules = summarise(result)
    expectations = validate_table(result.kept, taxonomy.class_names, allow_empty=True)
    sample = result.rejected[["source_file", "source_id", "class_name", "x1", "y1", "x2", "y2", "reasons"]]
    rule_counts = {name: int(count) for name, count in result.rule_counts.items()}
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(result.kept),
            "kept": len(result.kept),
            "rejected": len(result.rejected),
            "flagged": len(result.flagged),
            "review_frames": len(result.review),
            "pass_rate": float(result.pass_rate),
            "label_version": version,
            "rules": dg.MetadataValue.md(md_table(rules, max_rows=30)),
            "rule_counts": dg.MetadataValue.json(rule_counts),
            "rejected_sample": dg.MetadataValue.md(md_table(sample, max_rows=15)),
            "flagged_sample": dg.MetadataValue.md(md_table(
                result.flagged[["source_file", "source_id", "class_name", "track_id", "reasons"]], max_rows=15)),
            "agreement": dg.MetadataValue.md(md_table(result.agreement)),
        },
        data_version=dg.DataVersion(f"{version}:{len(result.kept)}"),
    )
    yield dg.AssetCheckResult(
        check_name="qc_pass_rate",
        passed=bool(passed),
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{result.pass_rate:.1%} of {len(labels)} labels passed (threshold {config.min_pass_rate:.0%})",
        metadata={"pass_rate": float(result.pass_rate), "threshold": config.min_pass_rate,
                  "rules": dg.MetadataValue.json(rule_counts)},
    )
    warnings = {r.rule: int(r.rows) for r in rules.itertuples() if r.severity == "warning" and r.rows}
    yield dg.AssetCheckResult(
        check_name="qc_warnings", passed=not warnings, severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(result.flagged)} row(s) flagged" if warnings else "no warning-level findings",
        metadata={"warnings": dg.MetadataValue.json(warnings)},
    )
    yield dg.AssetCheckResult(
        check_name="annotator_agreement", passed=weak_pairs.empty, severity=dg.AssetCheckSeverity.WARN,
        description=(f"{len(weak_pairs)} annotator pair(s) below {config.min_agreement:.0%} agreement" if len(weak_pairs)
                     else f"{len(result.agreement)} annotator pair(s) on double-labelled frames, none below "
                          f"{config.min_agreement:.0%}"),
        metadata={"pairs": dg.MetadataValue.md(md_table(result.agreement))},
    )
    yield dg.AssetCheckResult(
        check_name="kept_rows_meet_expectations", passed=bool(expectations["success"]),
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{expectations['successful']} of {expectations['evaluated']} expectations met by the kept rows",
        metadata={"failed": dg.MetadataValue.json(expectations["failed"])},
    )


import_labels_job = dg.define_asset_job("import_labels", selection=[annotations], partitions_def=scene_day,
                                        description="Re-import one scene x day's labels after label files changed.")


@dg.sensor(job=import_labels_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Watches the label drop zone landing/annotations/<scene>/<YYYY-MM-DD>/ (files or YOLO folders "
                       "named after the video they label) and re-imports a partition's labels when an entry is new "
                       "or changed. QC follows through automation.")
def label_drop_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
    store = lake.lake()
    by_partition: dict[tuple[str, str], list] = {}
    for dropped in scan_label_drop_zone(lake.landing):
        if dropped.refused:
            context.log.warning(f"refused: {dropped.refused}")
            continue
        by_partition.setdefault((dropped.scene, dropped.day), []).append(dropped)
    known_scenes = set(context.instance.get_dynamic_partitions(scenes.name))
    known_days = set(context.instance.get_dynamic_partitions(days.name))
    requests = []
    for (scene, day), entries in sorted(by_partition.items()):
        if scene not in known_scenes or day not in known_days:
            context.log.info(f"{scene}/{day}: labels wait for the partition's videos to land")
            continue
        imported = store.read_table("label_sources", lake_partition(scene, day))
        seen = set() if imported is None or "fingerprint" not in imported else set(imported["fingerprint"])
        fresh = [e for e in entries if e.fingerprint not in seen]
        if not fresh:
            continue
        key = scene_day_key(scene, day)
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

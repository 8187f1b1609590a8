"""Stage 3: annotations imported into one canonical table, and the QC gate in front of training."""


from pathlib import Path

import dagster as dg
import pandas as pd

from vision_assets.core.annotations import AnnotationFormatError, empty_annotations, label_version, read_annotations
from vision_assets.core.ingest import usable_videos
from vision_assets.core.landing import label_files_for
from vision_assets.core.qc import run_qc
from vision_assets.defs.automation import CARRY_NEW_PARTITION
from vision_assets.defs.ingest import raw_videos
from vision_assets.defs.markdown import md_table
from vision_assets.defs.partitions import lake_partition, scene_and_day, scene_day
from vision_assets.defs.resources import LakeResource, TaxonomyResource

OWNERS = ["team:vision-labels"]


@dg.asset(
    partitions_def=scene_day,
    deps=[raw_videos],
    group_name="labels",
    kinds={"parquet"},
    owners=OWNERS,
    code_version="1",
    automation_condition=CARRY_NEW_PARTITION,
    check_specs=[
        dg.AssetCheckSpec("label_files_readable", asset="annotations",
                          description="Every label file beside the partition's videos parsed; the failing ones are named."),
        dg.AssetCheckSpec("videos_labelled", asset="annotations",
                          description="Warns about usable videos with no label file (they cannot enter datasets)."),
    ],
    description=(
        "Every label of the partition's videos in one canonical table (video hash, frame index, class, pixel box, "
        "track id, occlusion, annotator, source file), imported from the label files beside each video "
        "(CVAT for video XML, MOTChallenge txt). label_version is a content hash of these rows."
    ),
)
def annotations(context: dg.AssetExecutionContext, lake: LakeResource):
    scene, day = scene_and_day(context)
    store = lake.lake()
    partition = lake_partition(scene, day)
    frames, sources, errors, unlabelled = [], [], [], []
    for video in usable_videos(store.read_table("raw_videos", partition)).to_dict("records"):
        label_files = label_files_for(Path(video["source_path"]))
        if not label_files:
            unlabelled.append(video["source_name"])
        for label_file in label_files:
            try:
                rows = read_annotations(label_file)
            except AnnotationFormatError as error:
                errors.append({"file": label_file.name, "error": str(error)})
                context.log.error(str(error))
                continue
            frames.append(rows.assign(video_sha256=video["video_sha256"]))
            # The exact label bytes are kept, content-addressed, so a dataset traces back to them.
            digest, stored, _ = store.put_blob_file("labels", label_file, label_file.suffix.lower())
            sources.append({"video_sha256": video["video_sha256"], "source_file": label_file.name,
                            "label_file_sha256": digest, "stored_path": stored, "rows": len(rows)})
    table = pd.concat(frames, ignore_index=True) if frames else empty_annotations()
    version = label_version(table)
    store.write_table("annotations", table.assign(label_version=version), partition)
    sources_table = pd.DataFrame(sources, columns=["video_sha256", "source_file", "label_file_sha256", "stored_path", "rows"])
    store.write_table("label_sources", sources_table.assign(label_version=version), partition)
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "label_version": version,
            "frames_labelled": int(table[["video_sha256", "frame_index"]].drop_duplicates().shape[0]),
            "tracks": int(table[["video_sha256", "track_id"]].drop_duplicates().shape[0]),
            "classes": dg.MetadataValue.json(table["class_name"].value_counts().to_dict()),
            "label_files": dg.MetadataValue.md(md_table(sources_table[["source_file", "label_file_sha256", "rows"]])),
        },
        data_version=dg.DataVersion(version),
    )
    yield dg.AssetCheckResult(
        check_name="label_files_readable", passed=not errors, severity=dg.AssetCheckSeverity.ERROR,
        description=f"{len(errors)} label file(s) could not be read" if errors else "every label file was read",
        metadata={"unreadable": dg.MetadataValue.md(md_table(pd.DataFrame(errors)))},
    )
    yield dg.AssetCheckResult(
        check_name="videos_labelled", passed=not unlabelled, severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(unlabelled)} video(s) without a label file: they stay out of datasets" if unlabelled
        else "every usable video has labels",
        metadata={"unlabelled_videos": dg.MetadataValue.json(unlabelled)},
    )


class QcConfig(dg.Config):
    min_pass_rate: float = 0.9


@dg.asset(
    partitions_def=scene_day,
    deps=[annotations, raw_videos],
    group_name="labels",
    kinds={"parquet"},
    owners=OWNERS,
    code_version="1",
    automation_condition=CARRY_NEW_PARTITION,
    check_specs=[dg.AssetCheckSpec("qc_pass_rate", asset="qc_annotations", blocking=True,
                                   description="Share of the partition's labels that pass QC; blocks below the threshold.")],
    description=(
        "The labels that passed QC (box inside the image, positive size, finite coordinates, known class, on a "
        "frame that decodes). "
        "Rejected rows are kept in the qc_rejected table with the rules they broke; only passing partitions "
        "reach dataset versions."
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
                    frame_counts=counts)
    passed = result.pass_rate >= config.min_pass_rate
    store.write_table("qc_annotations", result.kept.assign(label_version=version), partition)
    store.write_table("qc_rejected", result.rejected.assign(label_version=version), partition)
    store.write_table("qc_summary", pd.DataFrame([{
        "label_version": version, "kept": len(result.kept), "rejected": len(result.rejected),
        "pass_rate": result.pass_rate, "min_pass_rate": config.min_pass_rate, "passed": passed,
    }]), partition)
    sample = result.rejected[["source_file", "source_id", "class_name", "x1", "y1", "x2", "y2", "reasons"]]
    rules = {name: count for name, count in result.rule_counts.items()}
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(result.kept),
            "kept": len(result.kept),
            "rejected": len(result.rejected),
            "pass_rate": float(result.pass_rate),
            "label_version": version,
            "rules": dg.MetadataValue.json(rules),
            "rejected_sample": dg.MetadataValue.md(md_table(sample, max_rows=15)),
        },
        data_version=dg.DataVersion(f"{version}:{len(result.kept)}"),
    )
    yield dg.AssetCheckResult(
        check_name="qc_pass_rate",
        passed=bool(passed),
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{result.pass_rate:.1%} of {len(labels)} labels passed (threshold {config.min_pass_rate:.0%})",
        metadata={"pass_rate": float(result.pass_rate), "threshold": config.min_pass_rate,
                  "rules": dg.MetadataValue.json(rules)},
    )

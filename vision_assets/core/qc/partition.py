"""QC of one scene x day: the partition's imported labels judged against its probed videos, every outcome kept."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from vision_assets.core.labels import empty_annotations, label_version
from vision_assets.core.lake import Lake, keys
from vision_assets.core.qc.engine import QcConfig, QcResult, run_qc


@dataclass(frozen=True)
class PartitionQc:
    result: QcResult
    label_version: str
    labels: int  # rows judged
    passed: bool  # pass rate at or above the threshold: only passing partitions reach datasets
    min_pass_rate: float


def qc_partition(lake: Lake, partition: dict[str, str], class_names: list[str], config: QcConfig,
                 min_pass_rate: float) -> PartitionQc:
    """Run QC on the partition's annotations and write qc_annotations (kept rows), qc_rejected and qc_flagged (with
    the rules they broke), qc_review, qc_agreement and the one-row qc_summary the dataset builder reads."""
    labels = lake.read_table(keys.ANNOTATIONS, partition)
    labels = empty_annotations() if labels is None else labels
    version = str(labels["label_version"].iloc[0]) if "label_version" in labels and len(labels) else label_version(labels)
    videos = lake.read_table(keys.RAW_VIDEOS, partition)
    sizes = {} if videos is None else {r.video_sha256: (int(r.width), int(r.height)) for r in videos.itertuples()}
    counts = {} if videos is None else dict(zip(videos["video_sha256"], videos["frames_decoded"].astype(int)))
    result = run_qc(labels.drop(columns=["label_version"], errors="ignore"), sizes, class_names,
                    frame_counts=counts, config=config)
    outcome = PartitionQc(result, version, len(labels), bool(result.pass_rate >= min_pass_rate), min_pass_rate)
    for table, rows in ((keys.QC_ANNOTATIONS, result.kept), (keys.QC_REJECTED, result.rejected),
                        (keys.QC_FLAGGED, result.flagged), (keys.QC_REVIEW, result.review),
                        (keys.QC_AGREEMENT, result.agreement)):
        lake.write_table(table, rows.assign(label_version=version), partition)
    lake.write_table(keys.QC_SUMMARY, pd.DataFrame([{
        "label_version": version, "kept": len(result.kept), "rejected": len(result.rejected),
        "flagged": len(result.flagged), "review_frames": len(result.review), "pass_rate": result.pass_rate,
        "min_pass_rate": min_pass_rate, "passed": outcome.passed,
    }]), partition)
    return outcome

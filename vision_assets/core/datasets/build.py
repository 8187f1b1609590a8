"""Building a dataset version: which frames and boxes may enter, the manifest, the content version."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vision_assets.core.datasets.export import publish_dataset
from vision_assets.core.datasets.splits import (
    SPLITS,
    SplitConfig,
    _group_column,
    _with_split_group,
    assign_splits,
    read_split_registry,
    record_splits,
    split_problems,
)
from vision_assets.core.errors import VisionError
from vision_assets.core.lake import Lake, keys
from vision_assets.core.records import DatasetVersion
from vision_assets.core.registry.forgotten import forgotten_videos

MANIFEST_COLUMNS = [
    "sample_id", "frame_sha256", "video_sha256", "frame_index", "scene", "day", "split",
    "label_version", "n_boxes", "image_path", "width", "height", "lighting", "split_group",
]
# A box rejected only as a second copy of an object still labelled by the first leaves its frame complete.
REDUNDANT_BOX_RULES = frozenset({"duplicate_box", "track_duplicate_in_frame"})


def build_manifest(frames: pd.DataFrame, labels: pd.DataFrame, config: SplitConfig,
                   previous_assignment: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per sampled frame with its split; labels joined by (video hash, frame index)."""
    frames = _with_split_group(frames)
    group_column = _group_column(config.group_by)
    groups = sorted(frames[group_column].unique().tolist())
    strata = frames.groupby(group_column)["scene"].first().to_dict()
    assignment = assign_splits(groups, config, previous_assignment, strata)
    counts = labels.groupby(["video_sha256", "frame_index"]).size().rename("n_boxes") if len(labels) else None
    manifest = frames.copy()
    manifest["split"] = manifest[group_column].map(assignment)
    if counts is not None:
        manifest = manifest.join(counts, on=["video_sha256", "frame_index"])
    manifest["n_boxes"] = manifest.get("n_boxes", pd.Series(0, index=manifest.index)).fillna(0).astype("int64")
    manifest["sample_id"] = manifest["video_sha256"].str[:16] + "_" + manifest["frame_index"].map("{:07d}".format)
    for column in MANIFEST_COLUMNS:
        if column not in manifest:
            manifest[column] = ""
    return manifest[MANIFEST_COLUMNS].sort_values("sample_id").reset_index(drop=True)


def dataset_version(manifest: pd.DataFrame, labels: pd.DataFrame, class_names: list[str], config: SplitConfig) -> str:
    """Content hash of what training sees: samples, their splits, their boxes and the class list."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"classes": class_names, "config": config.__dict__}, sort_keys=True).encode())
    samples = manifest[["sample_id", "frame_sha256", "split"]].sort_values("sample_id").reset_index(drop=True)
    digest.update(pd.util.hash_pandas_object(samples, index=False).values.tobytes())
    if len(labels):
        box_cols = ["video_sha256", "frame_index", "class_name", "x1", "y1", "x2", "y2"]
        ordered = labels[box_cols].sort_values(box_cols).reset_index(drop=True)
        digest.update(pd.util.hash_pandas_object(ordered, index=False).values.tobytes())
    return digest.hexdigest()[:16]


def _keys(df: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([df["video_sha256"], df["frame_index"]])


def gather_labelled_frames(lake: Lake, class_names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Frames and QC-passed boxes that may enter a dataset, read from the lake's own tables.

    Only partitions whose QC passed; only videos that were labelled at all (an unlabelled frame is unknown,
    not background); no frame that lost a box to QC or whose class left the taxonomy (its remaining labels
    are incomplete); a video that landed in two partitions counts once, in the first.
    """
    summaries = lake.read_tables(keys.QC_SUMMARY)
    report: dict = {"partitions": 0, "excluded_partitions": [], "label_versions_considered": [], "label_files": []}
    if summaries.empty:
        return pd.DataFrame(columns=MANIFEST_COLUMNS), pd.DataFrame(), report
    passed = summaries["passed"].astype(bool)
    passing = summaries[passed]
    partitions = [{"scene": r.scene, "day": r.day} for r in passing.itertuples()]
    report.update(partitions=len(partitions),
                  excluded_partitions=summaries[~passed][["scene", "day", "pass_rate"]].to_dict("records"),
                  label_versions_considered=sorted(passing["label_version"].astype(str).unique().tolist()))
    frames = lake.read_tables(keys.SAMPLED_FRAMES, partitions)
    forgotten = forgotten_videos(lake)
    if forgotten and len(frames):
        frames = frames[~frames["video_sha256"].isin(forgotten)]
    kept = lake.read_tables(keys.QC_ANNOTATIONS, partitions)
    rejected = lake.read_tables(keys.QC_REJECTED, partitions)
    sources = lake.read_tables(keys.LABEL_SOURCES, partitions)
    if frames.empty or (kept.empty and rejected.empty):
        return pd.DataFrame(columns=MANIFEST_COLUMNS), pd.DataFrame(), report
    owner = frames.sort_values(["scene", "day"]).groupby("video_sha256")[["scene", "day"]].first()

    def owned(df: pd.DataFrame) -> pd.DataFrame:
        if df.empty:
            return df
        home = owner.reindex(df["video_sha256"])
        return df[(home["scene"].to_numpy() == df["scene"].to_numpy()) & (home["day"].to_numpy() == df["day"].to_numpy())]

    before = len(frames)
    frames, kept, rejected = owned(frames), owned(kept), owned(rejected)
    duplicates = before - len(frames)
    off_taxonomy = kept[~kept["class_name"].isin(class_names)] if len(kept) else kept
    kept = kept[kept["class_name"].isin(class_names)] if len(kept) else kept
    kept = one_annotator_per_frame(kept)
    labelled = set(kept.get("video_sha256", [])) | set(rejected.get("video_sha256", []))
    if len(rejected) and "reasons" in rejected:
        redundant = rejected["reasons"].str.split(";").map(lambda names: set(names) <= REDUNDANT_BOX_RULES)
        rejected = rejected[~redundant.astype(bool)]
    incomplete = _keys(pd.concat([rejected, off_taxonomy])) if len(rejected) or len(off_taxonomy) else None
    frames = frames[frames["video_sha256"].isin(labelled)]
    dropped = _keys(frames).isin(incomplete) if incomplete is not None else np.zeros(len(frames), bool)
    frames = frames[~dropped].copy()
    versions = passing.set_index(["scene", "day"])["label_version"]
    frames["label_version"] = versions.reindex(pd.MultiIndex.from_arrays([frames["scene"], frames["day"]])).to_numpy()
    labels = kept[_keys(kept).isin(_keys(frames))] if len(kept) else kept
    frames["split_group"] = _near_duplicate_roots(lake, partitions, frames["video_sha256"])
    if len(sources) and "label_file_sha256" in sources:
        sources = sources[sources["label_file_sha256"].fillna("") != ""]  # unmatched or unreadable drop-zone entries
    report.update(frames_dropped_by_qc=int(dropped.sum()), duplicate_video_frames=int(duplicates),
                  label_files=sources.to_dict("records") if len(sources) else [])
    return frames, labels.reset_index(drop=True), report


def one_annotator_per_frame(kept: pd.DataFrame) -> pd.DataFrame:
    """A frame labelled twice (for agreement) trains on one annotator's boxes, not both sets on top of each other."""
    if kept.empty or "annotator" not in kept:
        return kept
    first = kept.groupby(["video_sha256", "frame_index"])["annotator"].transform("min")
    return kept[kept["annotator"] == first]


def _near_duplicate_roots(lake: Lake, partitions: list[dict], videos: pd.Series) -> np.ndarray:
    """Each video's split group: the video it re-encodes (followed to the original), else itself."""
    table = lake.read_tables(keys.RAW_VIDEOS, partitions)
    parent = {}
    if len(table) and "near_duplicate_sha256" in table:
        near = table[table["near_duplicate_sha256"].fillna("") != ""]
        parent = dict(zip(near["video_sha256"], near["near_duplicate_sha256"]))

    def root(sha: str) -> str:
        seen = {sha}
        while sha in parent and parent[sha] not in seen:
            sha = parent[sha]
            seen.add(sha)
        return sha

    return videos.map(root).to_numpy()


class NotEnoughGroups(VisionError, ValueError):
    """Fewer labelled videos (or scenes) than splits: no honest train/val/test can be made."""


@dataclass(frozen=True)
class DatasetBuild:
    record: DatasetVersion  # the immutable dataset.json
    manifest: pd.DataFrame
    labels: pd.DataFrame
    report: dict  # what gather_labelled_frames excluded and why
    problems: dict[str, list]  # split_problems(): empty lists when the version is usable

    @property
    def usable(self) -> bool:
        return not any(self.problems.values())


def build_dataset_version(lake: Lake, class_names: list[str], split: SplitConfig) -> DatasetBuild:
    """The dataset version the lake's QC-passed labels make now; it becomes the latest only if it is usable."""
    frames, labels, report = gather_labelled_frames(lake, class_names)
    group_column = "video_sha256" if split.group_by == "video" else "scene"
    groups = frames[group_column].nunique() if len(frames) else 0
    if groups < len(SPLITS):
        raise NotEnoughGroups(f"{groups} labelled {split.group_by}(s) with QC-passed frames in {lake.root}: "
                              f"train, val and test need at least {len(SPLITS)}")
    registry = read_split_registry(lake, split.group_by)
    manifest = build_manifest(frames, labels, split, registry)
    version = dataset_version(manifest, labels, class_names, split)
    provenance = {"label_versions_considered": report["label_versions_considered"],
                  "label_files": report["label_files"], "video_sources": _video_sources(lake, frames)}
    record = publish_dataset(lake, manifest, labels, class_names, split, version, provenance)
    build = DatasetBuild(record, manifest, labels, report, split_problems(manifest, registry, split.group_by))
    if build.usable:
        record_splits(lake, split.group_by, manifest, version)
        lake.write_json(keys.LATEST_DATASET, {"version": version})
    return build


def _video_sources(lake: Lake, frames: pd.DataFrame) -> list[dict]:
    videos = lake.read_tables(keys.RAW_VIDEOS, frames[["scene", "day"]].drop_duplicates().to_dict("records"))
    used = videos[videos["video_sha256"].isin(set(frames["video_sha256"]))]
    columns = ["video_sha256", "source_name", "scene", "day", "source_size"]
    return used[columns].drop_duplicates("video_sha256").to_dict("records")


def latest_dataset(lake: Lake) -> DatasetVersion | None:
    """The record of the latest usable dataset version, or None before the first."""
    if not lake.exists(keys.LATEST_DATASET):
        return None
    return DatasetVersion.from_json(lake.read_json(keys.dataset_record_key(lake.read_json(keys.LATEST_DATASET)["version"])))


def new_label_count(lake: Lake) -> tuple[int, list[str]]:
    """QC-passed labels in passing partitions whose label version the latest dataset does not contain, and every
    passing label version (what a retrain would be for)."""
    summaries = lake.read_tables(keys.QC_SUMMARY)
    if summaries.empty:
        return 0, []
    passing = summaries[summaries["passed"].astype(bool)]
    previous = latest_dataset(lake)
    known = set(previous.label_versions if previous.label_versions_considered is None
                else previous.label_versions_considered) if previous else set()
    fresh = passing[~passing["label_version"].isin(known)]
    removed = sorted(set(previous.videos) & forgotten_videos(lake)) if previous else []
    if removed:  # the latest version holds forgotten footage: every label counts, and the run key changes
        return int(passing["kept"].sum()), sorted(passing["label_version"].tolist()) + [f"forgotten:{s}" for s in removed]
    return int(fresh["kept"].sum()), sorted(passing["label_version"].tolist())

"""Versioned dataset splits: grouped by video (or scene) so no footage leaks across train/val/test."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vision_assets.core.labels.formats.yolo import yolo_lines
from vision_assets.core.lake import Lake

SPLITS = ("train", "val", "test")
MANIFEST_COLUMNS = [
    "sample_id", "frame_sha256", "video_sha256", "frame_index", "scene", "day", "split",
    "label_version", "n_boxes", "image_path", "width", "height", "lighting", "split_group",
]
# A box rejected only as a second copy of an object still labelled by the first leaves its frame complete.
REDUNDANT_BOX_RULES = frozenset({"duplicate_box", "track_duplicate_in_frame"})


@dataclass(frozen=True)
class SplitConfig:
    train: float = 0.7
    val: float = 0.15
    group_by: str = "video"  # "video" or "scene": the unit that never crosses splits
    seed: int = 0


def _bucket(group: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()
    return int(digest[:12], 16) / float(1 << 48)


def assign_splits(groups: list[str], config: SplitConfig, previous: dict[str, str] | None = None,
                  strata: dict[str, str] | None = None) -> dict[str, str]:
    """Sticky, hash-based assignment of whole groups to splits.

    A group keeps the split an earlier dataset version gave it, so a model evaluated on a later version's
    test split never saw that footage in training. New groups go by a seeded hash of their id. Small datasets
    get two repairs, moving new groups only: every stratum (scene) with two or more groups gets a test group,
    so per-scene metrics exist, and val and test are never empty when there are three groups or more.
    """
    previous = previous or {}
    strata = strata or {}
    assignment = {g: previous[g] for g in groups if g in previous}
    fresh = sorted((g for g in groups if g not in assignment), key=lambda g: -_bucket(g, config.seed))
    cut_train, cut_val = config.train, config.train + config.val
    for group in fresh:
        u = _bucket(group, config.seed)
        assignment[group] = "train" if u < cut_train else "val" if u < cut_val else "test"

    peers_of: dict[str, list[str]] = {}
    for group in groups:
        peers_of.setdefault(strata.get(group, ""), []).append(group)

    def sole_test_of_its_stratum(group: str) -> bool:
        """Strata of two or more groups keep a test group (a lone group may go anywhere)."""
        peers = peers_of[strata.get(group, "")]
        return assignment[group] == "test" and len(peers) >= 2 and sum(assignment[g] == "test" for g in peers) == 1

    def move_one(candidates: list[str], split: str) -> None:
        counts = pd.Series(assignment).value_counts()
        for group in candidates:
            if assignment[group] != split and counts.get(assignment[group], 0) > 1 and not sole_test_of_its_stratum(group):
                assignment[group] = split
                return

    members: dict[str, list[str]] = {}
    for group in fresh:
        members.setdefault(strata.get(group, ""), []).append(group)
    for stratum, stratum_groups in members.items():
        everyone = peers_of[stratum]
        if len(everyone) >= 2 and not any(assignment[g] == "test" for g in everyone):
            move_one(stratum_groups, "test")
    if len(groups) >= len(SPLITS):
        for split in ("train", "test", "val"):
            if split not in assignment.values():
                move_one(list(reversed(fresh)) if split == "train" else fresh, split)
    return assignment


def groups_crossing_splits(manifest: pd.DataFrame, column: str = "video_sha256") -> list[str]:
    """Groups whose frames sit in more than one split: must be empty for a usable dataset."""
    if manifest.empty:
        return []
    per_group = manifest.groupby(column)["split"].nunique()
    return sorted(per_group[per_group > 1].index.tolist())


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


def _group_column(group_by: str) -> str:
    """Videos split as groups: a video and its re-encodes (near-duplicates) share one, so they share a split."""
    return "split_group" if group_by == "video" else "scene"


def _with_split_group(frames: pd.DataFrame) -> pd.DataFrame:
    if "split_group" in frames and (frames["split_group"].fillna("") != "").all():
        return frames
    return frames.assign(split_group=frames["video_sha256"])


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


def export_yolo(manifest: pd.DataFrame, labels: pd.DataFrame, class_names: list[str], out_dir: Path) -> Path:
    """Ultralytics layout without copying JPEGs: images/<split>/ holds symlinks into the lake, labels/<split>/ the
    boxes, and <split>.txt lists the images. Ultralytics maps .../images/... to .../labels/... by path text."""
    class_index = {name: i for i, name in enumerate(class_names)}
    grouped = {key: group for key, group in labels.groupby(["video_sha256", "frame_index"])} if len(labels) else {}
    # A temporary name of its own, so a concurrent export of the same version cannot delete this one's files.
    tmp_dir = out_dir.with_name(f".{out_dir.name}.{uuid.uuid4().hex}.partial")
    lists: dict[str, list[str]] = {split: [] for split in SPLITS}
    for row in manifest.itertuples(index=False):
        image_link = tmp_dir / "images" / row.split / f"{row.sample_id}.jpg"
        label_file = tmp_dir / "labels" / row.split / f"{row.sample_id}.txt"
        image_link.parent.mkdir(parents=True, exist_ok=True)
        label_file.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(row.image_path, image_link)
        boxes = grouped.get((row.video_sha256, row.frame_index))
        label_file.write_text("" if boxes is None else "".join(yolo_lines(boxes, row.width, row.height, class_index)))
        lists[row.split].append(str(out_dir / "images" / row.split / f"{row.sample_id}.jpg"))
    for split, paths in lists.items():
        (tmp_dir / f"{split}.txt").write_text("".join(f"{p}\n" for p in paths))
    yaml_lines = [f"path: {out_dir}"] + [f"{split}: {split}.txt" for split in SPLITS] + ["names:"]
    yaml_lines += [f"  {i}: {name}" for i, name in enumerate(class_names)]
    (tmp_dir / "data.yaml").write_text("\n".join(yaml_lines) + "\n")
    try:
        os.rename(tmp_dir, out_dir)
    except OSError:
        if not out_dir.exists():
            raise
        shutil.rmtree(tmp_dir)  # the same content version was exported meanwhile
    return out_dir / "data.yaml"


def publish_dataset(lake: Lake, manifest: pd.DataFrame, labels: pd.DataFrame, class_names: list[str],
                    config: SplitConfig, version: str, provenance: dict) -> dict:
    """Write an immutable dataset version once; a rerun with the same content finds it and returns it.

    The record carries its own provenance (video bytes, label files, label versions), so a lineage audit
    never depends on tables that later runs overwrite.
    """
    base = f"datasets/{version}"
    if not lake.exists(f"{base}/dataset.json"):
        lake.write_table("dataset_manifest", manifest, {"version": version})
        lake.write_table("dataset_labels", labels, {"version": version})
        export_dir = lake.local_path(base, "yolo")
        if not export_dir.exists():
            export_yolo(manifest, labels, class_names, export_dir)
        record = {
            "version": version,
            "class_names": class_names,
            "split_config": config.__dict__,
            "data_yaml": str(export_dir / "data.yaml"),
            "manifest_path": lake.path(lake.table_relpath("dataset_manifest", {"version": version})),
            "labels_path": lake.path(lake.table_relpath("dataset_labels", {"version": version})),
            "counts": split_counts(manifest),
            "videos": sorted(manifest["video_sha256"].unique().tolist()),
            "label_versions": sorted(set(manifest["label_version"]) - {""}),
            **provenance,
        }
        lake.write_json(f"{base}/dataset.json", record)
    return lake.read_json(f"{base}/dataset.json")


def read_split_registry(lake: Lake, group_by: str) -> dict[str, str]:
    """Every group's split as first assigned by any dataset version: the memory that keeps splits sticky."""
    table = lake.read_table("split_registry", {"group_by": group_by})
    return {} if table is None else dict(zip(table["group"], table["split"]))


def record_splits(lake: Lake, group_by: str, manifest: pd.DataFrame, version: str) -> None:
    column = _group_column(group_by)
    manifest = _with_split_group(manifest)
    known = lake.read_table("split_registry", {"group_by": group_by})
    fresh = manifest.groupby(column)["split"].first().reset_index().rename(columns={column: "group"})
    fresh["first_version"] = version
    if known is not None:
        fresh = fresh[~fresh["group"].isin(known["group"])]
        fresh = pd.concat([known, fresh], ignore_index=True)
    lake.write_table("split_registry", fresh.sort_values("group").reset_index(drop=True), {"group_by": group_by})


def split_problems(manifest: pd.DataFrame, registry: dict[str, str], group_by: str) -> dict[str, list]:
    """What makes a version unusable: a group in two splits (now, or against an earlier version), an empty split."""
    manifest = _with_split_group(manifest)
    column = _group_column(group_by)
    crossing = groups_crossing_splits(manifest, column)
    crossing += [g for g in groups_crossing_splits(manifest, "video_sha256") if g not in crossing]
    current = manifest.groupby(column)["split"].first()
    moved = sorted(g for g, split in current.items() if registry.get(g, split) != split)
    empty = [split for split in SPLITS if not (manifest["split"] == split).any()]
    return {"groups_in_two_splits": crossing, "groups_moved_since_earlier_versions": moved, "empty_splits": empty}


def split_counts(manifest: pd.DataFrame) -> dict[str, dict[str, int]]:
    out = {}
    for split in SPLITS:
        part = manifest[manifest["split"] == split]
        out[split] = {"frames": int(len(part)), "boxes": int(part["n_boxes"].sum()),
                      "videos": int(part["video_sha256"].nunique()), "scenes": int(part["scene"].nunique())}
    return out


def _keys(df: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([df["video_sha256"], df["frame_index"]])


def gather_labelled_frames(lake: Lake, class_names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Frames and QC-passed boxes that may enter a dataset, read from the lake's own tables.

    Only partitions whose QC passed; only videos that were labelled at all (an unlabelled frame is unknown,
    not background); no frame that lost a box to QC or whose class left the taxonomy (its remaining labels
    are incomplete); a video that landed in two partitions counts once, in the first.
    """
    summaries = lake.read_tables("qc_summary")
    report: dict = {"partitions": 0, "excluded_partitions": [], "label_versions_considered": [], "label_files": []}
    if summaries.empty:
        return pd.DataFrame(columns=MANIFEST_COLUMNS), pd.DataFrame(), report
    passed = summaries["passed"].astype(bool)
    passing = summaries[passed]
    partitions = [{"scene": r.scene, "day": r.day} for r in passing.itertuples()]
    report.update(partitions=len(partitions),
                  excluded_partitions=summaries[~passed][["scene", "day", "pass_rate"]].to_dict("records"),
                  label_versions_considered=sorted(passing["label_version"].astype(str).unique().tolist()))
    frames = lake.read_tables("sampled_frames", partitions)
    kept = lake.read_tables("qc_annotations", partitions)
    rejected = lake.read_tables("qc_rejected", partitions)
    sources = lake.read_tables("label_sources", partitions)
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
    kept = _one_annotator_per_frame(kept)
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


def _one_annotator_per_frame(kept: pd.DataFrame) -> pd.DataFrame:
    """A frame labelled twice (for agreement) trains on one annotator's boxes, not both sets on top of each other."""
    if kept.empty or "annotator" not in kept:
        return kept
    first = kept.groupby(["video_sha256", "frame_index"])["annotator"].transform("min")
    return kept[kept["annotator"] == first]


def _near_duplicate_roots(lake: Lake, partitions: list[dict], videos: pd.Series) -> np.ndarray:
    """Each video's split group: the video it re-encodes (followed to the original), else itself."""
    table = lake.read_tables("raw_videos", partitions)
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

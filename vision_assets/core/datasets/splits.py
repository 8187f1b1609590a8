"""Splits by video (or scene): whole groups go to train, val or test, and keep their split in every later version."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd

from vision_assets.core.lake import Lake, keys

SPLITS = ("train", "val", "test")


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
    get three repairs, moving new groups only: every stratum (scene) with two or more groups gets a test group,
    so per-scene metrics exist; every stratum with three or more gets a val group, so model selection (best.pt,
    early stopping, sweeps) is not tuned to one camera; and val and test are never empty when there are three
    groups or more.
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

    def give_stratum_a_val_group(everyone: list[str], stratum_groups: list[str]) -> None:
        """Strata of three or more groups keep a val group, so model selection sees every camera, not one.
        It comes from the stratum's most populous split and never leaves a split of that stratum empty."""
        if len(everyone) < len(SPLITS) or any(assignment[g] == "val" for g in everyone):
            return
        counts = pd.Series([assignment[g] for g in everyone]).value_counts()
        for group in sorted(stratum_groups, key=lambda g: -counts.get(assignment[g], 0)):
            if counts.get(assignment[group], 0) > 1:
                assignment[group] = "val"
                return

    members: dict[str, list[str]] = {}
    for group in fresh:
        members.setdefault(strata.get(group, ""), []).append(group)
    for stratum, stratum_groups in members.items():
        everyone = peers_of[stratum]
        if len(everyone) >= 2 and not any(assignment[g] == "test" for g in everyone):
            move_one(stratum_groups, "test")
    for stratum, stratum_groups in members.items():
        give_stratum_a_val_group(peers_of[stratum], stratum_groups)
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


def _group_column(group_by: str) -> str:
    """Videos split as groups: a video and its re-encodes (near-duplicates) share one, so they share a split."""
    return "split_group" if group_by == "video" else "scene"


def _with_split_group(frames: pd.DataFrame) -> pd.DataFrame:
    if "split_group" in frames and (frames["split_group"].fillna("") != "").all():
        return frames
    return frames.assign(split_group=frames["video_sha256"])


def read_split_registry(lake: Lake, group_by: str) -> dict[str, str]:
    """Every group's split as first assigned by any dataset version: the memory that keeps splits sticky."""
    table = lake.read_table(keys.SPLIT_REGISTRY, {"group_by": group_by})
    return {} if table is None else dict(zip(table["group"], table["split"]))


def record_splits(lake: Lake, group_by: str, manifest: pd.DataFrame, version: str) -> None:
    column = _group_column(group_by)
    manifest = _with_split_group(manifest)
    known = lake.read_table(keys.SPLIT_REGISTRY, {"group_by": group_by})
    fresh = manifest.groupby(column)["split"].first().reset_index().rename(columns={column: "group"})
    fresh["first_version"] = version
    if known is not None:
        fresh = fresh[~fresh["group"].isin(known["group"])]
        fresh = pd.concat([known, fresh], ignore_index=True)
    lake.write_table(keys.SPLIT_REGISTRY, fresh.sort_values("group").reset_index(drop=True), {"group_by": group_by})


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

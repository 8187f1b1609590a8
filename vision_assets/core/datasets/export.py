"""A dataset version written once: its tables, its record, and the Ultralytics layout it trains from.

Everything in the export is relative to its own folder (image links, split lists, data.yaml), so the data folder
can move and the dataset still loads."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from vision_assets.core.datasets.splits import SPLITS, SplitConfig, split_counts
from vision_assets.core.labels.formats.yolo import yolo_lines
from vision_assets.core.lake import Lake, keys
from vision_assets.core.records import DatasetVersion


def export_yolo(manifest: pd.DataFrame, labels: pd.DataFrame, class_names: list[str], out_dir: Path,
                locate: Callable[[str], str] = str) -> Path:
    """Ultralytics layout without copying JPEGs: images/<split>/ holds relative symlinks into the lake,
    labels/<split>/ the boxes, and <split>.txt lists the images as ./images/... (Ultralytics reads "./" entries
    relative to the list and maps .../images/... to .../labels/... by path text). data.yaml names no root, so
    Ultralytics takes the yaml's own folder. `locate` turns a manifest's image key into a local file path."""
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
        # Relative to where the link will live after the rename, so the lake can move as a whole.
        os.symlink(os.path.relpath(locate(row.image_path), out_dir / "images" / row.split), image_link)
        boxes = grouped.get((row.video_sha256, row.frame_index))
        label_file.write_text("" if boxes is None else "".join(yolo_lines(boxes, row.width, row.height, class_index)))
        lists[row.split].append(f"./images/{row.split}/{row.sample_id}.jpg")
    for split, paths in lists.items():
        (tmp_dir / f"{split}.txt").write_text("".join(f"{p}\n" for p in paths))
    yaml_lines = [f"{split}: {split}.txt" for split in SPLITS] + ["names:"]
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
                    config: SplitConfig, version: str, provenance: dict) -> DatasetVersion:
    """Write an immutable dataset version once; a rerun with the same content finds it and returns it.

    The record carries its own provenance (video bytes, label files, label versions), so a lineage audit
    never depends on tables that later runs overwrite; it names lake objects by key (data_yaml, manifest_path,
    labels_path), resolved against whatever root the lake has when read.
    """
    record_key = keys.dataset_record_key(version)
    if not lake.exists(record_key):
        lake.write_table(keys.DATASET_MANIFEST, manifest, {"version": version})
        lake.write_table(keys.DATASET_LABELS, labels, {"version": version})
        if lake.is_local:  # an object store has no links: its export is built locally when training needs it
            export_dir = lake.local_path(keys.dataset_yolo_folder(version))
            if not export_dir.exists():
                export_yolo(manifest, labels, class_names, export_dir, locate=lake.resolve)
        record = {
            "version": version,
            "class_names": class_names,
            "split_config": config.__dict__,
            "data_yaml": f"{keys.dataset_yolo_folder(version)}/data.yaml",
            "manifest_path": keys.table_key(keys.DATASET_MANIFEST, {"version": version}),
            "labels_path": keys.table_key(keys.DATASET_LABELS, {"version": version}),
            "counts": split_counts(manifest),
            "videos": sorted(manifest["video_sha256"].unique().tolist()),
            "label_versions": sorted(set(manifest["label_version"]) - {""}),
            **provenance,
        }
        lake.write_json(record_key, record)
    return DatasetVersion.from_json(lake.read_json(record_key))


def local_data_yaml(lake: Lake, dataset: DatasetVersion, cache_dir: Path) -> Path:
    """The data.yaml Ultralytics trains and validates from: a view of the version under cache_dir (the work
    folder), never the version itself, because Ultralytics writes its label caches (labels/<split>.cache) beside
    the labels it reads, and a dataset version is immutable. On a local lake the view is folders of links to the
    version's own files; on an object store the same export built from the version's tables, its links pointing
    at cached frames (by content hash, so a second build downloads nothing)."""
    version = dataset.version
    view = cache_dir / keys.dataset_yolo_folder(version)
    if lake.is_local:
        return _linked_view(lake.local_path(dataset.data_yaml).parent, view)
    if not view.exists():
        manifest = lake.read_table(keys.DATASET_MANIFEST, {"version": version})
        labels = lake.read_table(keys.DATASET_LABELS, {"version": version})
        frames = cache_dir / "frames"
        export_yolo(manifest, labels, list(dataset.class_names), view,
                    locate=lambda key: str(lake.local_copy(key, frames)))
    return view / "data.yaml"


VIEW_SOURCE = ".source"  # the export a linked view was made from: a moved data folder gets a new view


def _linked_view(export: Path, view: Path) -> Path:
    """`view`: real folders mirroring `export`, every image and label a link into it, the small split lists and
    data.yaml copied (Ultralytics resolves the yaml's own folder, so that folder must be the view's). Built under
    a temporary name and renamed, once per version and lake location."""
    source = str(export.resolve())
    marker = view / VIEW_SOURCE
    if marker.exists() and marker.read_text() == source:
        return view / "data.yaml"
    tmp = view.with_name(f".{view.name}.{uuid.uuid4().hex}.partial")
    for path in sorted(export.rglob("*")):
        if path.is_dir() or path.suffix == ".cache":  # a cache some earlier tool left there is not the version's
            continue
        target = tmp / path.relative_to(export)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.parent == export:
            shutil.copyfile(path, target)
        else:
            os.symlink(path.resolve(), target)
    (tmp / VIEW_SOURCE).write_text(source)
    shutil.rmtree(view, ignore_errors=True)
    try:
        os.rename(tmp, view)
    except OSError:
        if not (view / VIEW_SOURCE).exists():
            raise
        shutil.rmtree(tmp)  # another process made the same view meanwhile
    return view / "data.yaml"

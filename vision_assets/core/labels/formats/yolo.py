"""YOLO: one txt per image with `class cx cy w h` lines normalised to the image size, plus a data yaml naming classes.

Accepted input: the dataset folder, its data yaml, or a single label txt. Labels are found through the yaml's
train/val/test entries (Ultralytics maps .../images/... to .../labels/...), else every txt under a `labels` folder,
else every txt in the folder. Paths in the yaml are taken relative to the yaml's own folder: an absolute path (from
the labeller's machine) is recorded as a file finding and re-rooted here by its trailing part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from vision_assets.core.geometry import xyxy_to_yolo, yolo_to_xyxy
from vision_assets.core.input_files import inside
from vision_assets.core.labels.formats.common import (
    BOX,
    AnnotationFormatError,
    attributes_text,
    class_list,
    empty_table,
    frame_file_name,
    frame_from_name,
    one_video,
    read_label_text,
    size_for,
    writing_order,
)
from vision_assets.core.labels.formats.image_size import IMAGE_SUFFIXES
from vision_assets.core.labels.formats.image_size import image_size as read_image_size

YAML_SUFFIXES = (".yaml", ".yml")
SPLIT_KEYS = ("train", "val", "test")
NAME_FILES = ("classes.txt", "obj.names")  # class lists of YOLO exports without a data yaml (CVAT, labelImg)
ABSOLUTE_PATH_FINDING = "absolute_path_in_data_yaml"
NO_CLASS_NAMES_FINDING = "no_class_names"
_WINDOWS_ABSOLUTE = re.compile(r"^[A-Za-z]:[\\/]")


@dataclass
class _Dataset:
    root: Path
    names: dict[int, str]
    label_files: list[Path]
    findings: list[str] = field(default_factory=list)


def read_yolo(path: Path, *, image_size: tuple[int, int] | None = None, data: Any = None,
              frames_count: int | None = None) -> pd.DataFrame:
    """Boxes of every label txt; `image_size` (all frames of a video share it) saves looking for the images.
    `data` is unused (only JSON is loaded ahead).

    Class ids the names do not cover stay as rows with class_name "" for QC to judge.
    """
    dataset = _open_dataset(Path(path))
    images = _ImageFinder()
    rows: list[dict] = []
    for txt in dataset.label_files:
        image = images.find(txt)
        size = image_size
        if size is None:
            size = read_image_size(image) if image is not None else None
            if size is None:
                raise AnnotationFormatError(
                    f"{txt}: no readable image beside it to take the size from; pass image_size=(width, height)"
                )
        rows += _file_rows(txt, dataset, size, "" if image is None else image.name)
    findings = ";".join(dataset.findings)
    if not rows:
        return empty_table().assign(source_format="yolo")
    return pd.DataFrame(rows).assign(source_format="yolo", file_findings=findings)


def _open_dataset(path: Path) -> _Dataset:
    if path.is_dir():
        yaml_path, root = _find_yaml(path), path
    elif path.suffix.lower() in YAML_SUFFIXES:
        yaml_path, root = path, path.parent
    else:  # one label txt: its dataset root is the nearest folder above with a data yaml
        yaml_path = next((y for d in list(path.parents)[:3] if (y := _find_yaml(d))), None)
        root = yaml_path.parent if yaml_path else path.parent
    config = _load_yaml(yaml_path) if yaml_path else {}
    names = _yaml_names(yaml_path, config) if "names" in config else _names_file(root)
    # A label file given by name is read alone, whatever its suffix: never the rest of its folder.
    dataset = _Dataset(root, names or {}, [path] if path.is_file() and path.suffix.lower() not in YAML_SUFFIXES else [])
    if _has_absolute_path(config):
        dataset.findings.append(ABSOLUTE_PATH_FINDING)
    if not names:
        dataset.findings.append(NO_CLASS_NAMES_FINDING)
    if not dataset.label_files:
        dataset.label_files = _label_files(root, config)
        outside = [t for t in dataset.label_files if not inside(t, root)]
        if outside:
            raise AnnotationFormatError(f"{yaml_path or root}: its label paths resolve outside the dataset folder "
                                        f"{root.name}/ ({len(outside)} file(s)); only files inside it are read")
    return dataset


def _find_yaml(folder: Path) -> Path | None:
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in YAML_SUFFIXES and p.is_file())
    # data.yaml is Ultralytics' name; any other single yaml is taken too.
    return next((p for p in found if p.stem == "data"), found[0] if found else None)


def _load_yaml(path: Path) -> dict:
    try:
        config = yaml.safe_load(read_label_text(path))
    except RecursionError:
        raise AnnotationFormatError(f"{path}: YAML nested too deeply to be a data yaml") from None
    except yaml.YAMLError as exc:
        raise AnnotationFormatError(f"{path}: not a readable YAML file ({exc})") from exc
    if not isinstance(config, dict):
        raise AnnotationFormatError(f"{path}: a YOLO data yaml is a mapping (names, train, val, ...)")
    return config


def _yaml_names(path: Path, config: dict) -> dict[int, str]:
    names = config["names"]
    if isinstance(names, list):
        return {i: str(n) for i, n in enumerate(names)}
    if isinstance(names, dict):
        try:
            return {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError) as exc:
            raise AnnotationFormatError(f"{path}: 'names' keys must be class ids ({exc})") from exc
    raise AnnotationFormatError(f"{path}: 'names' must be a list or an id -> name mapping, got {type(names).__name__}")


def _names_file(root: Path) -> dict[int, str]:
    for name in NAME_FILES:
        if (root / name).is_file():
            lines = [line.strip() for line in read_label_text(root / name).splitlines()]
            return {i: n for i, n in enumerate(line for line in lines if line)}
    return {}


def _yaml_paths(config: dict) -> list[str]:
    values = [config.get(key) for key in ("path", *SPLIT_KEYS)]
    return [v for value in values for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]


def _has_absolute_path(config: dict) -> bool:
    return any(_is_absolute(p) for p in _yaml_paths(config))


def _label_files(root: Path, config: dict) -> list[Path]:
    base = root
    if isinstance(config.get("path"), str) and not _is_absolute(config["path"]) and (root / config["path"]).is_dir():
        base = root / config["path"]
        if not inside(base, root):  # `path: ../../..` would read, and keep no bytes of, labels from elsewhere
            raise AnnotationFormatError(f"data yaml of {root.name}/: 'path' {config['path']!r} resolves outside "
                                        "the dataset folder")
    dirs: list[Path] = []
    for key in SPLIT_KEYS:
        entries = config.get(key)
        for entry in entries if isinstance(entries, list) else [entries]:
            found = _split_labels_dir(base, entry) if isinstance(entry, str) else None
            if found is not None and found not in dirs:
                dirs.append(found)
    if dirs:
        return sorted({txt for d in dirs for txt in d.rglob("*.txt")})
    txts = sorted(p for p in root.rglob("*.txt") if p.name not in NAME_FILES)
    in_labels = [t for t in txts if "labels" in t.relative_to(root).parts[:-1]]
    # Ultralytics image lists (train.txt beside the yaml) are not label files.
    return in_labels or [t for t in txts if not (t.parent == root and t.stem in SPLIT_KEYS)]


def _is_absolute(entry: str) -> bool:
    return Path(entry).is_absolute() or bool(_WINDOWS_ABSOLUTE.match(entry))


def _split_labels_dir(base: Path, entry: str) -> Path | None:
    parts = Path(entry.replace("\\", "/")).parts
    if _is_absolute(entry):
        # Another machine's path: try its trailing parts under this dataset, longest first.
        candidates = [base.joinpath(*parts[i:]) for i in range(1, len(parts))]
    else:
        candidates = [base / entry]
    for images_dir in candidates:
        labels_dir = _labels_dir_for(images_dir)
        if labels_dir is not None:
            return labels_dir
    return None


def _labels_dir_for(images_dir: Path) -> Path | None:
    parts = images_dir.parts
    if "images" in parts:
        i = len(parts) - 1 - parts[::-1].index("images")
        labels_dir = Path(*parts[:i], "labels", *parts[i + 1:])
        if labels_dir.is_dir():
            return labels_dir
    if images_dir.is_dir() and any(images_dir.glob("*.txt")):
        return images_dir  # labels kept beside the images
    return None


class _ImageFinder:
    """The image a label txt belongs to: same stem in the matching images folder, or beside the txt."""

    def __init__(self) -> None:
        self._listings: dict[Path, dict[str, Path]] = {}

    def find(self, txt: Path) -> Path | None:
        parts = txt.parent.parts
        folders = [txt.parent]
        if "labels" in parts:
            i = len(parts) - 1 - parts[::-1].index("labels")
            folders.insert(0, Path(*parts[:i], "images", *parts[i + 1:]))
        for folder in folders:
            image = self._listing(folder).get(txt.stem)
            if image is not None:
                return image
        return None

    def _listing(self, folder: Path) -> dict[str, Path]:
        if folder not in self._listings:
            files = sorted(folder.iterdir()) if folder.is_dir() else []
            self._listings[folder] = {p.stem: p for p in files if p.suffix.lower() in IMAGE_SUFFIXES}
        return self._listings[folder]


def _file_rows(txt: Path, dataset: _Dataset, size: tuple[int, int], image_name: str) -> list[dict]:
    width, height = float(size[0]), float(size[1])
    relative = txt.relative_to(dataset.root).as_posix()
    frame = frame_from_name(txt.name)
    lines = read_label_text(txt).splitlines()
    rows = []
    for line_no, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        try:
            values = [float(v) for v in fields]
        except ValueError:
            values = []
        if not values or values[0] % 1 or (len(values) not in (5, 6) and (len(values) < 7 or len(values) % 2 == 0)):
            raise AnnotationFormatError(
                f"{txt}: line {line_no}: expected 'class cx cy w h' (integer class, normalised numbers) or a "
                f"'class x y x y ...' polygon, got {len(fields)} field(s) that are not that"
            )
        class_id, attrs = int(values[0]), {}
        if len(values) in (5, 6):
            cx, cy, w, h = values[1:5]
            x1, y1, x2, y2 = yolo_to_xyxy(cx, cy, w, h, width, height)
            if len(values) == 6:
                attrs["confidence"] = values[5]  # prediction files carry a score
        else:
            xs, ys = values[1::2], values[2::2]
            x1, y1, x2, y2 = min(xs) * width, min(ys) * height, max(xs) * width, max(ys) * height
            attrs["polygon"] = True
        rows.append({
            # A txt named without a frame number gets frame -1, which QC rejects as out of range.
            "frame_index": -1 if frame is None else frame,
            "class_name": dataset.names.get(class_id, ""),
            "x1": x1, "y1": y1, "x2": x2, "y2": y2,
            "attributes": attributes_text(attrs),
            "source_file": f"{dataset.root.name}/{relative}",
            "source_id": f"{relative}:{line_no}",
            "image_name": image_name,
            "class_id": class_id,
        })
    return rows


def yolo_lines(boxes: pd.DataFrame, width: float, height: float, class_index: dict[str, int]) -> list[str]:
    """One `class cx cy w h` line (newline included) per row: the pixel box normalised to width x height, the class
    id from class_index."""
    cx, cy, w, h = (v.tolist() for v in xyxy_to_yolo(*(boxes[c] for c in BOX), width, height))
    class_id = boxes["class_name"].map(class_index).tolist()
    return [f"{c} {a:.6f} {b:.6f} {d:.6f} {e:.6f}\n" for c, a, b, d, e in zip(class_id, cx, cy, w, h)]


def write_yolo(
    df: pd.DataFrame, dest: Path, *, class_names: list[str] | None = None, image_size: tuple[int, int] | None = None
) -> Path:
    """dest/labels/<frame stem>.txt per frame and dest/data.yaml (relative paths, ids 0..N-1 in class_names order).

    Frame images belong in dest/images/ under the same stems. YOLO has no tracks: track ids are not written.
    """
    one_video(df, "YOLO")
    rows = writing_order(df)
    names = class_list(rows, class_names, "YOLO")
    width, height = size_for(image_size, rows["video_sha256"].iloc[0] if len(rows) else "", "YOLO")
    lines = yolo_lines(rows, width, height, {name: i for i, name in enumerate(names)})
    dest = Path(dest)
    (dest / "labels").mkdir(parents=True, exist_ok=True)
    # Rows are sorted by frame, so each frame's lines are one consecutive run.
    frame_rows = groupby(zip(rows["frame_index"].tolist(), rows["image_name"].tolist(), lines), key=itemgetter(0))
    for frame, run in frame_rows:
        run = list(run)
        stem = Path(frame_file_name(run[0][1], frame)).stem
        (dest / "labels" / f"{stem}.txt").write_text("".join(line for _, _, line in run))
    config = {"train": "images", "val": "images", "nc": len(names), "names": dict(enumerate(names))}
    header = "# Paths are relative to this file's folder; frame images go in images/ under their label's stem.\n"
    (dest / "data.yaml").write_text(header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return dest

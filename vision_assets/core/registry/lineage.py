"""Lineage: which exact bytes made a registered model version, walked from the registry to every frame, video and
label file, verifiable against the lake; and the reverse, everything that derives from one video."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import pandas as pd

from vision_assets.core.errors import VisionError
from vision_assets.core.lake import Lake, keys, sha256_file
from vision_assets.core.registry.forgotten import forget_record
from vision_assets.core.registry.mlflow_registry import ModelRegistry


class LineageMismatch(VisionError, ValueError):
    """A lake object whose bytes no longer hash to what the lineage records: names the object."""


def model_lineage(registry: ModelRegistry, lake: Lake, model_name: str, version: str | None = None) -> dict | None:
    """lineage_report for `version` of the model, or for its champion; None when there is no champion."""
    found = registry.get_version(model_name, version) if version else registry.champion(model_name)
    if found is None:
        return None
    # The dataset version's own immutable record, not the tables later runs may have rewritten.
    dataset = lake.read_json(keys.dataset_record_key(found.tags["dataset_version"]))
    return lineage_report(model_name, found, dataset)


def lineage_report(model_name: str, version, dataset: dict) -> dict:
    """The model version (an MLflow ModelVersion) and what its dataset record says it was made from."""
    return {
        "model": {"name": model_name, "version": str(version.version), "mlflow_run_id": version.run_id,
                  "tags": dict(version.tags)},
        "dataset": {k: dataset.get(k) for k in ("version", "counts", "label_versions", "split_config")},
        # Records written before per-video sources were kept list the digests only.
        "videos": dataset.get("video_sources", [{"video_sha256": v} for v in dataset["videos"]]),
        "label_files": dataset.get("label_files", []),
    }


def full_lineage(registry: ModelRegistry, lake: Lake, model_name: str, version) -> dict:
    """Registry version -> checkpoint bytes -> training record -> dataset manifest -> every frame (with the sampling
    strategy and parameters that made it) -> every source video -> label files and versions -> QC per partition.
    Every object is named by lake key with the sha256 it must hash to."""
    tags = dict(version.tags)
    sha = tags.get("checkpoint_sha256", "")
    dataset = lake.read_json(keys.dataset_record_key(tags["dataset_version"]))
    manifest = lake.read_table(keys.DATASET_MANIFEST, {"version": dataset["version"]})
    manifest = manifest if manifest is not None else pd.DataFrame(columns=["frame_sha256", "video_sha256", "scene", "day"])
    training = _training_record(lake, tags, sha)
    partitions = manifest[["scene", "day"]].drop_duplicates().to_dict("records") if len(manifest) else []
    sampled = lake.read_tables(keys.SAMPLED_FRAMES, partitions)
    sampling = {}
    if len(sampled):
        for row in sampled.drop_duplicates("frame_sha256").itertuples():
            sampling[row.frame_sha256] = (row.strategy, row.params)
    frames = []
    for row in manifest.itertuples():
        strategy, params = sampling.get(row.frame_sha256, ("", "{}"))
        frames.append({"sample_id": row.sample_id, "key": row.image_path, "sha256": row.frame_sha256,
                       "video_sha256": row.video_sha256, "frame_index": int(row.frame_index), "split": row.split,
                       "label_version": row.label_version, "strategy": strategy, "params": json.loads(params or "{}")})
    raw = lake.read_tables(keys.RAW_VIDEOS, partitions)
    stored = dict(zip(raw["video_sha256"], raw["stored_path"])) if len(raw) else {}
    videos = [{**source, "key": stored.get(source["video_sha256"], ""), "sha256": source["video_sha256"]}
              for source in dataset.get("video_sources", [{"video_sha256": v} for v in dataset["videos"]])]
    labels = [{**f, "key": f.get("stored_path", ""), "sha256": f.get("label_file_sha256", ""),
               "source_file": f.get("source_file", ""), "format": f.get("format", ""),
               "video_sha256": f.get("video_sha256", "")} for f in dataset.get("label_files", [])]
    qc = lake.read_tables(keys.QC_SUMMARY, partitions)
    qc_rows = qc[[c for c in ("scene", "day", "passed", "pass_rate", "kept", "rejected", "label_version")
                  if c in qc]].to_dict("records") if len(qc) else []
    return {
        "model": {"name": version.name, "version": str(version.version), "mlflow_run_id": version.run_id,
                  "tags": tags},
        "checkpoint": {"key": keys.blob_key(keys.CHECKPOINT_BLOBS, sha, ".pt") if sha else "", "sha256": sha},
        "training": training,
        "dataset": {"version": dataset["version"], "record": keys.dataset_record_key(dataset["version"]),
                    "manifest": dataset.get("manifest_path"), "labels": dataset.get("labels_path"),
                    "label_versions": dataset.get("label_versions", []), "counts": dataset.get("counts")},
        "frames": frames,
        "videos": videos,
        "label_files": labels,
        "qc": [{k: (bool(v) if k == "passed" else v) for k, v in row.items()} for row in qc_rows],
        # The forget records of the videos this version was made from: why part of its lineage is gone.
        "forgotten": [r for r in (forget_record(lake, v["sha256"]) for v in videos) if r],
    }


def _training_record(lake: Lake, tags: dict, sha: str) -> dict:
    key = tags.get("checkpoint_record", "")
    if not key:  # versions registered before the tag: find the record that names the checkpoint
        for path in lake.fs.glob(lake.path("checkpoints", "*.json")):
            candidate = f"checkpoints/{path.rsplit('/', 1)[-1]}"
            if lake.read_json(candidate).get("checkpoint_sha256") == sha:
                key = candidate
                break
    if not key or not lake.exists(key):
        return {"record": key, "found": False}
    record = lake.read_json(key)
    return {"record": key, "found": True, **{k: record.get(k) for k in
                                            ("fingerprint", "dataset_version", "mlflow_run_id", "git_commit",
                                             "code_version", "config", "device", "epochs")}}


def verify_lineage(lake: Lake, lineage: dict) -> dict:
    """Recompute every hash the lineage names from the lake's bytes; LineageMismatch on the first that differs or
    is missing, naming it. Returns how many objects of each kind were verified."""
    counts = {"checkpoint": 0, "frames": 0, "videos": 0, "label_files": 0, "dataset": 0}
    objects = [("checkpoint", lineage["checkpoint"])] if lineage["checkpoint"]["sha256"] else []
    objects += [("frame", f) for f in lineage["frames"]]
    objects += [("video", v) for v in lineage["videos"]]
    objects += [("label file", f) for f in lineage["label_files"]]
    plural = {"checkpoint": "checkpoint", "frame": "frames", "video": "videos", "label file": "label_files"}
    for kind, item in objects:
        key = item.get("key", "")
        if not key or not lake.exists(key):
            raise LineageMismatch(f"{kind} {key or item['sha256'][:16]}: missing from the lake")
        digest = _sha256(lake, key)
        if digest != item["sha256"]:
            raise LineageMismatch(f"{kind} {key}: sha256 {digest} != recorded {item['sha256']}")
        if kind == "label file" and key.endswith(".tree.json"):
            for name, entry in lake.read_json(key).items():
                entry_key = keys.blob_key(keys.LABEL_BLOBS, entry, PurePosixPath(name).suffix.lower())
                if not lake.exists(entry_key) or _sha256(lake, entry_key) != entry:
                    raise LineageMismatch(f"label file {entry_key} ({name} of {key}): sha256 differs from its tree")
        counts[plural[kind]] += 1
    _verify_dataset_version(lake, lineage)
    counts["dataset"] = 1
    return counts


def _verify_dataset_version(lake: Lake, lineage: dict) -> None:
    """The dataset version is the content hash of its manifest and boxes: recomputed from the lake's tables."""
    from vision_assets.core.datasets.build import dataset_version
    from vision_assets.core.datasets.splits import SplitConfig

    version = lineage["dataset"]["version"]
    record = lake.read_json(keys.dataset_record_key(version))
    manifest = lake.read_table(keys.DATASET_MANIFEST, {"version": version})
    labels = lake.read_table(keys.DATASET_LABELS, {"version": version})
    if manifest is None:
        raise LineageMismatch(f"dataset {lineage['dataset']['manifest']}: missing from the lake")
    again = dataset_version(manifest, labels if labels is not None else pd.DataFrame(), record["class_names"],
                            SplitConfig(**record["split_config"]))
    if again != version:
        raise LineageMismatch(f"dataset {lineage['dataset']['manifest']}: its content hashes to {again}, not {version}")
    strays = stray_files(lake, version, manifest)
    if strays:
        more = f" (and {len(strays) - 1} more)" if len(strays) > 1 else ""
        raise LineageMismatch(f"{strays[0]}: in dataset version {version} but not written by it{more}; a version is "
                              "immutable (tools keep their caches in VISION_WORK_DIR)")


def stray_files(lake: Lake, version: str, manifest: pd.DataFrame) -> list[str]:
    """Lake keys under the version's folder that the version did not write: anything but its record, its
    Ultralytics export (data.yaml, the split lists, an image link and a label file per manifest row) and the
    marker `forget` leaves on a version that used a forgotten video."""
    from vision_assets.core.datasets.splits import SPLITS
    from vision_assets.core.registry.forget import tainted_marker_key  # forget walks lineage: imported when used

    folder, export = keys.dataset_folder(version), keys.dataset_yolo_folder(version)
    expected = {keys.dataset_record_key(version), tainted_marker_key(version), f"{export}/data.yaml",
                *(f"{export}/{s}.txt" for s in SPLITS)}
    for split, sample in zip(manifest["split"], manifest["sample_id"]):
        expected |= {f"{export}/images/{split}/{sample}.jpg", f"{export}/labels/{split}/{sample}.txt"}
    base = lake.path("")
    found = [path[len(base):].lstrip("/") for path in lake.fs.find(lake.path(folder))]
    return sorted(key for key in found if key not in expected)


def _sha256(lake: Lake, key: str) -> str:
    if lake.is_local:
        return sha256_file(lake.local_path(key))
    import hashlib

    digest = hashlib.sha256()
    with lake.fs.open(lake.path(key), "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def video_lineage(registry: ModelRegistry, lake: Lake, model_name: str, video: str) -> dict:
    """Everything that derives from one video (by sha256, a prefix of it, or its file name): partitions, frame
    sets, dataset versions, checkpoints and model versions."""
    raw = lake.read_tables(keys.RAW_VIDEOS)
    if raw.empty:
        raise LookupError(f"no video {video!r}: the lake holds no videos")
    hits = raw[(raw["video_sha256"].astype(str).str.startswith(video.lower())) | (raw["source_name"] == video)
               | (raw["source_path"].astype(str) == video)] if len(video) >= 6 or "." in video else raw.iloc[0:0]
    shas = sorted(set(hits["video_sha256"]) - {""})
    if not shas:
        raise LookupError(f"no video {video!r} in the lake (give a sha256, a prefix of 6+ characters, or a file name)")
    if len(shas) > 1:
        raise LookupError(f"{video!r} names {len(shas)} videos: {', '.join(s[:16] for s in shas)}; give the sha256")
    sha = shas[0]
    rows = raw[raw["video_sha256"] == sha]
    partitions = rows[["scene", "day"]].drop_duplicates().to_dict("records")
    frames = lake.read_tables(keys.SAMPLED_FRAMES, partitions)
    frames = frames[frames["video_sha256"] == sha] if len(frames) else frames
    datasets = [v for v in _dataset_versions(lake) if sha in v.get("videos", [])]
    versions = {d["version"] for d in datasets}
    checkpoints = []
    for path in sorted(lake.fs.glob(lake.path("checkpoints", "*.json"))):
        record = lake.read_json(f"checkpoints/{path.rsplit('/', 1)[-1]}")
        if record.get("dataset_version") in versions:
            checkpoints.append({"record": f"checkpoints/{path.rsplit('/', 1)[-1]}",
                                "checkpoint_sha256": record.get("checkpoint_sha256"),
                                "dataset_version": record.get("dataset_version")})
    models = [{"name": model_name, "version": str(v.version), "dataset_version": v.tags.get("dataset_version"),
               "tainted": v.tags.get("tainted", "")}
              for v in registry.all_versions(model_name) if v.tags.get("dataset_version") in versions]
    return {
        "video": {"sha256": sha, "source_names": sorted(set(rows["source_name"])),
                  "keys": sorted(set(rows["stored_path"].astype(str)) - {""})},
        "partitions": partitions,
        "frames": {"count": int(len(frames)), "keys": sorted(frames["image_path"]) if len(frames) else []},
        "dataset_versions": sorted(versions),
        "checkpoints": checkpoints,
        "model_versions": sorted(models, key=lambda m: int(m["version"])),
    }


def _dataset_versions(lake: Lake) -> list[dict]:
    found = []
    for path in sorted(lake.fs.glob(lake.path("datasets", "*", "dataset.json"))):
        version = path.rsplit("/", 2)[-2]
        found.append(lake.read_json(keys.dataset_record_key(version)))
    return found

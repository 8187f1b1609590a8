"""The deployable package of a model version: an MLflow pyfunc Model (signature, input example, inference config)
with the PyTorch weights and an ONNX export checked against them, and a sha256 manifest of every file that a
download verifies before anything is used."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision_assets.core.errors import VisionError
from vision_assets.core.lake import sha256_file

PACKAGE_ARTIFACT = "model"  # the run's artifact folder the registered version points at
MANIFEST = "manifest.sha256.json"
MANIFEST_TAG = "package_manifest_sha256"
# ONNX Runtime against PyTorch on the same letterboxed input: raw head outputs, in input pixels and in scores.
BOX_TOLERANCE_PX = 0.05
SCORE_TOLERANCE = 1e-3


class PackageIncomplete(VisionError, RuntimeError):
    """The environment lacks a package the deployable package needs: its requirements would not run."""


class OnnxParityError(VisionError, ValueError):
    """The ONNX export does not reproduce the PyTorch model within tolerance: the version is not registered."""


class PackageTampered(VisionError, ValueError):
    """Downloaded bytes differ from the manifest recorded when the version was registered."""


# What the pyfunc serves with: the evaluation's operating point (Evaluation.inference_config), carried as it is.
SERVED_KEYS = ("imgsz", "conf", "iou", "max_det", "class_names")
# What the package needs to load and run, the pyfunc and the ONNX export both: pinned to this environment's versions.
REQUIREMENTS = ("mlflow", "ultralytics", "torch", "torchvision", "opencv-python", "onnx", "onnxruntime", "pandas",
                "numpy")
INFERENCE_CONFIG = "inference_config.json"


@dataclass(frozen=True)
class Package:
    path: Path  # the package folder (an MLflow Model)
    manifest_sha256: str
    parity: dict  # ONNX Runtime against PyTorch on sample images
    inference_config: dict  # what the pyfunc serves with


def build_package(weights: Path, inference_config: dict, sample_images: list[Path], out_dir: Path) -> Package:
    """The package folder (out_dir/model): the pyfunc serving `inference_config` (the evaluation's operating
    point), the ONNX export with its parity on sample_images, and the manifest."""
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    missing = [key for key in SERVED_KEYS if key not in inference_config]
    if missing:
        raise ValueError(f"inference config lacks {', '.join(missing)}: the package serves the evaluation's own")
    config = dict(inference_config)

    build = out_dir / f".build-{uuid.uuid4().hex[:8]}"
    build.mkdir(parents=True)
    try:
        local_weights = build / "best.pt"
        shutil.copyfile(weights, local_weights)
        onnx_path = export_onnx(local_weights, int(config["imgsz"]))
        parity = onnx_parity(local_weights, onnx_path, sample_images, int(config["imgsz"]))
        if not parity["within_tolerance"]:
            raise OnnxParityError(object="ONNX export", problem=f"differs from the PyTorch model beyond tolerance: {parity}")
        signature = ModelSignature(
            inputs=Schema([ColSpec("string", "image")]),
            outputs=Schema([ColSpec("long", "image_index"), ColSpec("string", "class_name"), ColSpec("double", "score"),
                            *[ColSpec("double", c) for c in ("x1", "y1", "x2", "y2")]]))
        example = _input_example(sample_images[:1])
        target = out_dir / PACKAGE_ARTIFACT
        if target.exists():
            shutil.rmtree(target)
        mlflow.pyfunc.save_model(
            path=str(target), python_model=str(Path(__file__).with_name("detector_model.py")),
            artifacts={"weights": str(local_weights), "onnx": str(onnx_path)}, model_config=config,
            signature=signature, input_example=example, pip_requirements=_requirements())
        (target / INFERENCE_CONFIG).write_text(json.dumps(config, indent=1, sort_keys=True))
        (target / "onnx_parity.json").write_text(json.dumps(parity, indent=1, sort_keys=True))
        digest = write_manifest(target)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return Package(path=target, manifest_sha256=digest, parity=parity, inference_config=config)


def export_onnx(weights: Path, imgsz: int) -> Path:
    """Ultralytics' ONNX export (onnx is a pinned dependency: nothing is installed at run time)."""
    from ultralytics import YOLO

    exported = YOLO(str(weights)).export(format="onnx", imgsz=imgsz, simplify=False, dynamic=False, verbose=False)
    return Path(exported)


def onnx_parity(weights: Path, onnx_path: Path, images: list[Path], imgsz: int) -> dict:
    """Raw detection-head outputs of ONNX Runtime and PyTorch on the same letterboxed images: largest box
    coordinate difference (pixels) and largest class score difference."""
    import cv2
    import onnxruntime
    import torch
    from ultralytics import YOLO
    from ultralytics.data.augment import LetterBox

    model = YOLO(str(weights)).model.float().eval()
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    letterbox = LetterBox(new_shape=(imgsz, imgsz), auto=False, stride=32)
    box_diff = score_diff = 0.0
    for path in images:
        image = letterbox(image=cv2.imread(str(path)))
        tensor = np.ascontiguousarray(image[..., ::-1].transpose(2, 0, 1))[None].astype(np.float32) / 255.0
        with torch.no_grad():
            ours = model(torch.from_numpy(tensor))
        ours = (ours[0] if isinstance(ours, list | tuple) else ours).numpy()
        theirs = session.run(None, {input_name: tensor})[0]
        box_diff = max(box_diff, float(np.abs(ours[:, :4] - theirs[:, :4]).max()))
        score_diff = max(score_diff, float(np.abs(ours[:, 4:] - theirs[:, 4:]).max()))
    return {"images": len(images), "max_box_diff_px": box_diff, "max_score_diff": score_diff,
            "box_tolerance_px": BOX_TOLERANCE_PX, "score_tolerance": SCORE_TOLERANCE,
            "within_tolerance": bool(images) and box_diff <= BOX_TOLERANCE_PX and score_diff <= SCORE_TOLERANCE}


def write_manifest(folder: Path) -> str:
    """{relative path: sha256} of every file in the package, written into it; returns the manifest's own sha256
    (recorded on the registry version, so a rewritten manifest is caught too)."""
    entries = {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*"))
               if p.is_file() and p.name != MANIFEST}
    data = json.dumps(entries, indent=1, sort_keys=True).encode()
    (folder / MANIFEST).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def verify_package(folder: Path, expected_manifest_sha256: str) -> dict:
    """The manifest, after checking it against the registry's digest and every file against it; PackageTampered
    names the first file that differs, is missing or is not listed."""
    manifest_file = folder / MANIFEST
    if not manifest_file.is_file():
        raise PackageTampered(f"{folder.name}: no {MANIFEST} in the package")
    data = manifest_file.read_bytes()
    if hashlib.sha256(data).hexdigest() != expected_manifest_sha256:
        raise PackageTampered(f"{MANIFEST}: its sha256 is not the one recorded on the registry version")
    entries = json.loads(data)
    present = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST}
    for name in sorted(present - set(entries)):
        raise PackageTampered(f"{name}: in the package but not in its manifest")
    for name, digest in sorted(entries.items()):
        path = folder / name
        if not path.is_file():
            raise PackageTampered(f"{name}: listed in the manifest but missing")
        if sha256_file(path) != digest:
            raise PackageTampered(f"{name}: sha256 {sha256_file(path)[:16]}... differs from the manifest's {digest[:16]}...")
    return entries


def _input_example(images: list[Path]):
    import pandas as pd

    return pd.DataFrame({"image": [base64.b64encode(Path(p).read_bytes()).decode() for p in images]})


def _requirements() -> list[str]:
    """Every package REQUIREMENTS names, pinned to the version installed here (the one the parity check ran on)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for name in REQUIREMENTS:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            raise PackageIncomplete(f"{name}: not installed here, so the package could not name the version it "
                                    "was checked with") from None
    return pins



def log_package(registry, run_id: str, folder: Path) -> None:
    registry.client.log_artifacts(run_id, str(folder), PACKAGE_ARTIFACT)


def resolve_version(registry, name: str, ref: str | None):
    """A model version from `None` (the champion), an alias or a version number; RegistryError when unknown."""
    from vision_assets.core.registry.mlflow_registry import CHAMPION, RegistryError

    ref = ref or CHAMPION
    if str(ref).isdigit():
        return registry.get_version(name, ref)
    found = registry.by_alias(name, ref)
    if found is None:
        raise RegistryError(f"model {name} has no alias @{ref}" + ("" if registry.versions(name)
                                                                    else " (it has no versions yet)"))
    return found


def pull_package(registry, name: str, ref: str | None, out: Path, work_dir: Path) -> dict:
    """Download the version's package into `out` after verifying every byte against its manifest; a tampered
    package never reaches `out`."""
    version = resolve_version(registry, name, ref)
    expected = version.tags.get(MANIFEST_TAG)
    if not expected:
        raise PackageTampered(f"{name} v{version.version} was registered without a package manifest: nothing to "
                              "verify it against")
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: not empty; pull into a new or empty folder")
    staging = work_dir / f".pull-{uuid.uuid4().hex[:8]}"
    try:
        fetched = registry.download(name, str(version.version), staging)
        entries = verify_package(fetched, expected)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():
            out.rmdir()
        shutil.move(str(fetched), str(out))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"name": name, "version": str(version.version), "files": len(entries), "manifest_sha256": expected,
            "out": str(out)}

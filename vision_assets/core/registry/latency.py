"""The registered package's inference time per image, measured once at registration on real test frames.

Both flavours of the package serve the way a deployment would: the pyfunc (`mlflow.pyfunc.load_model` of the
package folder, base64 JPEGs in, detections out) and the ONNX export (JPEG decoded, letterboxed, ONNX Runtime,
NMS at the package's own conf/iou/max_det). Each at batch 1 and at the configured batch (per-image time = one
call's time / images in it). A bounded number of warm-up calls, then timed calls: p50 and p95 per image, in ms.

The ONNX export has a fixed batch of 1 (build_package exports it static), so a batch of N is N session runs in
one call: what that export costs per image when a server hands it N frames at once.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vision_assets.core.errors import InvalidInput, InvalidOption

FLAVOURS = ("pyfunc", "onnx")
MODES = ("batch1", "batched")  # batch 1, and the configured batch
WARMUP = 2
ITERATIONS = {"batch1": 10, "batched": 4}  # timed calls: bounded so registration stays cheap
TAG_PREFIX = "latency"


def tag_name(flavour: str, mode: str, stat: str) -> str:
    """e.g. latency_onnx_batched_p95_ms."""
    return f"{TAG_PREFIX}_{flavour}_{mode}_{stat}_ms"


@dataclass(frozen=True)
class PackageLatency:
    device: str  # where it was measured: the device the version was evaluated on
    batch: int  # the configured batch ("batched")
    images: int  # distinct test frames the calls cycled through
    ms: dict = field(default_factory=dict)  # {flavour: {mode: {"p50": ms, "p95": ms}}}
    iterations: dict = field(default_factory=lambda: dict(ITERATIONS))
    warmup: int = WARMUP
    onnx_provider: str = ""

    def tags(self) -> dict[str, str]:
        """The model version's tags (MLflow tags are text)."""
        out = {f"{TAG_PREFIX}_device": self.device, f"{TAG_PREFIX}_batch": str(self.batch),
               f"{TAG_PREFIX}_images": str(self.images), f"{TAG_PREFIX}_onnx_provider": self.onnx_provider}
        for flavour, modes in self.ms.items():
            for mode, stats in modes.items():
                for stat, value in stats.items():
                    out[tag_name(flavour, mode, stat)] = f"{value:.4g}"
        return out

    def as_dict(self) -> dict:
        return {"device": self.device, "batch": self.batch, "images": self.images, "warmup": self.warmup,
                "iterations": dict(self.iterations), "onnx_provider": self.onnx_provider, "ms": self.ms}


def latency_from_tags(tags: dict[str, str]) -> dict:
    """{flavour: {mode: {p50, p95}}} plus device and batch, from a version's tags; {} for a version registered
    before latency was measured."""
    ms: dict = {}
    for flavour in FLAVOURS:
        for mode in MODES:
            stats = {stat: float(tags[tag_name(flavour, mode, stat)]) for stat in ("p50", "p95")
                     if tag_name(flavour, mode, stat) in tags}
            if stats:
                ms.setdefault(flavour, {})[mode] = stats
    if not ms:
        return {}
    return {"device": tags.get(f"{TAG_PREFIX}_device", ""), "batch": int(tags.get(f"{TAG_PREFIX}_batch", "0") or 0),
            "ms": ms}


def latency_rows(ours: dict, theirs: dict | None) -> list[dict]:
    """Champion against this version, per flavour x batch x percentile: ms each and the ratio (this / champion;
    below 1 is faster). Values measured on another device are shown but get no ratio."""
    rows = []
    same_device = bool(theirs) and theirs.get("device") == ours.get("device")
    for flavour in FLAVOURS:
        for mode in MODES:
            for stat in ("p50", "p95"):
                mine = ours.get("ms", {}).get(flavour, {}).get(mode, {}).get(stat)
                other = (theirs or {}).get("ms", {}).get(flavour, {}).get(mode, {}).get(stat)
                if mine is None and other is None:
                    continue
                batch = 1 if mode == "batch1" else ours.get("batch")
                ratio = mine / other if same_device and mine and other else float("nan")
                rows.append({"flavour": flavour, "batch": batch, "stat": stat,
                             "champion_ms": float("nan") if other is None else other,
                             "this_version_ms": float("nan") if mine is None else mine, "ratio": ratio})
    return rows


def measure_package_latency(package_dir: Path, images: list[Path], *, batch: int, device: str = "cpu",
                            warmup: int = WARMUP, iterations: dict | None = None) -> PackageLatency:
    """Per-image p50/p95 of both flavours at batch 1 and `batch`, on `device`, cycling through `images`."""
    if not images:
        raise InvalidInput(f"{package_dir.name}: no test frames to measure the package's latency on")
    if batch < 1:
        raise InvalidOption(f"latency batch must be at least 1, not {batch}")
    iterations = {**ITERATIONS, **(iterations or {})}
    config = json.loads((package_dir / "inference_config.json").read_text())
    encoded = [Path(p).read_bytes() for p in images]
    servers = {"pyfunc": _pyfunc_server(package_dir, device),
               "onnx": _onnx_server(package_dir / "artifacts" / "best.onnx", config, device)}
    ms: dict = {}
    for flavour, (serve, _) in servers.items():
        for mode, size in (("batch1", 1), ("batched", batch)):
            calls = [[encoded[(start * size + k) % len(encoded)] for k in range(size)]
                     for start in range(warmup + iterations[mode])]
            per_image = []
            for index, call in enumerate(calls):
                began = time.perf_counter()
                serve(call)
                if index >= warmup:
                    per_image.append((time.perf_counter() - began) * 1000.0 / size)
            p50, p95 = np.percentile(per_image, [50, 95])
            ms.setdefault(flavour, {})[mode] = {"p50": float(p50), "p95": float(p95)}
    return PackageLatency(device=device, batch=batch, images=len(encoded), ms=ms, iterations=iterations,
                          warmup=warmup, onnx_provider=servers["onnx"][1])


def _pyfunc_server(package_dir: Path, device: str):
    import mlflow.pyfunc
    import pandas as pd

    model = mlflow.pyfunc.load_model(str(package_dir))
    # The package's config names no device (the pyfunc serves on CPU unless told): MLflow refuses to add a key at
    # load time, so the measured device is set on the loaded detector itself.
    model.unwrap_python_model().config["device"] = _torch_device(device)

    def serve(jpegs: list[bytes]):
        return model.predict(pd.DataFrame({"image": [base64.b64encode(j).decode() for j in jpegs]}))

    return serve, ""


def _onnx_server(onnx_path: Path, config: dict, device: str):
    import cv2
    import onnxruntime
    import torch
    from ultralytics.data.augment import LetterBox
    from ultralytics.utils.nms import non_max_suppression

    wanted = ["CUDAExecutionProvider"] if _torch_device(device) != "cpu" else []
    providers = [p for p in wanted if p in onnxruntime.get_available_providers()] + ["CPUExecutionProvider"]
    session = onnxruntime.InferenceSession(str(onnx_path), providers=providers)
    input_name = session.get_inputs()[0].name
    imgsz = int(config["imgsz"])
    letterbox = LetterBox(new_shape=(imgsz, imgsz), auto=False, stride=32)

    def serve(jpegs: list[bytes]):
        out = []
        for data in jpegs:
            image = letterbox(image=cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
            tensor = np.ascontiguousarray(image[..., ::-1].transpose(2, 0, 1))[None].astype(np.float32) / 255.0
            raw = session.run(None, {input_name: tensor})[0]
            out += non_max_suppression(torch.from_numpy(raw), float(config["conf"]), float(config["iou"]),
                                       max_det=int(config["max_det"]))
        return out

    return serve, session.get_providers()[0]


def _torch_device(device: str) -> str:
    """Ultralytics' device string ("0", "cuda:0", "cpu") as the pyfunc's `device` config takes it."""
    return "cpu" if device in ("", "cpu", "auto") else device


"""The package runs where the repository is not: a clean virtualenv with nothing but the package's own
requirements.txt installed loads the pyfunc and predicts, and runs the ONNX export with ONNX Runtime.

The virtualenv is kept between runs, keyed by the requirements' sha256, under VISION_PACKAGE_VENV_CACHE (default
~/.cache/vision_assets/package-venvs): the first run downloads torch and its wheels from PyPI, later runs reuse it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from vision_assets.core.registry.package import build_package

pytestmark = pytest.mark.slow  # a virtualenv with torch: minutes the first time, seconds after

SERVED = {"imgsz": 64, "conf": 0.01, "iou": 0.7, "max_det": 7, "class_names": ["car", "pedestrian", "cyclist"],
          "tracker": "bytetrack"}
# Run inside the clean virtualenv: the repository is not on its path, so only the package's own files are used.
PROBE = r"""
import json, sys
import cv2, numpy as np, onnxruntime, pandas as pd, mlflow.pyfunc
package, image = sys.argv[1], sys.argv[2]
try:
    import vision_assets
    found = vision_assets.__file__
except ImportError:
    found = None
model = mlflow.pyfunc.load_model(package)
boxes = model.predict(pd.DataFrame({"image": [open(image, "rb").read()]}))
session = onnxruntime.InferenceSession(f"{package}/artifacts/best.onnx", providers=["CPUExecutionProvider"])
size = session.get_inputs()[0].shape[2]
tensor = cv2.resize(cv2.imread(image), (size, size))[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255
out = session.run(None, {session.get_inputs()[0].name: np.ascontiguousarray(tensor)})[0]
print(json.dumps({"vision_assets": found, "config": model.model_config, "columns": list(boxes.columns),
                  "boxes": len(boxes), "onnx_shape": list(out.shape)}))
"""


def _clean_venv(requirements: Path) -> Path:
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    root = Path(os.environ.get("VISION_PACKAGE_VENV_CACHE", Path.home() / ".cache" / "vision_assets" / "package-venvs"))
    venv = root / digest
    python = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements)], check=True,
                   env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    (venv / ".complete").write_text(requirements.read_text())
    return python


def test_a_clean_virtualenv_with_the_packages_requirements_runs_the_pyfunc_and_the_onnx(tmp_path):
    from ultralytics import YOLO

    weights = tmp_path / "w.pt"
    YOLO("yolov8n.yaml").save(str(weights))  # built from its yaml: nothing downloaded
    image = tmp_path / "frame.jpg"
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 255, (72, 128, 3), dtype=np.uint8))
    package = build_package(weights, SERVED, [image], tmp_path / "out")
    requirements = package.path / "requirements.txt"
    pins = {line.split("==")[0] for line in requirements.read_text().splitlines() if "==" in line}
    assert {"mlflow", "ultralytics", "torch", "onnx", "onnxruntime", "opencv-python"} <= pins

    python = _clean_venv(requirements)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(YOLO_OFFLINE="1", YOLO_CONFIG_DIR=str(tmp_path / "ultralytics"))
    done = subprocess.run([str(python), "-c", PROBE, str(package.path), str(image)], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["vision_assets"] is None  # the repository is not what made it run
    assert result["config"] == SERVED
    assert result["columns"] == ["image_index", "class_name", "score", "x1", "y1", "x2", "y2"]
    assert result["boxes"] <= SERVED["max_det"]
    assert result["onnx_shape"][:2] == [1, 4 + 80]  # yolov8n.yaml's 80 classes: 4 box coordinates, 80 scores

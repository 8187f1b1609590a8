"""The command line pays only for the command that runs: `--help` and `sample` never import the heavy libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from helpers import MATERIAL, REPO_ROOT

HEAVY = ("dagster", "pandas", "pyarrow", "fsspec", "torch", "ultralytics", "mlflow", "motmetrics", "scipy",
         "great_expectations", "matplotlib")


def _modules_after(code: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    script = code + "\nimport sys, json\nprint(json.dumps(sorted(m for m in sys.modules if '.' not in m)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_building_the_parser_imports_no_heavy_library():
    loaded = _modules_after("from vision_assets.cli.main import build_parser\nbuild_parser()")
    assert not loaded & set(HEAVY + ("numpy", "cv2", "av"))


def test_sampling_a_file_imports_only_the_video_stack(tmp_path):
    clip = MATERIAL / "videos" / "realshort.mp4"
    loaded = _modules_after(f"from vision_assets.cli.main import main\n"
                            f"assert main(['sample', {str(clip)!r}, '--every', '1', '--out', {str(tmp_path)!r}]) == 0")
    assert {"av", "cv2", "numpy"} <= loaded
    assert not loaded & set(HEAVY)
    assert len(list(tmp_path.glob("*.jpg"))) == 2  # 36 frames at ~30 fps: t=0 s and t=1 s

"""Loading the code location pays for Dagster and the definitions, not for the libraries the assets run on:
pandas, numpy, PyAV, OpenCV, the lake's fsspec, Ultralytics, torch and MLflow load when an asset or sensor runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from helpers import REPO_ROOT

HEAVY = ("pandas", "numpy", "pyarrow", "av", "cv2", "fsspec", "s3fs", "torch", "ultralytics", "mlflow", "scipy",
         "great_expectations", "matplotlib", "plotly", "motmetrics", "PIL", "sqlalchemy")


def _top_level_modules_after(code: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    script = code + "\nimport sys, json\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_loading_the_code_location_imports_no_heavy_library():
    loaded = _top_level_modules_after(
        "import vision_assets.definitions as d\n"
        "assert len(d.defs.resolve_asset_graph().get_all_asset_keys()) == 10")
    assert sorted(loaded & set(HEAVY)) == []


def test_the_code_location_imports_nothing_beyond_dagster_and_itself():
    """What `import vision_assets.definitions` loads on top of `import dagster` is this package alone."""
    with_dagster = _top_level_modules_after("import dagster")
    with_definitions = _top_level_modules_after("import vision_assets.definitions")
    assert with_definitions - with_dagster == {"vision_assets"}


def test_a_core_package_name_loads_only_its_own_submodule():
    """`from vision_assets.core.ingest import NEAR_DUPLICATE_DISTANCE` (a resource default) stays light; the name
    that needs the ingest code still brings it."""
    light = _top_level_modules_after("from vision_assets.core.ingest import NEAR_DUPLICATE_DISTANCE\n"
                                     "assert NEAR_DUPLICATE_DISTANCE == 24.0")
    assert not light & {"pandas", "av", "cv2"}
    heavy = _top_level_modules_after("from vision_assets.core.ingest import ingest_partition")
    assert {"pandas", "av", "cv2"} <= heavy

"""The platform's trained_checkpoint materialization as a whole process against plain `yolo train`.

Both train the same demo dataset version's data.yaml with the same arguments (TrainerResource defaults with
--epochs/--imgsz), alternated, each in a fresh process: the platform run is `python -c` importing the code
location and materializing trained_checkpoint (Dagster run, MLflow run and artifacts, reproducibility record,
lake blob) in a scratch data folder that links the demo's dataset version; the plain run is Ultralytics' own CLI.
Both use one Ultralytics settings folder with its integrations (MLflow among them) off, so neither logs twice;
the platform runs share one MLflow tracking database, created before the first run, as a deployment's exists.

    .venv/bin/python benchmarks/training_benchmark.py [--data-dir .data] [--epochs 5] [--repeats 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.record import cpu_model, record_section  # noqa: E402

PLATFORM_RUN = """
import sys, json
from pathlib import Path
import dagster as dg
from vision_assets.defs.datasets import dataset_split
from vision_assets.defs.training import trained_checkpoint
from vision_assets.defs.resources import TrainerResource
from vision_assets.defs.wiring import build_resources
from vision_assets.settings import Settings
settings = Settings.from_env(); settings.prepare()
resources = build_resources(settings)
resources["trainer"] = TrainerResource(**json.loads(sys.argv[1]))
result = dg.materialize([dataset_split, trained_checkpoint], selection=[trained_checkpoint], resources=resources,
                        instance=dg.DagsterInstance.ephemeral())
assert result.success
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("VISION_DATA_DIR", ".data"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--imgsz", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    from vision_assets.core.lake import Lake
    from vision_assets.core.training import TrainConfig

    demo = Path(args.data_dir).resolve()
    lake = Lake(str(demo / "lake"))
    if not lake.exists("assets/dataset_split.json"):
        print(f"{demo}: no materialized dataset_split (run `vision-assets demo` first)", file=sys.stderr)
        return 1
    dataset = lake.read_json("assets/dataset_split.json")
    config = TrainConfig(epochs=args.epochs, imgsz=args.imgsz, device="cpu")
    scratch = Path(tempfile.mkdtemp(prefix="training-bench-"))
    settings_dir = scratch / "ultralytics_config"
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(settings_dir), "YOLO_VERBOSE": "False",
           "VISION_DEVICE": "cpu"}
    _settings(settings_dir, scratch, env)
    times = {"platform": [], "yolo": []}
    try:
        for repeat in range(args.repeats):
            for kind in ("yolo", "platform") if repeat % 2 else ("platform", "yolo"):
                folder = scratch / f"{kind}-{repeat}"
                seconds = (_platform(folder, demo, dataset, config, env) if kind == "platform"
                           else _yolo(folder, _work_view(lake, dataset, folder), config, env))
                times[kind].append(seconds)
                print(f"{kind} run {repeat + 1}: {seconds:.1f} s", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ours, plain = statistics.median(times["platform"]), statistics.median(times["yolo"])
    ratio = ours / plain
    overhead_per_epoch = (ours - plain) / args.epochs
    markdown = _markdown(args, dataset, config, times, ours, plain, ratio, overhead_per_epoch)
    print(markdown)
    if not args.no_record:
        record_section("training_benchmark", markdown)
    return 0


def _settings(settings_dir: Path, scratch: Path, env: dict) -> None:
    """One Ultralytics settings file for both runs, integrations off (what the platform sets for itself)."""
    # A deployed platform's tracking database exists already: create it once, not (with its migrations) per run.
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{scratch / 'mlflow.db'}"
    env["VISION_MLFLOW_ARTIFACTS"] = (scratch / "mlflow-artifacts").as_uri()
    code = ("from vision_assets.core.training.environment import ultralytics_yolo; from pathlib import Path; "
            f"ultralytics_yolo(Path({str(scratch / 'shared')!r})); "
            "from vision_assets.core.registry import ModelRegistry; "
            f"ModelRegistry({env['MLFLOW_TRACKING_URI']!r}, {env['VISION_MLFLOW_ARTIFACTS']!r}).experiment_id()")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)


def _work_view(lake, dataset: dict, folder: Path) -> Path:
    """The version's data.yaml as a view in the scratch folder: Ultralytics' label caches land there, never in
    the immutable dataset version (the platform trains from the same kind of view)."""
    from vision_assets.core.datasets.export import local_data_yaml
    from vision_assets.core.records import DatasetVersion

    return local_data_yaml(lake, DatasetVersion.from_json(dataset), folder / "cache")


def _platform(folder: Path, demo: Path, dataset: dict, config, env: dict) -> float:
    """A scratch data folder sharing the demo's dataset version (so nothing is reused from an earlier run)."""
    lake = folder / "lake"
    (lake / "datasets").mkdir(parents=True)
    (lake / "assets").mkdir()
    os.symlink(demo / "lake" / "datasets" / dataset["version"], lake / "datasets" / dataset["version"])
    for table in ("dataset_manifest", "dataset_labels"):
        if (demo / "lake" / "tables" / table).exists():
            (lake / "tables").mkdir(exist_ok=True)
            os.symlink(demo / "lake" / "tables" / table, lake / "tables" / table)
    shutil.copyfile(demo / "lake" / "assets" / "dataset_split.json", lake / "assets" / "dataset_split.json")
    trainer = {k: v for k, v in config.as_dict().items() if k not in ("amp",)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", PLATFORM_RUN, json.dumps(trainer)], check=True, capture_output=True,
                   env={**env, "VISION_DATA_DIR": str(folder)})
    return time.perf_counter() - started


def _yolo(folder: Path, data_yaml: Path, config, env: dict) -> float:
    yolo = Path(sys.executable).with_name("yolo")
    c = config
    arguments = [f"data={data_yaml}", f"model={c.model}", f"epochs={c.epochs}", f"imgsz={c.imgsz}", f"batch={c.batch}",
                 f"seed={c.seed}", "deterministic=True", "device=cpu", f"workers={c.workers}",
                 f"optimizer={c.optimizer}", f"lr0={c.lr0}", f"patience={c.patience}", f"mosaic={c.mosaic}",
                 f"close_mosaic={c.close_mosaic}", f"mixup={c.mixup}", f"hsv_h={c.hsv_h}", f"hsv_s={c.hsv_s}",
                 f"hsv_v={c.hsv_v}", f"fliplr={c.fliplr}", f"flipud={c.flipud}", f"scale={c.scale}", "amp=False",
                 "pretrained=False", f"project={folder}", "name=run", "exist_ok=True", "plots=False", "val=True",
                 "verbose=False"]
    started = time.perf_counter()
    subprocess.run([str(yolo), "train", *arguments], check=True, capture_output=True, env=env, cwd=folder.parent)
    return time.perf_counter() - started


def _markdown(args, dataset, config, times, ours, plain, ratio, per_epoch) -> str:
    import torch
    import ultralytics

    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    counts = dataset.get("counts", {})
    sizes = ", ".join(f"{split} {counts[split]['frames']}" for split in ("train", "val", "test") if split in counts)
    rows = "\n".join(f"| {kind} | {', '.join(f'{t:.1f}' for t in times[key])} | {value:.1f} |"
                     for kind, key, value in (("platform trained_checkpoint (whole process)", "platform", ours),
                                              ("plain `yolo train`", "yolo", plain)))
    return f"""## Training benchmark ({now})

Machine: {cpu_model()}, {os.cpu_count()} cores (shared with other jobs during the run), Linux {platform.release()};
Python {platform.python_version()}, torch {torch.__version__}, Ultralytics {ultralytics.__version__}; CPU training.
Dataset: the demo's version `{dataset['version']}` (frames: {sizes}); {config.model}, {args.epochs} epochs,
imgsz {args.imgsz}, batch {config.batch}, workers {config.workers}, validation every epoch; {args.repeats} alternated
runs of each, each in a fresh process, median taken.

| run | seconds per run | median s |
|---|---|---:|
{rows}

Ratio platform / plain: **{ratio:.3f}x** (target <= 1.05x); fixed cost {ours - plain:.1f} s per run,
{per_epoch:.2f} s per epoch if spread over the {args.epochs} epochs ({per_epoch / (plain / args.epochs) * 100:.1f}% of
a plain epoch).
"""


if __name__ == "__main__":
    sys.exit(main())

"""Monitoring speed: frames per second of one partition's footage_monitoring against plain Ultralytics predict on
the same frames (target: monitoring >= 0.7x the plain rate).

    .venv/bin/python benchmarks/monitoring_benchmark.py [--frames 60] [--imgsz 320] [--rounds 3] [--no-write]

Frames: the first --frames frames of ../shared/material/videos/vtest.avi (a real camera), 320x240 JPEGs in a
temporary lake as one partition's sampled_frames. Model: YOLOv8n built from its yaml (no download; speed does not
depend on the weights' values), saved once. Both sides load the model from the .pt file, run at the same image
size, confidence 0.25 and device, alternately, --rounds times each after one untimed warm-up of each:
- plain: `YOLO(weights).predict(paths)` in chunks of 32, detections read out;
- monitoring: `monitor_partition` (image statistics, one predict pass with the backbone hook, prediction
  statistics, the MMD permutation test against a cached baseline of 100 frames, the summary row written to the lake).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.record import cpu_model, record_section  # noqa: E402

MATERIAL = Path(__file__).resolve().parents[2] / "shared" / "material" / "videos" / "vtest.avi"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--video", default=str(Path(os.environ.get("VISION_TEST_MATERIAL", MATERIAL.parents[1]))
                                               / "videos" / "vtest.avi"))
    parser.add_argument("--no-write", action="store_true", help="print only, do not touch RESULTS.md")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="monitoring_benchmark_"))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(work / "ultralytics"))
    import cv2
    import numpy as np
    import pandas as pd

    from vision_assets.core.lake import Lake, keys
    from vision_assets.core.monitoring.inference import observe
    from vision_assets.core.monitoring.partition import Baseline, Model, monitor_partition
    from vision_assets.core.training.environment import resolve_device, ultralytics_yolo

    lake = Lake(str(work / "lake"))
    capture, image_keys = cv2.VideoCapture(args.video), []
    while len(image_keys) < args.frames:
        ok, image = capture.read()
        if not ok:
            break
        key = f"blobs/frames/bench/{len(image_keys):04d}.jpg"
        lake.local_path(key).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(lake.local_path(key)), cv2.resize(image, (320, 240), interpolation=cv2.INTER_AREA))
        image_keys.append(key)
    capture.release()
    if not image_keys:
        print(f"vision-assets: error: {args.video}: no frame decodes", file=sys.stderr)
        return 1
    lake.write_table(keys.SAMPLED_FRAMES, pd.DataFrame({"image_path": image_keys}), {"scene": "bench", "day": "d"})
    YOLO = ultralytics_yolo(work)
    weights = work / "yolov8n.pt"
    YOLO("yolov8n.yaml").save(str(weights))
    paths = [str(lake.local_path(k)) for k in image_keys]
    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    width = observe(weights, paths[:2], work_dir=work, imgsz=args.imgsz, device=device).embeddings.shape[1]
    baseline = Baseline(rng.normal(size=(100, width)).astype(np.float32), rng.integers(0, 4, 100), 100,
                        np.array(["other"] * 100))
    model = Model("1", weights, "0" * 64)

    def plain() -> None:
        yolo = YOLO(str(weights))
        for start in range(0, len(paths), 32):
            for result in yolo.predict(paths[start:start + 32], imgsz=args.imgsz, conf=0.25, device=device,
                                       verbose=False, save=False, max_det=100):
                result.boxes.xyxy.cpu().numpy()

    def monitoring() -> None:
        monitor_partition(lake, "bench", "d", model, baseline, imgsz=args.imgsz, work_dir=work, device=device)

    times: dict[str, list[float]] = {"plain": [], "monitoring": []}
    plain(), monitoring()  # warm-up
    for _ in range(args.rounds):
        for name, run in (("plain", plain), ("monitoring", monitoring)):
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    fps = {name: len(paths) / statistics.median(t) for name, t in times.items()}
    ratio = fps["monitoring"] / fps["plain"]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    import torch
    import ultralytics

    text = f"""## Monitoring benchmark ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC)

Script: `benchmarks/monitoring_benchmark.py --frames {args.frames} --imgsz {args.imgsz} --rounds {args.rounds}`.
Machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; device {device};
Python {platform.python_version()}, torch {torch.__version__}, Ultralytics {ultralytics.__version__}; load average
at the end {load} (the machine is shared: single runs vary). Frames: {len(paths)} frames of vtest.avi at 320x240;
YOLOv8n from its yaml; median of {args.rounds} alternated runs after one warm-up each.

| run | seconds per run | frames/s |
|---|---|---:|
| plain Ultralytics predict | {", ".join(f"{t:.2f}" for t in times["plain"])} | {fps["plain"]:.1f} |
| footage_monitoring core (`monitor_partition`) | {", ".join(f"{t:.2f}" for t in times["monitoring"])} | {fps["monitoring"]:.1f} |

Ratio monitoring / plain: **{ratio:.2f}x** (target >= 0.7x). One predict pass serves both the detections and the
drift features (a forward hook pools the last backbone layer), so the extra cost is image statistics, the
permutation test ({300} permutations, one matrix product) and one Parquet row.
"""
    print(text)
    if not args.no_write:
        record_section("monitoring_benchmark", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

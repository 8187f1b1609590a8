"""Evaluation speed: detection evaluation of a test split against `yolo val` on the same images, and tracking
evaluation per minute of test video.

    .venv/bin/python benchmarks/eval_benchmark.py [--data-dir .data] [--rounds 3] [--batch 16] [--no-write]

Runs on a data folder that has a dataset version and a trained checkpoint (what `make demo` leaves in `.data`).
Both detection contenders get the same weights, image size, batch, device, confidence floor (0.001) and NMS IoU
(0.7) on the same test images, and run alternately, `--rounds` times each, after one untimed warm-up of each:
- ours: batched inference + pycocotools mAP50-95/50/75, precision and recall (the numbers eval_report headlines),
  and separately the whole detection report (slices, curves, plots, confusion matrix, error table with crops);
- `yolo val`: Ultralytics' validator on the export's test split (plots and JSON off).
Tracking: Ultralytics' ByteTrack over every test video's labelled span, then motmetrics + HOTA, in seconds per
video-minute, with and without the replay MP4 and error crops. Results are printed and recorded as this script's
section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.record import cpu_model, record_section  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("VISION_DATA_DIR", ".data"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights", help="a .pt file instead of the latest dataset's checkpoint")
    parser.add_argument("--note", default="", help="a sentence about the data or machine, recorded with the result")
    parser.add_argument("--no-write", action="store_true", help="print only, do not touch RESULTS.md")
    args = parser.parse_args()

    data_dir = Path(args.data_dir).resolve()
    work = Path(tempfile.mkdtemp(prefix="eval_benchmark_"))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(work / "ultralytics"))

    from vision_assets.core.datasets.build import latest_dataset
    from vision_assets.core.datasets.export import local_data_yaml
    from vision_assets.core.evaluation.checkpoint_report import EvaluationConfig, _evaluate, _track
    from vision_assets.core.evaluation.inference import InferenceConfig, load_model
    from vision_assets.core.evaluation.metrics import evaluate_detections
    from vision_assets.core.evaluation.report import detect_on_test_split
    from vision_assets.core.lake import Lake

    lake = Lake(str(data_dir / "lake"))
    dataset = latest_dataset(lake)
    if dataset is None:
        print(f"eval_benchmark: {data_dir}: no dataset version in its lake (run `make demo` first)", file=sys.stderr)
        return 2
    weights, imgsz, sha = _checkpoint(lake, dataset, args.weights, work)
    config = InferenceConfig(imgsz=imgsz, batch=args.batch)
    classes = list(dataset.class_names)
    data_yaml = local_data_yaml(lake, dataset, work / "cache")  # yolo val's caches go to work, not the version

    def ours() -> float:
        started = time.perf_counter()
        test, gt, dets = detect_on_test_split(lake, dataset, weights, config, work_dir=work, device=args.device)
        images = test.rename(columns={"sample_id": "image_id"})[["image_id", "width", "height"]]
        evaluate_detections(gt, dets, images=images, class_names=classes, score_threshold=config.conf)
        return time.perf_counter() - started

    def yolo_val() -> float:
        started = time.perf_counter()
        model = load_model(weights, work)
        model.val(data=str(data_yaml), split="test", imgsz=imgsz, batch=args.batch, conf=config.predict_conf,
                  iou=config.iou, max_det=config.max_det, device=args.device, plots=False, save_json=False,
                  verbose=False, workers=0, project=str(work / "val"), name="val", exist_ok=True)
        return time.perf_counter() - started

    def full_report(tracking: bool, replays: bool) -> tuple[float, dict]:
        evaluation = EvaluationConfig(inference=config, tracking=tracking, replays=replays)
        started = time.perf_counter()
        report = _evaluate(lake, dataset, weights, f"benchmark-{time.monotonic_ns()}", sha, imgsz, work, args.device,
                           evaluation)
        return time.perf_counter() - started, report

    ours(), yolo_val()  # warm-up: model load paths, frame cache, pycocotools import
    timings: dict[str, list[float]] = {"ours": [], "yolo_val": []}
    for _ in range(args.rounds):
        timings["ours"].append(ours())
        timings["yolo_val"].append(yolo_val())
    report_seconds, report = full_report(tracking=False, replays=False)

    from vision_assets.core.evaluation.report import test_split

    test, _ = test_split(lake, dataset)
    test = test.assign(image_key=test["image_path"])
    test["image_path"] = [str(lake.local_copy(key, work / "frames")) for key in test["image_key"]]
    track_runs = []
    for replays in (False, True, False, True):
        started = time.perf_counter()
        tracking, _, _, track_seconds, minutes = _track(lake, test, classes, weights, config,
                                                        f"evaluations/benchmark-{time.monotonic_ns()}", work,
                                                        args.device, EvaluationConfig(replays=replays))
        track_runs.append({"replays": replays, "total": time.perf_counter() - started, "tracker": track_seconds,
                           "minutes": minutes, "videos": len(tracking.get("videos", []))})
    _remove_benchmark_records(lake)

    median = {k: statistics.median(v) for k, v in timings.items()}
    minutes = track_runs[0]["minutes"]
    per_minute = {r: statistics.median(t["total"] / max(t["minutes"], 1e-9) for t in track_runs if t["replays"] == r)
                  for r in (False, True)}
    result = {
        "date": dt.date.today().isoformat(), "cpu": cpu_model(), "cores": os.cpu_count(),
        "python": platform.python_version(), "device": args.device, "test_images": report["test_images"],
        "boxes": report["slices"][0]["n_boxes"], "imgsz": imgsz, "batch": args.batch, "rounds": args.rounds,
        "ours_s": timings["ours"], "yolo_val_s": timings["yolo_val"], "ratio": median["ours"] / median["yolo_val"],
        "full_detection_report_s": report_seconds, "test_video_minutes": minutes,
        "tracking_s_per_video_minute": per_minute[False], "tracking_with_replays_s_per_video_minute": per_minute[True],
        "videos": track_runs[0]["videos"], "checkpoint": sha[:12], "note": args.note,
    }
    print(json.dumps(result, indent=2))
    if not args.no_write:
        record_section("eval_benchmark", _markdown(result))
    return 0


def _checkpoint(lake, dataset, weights: str | None, work: Path) -> tuple[Path, int, str]:
    from vision_assets.core.lake import sha256_file

    if weights:
        return Path(weights), int(os.environ.get("VISION_IMGSZ", 256)), sha256_file(Path(weights))
    records = [lake.read_json(f"checkpoints/{p.name}") for p in lake.local_path("checkpoints").glob("*.json")]
    records = [r for r in records if r.get("dataset_version") == dataset.version]
    if not records:
        raise SystemExit(f"eval_benchmark: no checkpoint trained on dataset {dataset.version} (or pass --weights)")
    record = records[-1]
    return lake.local_copy(record["checkpoint_path"], work), int(record["config"]["imgsz"]), record["checkpoint_sha256"]


def _remove_benchmark_records(lake) -> None:
    import shutil

    for folder in list(lake.local_path("evaluations").glob("benchmark-*")) + \
            list(lake.local_path("tables", "eval_errors").glob("evaluation=benchmark-*")):
        shutil.rmtree(folder, ignore_errors=True)


def _markdown(r: dict) -> str:
    ours = ", ".join(f"{s:.2f}" for s in r["ours_s"])
    val = ", ".join(f"{s:.2f}" for s in r["yolo_val_s"])
    return f"""## Evaluation (`eval_benchmark.py`, {r['date']})

Machine: {r['cpu']}, {r['cores']} cores, Python {r['python']}, device {r['device']}. Test split: {r['test_images']}
images, {r['boxes']} boxes, checkpoint {r['checkpoint']}, imgsz {r['imgsz']}, batch {r['batch']}; alternated, {r['rounds']}
rounds after a warm-up. {r['note']}

| what | seconds (each round) | median |
|---|---|---|
| ours: batched inference + pycocotools mAP, P/R | {ours} | {statistics.median(r['ours_s']):.2f} |
| `yolo val` (same weights, images, imgsz, conf 0.001, NMS IoU 0.7) | {val} | {statistics.median(r['yolo_val_s']):.2f} |

Ratio ours / `yolo val`: **{r['ratio']:.2f}x** (target: within 1.2x). The whole detection report (slices, curves, plots,
confusion matrix, every error with its crop) takes {r['full_detection_report_s']:.2f} s once.

Tracking (ByteTrack over {r['videos']} test videos, {r['test_video_minutes'] * 60:.1f} s of video, motmetrics + HOTA):
{r['tracking_s_per_video_minute']:.1f} s per video-minute; with the replay MP4 and identity-error crops
{r['tracking_with_replays_s_per_video_minute']:.1f} s per video-minute."""


if __name__ == "__main__":
    raise SystemExit(main())

"""Cost of a new day against the size of the history, and an idle landing-sensor tick over many landed files.

1. For each history size H (days, default 1 10 30): the demo generator's 3 scenes x 1 short video per day for H
   days, ingested (raw_videos, the stage that looks at the history for copies); then one new day lands and the
   landing sensor tick plus the new day's ingest runs are timed. Ratio: each H against the smallest H.
2. An idle landing-sensor tick: N files (default 10,000) landed over 3 scenes x many days, all already
   recorded in raw_videos, so the tick finds nothing to do; timed over several ticks.

    .venv/bin/python benchmarks/incremental_benchmark.py [--history 1 10 30] [--idle-files 10000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("YOLO_OFFLINE", "1")

from benchmarks.record import cpu_model, record_section  # noqa: E402

SCENES = ("cam-north", "cam-south", "cam-east")
FIRST_DAY = dt.date(2026, 1, 1)


def _days(start: int, count: int) -> tuple[str, ...]:
    return tuple((FIRST_DAY + dt.timedelta(days=start + i)).isoformat() for i in range(count))


def _environment(root: Path):
    import dagster as dg

    from vision_assets.definitions import build_definitions
    from vision_assets.defs.wiring import build_resources
    from vision_assets.settings import Settings

    settings = Settings.from_env({"VISION_DATA_DIR": str(root / "data")})
    settings.prepare()
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    instance = dg.DagsterInstance.local_temp(str(home))
    return settings, build_definitions(build_resources(settings)), instance


def new_day_seconds(history: int, root: Path) -> dict:
    from vision_assets.demo import DemoSpec, generate_demo_data
    from vision_assets.local.daemon import LocalDaemon

    settings, defs, instance = _environment(root)
    spec = {"scenes": SCENES, "videos_per_day": 1, "seconds": 2.0, "fps": 10, "width": 160, "height": 96}
    generate_demo_data(settings.landing_dir, DemoSpec(days=_days(0, history), seed=1, **spec))
    daemon = LocalDaemon(defs, instance, log=lambda _: None)
    started = time.perf_counter()
    daemon.sensor_tick("landing_sensor")  # the history: one ingest run per scene x day
    history_seconds = time.perf_counter() - started
    assert all(r.success for r in daemon.runs), [r for r in daemon.runs if not r.success]

    generate_demo_data(settings.landing_dir, DemoSpec(days=_days(history, 1), seed=2, **spec))
    before = len(daemon.runs)
    started, cpu_started = time.perf_counter(), time.process_time()
    daemon.sensor_tick("landing_sensor")
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    new_runs = daemon.runs[before:]
    assert len(new_runs) == len(SCENES) and all(r.success for r in new_runs)
    return {"history": history, "partitions": history * len(SCENES), "history_s": history_seconds,
            "new_day_s": seconds, "new_day_cpu_s": cpu_seconds}


def idle_tick_seconds(files: int, root: Path, ticks: int = 3) -> dict:
    """Landed files recorded as ingested in raw_videos (rows as ingest writes them), then idle sensor ticks."""
    import dagster as dg
    import pandas as pd

    from vision_assets.core.ingest import RAW_VIDEO_COLUMNS, scan_landing
    from vision_assets.core.ingest.changes import labels_fingerprint
    from vision_assets.core.ingest.video_index import rebuild_video_index
    from vision_assets.core.ingest.videos import ROW_DEFAULTS
    from vision_assets.core.lake import Lake, keys
    from vision_assets.defs.partitions import scene_day, scene_day_key

    settings, defs, instance = _environment(root)
    days = _days(0, max(1, files // (len(SCENES) * 40)))
    per_partition = -(-files // (len(SCENES) * len(days)))
    made = 0
    for scene in SCENES:
        for day in days:
            folder = settings.landing_dir / scene / day
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(min(per_partition, files - made)):
                (folder / f"clip_{i:04d}.mp4").write_bytes(b"\0" * 64)
                made += 1
    lake = Lake(settings.lake_root)
    by_partition: dict[tuple[str, str], list[dict]] = {}
    for landed in scan_landing(settings.landing_dir):
        by_partition.setdefault((landed.scene, landed.day), []).append({
            **ROW_DEFAULTS, "video_sha256": f"{hash(landed.path):064x}"[-64:], "source_name": landed.path.name,
            "source_size": landed.size, "source_mtime_ns": landed.mtime_ns, "outcome": "ok",
            "label_files": labels_fingerprint(landed.labels)})
    for (scene, day), rows in by_partition.items():
        lake.write_table(keys.RAW_VIDEOS, pd.DataFrame(rows, columns=RAW_VIDEO_COLUMNS), {"scene": scene, "day": day})
    instance.add_dynamic_partitions(scene_day.name, [scene_day_key(scene, day) for scene, day in by_partition])
    sensor = defs.resolve_sensor_def("landing_sensor")
    rebuild_video_index(lake)  # as ingest leaves it
    timings, cpu = [], [time.process_time()]
    for _ in range(ticks):
        with dg.build_sensor_context(instance_ref=instance.get_ref(), definitions=defs,
                                     resources=defs.resources) as context:
            started = time.perf_counter()
            result = sensor(context)
            timings.append(time.perf_counter() - started)
            cpu.append(time.process_time())
        assert isinstance(result, dg.SkipReason) or not result.run_requests, result
    cpu_ticks = [b - a for a, b in zip(cpu, cpu[1:])]
    return {"files": made, "partitions": len(by_partition), "tick_s": min(timings), "ticks": timings,
            "tick_cpu_s": min(cpu_ticks)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--history", type=int, nargs="+", default=[1, 10, 30])
    parser.add_argument("--idle-files", type=int, default=10_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="incremental_benchmark_"))
    try:
        rows = []
        for history in args.history:
            rows.append(new_day_seconds(history, root / f"history_{history}"))
            print(rows[-1], flush=True)
        idle = idle_tick_seconds(args.idle_files, root / "idle")
        print(idle, flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    anchor, cpu_anchor = rows[0]["new_day_s"], rows[0]["new_day_cpu_s"]
    table = "\n".join(f"| {r['history']} | {r['partitions']} | {r['history_s']:.1f} | {r['new_day_s']:.2f} | "
                      f"{r['new_day_s'] / anchor:.2f}x | {r['new_day_cpu_s']:.2f} | {r['new_day_cpu_s'] / cpu_anchor:.2f}x |"
                      for r in rows)
    record_section("incremental", f"""
## Incremental cost (`benchmarks/incremental_benchmark.py`, {dt.date.today().isoformat()})

Machine: {cpu_model()}, {os.cpu_count()} cores (shared with other work while it ran). Demo generator, 3 scenes x 1
video of 2 s per day. "new day" = the landing sensor tick that finds the new day plus its 3 ingest runs
(raw_videos: hashing, probing, copy and re-encode lookup in the lake-wide video index); ratio vs the smallest
history (the anchor).
The benchmark runs each history in one process, so the anchor (run first) also pays first-use costs
(imports, decoder start-up); on a shared machine wall time follows the load, CPU time (all threads of the
process) is the comparable figure.

| history (days) | partitions | ingesting the history (s) | new day, wall (s) | vs anchor | new day, CPU (s) | vs anchor |
|---|---|---|---|---|---|---|
{table}

Idle landing-sensor tick: {idle['files']} landed files in {idle['partitions']} partitions, all ingested:
{idle['tick_s']:.2f} s wall, {idle['tick_cpu_s']:.2f} s CPU (best of {len(idle['ticks'])}: {', '.join(f'{t:.2f}' for t in idle['ticks'])} s wall).
""")


if __name__ == "__main__":
    main()

"""QC at scale: the full rule set on a million synthetic boxes, beside the same table checks in Great Expectations.

    .venv/bin/python benchmarks/qc_benchmark.py [--boxes 1000000] [--seed 0] [--no-write]

The table imitates a real label lake: several videos in several formats (CVAT video and MOT tracks, YOLO files per
image, COCO with declared areas), one annotator per video plus a second annotator on a share of frames, and a few
percent of planted defects of every kind a rule looks for. A second shape crowds the same number of boxes onto 30
images (one COCO file, one class): the per-frame rules (duplicate_box, agreement) then meet frames of 33,000 boxes,
where comparing every pair of a frame took 21 minutes. Generation is not timed. Results are printed and recorded as
their sections of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.record import cpu_model, record_section  # noqa: E402
from vision_assets.core import qc  # noqa: E402
from vision_assets.core.labels import ANNOTATION_COLUMNS, ANNOTATION_DTYPES  # noqa: E402
from vision_assets.core.qc import validate_table  # noqa: E402

CLASSES = ["car", "pedestrian", "cyclist", "truck", "bus", "motorbike"]
ANNOTATORS = ["alice", "bob", "chen", "dana", "emeka"]
FORMATS = ["cvat_video", "cvat_video", "mot", "yolo", "coco"]  # per video, cycling
WIDTH, HEIGHT = 1280, 720
VIDEOS = 20
FRAMES = 5000  # per video: a million boxes are then about 10 per frame
TRACK_BOXES = 250  # average boxes per track


# ---------------------------------------------------------------------------------------------------------------
# Synthetic label lake


def _tracks(rng: np.random.Generator, n_boxes: int) -> pd.DataFrame:
    """Linear-motion tracks, inside the image, sized to give about n_boxes boxes in all."""
    n_tracks = max(VIDEOS, int(round(n_boxes / TRACK_BOXES)))
    video = np.arange(n_tracks) % VIDEOS
    # Every 4th CVAT video is exported with frame_filter step 3: boxes on every 3rd frame are its normal.
    step = np.where((video % 8 == 1), 3, 1)
    length = rng.integers(TRACK_BOXES // 2, TRACK_BOXES * 3 // 2, n_tracks)
    start = rng.integers(0, np.maximum(1, FRAMES - length * step))
    w, h = rng.uniform(30, 140, n_tracks), rng.uniform(30, 140, n_tracks)
    # Start far enough from the edges that a slow object never leaves the image.
    cx = rng.uniform(300, WIDTH - 300, n_tracks)
    cy = rng.uniform(250, HEIGHT - 250, n_tracks)
    travel = rng.uniform(0, 150, n_tracks) / (length * step)  # pixels per frame, at most 150 over the track
    angle = rng.uniform(0, 2 * np.pi, n_tracks)
    return pd.DataFrame({
        "video": video, "track": np.arange(n_tracks) // VIDEOS, "step": step, "length": length, "start": start,
        "w": w, "h": h, "cx": cx, "cy": cy, "vx": travel * np.cos(angle), "vy": travel * np.sin(angle),
        "cls": rng.integers(0, len(CLASSES), n_tracks),
    })


def _boxes(tracks: pd.DataFrame) -> pd.DataFrame:
    t = tracks.loc[tracks.index.repeat(tracks["length"])]
    i = np.arange(len(t)) - np.repeat(np.cumsum(tracks["length"].to_numpy()) - tracks["length"].to_numpy(),
                                      tracks["length"].to_numpy())
    frames = t["start"].to_numpy() + i * t["step"].to_numpy()
    cx = t["cx"].to_numpy() + t["vx"].to_numpy() * (frames - t["start"].to_numpy())
    cy = t["cy"].to_numpy() + t["vy"].to_numpy() * (frames - t["start"].to_numpy())
    w, h = t["w"].to_numpy(), t["h"].to_numpy()
    return pd.DataFrame({
        "video": t["video"].to_numpy(), "track": t["track"].to_numpy(), "frame": frames, "cls": t["cls"].to_numpy(),
        "x1": cx - w / 2, "y1": cy - h / 2, "x2": cx + w / 2, "y2": cy + h / 2,
    })


def _canonical(b: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    video_names = np.array([f"{v:02d}" * 32 for v in range(VIDEOS + 1)])  # 64 hex chars, like a sha256
    fmt = np.array(FORMATS)[b["video"].to_numpy() % len(FORMATS)]
    tracked = np.isin(fmt, ["cvat_video", "mot"])
    frame = b["frame"].to_numpy()
    video = b["video"].to_numpy()
    yolo = fmt == "yolo"
    source_file = np.where(
        yolo, video_names[video] + "/labels/" + pd.Series(frame).astype(str).str.zfill(6).to_numpy() + ".txt",
        video_names[video] + np.where(fmt == "mot", "/gt.txt", np.where(fmt == "coco", ".json", ".xml")))
    w, h = b["x2"] - b["x1"], b["y2"] - b["y1"]
    return pd.DataFrame({
        "video_sha256": video_names[video],
        "frame_index": frame.astype(np.int64),
        "class_name": np.array(CLASSES)[b["cls"].to_numpy()],
        "x1": b["x1"].to_numpy(), "y1": b["y1"].to_numpy(), "x2": b["x2"].to_numpy(), "y2": b["y2"].to_numpy(),
        "track_id": np.where(tracked, b["track"].to_numpy(), -1).astype(np.int64),
        "occluded": rng.random(len(b)) < 0.1,
        "attributes": "{}",
        "annotator": np.array(ANNOTATORS)[video % len(ANNOTATORS)],
        "source_file": source_file,
        "source_id": np.arange(len(b)).astype(str),
        "source_format": fmt,
        "image_name": np.where(yolo, pd.Series(frame).astype(str).str.zfill(6).to_numpy() + ".jpg", ""),
        "class_id": np.where(yolo, b["cls"].to_numpy(), np.where(fmt == "coco", b["cls"].to_numpy() + 1, -1)),
        "declared_area": np.where(fmt == "coco", (w * h).to_numpy(), np.nan),
        "file_findings": "",
    })


def _pick(rng: np.random.Generator, mask: np.ndarray, share: float) -> np.ndarray:
    rows = np.flatnonzero(mask)
    return rng.choice(rows, size=int(len(rows) * share), replace=False) if len(rows) else rows


def _plant_defects(df: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    """A few percent of every defect the rules look for; returns the table and what was planted."""
    n = len(df)
    planted: dict[str, int] = {}
    tracked = df["track_id"].to_numpy() >= 0
    fmt = df["source_format"].to_numpy()

    def plant(name: str, rows: np.ndarray) -> np.ndarray:
        planted[name] = planted.get(name, 0) + len(rows)
        return rows

    any_row = np.ones(n, dtype=bool)
    df.loc[plant("coordinates_not_finite", _pick(rng, any_row, 0.002)), "x2"] = np.nan
    rows = plant("box_not_positive", _pick(rng, any_row, 0.004))
    df.loc[rows, ["x1", "x2"]] = df.loc[rows, ["x2", "x1"]].to_numpy()
    rows = plant("box_outside_image", _pick(rng, any_row, 0.006))
    df.loc[rows, "x2"] = WIDTH + 40.0
    df.loc[plant("unknown_class", _pick(rng, any_row, 0.004)), "class_name"] = "unicorn"
    df.loc[plant("frame_out_of_range", _pick(rng, any_row, 0.002)), "frame_index"] = FRAMES * 10

    # A track that comes back after a long absence, or changes class: the tail of some tracks.
    groups = df.loc[tracked].groupby(["video_sha256", "track_id"]).ngroup()
    chosen = np.isin(groups.to_numpy(), rng.choice(groups.max() + 1, size=max(1, (groups.max() + 1) // 100)))
    tail = groups.index[chosen & (groups.groupby(groups).cumcount(ascending=False).to_numpy() < 5)]
    df.loc[plant("track_id_reused", tail), "class_name"] = "bus"

    # One box per track per frame: a second box for the same track, elsewhere in the frame.
    rows = plant("track_duplicate_in_frame", _pick(rng, tracked, 0.002))
    extra_track = df.loc[rows].copy()
    extra_track[["x1", "x2"]] = extra_track[["x1", "x2"]].to_numpy() + np.where(extra_track[["x1"]] > 640, -250, 250)
    # A box that jumps: moved far from where its track was a frame before, still inside the image.
    rows = plant("track_jump", _pick(rng, tracked, 0.004))
    shift = np.where(df.loc[rows, "x1"] > 640, -220.0, 220.0)
    df.loc[rows, "x1"] += shift
    df.loc[rows, "x2"] += shift
    # Gaps: ten consecutive boxes of some tracks deleted.
    starts = _pick(rng, tracked, 0.001)
    gap_rows = np.unique((starts[:, None] + np.arange(10)).ravel())
    gap_rows = gap_rows[gap_rows < n]
    planted["track_gap"] = len(starts)

    # One object labelled twice by the same annotator (untracked formats, where nothing else would notice).
    rows = plant("duplicate_box", _pick(rng, ~tracked, 0.005))
    copies = df.loc[rows].copy()
    copies[["x1", "x2"]] += rng.uniform(-1, 1, (len(copies), 1))

    rows = plant("area_mismatch", _pick(rng, fmt == "coco", 0.02))
    df.loc[rows, "declared_area"] *= 1.5
    # Polygons: an area below the box's is normal when the attributes say the object has a segmentation.
    rows = _pick(rng, fmt == "coco", 0.1)
    df.loc[rows, "attributes"] = '{"segmentation": true}'
    df.loc[rows, "declared_area"] *= 0.7

    # YOLO datasets (one per video, a txt per frame) whose ids run 1..n: the whole dataset is shifted by one.
    yolo = np.flatnonzero(fmt == "yolo")
    datasets = df["video_sha256"].to_numpy()[yolo]
    shifted = rng.choice(np.unique(datasets), size=max(1, len(np.unique(datasets)) // 5), replace=False)

    # One YOLO video's data yaml named an absolute path.
    first_yolo_video = df["video_sha256"].to_numpy()[yolo[0]]
    rows = plant("absolute_path_in_data_yaml", np.flatnonzero(df["video_sha256"].to_numpy() == first_yolo_video))
    df.loc[rows, "file_findings"] = "absolute_path_in_data_yaml"

    df = pd.concat([df.drop(index=gap_rows), extra_track, copies], ignore_index=True)
    # Shifted after every other defect, so copies of a shifted dataset's rows are shifted too.
    rows = (df["source_format"] == "yolo") & df["video_sha256"].isin(shifted)
    df.loc[rows, "class_id"] += 1
    planted["class_id_off_by_one (rows of shifted datasets)"] = int(rows.sum())
    return df, planted


def _second_annotator(df: pd.DataFrame, rng: np.random.Generator, share: float = 0.05) -> tuple[pd.DataFrame, int]:
    """Frames labelled again by another annotator (an image-mode review task): jittered boxes, some missed."""
    frames = df[["video_sha256", "frame_index"]].drop_duplicates()
    chosen = frames.sample(frac=share, random_state=int(rng.integers(1 << 31)))
    twice = df.merge(chosen, on=["video_sha256", "frame_index"])
    keep = rng.random(len(twice)) > 0.04  # the reviewer misses a few objects
    twice = twice[keep].copy()
    jitter = rng.normal(0, 1.5, (len(twice), 4))
    twice[["x1", "y1", "x2", "y2"]] += jitter
    moved = rng.random(len(twice)) < 0.03  # and draws a few boxes somewhere else
    twice.loc[moved, ["x1", "x2"]] += 60.0
    reviewer = {a: ANNOTATORS[(i + 1) % len(ANNOTATORS)] for i, a in enumerate(ANNOTATORS)}
    twice["annotator"] = twice["annotator"].map(reviewer)
    twice["track_id"] = -1
    twice["source_format"] = "cvat_images"
    twice["source_file"] = "review/" + twice["video_sha256"].str.slice(0, 8) + ".xml"
    twice["class_id"] = -1
    twice["declared_area"] = np.nan
    twice["image_name"] = twice["frame_index"].astype(str).str.zfill(6) + ".jpg"
    twice["source_id"] = "r" + pd.Series(np.arange(len(twice)), index=twice.index).astype(str)
    return pd.concat([df, twice], ignore_index=True), len(chosen)


def make_table(n_boxes: int, seed: int = 0) -> tuple[pd.DataFrame, dict, dict, dict]:
    """(annotations, image sizes, frame counts, what was planted), about n_boxes rows."""
    rng = np.random.default_rng(seed)
    # Second-annotator copies add about 5 %: the base aims that much lower. Track lengths are random, so the total
    # lands within about half a percent of n_boxes; it is reported as it is rather than trimmed, because trimming
    # would cut tracks or review frames and distort what the rules see.
    base = _canonical(_boxes(_tracks(rng, int(n_boxes / 1.05))), rng)
    base, planted = _plant_defects(base, rng)
    table, double_frames = _second_annotator(base, rng)
    planted["double_labelled_frames"] = double_frames
    # A video nobody measured: its rows have no image size.
    orphan = table.sample(n=min(200, len(table)), random_state=seed).assign(video_sha256="f" * 64)
    planted["unknown_image_size"] = len(orphan)
    table = pd.concat([table, orphan], ignore_index=True)
    table = table.astype(ANNOTATION_DTYPES)[ANNOTATION_COLUMNS]
    videos = table["video_sha256"].unique()
    sizes = {v: (WIDTH, HEIGHT) for v in videos if v != "f" * 64}
    counts = dict.fromkeys(sizes, FRAMES * 2)
    return table, sizes, counts, planted


# ---------------------------------------------------------------------------------------------------------------
# Timing


def _rule_breakdown(table: pd.DataFrame, sizes: dict, counts: dict) -> dict[str, float]:
    """Seconds per rule in registry order; shared sort orders are charged to the first rule that needs them."""
    config = qc.QcConfig()
    ctx = qc.QcContext(sizes, frozenset(CLASSES), config.tolerance_px, counts, config, tuple(CLASSES))
    rows = table[ANNOTATION_COLUMNS]
    out = {}
    for rule in qc.RULES:
        start = time.perf_counter()
        rule.check(rows, ctx)
        out[rule.name] = time.perf_counter() - start
    return out


def machine() -> dict:
    import great_expectations as gx

    return {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(), "pandas": pd.__version__,
            "numpy": np.__version__, "great_expectations": gx.__version__,
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "load": "{:.1f}, {:.1f}, {:.1f}".format(*os.getloadavg())}


def run(n_boxes: int, seed: int, repeats: int) -> dict:
    start = time.perf_counter()
    table, sizes, counts, planted = make_table(n_boxes, seed)
    generated_s = time.perf_counter() - start

    qc_times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = qc.run_qc(table, sizes, CLASSES, frame_counts=counts)
        qc_times.append(time.perf_counter() - start)
    breakdown = _rule_breakdown(table, sizes, counts)

    start = time.perf_counter()
    validate_table(table.head(10), CLASSES)  # GX import and context: paid once per process, reported apart
    ge_setup_s = time.perf_counter() - start
    ge_times = []
    for _ in range(repeats):
        start = time.perf_counter()
        summary = validate_table(table, CLASSES)
        ge_times.append(time.perf_counter() - start)

    qc_s, ge_s = min(qc_times), min(ge_times)
    return {
        "boxes": len(table), "generated_s": generated_s, "planted": planted,
        "qc_s": qc_s, "qc_boxes_per_s": len(table) / qc_s, "qc_runs_s": qc_times,
        "ge_s": ge_s, "ge_boxes_per_s": len(table) / ge_s, "ge_runs_s": ge_times, "ge_setup_s": ge_setup_s,
        "breakdown": breakdown,
        "kept": len(result.kept), "rejected": len(result.rejected), "flagged": len(result.flagged),
        "pass_rate": result.pass_rate, "rule_counts": result.rule_counts, "severities": result.severities,
        "agreement": result.agreement, "review_frames": len(result.review),
        "ge_success": summary["success"], "ge_evaluated": summary["evaluated"],
        "ge_failed": {f["expectation"] + ":" + str(f.get("column", f.get("column_A", ""))): f["unexpected_count"]
                      for f in summary["failed"]},
    }


def markdown(r: dict, m: dict) -> str:
    ratio = r["qc_s"] / r["ge_s"]
    lines = [
        f"## QC benchmark, {r['boxes']:,} boxes — {m['date']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, pandas {m['pandas']}, numpy {m['numpy']}, "
        f"Great Expectations {m['great_expectations']}; load average {m['load']} when it started.",
        "",
        f"| run | seconds (best of {len(r['qc_runs_s'])}) | boxes/s |",
        "|---|---|---|",
        f"| full QC rule set (`run_qc`, {len(r['rule_counts'])} rules + agreement + review sample) "
        f"| {r['qc_s']:.2f} | {r['qc_boxes_per_s']:,.0f} |",
        f"| table expectations through Great Expectations (`validate_table`, {r['ge_evaluated']} expectations) "
        f"| {r['ge_s']:.2f} | {r['ge_boxes_per_s']:,.0f} |",
        "",
        f"QC takes {ratio:.2f}× the time of the GX table checks (target: full rule set under 5 s on 2 cores: "
        f"{'met' if r['qc_s'] < 5 else 'NOT met'}). GX import and context build, once per process: "
        f"{r['ge_setup_s']:.1f} s. All runs: QC {', '.join(f'{t:.2f}' for t in r['qc_runs_s'])} s; "
        f"GX {', '.join(f'{t:.2f}' for t in r['ge_runs_s'])} s.",
        "",
        f"Result: {r['kept']:,} kept ({r['pass_rate']:.2%}), {r['rejected']:,} rejected, {r['flagged']:,} flagged, "
        f"{r['review_frames']:,} frames drawn for review.",
        "",
        "| rule | severity | rows hit | seconds alone |",
        "|---|---|---|---|",
        *(f"| {name} | {r['severities'][name]} | {count:,} | {r['breakdown'].get(name, 0):.3f} |"
          for name, count in r["rule_counts"].items()),
        "",
        "Planted: " + ", ".join(f"{k} {v:,}" for k, v in r["planted"].items()) + ".",
        "",
        "Annotator agreement (frames labelled twice):",
        "",
        "| annotator_a | annotator_b | frames | boxes_a | boxes_b | matched | agreement |",
        "|---|---|---|---|---|---|---|",
        *(f"| {a.annotator_a} | {a.annotator_b} | {a.frames:,} | {a.boxes_a:,} | {a.boxes_b:,} | {a.matched:,} "
          f"| {a.agreement:.3f} |" for a in r["agreement"].itertuples()),
        "",
        "GX failed expectations (unexpected rows): " + json.dumps(r["ge_failed"]),
        "",
    ]
    return "\n".join(lines)


CROWDED_IMAGES = 30


def crowded_table(n_boxes: int, seed: int = 0) -> tuple[pd.DataFrame, dict, dict]:
    """n_boxes boxes of one class on CROWDED_IMAGES 1280x720 images of one COCO file, 0.5 % of them drawn twice."""
    rng = np.random.default_rng(seed)
    base = int(n_boxes / 1.005)
    w, h = rng.uniform(8, 120, base), rng.uniform(8, 120, base)
    x1, y1 = rng.uniform(0, WIDTH - w), rng.uniform(0, HEIGHT - h)
    boxes = pd.DataFrame({"frame_index": rng.integers(0, CROWDED_IMAGES, base), "x1": x1, "y1": y1, "x2": x1 + w,
                          "y2": y1 + h})
    copies = boxes.sample(n=n_boxes - base, random_state=seed)
    copies[["x1", "x2"]] += rng.uniform(-1, 1, (len(copies), 1))
    boxes = pd.concat([boxes, copies], ignore_index=True)
    video = "c" * 64
    table = boxes.assign(video_sha256=video, class_name="pedestrian", track_id=-1, occluded=False, attributes="{}",
                         annotator="", source_file="crowd.json", source_id=np.arange(len(boxes)).astype(str),
                         source_format="coco", image_name="", class_id=2, declared_area=np.nan, file_findings="")
    table = table.astype(ANNOTATION_DTYPES)[ANNOTATION_COLUMNS]
    return table, {video: (WIDTH, HEIGHT)}, {video: CROWDED_IMAGES}


def run_crowded(n_boxes: int, seed: int, repeats: int) -> dict:
    table, sizes, counts = crowded_table(n_boxes, seed)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = qc.run_qc(table, sizes, CLASSES, frame_counts=counts)
        times.append(time.perf_counter() - start)
    return {"boxes": len(table), "qc_s": min(times), "qc_runs_s": times, "rule_counts": result.rule_counts,
            "breakdown": _rule_breakdown(table, sizes, counts), "planted_duplicates": len(table) - int(n_boxes / 1.005)}


def crowded_markdown(r: dict, m: dict) -> str:
    return "\n".join([
        f"## QC benchmark, crowded: {r['boxes']:,} boxes on {CROWDED_IMAGES} images — {m['date']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores (load average {m['load']} when it started, shared with other "
        f"jobs); Python {m['python']}, pandas {m['pandas']}, numpy {m['numpy']}.",
        "",
        f"One COCO file, one class, about {r['boxes'] // CROWDED_IMAGES:,} boxes per image, "
        f"{r['planted_duplicates']:,} boxes drawn twice (about 1 px apart). Full rule set (`run_qc`): "
        f"**{r['qc_s']:.2f} s** best of {len(r['qc_runs_s'])} ({', '.join(f'{t:.2f}' for t in r['qc_runs_s'])} s); "
        f"target under 5 s: {'met' if r['qc_s'] < 5 else 'NOT met'}. Comparing every pair of boxes of a frame "
        "(the duplicate rule before the sweep) took 21 minutes on this shape.",
        "",
        "| rule | rows hit | seconds alone |",
        "|---|---|---|",
        *(f"| {name} | {count:,} | {r['breakdown'].get(name, 0):.3f} |" for name, count in r["rule_counts"].items()),
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--shape", choices=["lake", "crowded", "both"], default="both")
    args = parser.parse_args(argv)
    if args.shape in ("lake", "both"):
        section = markdown(run(args.boxes, args.seed, args.repeats), machine())
        print(section)
        if not args.no_write:
            record_section("qc_benchmark", section)
    if args.shape in ("crowded", "both"):
        section = crowded_markdown(run_crowded(args.boxes, args.seed, args.repeats), machine())
        print(section)
        if not args.no_write:
            record_section("qc_benchmark_crowded", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

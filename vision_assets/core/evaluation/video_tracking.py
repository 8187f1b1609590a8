"""Tracking evaluation of a checkpoint on the test split's videos, and a replay to watch per video.

The labelled tracks come from the partition's QC-passed table, which keeps the boxes of every labelled frame (not
only the sampled ones). A video is evaluated over its labelled span (first to last labelled frame, every decoded
frame in between, in order: a frame without labels there is a frame with nothing on it), except frames that lost a
box to QC, whose ground truth is incomplete; they are skipped on both sides. Videos without track ids are skipped.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from vision_assets.core.datasets.build import REDUNDANT_BOX_RULES
from vision_assets.core.evaluation.error_table import crop_overlay
from vision_assets.core.evaluation.inference import InferenceConfig, track_frames
from vision_assets.core.evaluation.tracking import evaluate_sequences, evaluate_tracking, identity_errors
from vision_assets.core.lake import Lake, keys
from vision_assets.core.video.decode import VideoSource

TRACK_SUMMARY = ("mota", "motp", "idf1", "idp", "idr", "hota", "deta", "assa", "num_switches", "num_fragmentations",
                 "num_false_positives", "num_misses", "num_objects", "num_predictions", "num_frames",
                 "num_unique_objects")  # fmt: skip


@dataclass
class TestVideo:
    video_sha256: str
    scene: str
    day: str
    lighting: str
    stored_path: str  # lake key
    fps: float
    width: int
    height: int
    ground_truth: pd.DataFrame  # frame, track_id, class_name, x1, y1, x2, y2
    first_frame: int
    last_frame: int
    skipped_frames: set[int] = field(default_factory=set)

    def wanted(self, index: int) -> bool:
        return self.first_frame <= index <= self.last_frame and index not in self.skipped_frames

    @property
    def seconds(self) -> float:
        return (self.last_frame - self.first_frame + 1 - len(self.skipped_frames)) / max(self.fps, 1e-9)


def test_videos(lake: Lake, test: pd.DataFrame, class_names: list[str]) -> list[TestVideo]:
    """The test split's videos that carry labelled tracks, with their ground-truth tracks."""
    if test.empty:
        return []
    partitions = test[["scene", "day"]].drop_duplicates().to_dict("records")
    raw = lake.read_tables(keys.RAW_VIDEOS, partitions)
    kept = lake.read_tables(keys.QC_ANNOTATIONS, partitions)
    rejected = lake.read_tables(keys.QC_REJECTED, partitions)
    if raw.empty or kept.empty:
        return []
    out = []
    lighting = test.groupby("video_sha256")["lighting"].first()
    for sha, where in test.groupby("video_sha256")[["scene", "day"]].first().iterrows():
        rows = raw[(raw["video_sha256"] == sha) & (raw["scene"] == where.scene) & (raw["day"] == where.day)]
        labels = kept[(kept["video_sha256"] == sha) & (kept["scene"] == where.scene) & (kept["day"] == where.day)]
        labels = labels[labels["class_name"].isin(class_names)]
        if rows.empty or labels.empty or (labels["track_id"] < 0).any():
            continue
        if "annotator" in labels:  # a frame labelled twice (for agreement) is scored against one annotator's tracks
            labels = labels[labels["annotator"] == labels.groupby("frame_index")["annotator"].transform("min")]
        video = rows.iloc[0]
        skipped = _incomplete_frames(rejected, sha)
        gt = labels.rename(columns={"frame_index": "frame"})[["frame", "track_id", "class_name", "x1", "y1", "x2", "y2"]]
        gt = gt[~gt["frame"].isin(skipped)].drop_duplicates(["frame", "track_id"]).reset_index(drop=True)
        out.append(TestVideo(
            video_sha256=sha, scene=str(where.scene), day=str(where.day), lighting=str(lighting.get(sha) or "unknown"),
            stored_path=str(video["stored_path"]), fps=float(video["fps"] or 0) or 10.0, width=int(video["width"]),
            height=int(video["height"]), ground_truth=gt, first_frame=int(labels["frame_index"].min()),
            last_frame=int(labels["frame_index"].max()), skipped_frames=skipped,
        ))  # fmt: skip
    return out


def _incomplete_frames(rejected: pd.DataFrame, sha: str) -> set[int]:
    if rejected.empty or "video_sha256" not in rejected:
        return set()
    rows = rejected[rejected["video_sha256"] == sha]
    if "reasons" in rows:
        redundant = rows["reasons"].fillna("").str.split(";").map(lambda names: set(names) <= REDUNDANT_BOX_RULES)
        rows = rows[~redundant.astype(bool)]
    return set(rows["frame_index"].astype(int))


def frames_of(path: Path, video: TestVideo) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, BGR image) of the frames the video is evaluated on, in order; decoding stops after the last."""
    with VideoSource(path) as source:
        for frame in source.frames():
            if frame.index > video.last_frame:
                break
            if video.wanted(frame.index):
                yield frame.index, frame.bgr


def track_video(weights: Path, video_path: Path, video: TestVideo, config: InferenceConfig, *, work_dir: Path,
                device: str = "auto") -> pd.DataFrame:
    return track_frames(weights, frames_of(video_path, video), config, work_dir=work_dir, device=device)


def summarize(metrics: dict) -> dict:
    """The numbers a report keeps (motmetrics' and HOTA's), plus n_boxes: the labelled boxes they rest on."""
    out = {k: metrics[k] for k in TRACK_SUMMARY}
    out["n_boxes"] = int(metrics["num_objects"])
    return out


def score_videos(videos: list[TestVideo], predictions: dict[str, pd.DataFrame]) -> dict:
    """{"overall", "by_scene", "by_lighting", "by_video"}: motmetrics and HOTA over the videos taken together."""
    pairs = {v.video_sha256: (v.ground_truth, predictions[v.video_sha256]) for v in videos}
    if not pairs:
        return {"overall": {}, "by_scene": {}, "by_lighting": {}, "by_video": {}}

    def together(group: list[TestVideo]) -> dict:
        metrics = summarize(evaluate_sequences([pairs[v.video_sha256] for v in group]))
        return {**metrics, "n_videos": len(group), "minutes": round(sum(v.seconds for v in group) / 60, 4)}

    by = {}
    for name, attribute in (("by_scene", "scene"), ("by_lighting", "lighting")):
        values = sorted({getattr(v, attribute) for v in videos})
        by[name] = {value: together([v for v in videos if getattr(v, attribute) == value]) for value in values}
    by_video = {v.video_sha256: {**summarize(evaluate_tracking(*pairs[v.video_sha256])), "scene": v.scene}
                for v in videos}
    return {"overall": together(videos), **by, "by_video": by_video}


def video_identity_errors(video: TestVideo, predictions: pd.DataFrame) -> pd.DataFrame:
    return identity_errors(video.ground_truth, predictions)


def span_frames(path: Path, video: TestVideo) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, BGR image) of every decoded frame of the video's evaluated span, skipped ones included."""
    with VideoSource(path) as source:
        for frame in source.frames():
            if frame.index > video.last_frame:
                break
            if frame.index >= video.first_frame:
                yield frame.index, frame.bgr


def write_replay(video_path: Path, video: TestVideo, predictions: pd.DataFrame, error_rows: pd.DataFrame,
                 out_path: Path) -> dict[int, bytes]:
    """A browser-playable MP4 (H.264, see browser_mp4) of the evaluated span with labelled boxes (green, "gt <id>")
    and predicted tracks (a colour per id, "#<id>") drawn; returns a crop/overlay JPEG per row of error_rows (by its
    index), cut from the same frames while they are decoded (ground truth green, the prediction on that object red).

    Every frame of the span is in the replay at the video's rate, so its time is the video's time: a frame the
    evaluation skipped (it lost a box to QC) is shown marked "not evaluated (QC)" with no boxes, not left out."""
    from vision_assets.core.video.browser_mp4 import BrowserMp4Writer

    out_path.parent.mkdir(parents=True, exist_ok=True)
    gt_by_frame = dict(iter(video.ground_truth.groupby("frame")))
    pred_by_frame = dict(iter(predictions.groupby("frame"))) if len(predictions) else {}
    errors_by_frame = dict(iter(error_rows.groupby("frame_index"))) if len(error_rows) else {}
    crops: dict[int, bytes] = {}
    with BrowserMp4Writer(out_path, float(video.fps), video.width, video.height) as writer:
        for index, image in span_frames(video_path, video):
            canvas = image.copy()
            if video.wanted(index):
                preds = pred_by_frame.get(index)
                for index_, row in (errors_by_frame.get(index, pd.DataFrame()).iterrows()):
                    crops[index_] = crop_overlay(image, _with_prediction(row, preds))
                for box in _rows(gt_by_frame.get(index)):
                    _draw(canvas, box, (0, 200, 0), f"gt {int(box.track_id)}", above=False)
                for box in _rows(preds):
                    _draw(canvas, box, _colour(int(box.track_id)), f"#{int(box.track_id)}", above=True)
                caption, colour = f"frame {index}", (255, 255, 255)
            else:
                canvas //= 2  # dimmed: nothing on this frame was scored
                caption, colour = f"frame {index} not evaluated (QC)", (0, 200, 255)
            cv2.putText(canvas, caption, (4, video.height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
            if canvas.shape[:2] != (video.height, video.width):
                canvas = cv2.resize(canvas, (video.width, video.height))
            writer.write(canvas)
    return crops


def _with_prediction(row: pd.Series, preds: pd.DataFrame | None) -> dict:
    """The error row with the prediction box of the track now on the object (if any) as its detection box."""
    out = row.to_dict()
    if preds is not None and int(row["track_id"]) >= 0:
        match = preds[preds["track_id"] == int(row["track_id"])]
        if len(match):
            out.update({f"det_{c}": float(match.iloc[0][c]) for c in ("x1", "y1", "x2", "y2")})
    return out


def _rows(df: pd.DataFrame | None):
    return [] if df is None else df.itertuples(index=False)


def _colour(track_id: int) -> tuple[int, int, int]:
    rng = np.random.default_rng(track_id)
    return tuple(int(c) for c in rng.integers(64, 256, 3))


def _draw(image: np.ndarray, box, colour, label: str, *, above: bool) -> None:
    p1, p2 = (int(box.x1), int(box.y1)), (int(box.x2), int(box.y2))
    cv2.rectangle(image, p1, p2, colour, 1)
    y = p1[1] - 3 if above else p2[1] + 10
    cv2.putText(image, label, (p1[0], max(8, y)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour, 1, cv2.LINE_AA)


def temporary_mp4(work_dir: Path) -> Path:
    work_dir.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=work_dir, suffix=".mp4", delete=False)
    handle.close()
    return Path(handle.name)

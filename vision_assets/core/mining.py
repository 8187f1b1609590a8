"""Hard-example mining: the frames a model is least sure about, for the labeling queue."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vision_assets.core.training import predict


def frame_uncertainty(detections: pd.DataFrame, image_paths: list[str]) -> pd.DataFrame:
    """Per frame: the most ambiguous detection (confidence nearest 0.5 scores 1, near 0 or 1 scores 0)."""
    scores = pd.DataFrame({"image_path": image_paths})
    if detections.empty:
        return scores.assign(uncertainty=0.0, detections=0, max_confidence=0.0)
    ambiguity = 1.0 - np.abs(2.0 * detections["score"] - 1.0)
    per_frame = detections.assign(ambiguity=ambiguity).groupby("image_path").agg(
        uncertainty=("ambiguity", "max"), detections=("score", "size"), max_confidence=("score", "max"))
    scores = scores.join(per_frame, on="image_path")
    return scores.fillna({"uncertainty": 0.0, "detections": 0, "max_confidence": 0.0})


def mine_hard_examples(weights: Path, frames: pd.DataFrame, *, work_dir: Path, imgsz: int, top_k: int = 25,
                       device: str = "auto", min_confidence: float = 0.05) -> pd.DataFrame:
    paths = frames["image_path"].tolist()
    detections = predict(weights, paths, work_dir=work_dir, imgsz=imgsz, device=device, conf=min_confidence)
    scored = frames.merge(frame_uncertainty(detections, paths), on="image_path")
    ranked = scored.sort_values(["uncertainty", "frame_sha256"], ascending=[False, True])
    return ranked[ranked["uncertainty"] > 0].head(top_k).reset_index(drop=True)

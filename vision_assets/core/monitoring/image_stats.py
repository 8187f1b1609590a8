"""Per-frame image statistics that reveal a moved camera, a dirty or broken lens, night or a season change."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

IMAGE_STAT_COLUMNS = ["brightness", "contrast", "sharpness", "mean_blue", "mean_green", "mean_red"]


def frame_statistics(image: np.ndarray) -> dict[str, float]:
    """brightness/contrast: mean/std of grey levels; sharpness: variance of the Laplacian (low = blurred)."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    blue, green, red = (image.reshape(-1, 3).mean(axis=0) if image.ndim == 3 else (grey.mean(),) * 3)
    return {"brightness": float(grey.mean()), "contrast": float(grey.std()),
            "sharpness": float(cv2.Laplacian(grey, cv2.CV_64F).var()),
            "mean_blue": float(blue), "mean_green": float(green), "mean_red": float(red)}


def image_statistics(image_paths: list[str]) -> pd.DataFrame:
    """One row per image (image_path + IMAGE_STAT_COLUMNS); an unreadable image gets NaNs and readable=False."""
    rows = []
    for path in image_paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        stats = frame_statistics(image) if image is not None else dict.fromkeys(IMAGE_STAT_COLUMNS, np.nan)
        rows.append({"image_path": str(Path(path)) if not isinstance(path, str) else path, **stats,
                     "readable": image is not None})
    return pd.DataFrame(rows, columns=["image_path", *IMAGE_STAT_COLUMNS, "readable"])

"""The fixed street backdrop of a scene: buildings, sidewalks, road, trees, lamps, and its lanes."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vision_assets.demo.spec import DemoSpec, random_bgr, seeded_rng


@dataclass(frozen=True)
class Lane:
    kind: str  # "car", "bike" or "sidewalk": which class may use it
    bottom_lo: int  # range of the object's bottom edge (y, exclusive hi)
    bottom_hi: int
    direction: int  # +1 moves right, -1 left, 0 either way


@dataclass
class Backdrop:
    """Everything about a scene that does not change between its videos."""

    image: np.ndarray  # uint8 HxWx3, daylight, no objects
    lanes: tuple[Lane, ...]
    lamp_light: np.ndarray  # float32 HxW, 0..1 pool of light under the street lamps at night
    windows: np.ndarray  # bool HxW, windows lit at night


def build_backdrop(scene: str, spec: DemoSpec) -> Backdrop:
    rng = seeded_rng(spec.seed, "scene", scene)
    w, h = spec.width, spec.height
    sidewalk_h = [int(h * rng.uniform(0.15, 0.18)) for _ in range(2)]
    road_h = int(h * rng.uniform(0.38, 0.43))
    verge_h = int(h * rng.uniform(0.02, 0.07))
    top_h = h - sum(sidewalk_h) - road_h - verge_h
    walk1 = top_h
    road0 = walk1 + sidewalk_h[0]
    road1 = road0 + road_h
    walk2_end = road1 + sidewalk_h[1]

    img = np.zeros((h, w, 3), np.uint8)
    windows = np.zeros((h, w), bool)
    img[:] = random_bgr(rng, 40, 90)  # verge: shrubs or dirt below the far sidewalk
    img[:, :, 1] = np.clip(img[:, :, 1].astype(int) + 50, 0, 255)
    img[:top_h] = (int(rng.integers(200, 235)), int(rng.integers(170, 205)), int(rng.integers(120, 160)))  # sky
    _paint_buildings(img, windows, top_h, rng)
    grey, beige = int(rng.integers(150, 185)), bool(rng.random() < 0.5)
    sidewalk = (grey, grey + 5 * beige, grey + 12 * beige)
    for y0, y1 in ((walk1, road0), (road1, walk2_end)):
        _paint_sidewalk(img, y0, y1, sidewalk, rng)
    bike_h = max(6, int(road_h * 0.18))
    _paint_road(img, road0, road1, bike_h, rng)
    if rng.random() < 0.5:
        _paint_side_street(img, windows, road0, rng)
    _paint_trees(img, top_h, walk2_end, rng)
    lamps = _paint_lamps(img, walk1, road0, rng)
    # A faint fixed texture so the background is not flat colour, which no real camera delivers.
    texture = cv2.GaussianBlur(rng.normal(0, 4, (h, w, 1)).astype(np.float32), (3, 3), 0)[:, :, None]
    img = np.clip(img + texture, 0, 255).astype(np.uint8)

    mid = road0 + road_h // 2
    lanes = (
        Lane("sidewalk", walk1 + int(sidewalk_h[0] * 0.45), road0 - 1, 0),
        Lane("bike", road0 + bike_h - 3, road0 + bike_h + 1, -1),
        Lane("car", mid - 4, mid, -1),
        Lane("car", road1 - bike_h - 4, road1 - bike_h, +1),
        Lane("bike", road1 - 3, road1, +1),
        Lane("sidewalk", road1 + int(sidewalk_h[1] * 0.45), walk2_end, 0),
    )
    return Backdrop(img, lanes, _lamp_pools(lamps, road0, road1, w, h), windows)


def _paint_buildings(img: np.ndarray, windows: np.ndarray, base: int, rng: np.random.Generator) -> None:
    x = int(rng.integers(-30, 0))
    while x < img.shape[1]:
        bw = int(rng.integers(40, 95))
        top = int(base * rng.uniform(0.0, 0.6))
        if rng.random() < 0.2:  # a gap in the row lets the sky through and breaks repetition
            x += bw // 2
            continue
        colour = random_bgr(rng, 70, 190)
        cv2.rectangle(img, (x, top), (x + bw - 1, base - 1), colour, -1)
        window = tuple(int(c * 0.45) for c in colour)
        for wy in range(top + 4, base - 8, 10):
            for wx in range(x + 4, x + bw - 8, 11):
                cv2.rectangle(img, (wx, wy), (wx + 5, wy + 5), window, -1)
                if rng.random() < 0.35:
                    windows[max(wy, 0):wy + 6, max(wx, 0):wx + 6] = True
        x += bw


def _paint_sidewalk(img: np.ndarray, y0: int, y1: int, colour: tuple, rng: np.random.Generator) -> None:
    img[y0:y1] = colour
    joint = tuple(max(c - 25, 0) for c in colour)
    for x in range(int(rng.integers(0, 16)), img.shape[1], 16):
        img[y0:y1, x] = joint
    img[y0] = joint
    img[y1 - 1] = tuple(min(c + 30, 255) for c in colour)  # curb


def _paint_road(img: np.ndarray, y0: int, y1: int, bike_h: int, rng: np.random.Generator) -> None:
    img[y0:y1] = (int(rng.integers(70, 95)),) * 3
    white = (235, 235, 235)
    centre = (40, 190, 230) if rng.random() < 0.5 else white  # yellow or white centre line
    mid = (y0 + y1) // 2
    dash, gap = int(rng.integers(10, 18)), int(rng.integers(8, 14))
    for x in range(int(rng.integers(0, dash + gap)) - dash, img.shape[1], dash + gap):
        cv2.rectangle(img, (x, mid - 1), (x + dash, mid), centre, -1)
    for y in (y0 + bike_h, y1 - bike_h):
        img[y] = white
    if rng.random() < 0.6:
        x = int(rng.integers(30, img.shape[1] - 70))
        for sx in range(x, x + 40, 8):
            img[y0 + 2:y1 - 2, sx:sx + 4] = white


def _paint_side_street(img: np.ndarray, windows: np.ndarray, road0: int, rng: np.random.Generator) -> None:
    width = int(rng.integers(36, 60))
    x = int(rng.integers(20, img.shape[1] - width - 20))
    img[road0 // 3:road0, x:x + width] = img[road0 + 2, 0]
    img[road0 // 3:road0, x + width // 2] = (230, 230, 230)
    windows[:, x:x + width] = False


def _paint_trees(img: np.ndarray, horizon: int, bottom: int, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(1, 5))):
        x = int(rng.integers(0, img.shape[1]))
        behind_sidewalk = rng.random() < 0.6
        y = int(horizon * rng.uniform(0.55, 0.95)) if behind_sidewalk else int(rng.integers(bottom, img.shape[0] + 1))
        r = int(rng.integers(8, 16))
        cv2.rectangle(img, (x - 1, y - r), (x + 1, y), (30, 50, 70), -1)
        cv2.circle(img, (x, y - r - r // 2), r, (int(rng.integers(20, 50)), int(rng.integers(90, 140)), 40), -1)


def _paint_lamps(img: np.ndarray, walk: int, road0: int, rng: np.random.Generator) -> list[int]:
    """Lamp posts along the far curb; returns the x of each lamp head."""
    lamps = []
    spacing = int(rng.integers(70, 120))
    for x in range(int(rng.integers(10, spacing)), img.shape[1], spacing):
        top = max(walk - 30, 2)
        cv2.line(img, (x, road0 - 2), (x, top), (45, 45, 50), 1)
        cv2.line(img, (x, top), (x + 6, top), (45, 45, 50), 1)
        lamps.append(x + 6)
    return lamps


def _lamp_pools(lamps: list[int], road0: int, road1: int, w: int, h: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    pool = np.zeros((h, w), np.float32)
    cy = (road0 + road1) / 2 - (road1 - road0) * 0.2  # lamps overhang the road, so their pools centre on it
    for lx in lamps:
        pool += np.exp(-((xx - lx) ** 2 / (2 * 30.0**2) + (yy - cy) ** 2 / (2 * 40.0**2)))
    return np.clip(pool, 0, 1)

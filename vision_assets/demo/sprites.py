"""Sprites of the demo classes (car, pedestrian, cyclist) with their exact pixel masks and night lamps."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vision_assets.demo.spec import random_bgr


@dataclass
class Sprite:
    colour: np.ndarray  # uint8 hxwx3
    mask: np.ndarray  # bool hxw, exactly the drawn pixels; the sprite is trimmed to them so the box is tight
    lights: np.ndarray  # uint8 hxw: 1 head/front lamp, 2 tail lamp; shine only at night

    @property
    def size(self) -> tuple[int, int]:
        return self.mask.shape[1], self.mask.shape[0]


class _Canvas:
    """Draws the object's colour, its mask and its lamps in one go, so they cannot drift apart."""

    def __init__(self, w: int, h: int) -> None:
        self.colour = np.zeros((h, w, 3), np.uint8)
        self.mask = np.zeros((h, w), np.uint8)
        self.lights = np.zeros((h, w), np.uint8)

    def draw(self, fn, *args, colour, light: int = 0, **kwargs) -> None:
        fn(self.colour, *args, colour, **kwargs)
        fn(self.mask, *args, 255, **kwargs)
        fn(self.lights, *args, light, **kwargs)

    def sprite(self, flip: bool) -> Sprite:
        ys, xs = np.nonzero(self.mask)
        crop = np.s_[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        colour, mask, lights = self.colour[crop], self.mask[crop] > 0, self.lights[crop]
        if flip:
            colour, mask, lights = colour[:, ::-1], mask[:, ::-1], lights[:, ::-1]
        return Sprite(np.ascontiguousarray(colour), np.ascontiguousarray(mask), np.ascontiguousarray(lights))


_CAR_COLOURS = [(40, 40, 200), (170, 80, 30), (235, 235, 235), (30, 30, 30), (40, 200, 230), (60, 140, 50),
                (190, 190, 195), (20, 120, 240), (120, 40, 120)]


def _car_sprite(w: int, h: int, direction: int, rng: np.random.Generator) -> Sprite:
    body = _CAR_COLOURS[int(rng.integers(len(_CAR_COLOURS)))]
    glass = tuple(int(c * 0.25) + 25 for c in body)
    c = _Canvas(w, h)
    r = max(3, round(h * 0.2))
    top = round(h * 0.4)

    def pts(*corners: tuple[float, float]) -> list[np.ndarray]:  # corners as fractions of the sprite size
        return [np.array([(round(x * w), round(y * h)) for x, y in corners], np.int32)]

    c.draw(cv2.fillPoly, pts((0.2, 0.4), (0.32, 0), (0.66, 0), (0.8, 0.4)), colour=body)
    c.draw(cv2.fillPoly, pts((0.27, 0.38), (0.35, 0.1), (0.47, 0.1), (0.47, 0.38)), colour=glass)
    c.draw(cv2.fillPoly, pts((0.51, 0.38), (0.51, 0.1), (0.63, 0.1), (0.73, 0.38)), colour=glass)
    c.draw(cv2.rectangle, (0, top), (w - 1, h - 1 - r // 2), colour=body, thickness=-1)
    for cx in (round(w * 0.2), round(w * 0.8)):
        c.draw(cv2.circle, (cx, h - 1 - r), r, colour=(25, 25, 25), thickness=-1)
        c.draw(cv2.circle, (cx, h - 1 - r), max(1, r // 2), colour=(140, 140, 140), thickness=-1)
    c.draw(cv2.rectangle, (w - 3, top + 1), (w - 1, top + 3), colour=(200, 225, 235), light=1, thickness=-1)
    c.draw(cv2.rectangle, (0, top + 1), (1, top + 3), colour=(30, 30, 160), light=2, thickness=-1)
    return c.sprite(flip=direction < 0)


def _pedestrian_sprite(w: int, h: int, rng: np.random.Generator) -> Sprite:
    skin = [(60, 90, 140), (110, 150, 200), (150, 190, 230), (40, 60, 90)][int(rng.integers(4))]
    shirt, pants = random_bgr(rng, 30, 255), random_bgr(rng, 20, 110)
    c = _Canvas(w, h)
    r = max(2, round(w * 0.25))
    hip, inset = round(h * 0.6), round(w * 0.18)
    c.draw(cv2.rectangle, (inset, 2 * r), (w - 1 - inset, hip), colour=shirt, thickness=-1)
    for x in (0, w - 1):  # arms
        c.draw(cv2.line, (x, 2 * r + 1), (x, round(h * 0.55)), colour=tuple(v // 2 + 20 for v in shirt))
    c.draw(cv2.rectangle, (round(w * 0.2), hip), (w // 2 - 1, h - 1), colour=pants, thickness=-1)
    c.draw(cv2.rectangle, (w // 2 + 1, hip), (w - 1 - round(w * 0.2), h - 1), colour=pants, thickness=-1)
    c.draw(cv2.circle, (w // 2, r), r, colour=skin, thickness=-1)
    return c.sprite(flip=False)


def _cyclist_sprite(w: int, h: int, direction: int, rng: np.random.Generator) -> Sprite:
    frame_colour, jacket, pants = random_bgr(rng, 60, 255), random_bgr(rng, 80, 255), random_bgr(rng, 20, 100)
    c = _Canvas(w, h)
    r = max(3, round(w * 0.2))
    rear, front = (r, h - 1 - r), (w - 1 - r, h - 1 - r)
    seat, crank = (round(w * 0.42), round(h * 0.55)), (round(w * 0.5), h - 1 - r)
    bar = (round(w * 0.72), round(h * 0.5))
    shoulder, head_r = (round(w * 0.58), round(h * 0.25)), max(2, round(h * 0.1))
    for hub in (rear, front):
        c.draw(cv2.circle, hub, r, colour=(20, 20, 20), thickness=2)
    for a, b in ((rear, seat), (seat, crank), (crank, front), (seat, bar), (bar, front)):
        c.draw(cv2.line, a, b, colour=frame_colour)
    c.draw(cv2.line, seat, crank, colour=pants, thickness=2)
    c.draw(cv2.line, seat, shoulder, colour=jacket, thickness=3)
    c.draw(cv2.line, shoulder, bar, colour=jacket, thickness=2)
    c.draw(cv2.circle, (round(w * 0.62), head_r), head_r, colour=(60, 60, 60), thickness=-1)
    c.draw(cv2.rectangle, (bar[0], bar[1]), (bar[0] + 1, bar[1] + 1), colour=(210, 210, 210), light=1, thickness=-1)
    c.draw(cv2.rectangle, (rear[0] - 1, rear[1] - r - 2), (rear[0], rear[1] - r - 1), colour=(40, 40, 170), light=2,
           thickness=-1)
    return c.sprite(flip=direction < 0)


def make_sprite(cls: str, depth: float, direction: int, rng: np.random.Generator) -> Sprite:
    # Nearer objects (lower in the image) are drawn a little bigger; the rest of the size is individual.
    def size(lo: int, hi: int) -> int:
        return int(round(lo + (hi - lo) * (0.6 * rng.random() + 0.4 * depth)))

    if cls == "car":
        return _car_sprite(size(40, 70), size(20, 30), direction, rng)
    if cls == "pedestrian":
        return _pedestrian_sprite(size(8, 12), size(20, 30), rng)
    return _cyclist_sprite(size(16, 24), size(20, 28), direction, rng)

"""What a demo dataset looks like (DemoSpec), the classes it draws, and the seeding that makes it reproducible."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import numpy as np

from vision_assets.core.errors import InvalidOption

DEMO_CLASSES = ("car", "pedestrian", "cyclist")


@dataclass(frozen=True)
class DemoSpec:
    scenes: tuple[str, ...] = ("cam-north", "cam-south", "cam-east")
    days: tuple[str, ...] = ("2026-11-18", "2026-11-19")  # YYYY-MM-DD
    videos_per_day: int = 2
    seconds: float = 12.0
    fps: int = 10
    width: int = 320
    height: int = 192
    seed: int = 7
    bad_label_share: float = 0.01  # share of tracks given a deliberately corrupted label, for QC to catch

    def __post_init__(self) -> None:
        for day in self.days:
            try:
                date.fromisoformat(day)  # raises on anything but YYYY-MM-DD
            except (TypeError, ValueError):
                raise InvalidOption(object=f"demo spec day {day!r}", problem="not a YYYY-MM-DD date") from None
        if self.n_frames < 1 or self.width < 64 or self.height < 64:
            raise InvalidOption(object="demo spec", problem=f"too small to draw a street scene: {self}")
        if not 0 <= self.bad_label_share <= 1:
            raise InvalidOption(object="demo spec", problem=f"bad_label_share must lie in [0, 1], got {self.bad_label_share}")

    @property
    def n_frames(self) -> int:
        return int(round(self.seconds * self.fps))


# Every random choice draws from a generator seeded by what it is for (spec seed, scene, video, purpose), so one
# part of the output can change without reshuffling the rest.
def seeded_rng(*parts: object) -> np.random.Generator:
    # Python's hash() is salted per process; sha256 keeps runs reproducible across processes and machines.
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def random_bgr(rng: np.random.Generator, lo: int, hi: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, size=3))

"""One demo video planned before any pixel is drawn: its weather, its traffic and the labels of that traffic."""

from __future__ import annotations

from dataclasses import dataclass

from vision_assets.demo.labels import TrackLabels, label_tracks
from vision_assets.demo.scene import Backdrop
from vision_assets.demo.simulate import Track, simulate_traffic
from vision_assets.demo.spec import DemoSpec, seeded_rng


@dataclass
class VideoPlan:
    scene: str
    day: str
    index: int
    night: bool
    weather: str
    tracks: list[Track]
    labels: list[TrackLabels]  # one per track, in the same order

    @property
    def stem(self) -> str:
        return f"{self.scene}_{self.day}_{self.index}"

    @property
    def n_boxes(self) -> int:
        return sum(t.n_boxes for t in self.labels)

    @property
    def n_bad_boxes(self) -> int:
        return sum(t.n_bad for t in self.labels)


def plan_video(backdrop: Backdrop, scene: str, day: str, index: int, night: bool, spec: DemoSpec) -> VideoPlan:
    """Seeded by the video's own identity, so adding scenes, days or videos leaves the others unchanged."""
    parts = (spec.seed, scene, day, index)
    rng = seeded_rng(*parts)
    weather = str(rng.choice(["clear", "rain", "fog"], p=[0.6, 0.25, 0.15]))
    tracks = simulate_traffic(backdrop, spec, rng)
    return VideoPlan(scene, day, index, night, weather, tracks, label_tracks(tracks, spec, parts))

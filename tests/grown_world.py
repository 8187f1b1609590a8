"""The session's trained world grown the way the demo grows: footage for two new scene-days lands, one of them with
labels exported in the wrong coordinate space (every box off the image: its QC fails), and the next pass ingests,
QCs, monitors and retrains, so the registry holds a second version trained on a second dataset version."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from helpers import TINY_SPEC, data_folder_instance, run_once, settings_for, tiny_definitions

GOOD_NEW = ("cam-a", "2026-11-19")  # new footage with good labels: a new dataset version, a retrain
BAD_NEW = ("cam-b", "2026-11-20")  # new footage whose labels all lie off the image: qc_pass_rate fails


def shift_boxes_off_the_image(xml: Path, by: float = 1000.0) -> None:
    """A CVAT-for-video file whose boxes were exported in another image's pixel space: every box right of the frame."""
    def moved(match: re.Match) -> str:
        return f'{match.group(1)}="{float(match.group(2)) + by:.2f}"'

    xml.write_text(re.sub(r'\b(xtl|xbr)="([0-9.]+)"', moved, xml.read_text()))


def grow_world(world_data: Path, data_dir: Path):
    """Copies the trained world's data folder to data_dir, lands the two new scene-days and runs one demo pass
    (landing sensor, automation, retrain sensor, nightly mining); returns (settings, runs)."""
    from vision_assets.demo import DemoSpec, generate_demo_data

    shutil.copytree(world_data, data_dir, symlinks=True)
    settings = settings_for(data_dir)
    for (scene, day), seed in ((GOOD_NEW, 5), (BAD_NEW, 7)):
        generate_demo_data(settings.landing_dir, DemoSpec(**{**TINY_SPEC, "scenes": (scene,), "days": (day,),
                                                             "seed": seed}))
    for xml in (settings.landing_dir / BAD_NEW[0] / BAD_NEW[1]).glob("*.xml"):
        shift_boxes_off_the_image(xml)
    with data_folder_instance(data_dir) as instance:
        daemon = run_once(tiny_definitions(settings), instance)
    return settings, tuple(daemon.runs)

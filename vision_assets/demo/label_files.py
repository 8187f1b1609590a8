"""The two files written beside each demo video: its "CVAT for video 1.1" XML and its JSON sidecar."""

from __future__ import annotations

import hashlib
import json
from xml.sax.saxutils import escape, quoteattr

from vision_assets.demo.plan import VideoPlan
from vision_assets.demo.spec import DEMO_CLASSES, DemoSpec, seeded_rng


def cvat_xml(video: VideoPlan, spec: DemoSpec) -> str:
    n = spec.n_frames
    stamp = f"{video.day} 23:30:00.000000+00:00"  # fixed, so regeneration is byte-identical
    task_id = int.from_bytes(hashlib.sha256(video.stem.encode()).digest()[:3], "little")
    labels = "".join(f"        <label>\n          <name>{escape(c)}</name>\n          <attributes>\n"
                      f"          </attributes>\n        </label>\n" for c in DEMO_CLASSES)
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n  <meta>\n    <task>\n',
        f"      <id>{task_id}</id>\n      <name>{escape(video.stem)}</name>\n      <size>{n}</size>\n",
        "      <mode>interpolation</mode>\n      <overlap>0</overlap>\n      <bugtracker></bugtracker>\n",
        f"      <created>{stamp}</created>\n      <updated>{stamp}</updated>\n",
        f"      <start_frame>0</start_frame>\n      <stop_frame>{n - 1}</stop_frame>\n",
        "      <frame_filter></frame_filter>\n      <z_order>True</z_order>\n",
        f"      <labels>\n{labels}      </labels>\n",
        f"      <segments>\n        <segment>\n          <id>{task_id}</id>\n          <start>0</start>\n"
        f"          <stop>{n - 1}</stop>\n          <url></url>\n        </segment>\n      </segments>\n",
        "      <owner>\n        <username>demo-generator</username>\n        <email></email>\n      </owner>\n",
        "      <assignee></assignee>\n",
        f"      <original_size>\n        <width>{spec.width}</width>\n        <height>{spec.height}</height>\n"
        "      </original_size>\n    </task>\n",
        f"    <dumped>{stamp}</dumped>\n    <source>{escape(video.stem)}.mp4</source>\n  </meta>\n",
    ]
    for track, labels_ in zip(video.tracks, video.labels):
        if not labels_.shapes:
            continue
        out.append(f'  <track id="{track.track_id}" label={quoteattr(labels_.label)} source="manual">\n')
        for frame, outside, occluded, (x1, y1, x2, y2) in labels_.shapes:
            out.append(f'    <box frame="{frame}" outside="{outside}" occluded="{occluded}" keyframe="1" '
                       f'xtl="{x1:.2f}" ytl="{y1:.2f}" xbr="{x2:.2f}" ybr="{y2:.2f}" z_order="{track.z}">\n'
                       "    </box>\n")
        out.append("  </track>\n")
    out.append("</annotations>\n")
    return "".join(out)


def sidecar_json(video: VideoPlan, spec: DemoSpec) -> str:
    rng = seeded_rng(spec.seed, video.stem, "sidecar")
    hour = 18 + video.index % 5 if video.night else 8 + (3 * video.index) % 9
    start = f"{video.day}T{hour:02d}:{int(rng.integers(60)):02d}:{int(rng.integers(60)):02d}+00:00"
    lighting = "night" if video.night else "day"
    meta = {"device": f"demo-{video.scene}", "capture_start": start, "weather": video.weather, "lighting": lighting,
            "tags": ["synthetic", "demo", video.scene, lighting, video.weather]}
    return json.dumps(meta, indent=2) + "\n"

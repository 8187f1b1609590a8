"""A sidecar says a few words about its video: a huge text in it refuses the video with the reason."""

from __future__ import annotations

import json

from vision_assets.core.ingest.sidecar import MAX_TEXT_CHARS, load_sidecar
from vision_assets.core.input_files import InputLimits


def test_a_huge_sidecar_text_refuses_its_video_with_the_reason(tmp_path):
    limits = InputLimits()
    path = tmp_path / "cam.mp4.json"
    path.write_text(json.dumps({"scene": "gate", "notes": "n" * 50_000_000}))
    sidecar, problem = load_sidecar(path, limits)
    assert sidecar == {}
    assert problem.startswith("sidecar cam.mp4.json: is ") and "over the sidecar limit of 65,536 bytes" in problem

    path.write_text(json.dumps({"scene": "gate", "extra": {"comment": "c" * (MAX_TEXT_CHARS + 1)}}))
    assert load_sidecar(path, limits)[1] == (
        f'sidecar cam.mp4.json: "extra.comment" is {MAX_TEXT_CHARS + 1:,} characters, over the '
        f"{MAX_TEXT_CHARS:,}-character limit for a sidecar text")
    path.write_text(json.dumps({"scene": "gate", "tags": ["t" * 2000]}))
    assert '"tags.0" is 2,000 characters' in load_sidecar(path, limits)[1]

    path.write_text(json.dumps({"scene": "gate", "notes": "n" * MAX_TEXT_CHARS, "tags": ["dusk"]}))
    assert load_sidecar(path, limits) == ({"scene": "gate", "notes": "n" * MAX_TEXT_CHARS, "tags": ["dusk"]}, "")

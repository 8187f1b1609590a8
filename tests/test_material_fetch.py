"""Where the tests find their material, and that the pinned list describes the material they use."""

from __future__ import annotations

from pathlib import Path

import material_fetch
import pytest
from helpers import MATERIAL, MATERIAL_PROBLEM


def test_every_pinned_file_matches_the_material_in_use():
    pinned = {item.path for item in material_fetch.MATERIAL}
    present = {str(p.relative_to(MATERIAL)) for p in MATERIAL.rglob("*") if p.is_file() and p.name != "MANIFEST.md"}
    assert present <= pinned
    for item in material_fetch.MATERIAL:
        if item.path in present:
            assert material_fetch.sha256_of(MATERIAL / item.path) == item.sha256, item.path
    missing = sorted(pinned - present)
    if missing and MATERIAL_PROBLEM:  # a machine that reaches only the package registries: say what it lacks
        pytest.skip(f"not fetched here ({MATERIAL_PROBLEM}): {', '.join(missing)}")
    assert not missing


def test_an_explicit_folder_wins_then_the_shared_folder(tmp_path: Path, monkeypatch):
    repo = tmp_path / "repo"
    shared = tmp_path / "shared" / "material"
    shared.mkdir(parents=True)
    monkeypatch.setenv("VISION_TEST_MATERIAL", str(tmp_path / "elsewhere"))
    assert material_fetch.locate(repo) == tmp_path / "elsewhere"
    monkeypatch.delenv("VISION_TEST_MATERIAL")
    assert material_fetch.locate(repo) == shared


def test_a_file_that_differs_from_its_pin_is_refused(tmp_path: Path):
    item = next(item for item in material_fetch.MATERIAL if item.path.endswith("gt.txt"))
    try:
        material_fetch._write_checked(tmp_path, item, b"not the TUD-Campus ground truth")
    except material_fetch.MaterialError as error:
        assert "mot/TUD-Campus/gt.txt" in str(error) and item.sha256 in str(error)
    else:
        raise AssertionError("a file with the wrong sum was accepted")
    assert not (tmp_path / item.path).exists()


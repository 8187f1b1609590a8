"""`promote V --canary SCENES` and `--complete` against a real MLflow (SQLite): the alias, the scenes, the audit,
and one-line errors for what cannot be done."""

from __future__ import annotations

import pytest
from registry_helpers import prepared_data_folder, register, registry_of

from vision_assets import cli
from vision_assets.core.lake import Lake
from vision_assets.core.registry import DEFAULT_MODEL_NAME, read_audit


@pytest.fixture
def registry(tmp_path, monkeypatch):
    settings = prepared_data_folder(tmp_path, monkeypatch, user="release-rita")
    registry = registry_of(settings)
    for n in (1, 2):
        register(registry, tmp_path, n, gate="pass")
    registry.promote(DEFAULT_MODEL_NAME, "1")
    registry.lake = Lake(settings.lake_root)
    return registry


@pytest.mark.parametrize("argv, message", [
    (["promote", "1", "--canary", "cam-a"], f"{DEFAULT_MODEL_NAME} v1 is already the champion: nothing to canary"),
    (["promote", "2", "--canary", " , "], f"{DEFAULT_MODEL_NAME} v2: a canary needs at least one scene"),
    (["promote", "2", "--complete"], f"{DEFAULT_MODEL_NAME} v2 is not the canary (no version is): nothing to complete"),
    (["promote", "2", "--canary", "cam-a", "--complete"],
     f"{DEFAULT_MODEL_NAME} v2: --canary starts a canary and --complete ends one; give one"),
])
def test_what_cannot_be_done_is_one_line(registry, capsys, argv, message):
    assert cli.main(argv) != 0
    assert capsys.readouterr().err.strip() == f"vision-assets: error: {message}"
    assert registry.by_alias(DEFAULT_MODEL_NAME, "canary") is None


def test_a_canary_is_scoped_audited_and_completed(registry, capsys):
    assert cli.main(["promote", "2", "--canary", "cam-b, cam-a", "--reason", "new anchors"]) == 0
    assert capsys.readouterr().out.strip() == f"{DEFAULT_MODEL_NAME}: v2 is the canary on cam-a, cam-b"
    canary = registry.by_alias(DEFAULT_MODEL_NAME, "canary")
    assert str(canary.version) == "2" and canary.tags["canary_scenes"] == "cam-a,cam-b"
    assert str(registry.champion(DEFAULT_MODEL_NAME).version) == "1"  # the champion serves everywhere else

    assert cli.main(["promote", "2", "--complete"]) == 0

    assert str(registry.champion(DEFAULT_MODEL_NAME).version) == "2"
    assert registry.by_alias(DEFAULT_MODEL_NAME, "canary") is None
    events = read_audit(registry.lake)
    assert events[["action", "object", "actor"]].values.tolist() == [
        ["canary", f"{DEFAULT_MODEL_NAME} v2", "release-rita"], ["canary_complete", f"{DEFAULT_MODEL_NAME} v2",
                                                                 "release-rita"]]
    assert events["reason"].iloc[0] == "new anchors" and events["details"].iloc[0] == "scenes: cam-a, cam-b"

"""Registry commands against a real MLflow (SQLite) in a temp data folder: one-line errors, the gate override
recorded, the audit trail, an outage told apart from "no champion", and read-only commands that write nothing."""

from __future__ import annotations

import socket

import pytest
from registry_helpers import prepared_data_folder, register, registry_of

from vision_assets import cli
from vision_assets.core.lake import Lake
from vision_assets.core.registry import DEFAULT_MODEL_NAME, ModelRegistry, RegistryUnavailable, read_audit


@pytest.fixture
def data(tmp_path, monkeypatch):
    return prepared_data_folder(tmp_path, monkeypatch, user="auditor-ann")


@pytest.mark.parametrize("argv, message", [
    (["promote", "99"], f"vision-assets: error: model {DEFAULT_MODEL_NAME} has no versions yet: train one first"),
    (["promote", "abc"], "vision-assets: error: model version 'abc' is not a version number (e.g. 3)"),
    (["lineage", "--version", "99"], f"vision-assets: error: model {DEFAULT_MODEL_NAME} has no versions yet: train one first"),
    (["lineage"], f"vision-assets: error: model {DEFAULT_MODEL_NAME} has no alias @champion (it has no versions yet)"),
    (["rollback"], f"vision-assets: error: rollback refused: model '{DEFAULT_MODEL_NAME}' has no champion"),
])
def test_commands_on_an_empty_registry_fail_in_one_line(data, capsys, argv, message):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip() == message and "Traceback" not in err


def test_unknown_version_is_named_with_the_known_ones(data, tmp_path, capsys):
    register(registry_of(data), tmp_path, 1)
    assert cli.main(["promote", "99"]) == 2
    assert capsys.readouterr().err.strip() == f"vision-assets: error: model {DEFAULT_MODEL_NAME} has no version 99 (versions: 1)"


def test_overriding_the_gate_needs_a_reason_and_is_recorded(data, tmp_path, capsys):
    registry = registry_of(data)
    register(registry, tmp_path, 1, gate="pass")
    register(registry, tmp_path, 2, gate="fail", gate_regressed="map50_95 scene=cam-b")
    assert cli.main(["promote", "1"]) == 0
    assert cli.main(["promote", "2"]) == 2
    assert "overrides the gate and needs --reason" in capsys.readouterr().err

    assert cli.main(["promote", "2", "--reason", "cam-b is being replaced next week"]) == 0
    assert cli.main(["rollback", "--reason", "cam-b replacement postponed"]) == 0

    assert str(registry.champion(DEFAULT_MODEL_NAME).version) == "1"
    assert registry.get_version(DEFAULT_MODEL_NAME, "2").tags["gate_override"] == "cam-b is being replaced next week"
    audit = read_audit(Lake(data.lake_root))
    assert audit[["action", "actor", "object", "reason"]].values.tolist() == [
        ["promote", "auditor-ann", f"{DEFAULT_MODEL_NAME} v1", ""],
        ["gate_override", "auditor-ann", f"{DEFAULT_MODEL_NAME} v2", "cam-b is being replaced next week"],
        ["rollback", "auditor-ann", f"{DEFAULT_MODEL_NAME} v2 -> v1", "cam-b replacement postponed"],
    ]
    capsys.readouterr()
    assert cli.main(["audit", "--since", "2000-01-01"]) == 0
    assert capsys.readouterr().out.count("auditor-ann") == 3
    assert cli.main(["audit", "--since", "2999-01-01"]) == 0
    assert "no audit events" in capsys.readouterr().out


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_outage_is_not_no_champion_and_its_message_hides_the_password(data, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://vision:PLANTED-pw-7781@127.0.0.1:{closed_port()}"
    registry = ModelRegistry(uri, "file:///nowhere")
    with pytest.raises(RegistryUnavailable, match="unreachable") as raised:
        registry.champion(DEFAULT_MODEL_NAME)
    assert "PLANTED-pw-7781" not in str(raised.value) and "***@127.0.0.1" in str(raised.value)

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert cli.main(["promote", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vision-assets: error: MLflow registry unreachable") and len(err.strip().splitlines()) == 1
    assert "PLANTED-pw-7781" not in err


def test_no_alias_is_none_on_a_live_registry(data, tmp_path):
    registry = registry_of(data)
    assert registry.champion(DEFAULT_MODEL_NAME) is None
    register(registry, tmp_path, 1)
    assert registry.champion(DEFAULT_MODEL_NAME) is None and registry.aliases(DEFAULT_MODEL_NAME) == {}


def test_summary_and_lineage_write_nothing(data, capsys):
    db = data.mlflow_tracking_uri.removeprefix("sqlite:///")
    assert cli.main(["summary", "--json"]) == 0
    assert cli.main(["lineage"]) == 2
    from pathlib import Path

    assert not Path(db).exists()  # no database, let alone a registered model, was created
    assert not Path(data.lake_root, "tables", "audit").exists()

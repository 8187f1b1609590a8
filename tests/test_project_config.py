"""The project file: checked against its schema (errors name the file, the key and the problem; unknown keys
refused; safe YAML only), relative paths resolved beside it, environment overrides for one run, the deprecated
video policy folded in, `vision-assets config` showing each value's source, and the resources built from it."""

from __future__ import annotations

import dataclasses
import json

import pytest

from vision_assets.project_config import TRAINING, ProjectConfigError, load_project_config


def _write(tmp_path, text: str):
    path = tmp_path / "vision.yaml"
    path.write_text(text)
    return path


def test_without_a_project_file_every_value_is_the_default(tmp_path):
    config = load_project_config(tmp_path / "vision.yaml")
    assert config.path is None
    assert config.class_names == ["car", "pedestrian", "cyclist"] and config.aliases == {}
    assert config.training["epochs"] == 20 and config.retrain["min_new_labels"] == 200
    assert config.promotion["min_map50_95"] == 0.0 and config.qc["min_pass_rate"] == 0.9
    assert config.sampling["default"]["params"] == {"every_seconds": 0.5}
    assert {source for _, _, source in config.flat()} == {"default"}


def test_classes_aliases_and_paths_beside_the_file(tmp_path):
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "start.pt").write_bytes(b"weights")
    path = _write(tmp_path, """
classes:
  - car
  - {name: pedestrian, aliases: [person, walker]}
training: {model: weights/start.pt, epochs: 3}
promotion: {min_map50_95: 0.4, margin: 0.01}
qc: {min_pass_rate: 0.8}
sampling:
  default: {strategy: motion}
  scenes: {lot: {blur_faces: true}}
""")
    config = load_project_config(path)
    assert config.class_names == ["car", "pedestrian"]
    assert config.aliases == {"person": "pedestrian", "walker": "pedestrian"}
    assert config.training["model"] == str(tmp_path / "weights" / "start.pt")
    assert config.training["epochs"] == 3 and config.training["imgsz"] == 256
    assert config.promotion["min_map50_95"] == 0.4 and config.qc["min_pass_rate"] == 0.8
    assert config.sampling["default"]["strategy"] == "motion" and config.sampling["default"]["params"] == {}
    assert config.sampling["scenes"] == {"lot": {"blur_faces": True}}
    sources = {key: source for key, _, source in config.flat()}
    assert sources["training.epochs"] == str(path) and sources["training.batch"] == "default"
    assert sources["classes"] == str(path)


@pytest.mark.parametrize(("text", "message"), [
    ("training:\n  epochs: x\n", 'training.epochs: must be a positive integer, got "x"'),
    ("training:\n  epoch: 3\n", "training.epoch: unknown key (known: model, epochs,"),
    ("trainig:\n  epochs: 3\n", "trainig: unknown key (known: classes, training,"),
    ("promotion: {min_map50_95: 1.5}\n", "promotion.min_map50_95: must be a number from 0 to 1, got 1.5"),
    ("qc: {min_pass_rate: true}\n", "qc.min_pass_rate: must be a number from 0 to 1, got true"),
    ("retrain: {min_new_labels: 0}\n", "retrain.min_new_labels: must be a positive integer, got 0"),
    ("classes: [car, {name: pedestrian, aliases: [car]}]\n", "classes[1]: 'car' is already the class in classes[0]"),
    ("classes: [{aliases: [person]}]\n", "classes[0].name: missing"),
    ("classes: []\n", "classes: must be a non-empty list"),
    ("training: {model: missing.pt}\n", "training.model: missing.pt: no such file"),
    ("sampling: {scenes: {lot: {stratgy: motion}}}\n", "sampling.scenes.lot.stratgy: unknown key"),
    ("training: [1, 2]\n", "training: must be a mapping, got [1, 2]"),
    ("training:\n  epochs: 3\n bad indent: 1\n", "not valid YAML at line 3"),
    ("!!python/object/apply:os.system [echo hacked]\n", "not valid YAML"),
])
def test_an_invalid_project_file_names_the_key_and_the_problem(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ProjectConfigError) as error:
        load_project_config(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def test_environment_variables_override_for_one_run(tmp_path):
    path = _write(tmp_path, "training: {epochs: 30, imgsz: 320}\n")
    config = load_project_config(path, {"VISION_EPOCHS": "2", "VISION_DEVICE": "cpu"})
    assert config.training["epochs"] == 2 and config.training["imgsz"] == 320 and config.training["device"] == "cpu"
    sources = {key: source for key, _, source in config.flat()}
    assert sources["training.epochs"] == "env VISION_EPOCHS" and sources["training.imgsz"] == str(path)
    with pytest.raises(ProjectConfigError, match='environment VISION_EPOCHS: training.epochs: must be an integer, got "ten"'):
        load_project_config(path, {"VISION_EPOCHS": "ten"})


def test_a_named_project_file_must_exist(tmp_path):
    with pytest.raises(ProjectConfigError, match="no such file"):
        load_project_config(tmp_path / "elsewhere.yaml", required=True)


def test_the_video_policy_file_is_folded_in_with_a_deprecation_warning(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("sampling:\n  scenes: {lot: {strategy: motion}}\nretention: {default_days: 30}\n")
    with pytest.warns(FutureWarning, match="VISION_VIDEO_POLICY is deprecated"):
        config = load_project_config(tmp_path / "vision.yaml", video_policy=policy)
    assert config.sampling["scenes"] == {"lot": {"strategy": "motion"}} and config.retention["default_days"] == 30
    both = _write(tmp_path, "retention: {default_days: 10}\n")
    with pytest.raises(ProjectConfigError, match="retention: also set in the project file"):
        load_project_config(both, video_policy=policy)


def test_the_schema_knows_every_training_option_with_its_default():
    from vision_assets.core.training import TrainConfig

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    assert {k: v for k, (v, _) in TRAINING.items() if k != "sweep_space"} == defaults


def test_config_prints_each_value_and_its_source(tmp_path, monkeypatch, capsys):
    from vision_assets.cli.main import main

    data = tmp_path / "data"
    data.mkdir()
    _write(data, "classes: [{name: pedestrian, aliases: [person]}]\ntraining: {epochs: 4}\n")
    monkeypatch.setenv("VISION_DATA_DIR", str(data))
    monkeypatch.setenv("VISION_IMGSZ", "96")
    monkeypatch.delenv("VISION_EPOCHS", raising=False)

    assert main(["config", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["project_file"] == str(data / "vision.yaml")
    assert shown["config"]["classes"] == [{"name": "pedestrian", "aliases": ["person"]}]
    assert shown["config"]["training"]["epochs"] == 4 and shown["config"]["training"]["imgsz"] == 96
    assert shown["sources"]["training.epochs"] == str(data / "vision.yaml")
    assert shown["sources"]["training.imgsz"] == "env VISION_IMGSZ"
    assert shown["sources"]["training.batch"] == "default"

    assert main(["config"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"project file: {data / 'vision.yaml'}"
    epochs = next(line for line in lines if line.startswith("training.epochs "))
    assert epochs.split() == ["training.epochs", "4", str(data / "vision.yaml")]
    assert next(line for line in lines if line.startswith("classes ")).split(None, 1)[1].startswith(
        "pedestrian (aliases: person)")


def test_a_bad_project_file_is_one_error_line_for_every_command(tmp_path, monkeypatch, capsys):
    from vision_assets.cli.main import main

    data = tmp_path / "data"
    data.mkdir()
    _write(data, 'training: {epochs: "x"}\n')
    monkeypatch.setenv("VISION_DATA_DIR", str(data))
    for command in (["config"], ["run"], ["ingest"]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f'vision-assets: error: {data / "vision.yaml"}: training.epochs: must be a positive integer, '
                       'got "x"'], command


def test_the_resources_read_the_project_file(tmp_path):
    from vision_assets.defs.wiring import build_resources
    from vision_assets.settings import Settings

    data = tmp_path / "data"
    data.mkdir()
    _write(data, """
classes: [car, {name: pedestrian, aliases: [person]}]
training: {epochs: 7, imgsz: 128}
retrain: {min_new_labels: 50}
promotion: {min_map50_95: 0.3, min_map50: 0.1, margin: 0.02}
qc: {min_pass_rate: 0.75, max_jump: 0.8}
ingest: {near_duplicate_distance: 12}
sampling: {default: {params: {every_seconds: 1.0}}}
retention: {scenes: {lot: 14}}
""")
    resources = build_resources(Settings.from_env({"VISION_DATA_DIR": str(data), "VISION_IMGSZ": "96"}))
    assert resources["taxonomy"].class_names == ["car", "pedestrian"]
    assert resources["taxonomy"].aliases == {"person": "pedestrian"}
    assert (resources["trainer"].epochs, resources["trainer"].imgsz) == (7, 96)
    assert resources["retrain_policy"].min_new_labels == 50
    promotion = resources["promotion"]
    assert (promotion.min_map50_95, promotion.min_map50, promotion.margin) == (0.3, 0.1, 0.02)
    assert (resources["qc_policy"].min_pass_rate, resources["qc_policy"].max_jump) == (0.75, 0.8)
    assert resources["ingest_policy"].near_duplicate_distance == 12
    assert resources["sampling"].default.params == {"every_seconds": 1.0}
    assert resources["retention"].scenes == {"lot": 14}
    assert resources["project"].project_file == "<data folder>/vision.yaml"  # the same for every copy of the folder
    assert resources["project"].sources["training.imgsz"] == "env VISION_IMGSZ"
    assert resources["project"].sources["training.epochs"] == "<data folder>/vision.yaml"


def test_the_online_accuracy_floors_are_read_checked_and_shown_with_their_source(tmp_path, monkeypatch, capsys):
    from vision_assets.cli.main import main
    from vision_assets.defs.wiring import build_resources
    from vision_assets.settings import Settings

    data = tmp_path / "data"
    data.mkdir()
    _write(data, "monitoring: {min_online_recall: 0.7, min_online_boxes: 25}\n")
    monkeypatch.setenv("VISION_DATA_DIR", str(data))
    policy = build_resources(Settings.from_env({"VISION_DATA_DIR": str(data)}))["monitoring_policy"]
    assert (policy.min_online_precision, policy.min_online_recall, policy.min_online_boxes) == (0.5, 0.7, 25)
    assert main(["config"]) == 0
    lines = capsys.readouterr().out.splitlines()
    shown = {line.split()[0]: line.split()[1:] for line in lines if line.startswith("monitoring.")}
    assert shown == {"monitoring.min_online_precision": ["0.5", "default"],
                     "monitoring.min_online_recall": ["0.7", str(data / "vision.yaml")],
                     "monitoring.min_online_boxes": ["25", str(data / "vision.yaml")]}
    for text, problem in (("monitoring: {min_online_precision: 1.5}\n",
                           "monitoring.min_online_precision: must be a number from 0 to 1, got 1.5"),
                          ("monitoring: {min_precision: 0.5}\n", "monitoring.min_precision: unknown key")):
        _write(data, text)
        with pytest.raises(ProjectConfigError, match=problem):
            load_project_config(data / "vision.yaml")

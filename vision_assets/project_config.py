"""The project file (`vision.yaml` in the data folder, or the file VISION_CONFIG names): what a team sets.

Classes (with aliases for the names other tools use), training, the retrain threshold, the promotion floor and
gate margins, QC thresholds, and the ingest / sampling / retention policy that VISION_VIDEO_POLICY held. Checked
against a schema: an error names the file, the key and the problem; unknown keys are refused. Environment
variables (VISION_EPOCHS, VISION_IMGSZ, VISION_DEVICE) override for one run. Every value remembers where it came
from (default, the file, the environment), for `vision-assets config` and the UI.

Pure: no Dagster, no training libraries (the CLI and the code location both read it first)."""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vision_assets.core.errors import VisionError

PROJECT_FILE_NAME = "vision.yaml"
CONFIG_ENV = "VISION_CONFIG"
VIDEO_POLICY_ENV = "VISION_VIDEO_POLICY"
DEFAULT_CLASSES = ("car", "pedestrian", "cyclist")


class ProjectConfigError(VisionError):
    """`<file>: <key>: <problem>`; the CLI prints it as one line."""


# -- value checks: each returns the value (normalised) or raises ValueError with what was expected -------------
def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value) if not isinstance(value, bool) else str(value).lower()


def _int(minimum: int | None = None, what: str = "an integer") -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
            raise ValueError(f"must be {what}, got {_show(value)}")
        return value
    return check


def _number(low: float | None = None, high: float | None = None, what: str = "a number") -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value \
                or (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"must be {what}, got {_show(value)}")
        return float(value)
    return check


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {_show(value)}")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {_show(value)}")
    return value


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def _one_of(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {_show(value)}")
        return value
    return check


def _mapping(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping, got {_show(value)}")
    return value


POSITIVE = _int(1, "a positive integer")
NON_NEGATIVE = _int(0, "an integer >= 0")
FRACTION = _number(0.0, 1.0, "a number from 0 to 1")
NON_NEGATIVE_NUMBER = _number(0.0, None, "a number >= 0")

# Every TrainConfig option (tests/test_project_config.py keeps this list equal to TrainConfig's fields), plus a
# sweep file. Paths (model ending in .pt, sweep_space) are resolved against the project file's folder.
TRAINING: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    "model": ("yolov8n.yaml", _text),
    "epochs": (20, POSITIVE),
    "imgsz": (256, _int(32, "an integer >= 32")),
    "batch": (16, POSITIVE),
    "seed": (0, NON_NEGATIVE),
    "device": ("auto", _text),
    "workers": (2, NON_NEGATIVE),
    "optimizer": ("AdamW", _text),
    "lr0": (0.003, _number(0.0, None, "a number > 0")),
    "patience": (50, POSITIVE),
    "val_every": (1, POSITIVE),
    "mosaic": (1.0, FRACTION),
    "close_mosaic": (5, NON_NEGATIVE),
    "mixup": (0.0, FRACTION),
    "hsv_h": (0.015, FRACTION),
    "hsv_s": (0.7, FRACTION),
    "hsv_v": (0.4, FRACTION),
    "fliplr": (0.5, FRACTION),
    "flipud": (0.0, FRACTION),
    "scale": (0.5, NON_NEGATIVE_NUMBER),
    "amp": (None, _optional(_boolean)),
    "sweep_space": ("", lambda v: "" if v in (None, "") else _text(v)),
}
RETRAIN = {"min_new_labels": (200, POSITIVE)}
PROMOTION = {
    "min_map50_95": (0.0, FRACTION),  # under it a version is registered but never champion (the first one too)
    "min_map50": (0.0, FRACTION),  # the evaluation floor: under it a version is not registered at all
    "margin": (0.0, NON_NEGATIVE_NUMBER),
    "slice_tolerance": (0.05, NON_NEGATIVE_NUMBER),
    "tracking_tolerance": (0.05, NON_NEGATIVE_NUMBER),
    "min_boxes": (20, NON_NEGATIVE),
}
QC = {
    "min_pass_rate": (0.9, FRACTION),
    "min_agreement": (0.8, FRACTION),
    "duplicate_iou": (0.9, FRACTION),
    "max_gap_frames": (5.0, NON_NEGATIVE_NUMBER),
    "max_jump": (0.5, NON_NEGATIVE_NUMBER),
    "review_share": (0.05, FRACTION),
}
INGEST = {
    "normalise": (False, _boolean),
    "normalise_codec": ("h264", _text),
    "normalise_fps": (None, _optional(_number(0.0, None, "a number > 0"))),
    "normalise_max_height": (None, _optional(POSITIVE)),
    "near_duplicate_distance": (24.0, NON_NEGATIVE_NUMBER),  # core.ingest.NEAR_DUPLICATE_DISTANCE
}
SCENE_SAMPLING = {
    "strategy": ("fixed_interval", _text),
    "params": ({}, _mapping),
    "near_duplicate_distance": (4, NON_NEGATIVE),
    "blur_faces": (False, _boolean),
    "blur_plates": (False, _boolean),
}
DEFAULT_SAMPLING = {"strategy": "fixed_interval", "params": {"every_seconds": 0.5}}
SECTIONS = ("classes", "training", "retrain", "promotion", "qc", "ingest", "sampling", "retention")
VIDEO_POLICY_SECTIONS = ("ingest", "sampling", "retention")
# Environment variables that override one value for one run.
ENV_OVERRIDES = {"VISION_EPOCHS": ("training", "epochs"), "VISION_IMGSZ": ("training", "imgsz"),
                 "VISION_DEVICE": ("training", "device")}


@dataclass(frozen=True)
class ClassSpec:
    name: str
    aliases: tuple[str, ...] = ()


@dataclass
class ProjectConfig:
    """The effective configuration. `sources` maps each dotted key to where its value came from."""

    path: Path | None  # the project file read (None: there is none; defaults everywhere)
    classes: list[ClassSpec]
    training: dict[str, Any]
    retrain: dict[str, Any]
    promotion: dict[str, Any]
    qc: dict[str, Any]
    ingest: dict[str, Any]
    sampling: dict[str, Any]  # {"default": {...}, "scenes": {name: {...set keys only}}}
    retention: dict[str, Any]  # {"default_days": int | None, "scenes": {name: days}}
    sources: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def aliases(self) -> dict[str, str]:
        """incoming class name -> canonical class name."""
        return {alias: c.name for c in self.classes for alias in c.aliases}

    def as_dict(self) -> dict[str, Any]:
        return {
            "classes": [c.name if not c.aliases else {"name": c.name, "aliases": list(c.aliases)} for c in self.classes],
            "training": dict(self.training), "retrain": dict(self.retrain), "promotion": dict(self.promotion),
            "qc": dict(self.qc), "ingest": dict(self.ingest), "sampling": copy.deepcopy(self.sampling),
            "retention": copy.deepcopy(self.retention),
        }

    def flat(self) -> list[tuple[str, Any, str]]:
        """(dotted key, value, source) for every value, in the file's order."""
        rows = []
        values = self.as_dict()
        for section in SECTIONS:
            value = values[section]
            if isinstance(value, dict):
                rows += [(f"{section}.{k}", v, self.sources.get(f"{section}.{k}", "default")) for k, v in value.items()]
            else:
                rows.append((section, value, self.sources.get(section, "default")))
        return rows


def project_file_path(env: Mapping[str, str], data_dir: Path) -> Path:
    """VISION_CONFIG when set, else vision.yaml in the data folder (it need not exist)."""
    named = env.get(CONFIG_ENV)
    return Path(named).expanduser().resolve() if named else data_dir / PROJECT_FILE_NAME


def load_project_config(path: Path | None, overrides: Mapping[str, str] | None = None,
                        video_policy: Path | None = None, required: bool = False) -> ProjectConfig:
    """Read and check the project file (absent: defaults, unless `required`), fold in a deprecated video policy
    file, then apply the environment's overrides (VISION_EPOCHS...: value). Raises ProjectConfigError naming the
    file, the key and the problem."""
    env = dict(overrides or {})
    raw: dict = {}
    label = str(path) if path is not None else PROJECT_FILE_NAME
    if path is not None and path.exists():
        raw = _read_yaml(path, label)
    elif path is not None and required:
        raise ProjectConfigError(f"{label}: no such file ({CONFIG_ENV} names it)")
    else:
        path = None
    origin = label if path is not None else "default"
    config = _parse(raw, label, origin, base=path.parent if path is not None else Path.cwd())
    config.path = path
    if video_policy is not None:
        _fold_video_policy(config, video_policy)
    _apply_env(config, env, label)
    return config


def _read_yaml(path: Path, label: str) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ProjectConfigError(f"{label}: cannot read the project file ({error.__class__.__name__}: {error})") from error
    try:
        data = yaml.safe_load(text)  # safe_load: a project file builds plain values, never Python objects
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ProjectConfigError(f"{label}: not valid YAML{at}: {problem}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProjectConfigError(f"{label}: must be a mapping of sections ({', '.join(SECTIONS)}), "
                                 f"got {type(data).__name__}")
    return data


def _error(label: str, key: str, problem: str) -> ProjectConfigError:
    return ProjectConfigError(f"{label}: {key}: {problem}")


def _unknown(label: str, where: str, given: Mapping, known) -> None:
    unknown = [str(k) for k in given if k not in known]
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise _error(label, key, f"unknown key (known: {', '.join(known)})")


def _section(raw: Mapping, name: str, schema: dict, label: str, origin: str, sources: dict,
             prefix: str | None = None) -> dict:
    prefix = prefix or name
    given = raw.get(name)
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise _error(label, prefix, f"must be a mapping, got {_show(given)}")
    _unknown(label, prefix, given, schema)
    values = {}
    for key, (default, check) in schema.items():
        if key in given:
            try:
                values[key] = check(given[key])
            except ValueError as error:
                raise _error(label, f"{prefix}.{key}", str(error)) from None
            sources[f"{prefix}.{key}"] = origin
        else:
            values[key] = copy.deepcopy(default)
    return values


def _parse(raw: dict, label: str, origin: str, base: Path) -> ProjectConfig:
    _unknown(label, "", raw, SECTIONS)
    sources: dict[str, str] = {}
    classes = _classes(raw.get("classes"), label)
    if "classes" in raw:
        sources["classes"] = origin
    training = _section(raw, "training", TRAINING, label, origin, sources)
    training = _resolve_paths(training, base, label, "training" in raw and "model" in raw["training"])
    config = ProjectConfig(
        path=None, classes=classes, training=training,
        retrain=_section(raw, "retrain", RETRAIN, label, origin, sources),
        promotion=_section(raw, "promotion", PROMOTION, label, origin, sources),
        qc=_section(raw, "qc", QC, label, origin, sources),
        ingest=_section(raw, "ingest", INGEST, label, origin, sources),
        sampling=_sampling(raw.get("sampling"), label, origin, sources),
        retention=_retention(raw.get("retention"), label, origin, sources),
        sources=sources,
    )
    return config


def _classes(given: Any, label: str) -> list[ClassSpec]:
    if given is None:
        return [ClassSpec(name) for name in DEFAULT_CLASSES]
    if not isinstance(given, list) or not given:
        raise _error(label, "classes", f"must be a non-empty list of names or {{name, aliases}}, got {_show(given)}")
    specs, seen = [], {}
    for index, entry in enumerate(given):
        key = f"classes[{index}]"
        if isinstance(entry, str):
            spec = ClassSpec(_checked(label, key, entry, _text))
        elif isinstance(entry, dict):
            _unknown(label, key, entry, ("name", "aliases"))
            if "name" not in entry:
                raise _error(label, f"{key}.name", "missing (each class is a name or {name, aliases: [...]})")
            name = _checked(label, f"{key}.name", entry["name"], _text)
            aliases = entry.get("aliases") or []
            if not isinstance(aliases, list):
                raise _error(label, f"{key}.aliases", f"must be a list of names, got {_show(aliases)}")
            spec = ClassSpec(name, tuple(_checked(label, f"{key}.aliases[{i}]", a, _text) for i, a in enumerate(aliases)))
        else:
            raise _error(label, key, f"must be a name or {{name, aliases: [...]}}, got {_show(entry)}")
        for name in (spec.name, *spec.aliases):
            if name in seen:
                raise _error(label, key, f"{name!r} is already {seen[name]}; a name maps to one class")
        seen[spec.name] = f"the class in classes[{index}]"
        seen.update({alias: f"an alias of {spec.name!r}" for alias in spec.aliases})
        specs.append(spec)
    return specs


def _checked(label: str, key: str, value: Any, check: Callable[[Any], Any]) -> Any:
    try:
        return check(value)
    except ValueError as error:
        raise _error(label, key, str(error)) from None


def _resolve_paths(training: dict, base: Path, label: str, model_set: bool) -> dict:
    """A local .pt to fine-tune from and a sweep file are found beside the project file; an Ultralytics model
    yaml name (yolov8n.yaml) stays a name unless such a file lies there."""
    model = training["model"]
    if model.endswith(".pt") or (model_set and (base / model).is_file()):
        path = (base / Path(model).expanduser()).resolve()
        if not path.is_file():
            raise _error(label, "training.model", f"{model}: no such file (relative paths are resolved against "
                                                  f"{base}); nothing is downloaded")
        training["model"] = str(path)
    if training["sweep_space"]:
        path = (base / Path(training["sweep_space"]).expanduser()).resolve()
        if not path.is_file():
            raise _error(label, "training.sweep_space", f"{training['sweep_space']}: no such file "
                                                        f"(relative paths are resolved against {base})")
        training["sweep_space"] = str(path)
    return training


def _sampling(given: Any, label: str, origin: str, sources: dict) -> dict:
    given = {} if given is None else given
    if not isinstance(given, dict):
        raise _error(label, "sampling", f"must be a mapping with default and scenes, got {_show(given)}")
    _unknown(label, "sampling", given, ("default", "scenes"))
    default = dict(SCENE_SAMPLING_DEFAULTS | DEFAULT_SAMPLING)
    if given.get("default") is not None:
        chosen = _scene_sampling(given["default"], label, "sampling.default")
        if chosen.get("strategy", default["strategy"]) != default["strategy"] and "params" not in chosen:
            chosen["params"] = {}  # the built-in default's parameters belong to its own strategy
        default |= chosen
        sources["sampling.default"] = origin
    scenes = given.get("scenes") or {}
    if not isinstance(scenes, dict):
        raise _error(label, "sampling.scenes", f"must be a mapping of scene name to sampling, got {_show(scenes)}")
    checked = {str(scene): _scene_sampling(spec, label, f"sampling.scenes.{scene}") for scene, spec in scenes.items()}
    if scenes:
        sources["sampling.scenes"] = origin
    return {"default": default, "scenes": checked}


SCENE_SAMPLING_DEFAULTS = {key: copy.deepcopy(default) for key, (default, _) in SCENE_SAMPLING.items()}


def _scene_sampling(spec: Any, label: str, key: str) -> dict:
    if not isinstance(spec, dict):
        raise _error(label, key, f"must be a mapping, got {_show(spec)}")
    _unknown(label, key, spec, SCENE_SAMPLING)
    return {name: _checked(label, f"{key}.{name}", value, SCENE_SAMPLING[name][1]) for name, value in spec.items()}


def _retention(given: Any, label: str, origin: str, sources: dict) -> dict:
    given = {} if given is None else given
    if not isinstance(given, dict):
        raise _error(label, "retention", f"must be a mapping, got {_show(given)}")
    _unknown(label, "retention", given, ("default_days", "scenes"))
    default_days = _checked(label, "retention.default_days", given.get("default_days"), _optional(POSITIVE))
    scenes = given.get("scenes") or {}
    if not isinstance(scenes, dict):
        raise _error(label, "retention.scenes", f"must be a mapping of scene name to days, got {_show(scenes)}")
    for key in ("default_days", "scenes"):
        if key in given:
            sources[f"retention.{key}"] = origin
    return {"default_days": default_days,
            "scenes": {str(s): _checked(label, f"retention.scenes.{s}", d, POSITIVE) for s, d in scenes.items()}}


def _fold_video_policy(config: ProjectConfig, path: Path) -> None:
    """VISION_VIDEO_POLICY's file, read as the project file's ingest, sampling and retention sections (deprecated:
    the project file holds them now). A section set in both is an error: which one would win is not obvious."""
    label = str(path)
    raw = _read_yaml(path, label) if path.exists() else None
    if raw is None:
        raise ProjectConfigError(f"{label}: no such file ({VIDEO_POLICY_ENV} names it)")
    _unknown(label, "", raw, VIDEO_POLICY_SECTIONS)
    origin = f"{label} ({VIDEO_POLICY_ENV}, deprecated)"
    sources: dict[str, str] = {}
    parsed = {"ingest": _section(raw, "ingest", INGEST, label, origin, sources),
              "sampling": _sampling(raw.get("sampling"), label, origin, sources),
              "retention": _retention(raw.get("retention"), label, origin, sources)}
    for section in VIDEO_POLICY_SECTIONS:
        if section not in raw:
            continue
        if any(k.startswith(f"{section}.") for k in config.sources):
            raise ProjectConfigError(f"{label}: {section}: also set in the project file {config.path}; "
                                     f"keep it in one place (the project file; {VIDEO_POLICY_ENV} is deprecated)")
        setattr(config, section, parsed[section])
    config.sources.update(sources)
    message = (f"{VIDEO_POLICY_ENV} is deprecated: move the sections of {path.name} ({', '.join(s for s in raw)}) "
               f"into the project file ({PROJECT_FILE_NAME})")
    config.warnings.append(message)
    warnings.warn(message, FutureWarning, stacklevel=3)  # FutureWarning: shown to end users by default


def _apply_env(config: ProjectConfig, env: Mapping[str, str], label: str) -> None:
    for variable, (section, key) in ENV_OVERRIDES.items():
        if not env.get(variable):
            continue
        text = env[variable]
        value: Any = text
        if key != "device":
            try:
                value = int(text)
            except ValueError:
                raise ProjectConfigError(f"environment {variable}: {section}.{key}: must be an integer, "
                                         f"got {json.dumps(text)}") from None
        getattr(config, section)[key] = _checked(f"environment {variable}", f"{section}.{key}", value,
                                                 TRAINING[key][1])
        config.sources[f"{section}.{key}"] = f"env {variable}"

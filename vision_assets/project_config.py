"""The project file (`vision.yaml` in the data folder, or the file VISION_CONFIG names): what a team sets.

Classes (with aliases for the names other tools use), training, the retrain threshold, the promotion floor and
gate margins, QC thresholds, the ingest / sampling / retention policy that VISION_VIDEO_POLICY held, and the
online accuracy floors of monitoring. Checked
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

from vision_assets.core.errors import VisionError
from vision_assets.project_schema import (
    DEFAULT_SAMPLING,
    ENV_OVERRIDES,
    INGEST,
    MONITORING,
    POSITIVE,
    PROMOTION,
    QC,
    RETRAIN,
    SCENE_SAMPLING,
    SECTIONS,
    TRAINING,
    VIDEO_POLICY_SECTIONS,
    non_empty_text,
    optional,
    show,
)

PROJECT_FILE_NAME = "vision.yaml"
CONFIG_ENV = "VISION_CONFIG"
VIDEO_POLICY_ENV = "VISION_VIDEO_POLICY"
DEFAULT_CLASSES = ("car", "pedestrian", "cyclist")


class ProjectConfigError(VisionError):
    """`<file>: <key>: <problem>`; the CLI prints it as one line."""


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
    monitoring: dict[str, Any] = field(default_factory=dict)  # online accuracy floors after delivery
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
            "retention": copy.deepcopy(self.retention), "monitoring": dict(self.monitoring),
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
    import yaml  # here: every command imports this module through settings, few read a project file

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
        raise _error(label, prefix, f"must be a mapping, got {show(given)}")
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
        monitoring=_section(raw, "monitoring", MONITORING, label, origin, sources),
        sources=sources,
    )
    return config


def _classes(given: Any, label: str) -> list[ClassSpec]:
    if given is None:
        return [ClassSpec(name) for name in DEFAULT_CLASSES]
    if not isinstance(given, list) or not given:
        raise _error(label, "classes", f"must be a non-empty list of names or {{name, aliases}}, got {show(given)}")
    specs, seen = [], {}
    for index, entry in enumerate(given):
        key = f"classes[{index}]"
        if isinstance(entry, str):
            spec = ClassSpec(_checked(label, key, entry, non_empty_text))
        elif isinstance(entry, dict):
            _unknown(label, key, entry, ("name", "aliases"))
            if "name" not in entry:
                raise _error(label, f"{key}.name", "missing (each class is a name or {name, aliases: [...]})")
            name = _checked(label, f"{key}.name", entry["name"], non_empty_text)
            aliases = entry.get("aliases") or []
            if not isinstance(aliases, list):
                raise _error(label, f"{key}.aliases", f"must be a list of names, got {show(aliases)}")
            spec = ClassSpec(name, tuple(_checked(label, f"{key}.aliases[{i}]", a, non_empty_text) for i, a in enumerate(aliases)))
        else:
            raise _error(label, key, f"must be a name or {{name, aliases: [...]}}, got {show(entry)}")
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
        raise _error(label, "sampling", f"must be a mapping with default and scenes, got {show(given)}")
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
        raise _error(label, "sampling.scenes", f"must be a mapping of scene name to sampling, got {show(scenes)}")
    checked = {str(scene): _scene_sampling(spec, label, f"sampling.scenes.{scene}") for scene, spec in scenes.items()}
    if scenes:
        sources["sampling.scenes"] = origin
    return {"default": default, "scenes": checked}


SCENE_SAMPLING_DEFAULTS = {key: copy.deepcopy(default) for key, (default, _) in SCENE_SAMPLING.items()}


def _scene_sampling(spec: Any, label: str, key: str) -> dict:
    if not isinstance(spec, dict):
        raise _error(label, key, f"must be a mapping, got {show(spec)}")
    _unknown(label, key, spec, SCENE_SAMPLING)
    return {name: _checked(label, f"{key}.{name}", value, SCENE_SAMPLING[name][1]) for name, value in spec.items()}


def _retention(given: Any, label: str, origin: str, sources: dict) -> dict:
    given = {} if given is None else given
    if not isinstance(given, dict):
        raise _error(label, "retention", f"must be a mapping, got {show(given)}")
    _unknown(label, "retention", given, ("default_days", "scenes"))
    default_days = _checked(label, "retention.default_days", given.get("default_days"), optional(POSITIVE))
    scenes = given.get("scenes") or {}
    if not isinstance(scenes, dict):
        raise _error(label, "retention.scenes", f"must be a mapping of scene name to days, got {show(scenes)}")
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

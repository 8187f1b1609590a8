"""The model chain's records, typed: a dataset version, a checkpoint trained on it, that checkpoint's evaluation,
and its registration. Each is what one asset of the chain hands the next.

The lake keeps them as the JSON it always held: `from_json` reads today's records and every older one (fields
added later have defaults; keys this code does not know stay in `extra`), and `to_json` writes the same keys back,
so a record read and written again is byte-for-byte the record it was. Nested parts (metrics, slices, configs) stay
plain JSON values: they are read by name by the report, the gate and the CLI, and their keys are the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Self

from vision_assets.core.errors import VisionError


class RecordError(VisionError, ValueError):
    """A lake record that lacks a field its type needs."""


# A field marked optional is written only when it has a value: records written before it existed keep their keys.
OPTIONAL = {"optional": True}


@dataclass(frozen=True, kw_only=True)
class Record:
    KIND: ClassVar[str] = "record"
    extra: dict = field(default_factory=dict, repr=False)  # keys of the JSON this type does not name
    # Read from JSON: the fields it did not have (an older record), not written back while they keep their
    # default. Made in code (None): every field is written but an optional one without a value.
    absent: frozenset | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | Record) -> Self:
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            raise RecordError(f"{cls.KIND} record: expected a JSON object, found {type(data).__name__}")
        named = {f.name for f in fields(cls)} - {"extra", "absent"}
        required = [f.name for f in fields(cls)
                    if f.name in named and f.default is MISSING and f.default_factory is MISSING]
        missing = [name for name in required if name not in data]
        if missing:
            raise RecordError(f"{cls.KIND} record: missing {', '.join(missing)}")
        return cls(**{k: data[k] for k in named if k in data},
                   extra={k: v for k, v in data.items() if k not in named},
                   absent=frozenset(named - set(data)))

    def to_json(self) -> dict:
        out = {}
        for f in fields(self):
            if f.name in ("extra", "absent"):
                continue
            value = getattr(self, f.name)
            if self.absent is not None:
                if f.name in self.absent and value == _default(f):
                    continue
            elif value is None and f.metadata.get("optional"):
                continue
            out[f.name] = value
        return {**out, **self.extra}


def _default(f):
    return f.default_factory() if f.default_factory is not MISSING else f.default


@dataclass(frozen=True, kw_only=True)
class DatasetVersion(Record):
    """An immutable dataset version (core/datasets/export.publish_dataset writes it)."""

    KIND: ClassVar[str] = "dataset version"
    version: str
    class_names: list[str]
    split_config: dict = field(default_factory=dict)
    data_yaml: str = ""
    manifest_path: str = ""
    labels_path: str = ""
    counts: dict = field(default_factory=dict)
    videos: list[str] = field(default_factory=list)
    label_versions: list[str] = field(default_factory=list)
    label_versions_considered: list[str] | None = field(default=None, metadata=OPTIONAL)
    label_files: list | None = field(default=None, metadata=OPTIONAL)
    video_sources: list[dict] | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True, kw_only=True)
class Checkpoint(Record):
    """A trained checkpoint (core/training/checkpoint writes it): the weights by lake key and sha256, and what
    a rerun needs (config, seed, environment, git state)."""

    KIND: ClassVar[str] = "checkpoint"
    checkpoint_sha256: str
    checkpoint_path: str
    dataset_version: str
    config: dict
    mlflow_run_id: str | None = None
    fingerprint: str | None = field(default=None, metadata=OPTIONAL)
    weights_sha256: str | None = field(default=None, metadata=OPTIONAL)
    dataset_manifest: str | None = field(default=None, metadata=OPTIONAL)
    dataset_manifest_sha256: str | None = field(default=None, metadata=OPTIONAL)
    seed: int | None = field(default=None, metadata=OPTIONAL)
    base_model_sha256: str | None = field(default=None, metadata=OPTIONAL)
    device: str | None = field(default=None, metadata=OPTIONAL)
    amp: bool | None = field(default=None, metadata=OPTIONAL)
    train_seconds: float | None = field(default=None, metadata=OPTIONAL)
    started_at: str | None = field(default=None, metadata=OPTIONAL)
    ended_at: str | None = field(default=None, metadata=OPTIONAL)
    epochs: int | None = field(default=None, metadata=OPTIONAL)
    last_epoch: dict | None = field(default=None, metadata=OPTIONAL)
    epoch_metrics: list | None = field(default=None, metadata=OPTIONAL)
    best_epoch: int | None = field(default=None, metadata=OPTIONAL)
    val_fitness: float | None = field(default=None, metadata=OPTIONAL)
    best_val: dict | None = field(default=None, metadata=OPTIONAL)
    resumed_after_epoch: int | None = field(default=None, metadata=OPTIONAL)
    git: dict | None = field(default=None, metadata=OPTIONAL)
    environment: dict | None = field(default=None, metadata=OPTIONAL)
    git_commit: str | None = field(default=None, metadata=OPTIONAL)
    code_version: str | None = field(default=None, metadata=OPTIONAL)
    dagster_run_id: str | None = field(default=None, metadata=OPTIONAL)
    sweep_id: str | None = field(default=None, metadata=OPTIONAL)  # set when a sweep chose it

    @property
    def imgsz(self) -> int:
        return int(self.config["imgsz"])


@dataclass(frozen=True, kw_only=True)
class Evaluation(Record):
    """A checkpoint's evaluation on a dataset version's test set (core/evaluation/evaluate writes it), and, once
    eval_report compared it, the champion's evaluation on the same test set beside it."""

    KIND: ClassVar[str] = "evaluation"
    evaluation_key: str
    checkpoint_sha256: str
    dataset_version: str
    test_split_hash: str
    overall: dict
    test_set_hash: str | None = field(default=None, metadata=OPTIONAL)
    test_images: int | None = field(default=None, metadata=OPTIONAL)
    evaluation_config: dict | None = field(default=None, metadata=OPTIONAL)
    inference_config: dict | None = field(default=None, metadata=OPTIONAL)
    confidence: dict | None = field(default=None, metadata=OPTIONAL)
    by_scene: dict | None = field(default=None, metadata=OPTIONAL)
    by_lighting: dict | None = field(default=None, metadata=OPTIONAL)
    per_class_ap50_95: dict | None = field(default=None, metadata=OPTIONAL)
    per_class: list | None = field(default=None, metadata=OPTIONAL)
    slices: list | None = field(default=None, metadata=OPTIONAL)
    confusion_matrix: dict | None = field(default=None, metadata=OPTIONAL)
    plots: dict | None = field(default=None, metadata=OPTIONAL)
    tracking: dict | None = field(default=None, metadata=OPTIONAL)
    replays: dict | None = field(default=None, metadata=OPTIONAL)
    errors: dict | None = field(default=None, metadata=OPTIONAL)
    error_samples: str | None = None
    detections: str | None = field(default=None, metadata=OPTIONAL)
    seconds: dict | None = field(default=None, metadata=OPTIONAL)
    # Set by the champion comparison (evaluation/champion.py): present together once compared.
    champion: dict | None = None
    champion_evaluation: dict | None = None
    comparison: list | None = None

    def to_json(self) -> dict:
        out = super().to_json()
        compared = {"champion": self.champion, "champion_evaluation": self.champion_evaluation,
                    "comparison": self.comparison}
        if self.champion is None:  # never compared: the stored evaluation itself
            return {k: v for k, v in out.items() if k not in compared}
        return {**out, **compared}

    @property
    def tracking_overall(self) -> dict:
        return (self.tracking or {}).get("overall") or {}

    @property
    def regressed(self) -> int:
        return sum(1 for row in self.comparison or [] if row["regressed"])


@dataclass(frozen=True, kw_only=True)
class Registration(Record):
    """The model version registered for a checkpoint (or why none was), and the decision the gate made."""

    KIND: ClassVar[str] = "registration"
    name: str
    version: str | None
    decision: str
    dataset_version: str
    checkpoint_sha256: str
    champion_version: str | None = field(default=None, metadata=OPTIONAL)
    mlflow_run_id: str | None = field(default=None, metadata=OPTIONAL)
    map50_95: float | None = field(default=None, metadata=OPTIONAL)
    # The package's per-image latency ({device, batch, ms: {flavour: {batch1|batched: {p50, p95}}}}) and the lake key
    # of the version's monitoring page.
    latency: dict | None = field(default=None, metadata=OPTIONAL)
    monitoring_page: str | None = field(default=None, metadata=OPTIONAL)

    @property
    def registered(self) -> bool:
        return self.version is not None

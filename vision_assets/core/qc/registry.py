"""What a QC rule is: severities, the config and context a rule reads, and the default registry `@qc_rule` fills.

The rule modules (rows, tracks, agreement, metadata) and a team's own rules import from here; the engine imports the
built-in rule modules in a fixed order, which is the order of RULES and so of the names in a row's "reasons".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

ERROR = "error"
WARNING = "warning"
SEVERITIES = (ERROR, WARNING)


@dataclass(frozen=True)
class QcConfig:
    """Thresholds of the rules and per-team overrides. A team's own rule may read fields of a subclass."""

    tolerance_px: float = 0.5  # how far a box may stick out of the image (rounding of exported corners)
    duplicate_iou: float = 0.9  # same class, frame and annotator above this IoU: one object labelled twice
    reuse_gap_frames: int = 300  # a track id that comes back after more frames than this is another object
    max_gap_frames: float = 5.0  # missing boxes inside a track, counted in the track's own steps
    max_jump: float = 0.5  # centre movement per frame, in box diagonals, that no real object makes
    agreement_iou: float = 0.5  # two annotators' boxes of one class match at or above this IoU
    review_share: float = 0.05  # share of each annotator's frames drawn for a human spot check
    review_seed: int = 0  # changes which frames are drawn, deterministically
    area_tolerance: float = 0.05  # relative slack between a declared area and the box area
    class_names: tuple[str, ...] | None = None  # the names list class ids index; None: the known classes, in order
    id_indexed_formats: tuple[str, ...] = ("yolo",)  # formats whose class id is a position in the names list
    severities: Mapping[str, str] = field(default_factory=dict)  # rule name -> "error" | "warning" override
    disabled: frozenset[str] = frozenset()  # rule names not to run


@dataclass(frozen=True)
class QcContext:
    image_sizes: dict[str, tuple[int, int]]  # video_sha256 -> (width, height)
    known_classes: frozenset[str]
    tolerance_px: float
    frame_counts: dict[str, int] = field(default_factory=dict)  # video_sha256 -> decoded frames
    config: QcConfig = field(default_factory=QcConfig)
    class_names: tuple[str, ...] = ()  # ordered names list, for the class id rule
    # Arrays and sort orders that several rules share, computed once per run (a context serves one table).
    cache: dict = field(default_factory=dict, compare=False, repr=False)


# A rule returns a boolean mask of the rows that violate it.
RuleCheck = Callable[[pd.DataFrame, QcContext], np.ndarray]


@dataclass(frozen=True)
class QcRule:
    name: str  # a contract: it appears in reasons, rule_counts and dashboards
    severity: str  # "error" rejects the row, "warning" flags it
    check: RuleCheck
    description: str = ""


# The default registry. Order here is the order of names in a row's "reasons"; new rules append.
RULES: list[QcRule] = []


def qc_rule(name: str, severity: str, description: str = "", registry: list[QcRule] | None = None):
    """Decorator that adds a check to a registry (the default one unless given): the way a team adds a rule."""
    if severity not in SEVERITIES:
        raise ValueError(f"qc rule {name}: severity must be one of {SEVERITIES}, not {severity!r}")
    target = RULES if registry is None else registry

    def register(check: RuleCheck) -> RuleCheck:
        if any(rule.name == name for rule in target):
            raise ValueError(f"qc rule {name} is already registered")
        target.append(QcRule(name, severity, check, description))
        return check

    return register

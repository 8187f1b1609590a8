"""Quality checks on canonical annotation rows: a registry of small, named, vectorised rules with a severity.

An "error" rule rejects a row: it leaves `kept` and counts against the pass rate. A "warning" rule flags a row: it
stays in `kept` and is listed in `flagged` for a human to look at. Every rule returns a boolean mask over the rows;
reason strings are built only for the rows that end up rejected or flagged, so a million boxes cost a handful of
numpy passes over integer codes, never a Python loop per row.

The pieces: registry (severities, QcConfig, QcContext, QcRule, `@qc_rule`), arrays (the shared numpy view of a
table), the rule modules rows, tracks, agreement and metadata, and review (the spot-check sample). This module
puts the built-in rules in the default registry, runs them (run_qc) and summarises a result; everything a caller
needs is importable from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from vision_assets.core.labels import ANNOTATION_COLUMNS
from vision_assets.core.qc.agreement import AGREEMENT_COLUMNS, AGREEMENT_RULES, _greedy_match, annotator_agreement
from vision_assets.core.qc.metadata import METADATA_RULES
from vision_assets.core.qc.registry import (
    ERROR,
    RULES,
    SEVERITIES,
    WARNING,
    QcConfig,
    QcContext,
    QcRule,
    RuleCheck,
    qc_rule,
)
from vision_assets.core.qc.review import REVIEW_COLUMNS, review_sample
from vision_assets.core.qc.rows import ROW_RULES
from vision_assets.core.qc.tracks import TRACK_RULES

__all__ = [
    "AGREEMENT_COLUMNS", "ERROR", "REVIEW_COLUMNS", "RULES", "SEVERITIES", "WARNING", "QcConfig", "QcContext",
    "QcResult", "QcRule", "RuleCheck", "_greedy_match", "qc_rule", "run_qc", "summarise",
]

# The built-in rules, in the order of names in a row's "reasons", of rule_counts and of the summary (a contract
# dashboards read). The package imports this module before any caller can, so a team's @qc_rule comes after them.
RULES.extend([*ROW_RULES, *TRACK_RULES, *AGREEMENT_RULES, *METADATA_RULES])


@dataclass(frozen=True)
class QcResult:
    kept: pd.DataFrame  # ANNOTATION_COLUMNS, original index preserved; includes flagged rows
    rejected: pd.DataFrame  # ANNOTATION_COLUMNS + "reasons" (error rules), original index preserved
    rule_counts: dict[str, int]  # rule -> rows it hit (a row may count under several rules)
    flagged: pd.DataFrame = field(default_factory=pd.DataFrame)  # kept rows + "reasons" (warning rules)
    severities: dict[str, str] = field(default_factory=dict)  # rule -> severity it ran with
    agreement: pd.DataFrame = field(default_factory=pd.DataFrame)  # AGREEMENT_COLUMNS, one row per annotator pair
    review: pd.DataFrame = field(default_factory=pd.DataFrame)  # REVIEW_COLUMNS: frames drawn for a spot check

    @property
    def total(self) -> int:
        return len(self.kept) + len(self.rejected)

    @property
    def pass_rate(self) -> float:
        return len(self.kept) / self.total if self.total else 1.0


def _as_rule(item: QcRule | tuple) -> QcRule:
    # (name, check) pairs are the older registry's shape; they keep working, as errors.
    if isinstance(item, QcRule):
        return item
    name, check, *severity = item
    return QcRule(name, severity[0] if severity else ERROR, check)


def _with_reasons(rows: pd.DataFrame, at: np.ndarray, masks: dict[str, np.ndarray]) -> pd.DataFrame:
    """rows.iloc[at] plus ";"-joined names of the rules in `masks` that hit each row.

    Built only for the rows that need them: usually a small share of a large table.
    """
    reasons = np.full(len(at), "", dtype=object)
    for name, mask in masks.items():
        hit = mask[at]
        reasons[hit] = np.where(reasons[hit] == "", name, reasons[hit] + ";" + name)
    picked = rows.iloc[at]
    # Positional, not by label: a table concatenated without ignore_index may repeat index labels.
    return picked.assign(reasons=pd.array(reasons, dtype="str") if len(at) else pd.array([], dtype="str"))


def _any(masks: Iterable[np.ndarray], n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    for mask in masks:
        out |= mask
    return out


def _context(image_sizes: dict[str, tuple[int, int]], known_classes: Iterable[str], tolerance_px: float | None,
             frame_counts: dict[str, int] | None, config: QcConfig | None) -> QcContext:
    config = config or QcConfig()
    if tolerance_px is not None:
        config = replace(config, tolerance_px=float(tolerance_px))
    bad = {name: s for name, s in config.severities.items() if s not in SEVERITIES}
    if bad:
        raise ValueError(f"run_qc: severities must be one of {SEVERITIES}: {bad}")
    known = list(dict.fromkeys(known_classes))
    return QcContext(dict(image_sizes), frozenset(known), float(config.tolerance_px), dict(frame_counts or {}),
                     config, tuple(config.class_names) if config.class_names is not None else tuple(known))


def run_qc(
    df: pd.DataFrame,
    image_sizes: dict[str, tuple[int, int]],
    known_classes: Iterable[str],
    *,
    tolerance_px: float | None = None,
    frame_counts: dict[str, int] | None = None,
    rules: list[QcRule | tuple] | None = None,
    config: QcConfig | None = None,
) -> QcResult:
    """Run every rule; error rules reject rows, warning rules flag them; plus agreement and a review sample.

    - rejected["reasons"] names the error rules a row broke; flagged["reasons"] the warning rules a kept row hit.
      A warning on a rejected row shows only in rule_counts, which counts every row a rule hit.
    - Every rule sees every row: a duplicate of an out-of-image box is still a duplicate, and agreement is measured
      on what the annotators drew, before QC removed anything.
    - known_classes' order is the names list class ids index (class_id_off_by_one), unless config.class_names.
    - tolerance_px, when given, overrides config.tolerance_px. Rows marked {"ignore": true} get no special
      treatment: they pass unless a rule hits them.
    """
    missing = [c for c in ANNOTATION_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"run_qc: missing annotation columns {missing}")
    ctx = _context(image_sizes, known_classes, tolerance_px, frame_counts, config)
    config = ctx.config
    rows = df[ANNOTATION_COLUMNS]
    active = [r for r in map(_as_rule, RULES if rules is None else rules) if r.name not in config.disabled]
    severities = {r.name: config.severities.get(r.name, r.severity) for r in active}
    # Non-finite corners are their own rule; elsewhere they make NaN, which compares False: no warnings needed.
    with np.errstate(invalid="ignore", divide="ignore"):
        masks = {r.name: np.asarray(r.check(rows, ctx), dtype=bool) for r in active}

    errors = {name: m for name, m in masks.items() if severities[name] == ERROR}
    warnings = {name: m for name, m in masks.items() if severities[name] == WARNING}
    failed = _any(errors.values(), len(rows))
    warned = _any(warnings.values(), len(rows)) & ~failed

    rejected_at, flagged_at = np.flatnonzero(failed), np.flatnonzero(warned)
    return QcResult(
        kept=rows[~failed],
        rejected=_with_reasons(rows, rejected_at, errors),
        flagged=_with_reasons(rows, flagged_at, warnings),
        rule_counts={name: int(mask.sum()) for name, mask in masks.items()},
        severities=severities,
        agreement=annotator_agreement(rows, ctx).table,
        review=review_sample(rows, ctx),
    )


def summarise(result: QcResult, sample_size: int = 3) -> pd.DataFrame:
    """One row per rule: severity, rows hit, share of all rows and a few example rows, for a dashboard."""
    listed = pd.concat([result.rejected, result.flagged])
    hits = listed[["source_file", "source_id", "reasons"]].assign(rule=listed["reasons"].str.split(";")).explode("rule")
    examples = (hits.groupby("rule", sort=False).head(sample_size)
                .assign(example=lambda t: t["source_file"].astype(str) + "#" + t["source_id"].astype(str))
                .groupby("rule", sort=False)["example"].agg(", ".join))
    total = result.total
    return pd.DataFrame({
        "rule": list(result.rule_counts),
        "severity": [result.severities.get(name, ERROR) for name in result.rule_counts],
        "rows": list(result.rule_counts.values()),
        "share": [count / total if total else 0.0 for count in result.rule_counts.values()],
        "sample": [examples.get(name, "") for name in result.rule_counts],
    })

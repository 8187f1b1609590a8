"""The promotion gate: a candidate becomes champion only if it beats the champion on the primary metric by a
margin AND no slice (scene, lighting, class, tracking IDF1 per scene) regresses by more than a tolerance.

A pure function over two evaluation dicts (what eval_report produces) evaluated on the same test split.
Slices with too few boxes on either side are shown but not gated, so a slice of three boxes cannot flap the
decision. Older or partial evaluations (no `slices`, no `tracking`) lose only those rows.

With `deltas` (paired bootstrap intervals of candidate - champion over the test videos, uncertainty.delta_intervals)
a slice regresses only when its drop is beyond the tolerance AND beyond that noise (the interval lies below 0); a
drop whose interval holds 0 passes with the interval named. Slices without an interval (one video) keep the
tolerance rule alone. The evaluation floor is applied before the gate and is not affected."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from vision_assets.core.evaluation.comparison import DifferentTestSplits
from vision_assets.core.numbers import finite_number

PASS, FAIL, SKIP = "pass", "fail", "skipped"


@dataclass(frozen=True)
class GateConfig:
    primary_metric: str = "map50_95"
    margin: float = 0.0  # the candidate must exceed the champion by more than this on the primary metric
    slice_metric: str = "map50_95"
    slice_tolerance: float = 0.05  # a slice may drop by at most this (absolute)
    min_boxes: int = 20  # slices with fewer ground-truth boxes (on either side) are not gated
    tracking_metric: str = "idf1"
    tracking_tolerance: float = 0.05  # IDF1 per scene may drop by at most this

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GateRow:
    metric: str  # e.g. "map50_95", "map50_95 scene=cam-a", "idf1 scene=cam-a"
    champion: float | None
    candidate: float | None
    delta: float | None
    result: str  # pass, fail or skipped
    note: str = ""


@dataclass
class GateDecision:
    rows: list[GateRow]
    promote: bool
    champion_version: str | None = None
    config: GateConfig = field(default_factory=GateConfig)

    @property
    def regressed(self) -> list[GateRow]:
        return [r for r in self.rows[1:] if r.result == FAIL]

    @property
    def primary(self) -> GateRow:
        return self.rows[0]

    def one_line(self) -> str:
        """The decision in one line, naming every regressed slice."""
        if self.champion_version is None:
            return "promoted: first model, no champion to beat"
        parts = []
        p = self.primary
        if p.result == FAIL:
            parts.append(f"{p.metric} {_fmt(p.candidate)} does not beat v{self.champion_version}'s {_fmt(p.champion)} "
                         f"by more than {self.config.margin:g}")
        if self.regressed:
            parts.append("regressed: " + "; ".join(f"{r.metric} {_fmt(r.champion)} -> {_fmt(r.candidate)} "
                                                  f"({r.delta:+.4f})" for r in self.regressed))
        if self.promote:
            return (f"promoted: {p.metric} {_fmt(p.candidate)} > v{self.champion_version}'s {_fmt(p.champion)}, "
                    f"no slice regressed")
        return "not promoted: " + "; ".join(parts)

    def markdown(self) -> str:
        lines = [f"**{self.one_line()}**", "", "| metric | champion | candidate | delta | result | note |",
                 "|---|---|---|---|---|---|"]
        for r in self.rows:
            delta = "" if r.delta is None else f"{r.delta:+.4f}"
            lines.append(f"| {r.metric} | {_fmt(r.champion)} | {_fmt(r.candidate)} | {delta} | {r.result} | {r.note} |")
        c = self.config
        lines += ["", f"Gate: {c.primary_metric} margin > {c.margin:g}; slices ({c.slice_metric}) may drop at most "
                      f"{c.slice_tolerance:g}, tracking {c.tracking_metric} per scene at most {c.tracking_tolerance:g}; "
                      f"slices under {c.min_boxes} boxes are not gated."]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"promote": self.promote, "champion_version": self.champion_version, "summary": self.one_line(),
                "regressed": [r.metric for r in self.regressed], "config": self.config.as_dict(),
                "rows": [asdict(r) for r in self.rows]}


def gate_decision(champion: dict | None, candidate: dict, config: GateConfig | None = None,
                  champion_version: str | None = None, deltas: dict | None = None) -> GateDecision:
    """The gate's table for `candidate` against `champion` (both evaluations on the same test split; None when
    there is no champion). deltas: {(dimension, value, metric): {"delta_low", "delta_high"}}."""
    config = config or GateConfig()
    deltas = deltas or {}
    ours = finite_number(candidate.get("overall", {}).get(config.primary_metric))
    if champion is None:
        row = GateRow(config.primary_metric, None, ours, None, PASS, "no champion")
        return GateDecision([row], True, None, config)
    if champion.get("test_split_hash") and candidate.get("test_split_hash") \
            and champion["test_split_hash"] != candidate["test_split_hash"]:
        raise DifferentTestSplits(f"the champion was evaluated on test split {champion['test_split_hash']}, the candidate on "
                         f"{candidate['test_split_hash']}: the gate compares the same test images only")
    theirs = finite_number(champion.get("overall", {}).get(config.primary_metric))
    primary_ok = ours is not None and (theirs is None or ours - theirs > config.margin)
    rows = [GateRow(config.primary_metric, theirs, ours, _delta(theirs, ours), PASS if primary_ok else FAIL,
                    f"margin > {config.margin:g}")]
    champion_slices, candidate_slices = _slices(champion, config), _slices(candidate, config)
    for key, (value, count) in candidate_slices.items():
        if key not in champion_slices:
            rows.append(GateRow(key, None, value, None, SKIP, "not in the champion's evaluation"))
            continue
        before, before_count = champion_slices[key]
        rows.append(_slice_row(key, before, value, min(_count(before_count), _count(count)), config.slice_tolerance,
                               config.min_boxes, _interval(deltas, key, "")))
    champion_tracks, candidate_tracks = _tracking(champion, config), _tracking(candidate, config)
    for key, (value, count) in candidate_tracks.items():
        if key in champion_tracks:
            before, before_count = champion_tracks[key]
            rows.append(_slice_row(key, before, value, min(_count(before_count), _count(count)),
                                   config.tracking_tolerance, config.min_boxes, _interval(deltas, key, "tracking_")))
    promote = primary_ok and not any(r.result == FAIL for r in rows[1:])
    return GateDecision(rows, promote, champion_version, config)


def _slice_row(metric: str, before: float | None, after: float | None, count: float, tolerance: float,
               min_boxes: int, interval: dict | None = None) -> GateRow:
    if before is None or after is None:
        return GateRow(metric, before, after, None, SKIP, "no value")
    delta = after - before
    if count < min_boxes:
        return GateRow(metric, before, after, delta, SKIP, f"{int(count)} boxes < {min_boxes}")
    if delta >= -tolerance:
        return GateRow(metric, before, after, delta, PASS, f"tolerance {tolerance:g}")
    if interval is None:
        return GateRow(metric, before, after, delta, FAIL, f"tolerance {tolerance:g}")
    low, high = interval["delta_low"], interval["delta_high"]
    span = f"95 % interval of the change [{low:+.4f}, {high:+.4f}]"
    if high >= 0:
        return GateRow(metric, before, after, delta, PASS, f"drop within the noise: {span}")
    return GateRow(metric, before, after, delta, FAIL, f"tolerance {tolerance:g}, beyond the noise: {span}")


def _interval(deltas: dict, key: str, prefix: str) -> dict | None:
    """The paired interval for a gate row key ("map50_95 scene=cam-a"), when known (both bounds)."""
    metric, _, where = key.partition(" ")
    dimension, _, value = where.partition("=")
    found = deltas.get((dimension, value, prefix + metric))
    if not found or found.get("delta_low") is None or found.get("delta_high") is None:
        return None
    return found


def _slices(report: dict, config: GateConfig) -> dict[str, tuple[float | None, float | None]]:
    """{"map50_95 scene=cam-a": (value, box count)}: from `slices` rows when the evaluation has them, else from the
    per-scene and per-lighting tables and per-class AP of older reports. A slice marked too_few counts as 0 boxes."""
    metric = config.slice_metric
    found: dict[str, tuple[float | None, float | None]] = {}
    if isinstance(report.get("slices"), list):
        for row in report["slices"]:
            key = f"{metric} {row.get('dimension')}={row.get('value')}"
            count = 0 if row.get("too_few") else row.get("n_boxes")
            found[key] = (finite_number(row.get(metric)), count)
        return found
    for dimension, table in (("scene", report.get("by_scene")), ("lighting", report.get("by_lighting"))):
        for value, metrics in (table or {}).items():
            found[f"{metric} {dimension}={value}"] = (finite_number(metrics.get(metric)),
                                                      metrics.get("n_ground_truth", metrics.get("n_boxes")))
    if metric == "map50_95":
        for name, ap in (report.get("per_class_ap50_95") or {}).items():
            found[f"{metric} class={name}"] = (finite_number(ap), None)  # no count recorded: gated
    return found


def _tracking(report: dict, config: GateConfig) -> dict[str, tuple[float | None, float | None]]:
    tracking = report.get("tracking")
    if not isinstance(tracking, dict):
        return {}
    found = {}
    for scene, metrics in (tracking.get("by_scene") or {}).items():
        if isinstance(metrics, dict):
            count = next((metrics[k] for k in ("n_boxes", "num_objects", "n_ground_truth", "gt") if k in metrics), None)
            found[f"{config.tracking_metric} scene={scene}"] = (finite_number(metrics.get(config.tracking_metric)), count)
    return found


def _count(count) -> float:
    """An unknown count does not exempt a slice from the gate."""
    number = finite_number(count)
    return math.inf if number is None else number



def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"

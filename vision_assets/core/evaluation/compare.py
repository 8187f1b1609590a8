"""Two evaluations side by side on the same test set: the comparison page and the text `vision-assets compare`
prints.

Pairs are found among the lake's stored evaluations (same test set and evaluation config); when a model was
never evaluated on the other's test set, `evaluation_config_from` rebuilds the other's config so it can be
evaluated there, once, like any evaluation. Deltas are B - A with their paired 95 % interval over the same
bootstrap resamples of the test videos, regressions (in each metric's own direction) first."""

from __future__ import annotations

import html
import posixpath

from vision_assets.core.evaluation.comparison import LOWER_IS_BETTER, DifferentTestSplits, compare_reports
from vision_assets.core.evaluation.report_data import gather
from vision_assets.core.evaluation.report_page import (
    HEADLINE,
    LABELS,
    figure_html,
    fmt,
    page,
    table,
)
from vision_assets.core.evaluation.uncertainty import (
    beyond_noise,
    delta_intervals,
    evaluation_intervals,
    interval_text,
)
from vision_assets.core.lake import Lake, keys


def stored_evaluations(lake: Lake, checkpoint_sha256: str) -> list[dict]:
    """Every stored evaluation of a checkpoint (its key starts with the sha's first 16 characters)."""
    prefix = checkpoint_sha256[:16]
    found = []
    for path in sorted(lake.fs.glob(lake.path("evaluations", f"{prefix}-*", "eval.json"))):
        key = path.rstrip("/").split("/")[-2]
        found.append(lake.read_json(keys.evaluation_record_key(key)))
    return found


def _config_of(report: dict) -> str:
    return report["evaluation_key"].rsplit("-", 1)[-1]


def common_pair(a: list[dict], b: list[dict]) -> tuple[dict, dict] | None:
    """An evaluation of each on the same test set with the same evaluation config, if there is one."""
    for theirs in reversed(b):
        for ours in reversed(a):
            if ours["test_set_hash"] == theirs["test_set_hash"] and _config_of(ours) == _config_of(theirs):
                return ours, theirs
    return None


def evaluation_config_from(report: dict):
    """The EvaluationConfig a stored evaluation was computed with (to evaluate another model the same way)."""
    from vision_assets.core.evaluation.checkpoint_report import EvaluationConfig
    from vision_assets.core.evaluation.inference import InferenceConfig

    stored = dict(report["evaluation_config"])
    stored.pop("fingerprint", None)
    inference = InferenceConfig(**stored.pop("inference"))
    return EvaluationConfig(inference=inference, **stored)


def comparison_rows(lake: Lake, a: dict, b: dict) -> list[dict]:
    """compare_reports' rows (champion = A, candidate = B) with delta_low / delta_high / beyond_noise, sorted:
    worse beyond the noise first (largest drop first), then worse within the noise, then the rest."""
    deltas = delta_intervals(lake, a, b)
    rows = []
    for row in compare_reports(a, b):
        found = deltas.get((row["slice_dimension"], row["slice_value"], row["metric"])) or {}
        rows.append({**row, "delta_low": found.get("delta_low"), "delta_high": found.get("delta_high"),
                     "beyond_noise": beyond_noise(found)})

    def order(row):
        sign = -1.0 if row["metric"].removeprefix("tracking_") in LOWER_IS_BETTER else 1.0
        drop = sign * row["delta"] if row["delta"] is not None else 0.0
        return (0 if row["regressed"] and row["beyond_noise"] else 1 if row["regressed"] else 2, drop)

    return sorted(rows, key=order)


def compare_key(a: dict, b: dict) -> str:
    return f"{keys.evaluation_folder(b['evaluation_key'])}/compare_{a['evaluation_key']}.html"


def write_compare_page(lake: Lake, a: dict, b: dict, *, names: tuple[str, str] = ("A", "B")) -> str:
    """The side-by-side page, beside B's evaluation (so both evaluations' replays are relative paths)."""
    if a["test_set_hash"] != b["test_set_hash"]:
        raise DifferentTestSplits(f"{a['evaluation_key']} and {b['evaluation_key']} were evaluated on different test "
                                  "sets: only the same test images compare")
    key = compare_key(a, b)
    rows = comparison_rows(lake, a, b)
    bounds = (evaluation_intervals(lake, a), evaluation_intervals(lake, b))
    body = [_header(a, b, names), _headline(lake, a, b, bounds, names), _deltas(rows, names),
            _slice_bars(a, b, bounds, names), _curves(lake, a, b, names), _confusions(a, b, names),
            _replays(a, b, posixpath.dirname(key), names)]
    return lake.write_bytes(key, page(f"{names[0]} vs {names[1]}", "\n".join(body)).encode())


def _header(a: dict, b: dict, names) -> str:
    def facts(report):
        inference = report["inference_config"]
        return (f"checkpoint <code>{html.escape(report['checkpoint_sha256'][:16])}</code><br>evaluation "
                f"<code>{html.escape(report['evaluation_key'])}</code><br>operating confidence "
                f"{inference['conf']:.2f}, imgsz {inference['imgsz']}")

    return (f"<h1>{html.escape(names[0])} vs {html.escape(names[1])}</h1><p>Same test set "
            f"<code>{html.escape(b['test_set_hash'])}</code> ({b['test_images']} images) of dataset "
            f"<code>{html.escape(b['dataset_version'])}</code>. Deltas are {html.escape(names[1])} − "
            f"{html.escape(names[0])}, with the 95 % interval of the difference by paired bootstrap over test "
            "videos; <b>beyond noise</b> when that interval excludes 0.</p>"
            + table(["", names[0], names[1]], [["model", facts(a), facts(b)]], cls="facts"))


def _delta_cell(delta, low, high, noise, worse: bool) -> str:
    text = fmt(delta, 4) if delta is not None else "–"
    span = f" [{low:+.3f}, {high:+.3f}]" if low is not None else " (no interval)"
    cls = "delta-bad" if worse and noise else "delta-good" if noise else ""
    return f"<span class='{cls}'>{text}{span}</span>"


def _headline(lake, a, b, bounds, names) -> str:
    deltas = delta_intervals(lake, a, b)
    rows = []
    for metric in HEADLINE:
        before, after = a["overall"].get(metric), b["overall"].get(metric)
        found = deltas.get(("all", "all", metric)) or {}
        delta = None if before is None or after is None else after - before
        noise = beyond_noise(found)
        rows.append([LABELS[metric], fmt(before), interval_text(bounds[0].get(("all", "all", metric))), fmt(after),
                     interval_text(bounds[1].get(("all", "all", metric))),
                     _delta_cell(delta, found.get("delta_low"), found.get("delta_high"), noise,
                                 delta is not None and delta < 0),
                     {True: "beyond noise", False: "within noise", None: "–"}[noise]])
    return "<h2>Headline</h2>" + table(["metric", names[0], "95 % interval", names[1], "95 % interval",
                                        "delta [95 % interval]", "verdict"], rows, cls="headline compare")


def _deltas(rows: list[dict], names) -> str:
    shown = []
    for r in rows[:60]:
        verdict = ("worse, beyond noise" if r["regressed"] and r["beyond_noise"] else
                   "worse, within noise" if r["regressed"] and r["beyond_noise"] is False else
                   "worse (no interval)" if r["regressed"] else
                   "better, beyond noise" if r["beyond_noise"] else "no significant change")
        shown.append([html.escape(r["metric"]), html.escape(f"{r['slice_dimension']}={r['slice_value']}"),
                      fmt(r["champion"]), fmt(r["candidate"]),
                      _delta_cell(r["delta"], r["delta_low"], r["delta_high"], r["beyond_noise"], r["regressed"]),
                      html.escape(verdict), fmt(r["n_boxes"])])
    return ("<h2>Every number, regressions first</h2>"
            + table(["metric", "slice", names[0], names[1], "delta [95 % interval]", "verdict", "boxes"], shown,
                    cls="deltas"))


def _slice_bars(a, b, bounds, names) -> str:
    import plotly.graph_objects as go

    from vision_assets.core.evaluation.report_page import _error_bars

    figure = go.Figure()
    for report, bound, name in ((a, bounds[0], names[0]), (b, bounds[1], names[1])):
        rows = report.get("slices") or []
        values = [r.get("map50_95") for r in rows]
        ranges = [bound.get((r["dimension"], str(r["value"]), "map50_95")) or {} for r in rows]
        figure.add_bar(name=name, x=[f"{r['dimension']}={r['value']}" for r in rows], y=values,
                       error_y=_error_bars(values, [r.get("low") for r in ranges], [r.get("high") for r in ranges]))
    figure.update_layout(title="mAP50-95 per slice (95 % intervals)", barmode="group", height=420,
                         yaxis_range=[0, 1.05], margin={"t": 40, "b": 120})
    return "<h2>Slices</h2>" + figure_html(figure, "compare-slices-chart")


def _curves(lake, a, b, names) -> str:
    import plotly.graph_objects as go

    figure = go.Figure()
    for report, name, dash in ((a, names[0], "dot"), (b, names[1], "solid")):
        data = gather(lake, report, embed_frames=False)
        for cls, group in data.pr.groupby("class_name", sort=False):
            if group["recall"].notna().any():
                figure.add_scatter(x=group["recall"], y=group["precision"], mode="lines", name=f"{name} {cls}",
                                   line={"dash": dash})
    figure.update_layout(title="Precision-recall (IoU 0.5)", xaxis_title="recall", yaxis_title="precision",
                         xaxis_range=[0, 1.02], yaxis_range=[0, 1.05], height=420, margin={"t": 40})
    return "<h2>Curves</h2>" + figure_html(figure, "compare-pr-chart")


def _confusions(a, b, names) -> str:
    import plotly.graph_objects as go

    parts = []
    for report, name, div in ((a, names[0], "compare-confusion-a"), (b, names[1], "compare-confusion-b")):
        matrix = report.get("confusion_matrix") or {}
        labels = matrix.get("labels") or []
        values = matrix.get("rows_predicted_columns_true") or []
        figure = go.Figure(go.Heatmap(z=values, x=labels, y=labels, colorscale="Blues", text=values,
                                      texttemplate="%{text}"))
        figure.update_layout(title=f"{name}: rows predicted, columns true", yaxis_autorange="reversed", height=380,
                             margin={"t": 40})
        parts.append(figure_html(figure, div))
    return "<h2>Confusion matrices</h2><div class='side'>" + "".join(parts) + "</div>"


def _replays(a, b, folder, names) -> str:
    videos = sorted(set(a.get("replays") or {}) | set(b.get("replays") or {}))
    if not videos:
        return ""
    rows = []
    for video in videos:
        cells = []
        for report in (a, b):
            key = (report.get("replays") or {}).get(video)
            cells.append(f"<video controls muted preload='auto' src='{html.escape(posixpath.relpath(key, folder))}'>"
                         "</video>" if key else "<p>no replay</p>")
        rows.append(f"<div class='side'>{''.join(f'<figure class=replay>{c}</figure>' for c in cells)}</div>"
                    f"<p class='note'>video <code>{html.escape(video[:12])}</code>: {html.escape(names[0])} left, "
                    f"{html.escape(names[1])} right</p>")
    return "<h2>Replays</h2>" + "".join(rows)

"""The monitoring page of one model version: `monitoring/<model>/v<version>/drift.html` in the lake.

Per scene over days, for the days the version served as champion: the embedding-drift p-value and MMD^2 score, the
detection rate, and the disagreement of the challenger or canary that ran beside it; then the days it ran in shadow
itself (as challenger or canary). One self-contained file, as the evaluation report page is: plotly.js inlined, no
address outside the page. footage_monitoring rewrites it after every partition it watches; registered_model writes
it at registration (so its link always opens) and links it, as the report page of the same model does.
"""

from __future__ import annotations

import html

import pandas as pd

from vision_assets.core.lake import Lake, keys
from vision_assets.core.monitoring.thresholds import DRIFT_P_VALUE

CHARTS = (
    ("drift_p_value", "drift p-value (MMD permutation test; under the dashed line: drift)"),
    ("drift_score", "MMD² score against the training frames"),
    ("detections_per_frame", "detections per frame"),
    ("shadow_disagreement_rate", "shadow disagreement with the challenger / canary (share of boxes)"),
)
TABLE_COLUMNS = ("scene", "day", "frames", "drift_p_value", "drift_score", "detections_per_frame",
                 "predictions_stable", "challenger_version", "shadow_disagreement_rate", "baseline_reference")


def page_key(model_name: str, version: str) -> str:
    return keys.monitoring_page_key(model_name, version)


def monitoring_rows(lake: Lake) -> pd.DataFrame:
    rows = lake.read_tables(keys.FOOTAGE_MONITORING)
    if rows.empty:
        return pd.DataFrame(columns=["scene", "day", "champion_version", "challenger_version"])
    for column in ("champion_version", "challenger_version"):
        rows[column] = rows[column].fillna("").astype(str)
    return rows.sort_values(["scene", "day"]).reset_index(drop=True)


def write_drift_page(lake: Lake, model_name: str, version: str, facts: list[tuple[str, str]] | None = None,
                     rows: pd.DataFrame | None = None) -> str:
    """Writes the page from the lake's footage_monitoring table (or `rows`); returns its lake key. `facts` are
    (label, plain text) lines for the header: role, canary state, latency."""
    rows = monitoring_rows(lake) if rows is None else rows
    key = page_key(model_name, version)
    return lake.write_bytes(key, render_drift_page(rows, model_name, str(version), facts or []).encode())


def render_drift_page(rows: pd.DataFrame, model_name: str, version: str, facts: list[tuple[str, str]]) -> str:
    from vision_assets.core.evaluation.report_page import page, table

    watched = rows[rows["champion_version"] == version]
    shadow = rows[rows["challenger_version"] == version]
    header = [("model", f"{model_name} v{version}"), *facts,
              ("footage watched as champion", _extent(watched)),
              ("footage watched in shadow", _extent(shadow))]
    body = ["<h1>Monitoring of this model</h1>",
            "<table class='facts' id='facts'>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                                                         for k, v in header) + "</table>",
            "<p class='note'>One point per scene and day of footage that footage_monitoring watched (the lake table "
            "<code>footage_monitoring</code>). Drift: the partition's pooled backbone features against the "
            f"version's training frames; a p-value under {DRIFT_P_VALUE} warns (check footage_in_distribution).</p>"]
    if watched.empty:
        body.append("<h2>As champion</h2><p id='no-footage'>No footage watched with this version as champion yet.</p>")
    else:
        body += ["<h2>As champion: per scene over days</h2>", _charts(watched),
                 "<h2>Per scene and day</h2>",
                 table(list(TABLE_COLUMNS), [[_cell(r.get(c)) for c in TABLE_COLUMNS]
                                             for r in watched.to_dict("records")], cls="days")]
    if not shadow.empty:
        columns = ["scene", "day", "champion_version", "shadow_disagreement_rate", "challenger_detections_per_frame",
                   "detections_per_frame"]
        body += ["<h2>In shadow (as challenger or canary beside the champion)</h2>",
                 table(columns, [[_cell(r.get(c)) for c in columns] for r in shadow.to_dict("records")], cls="shadow")]
    return page(f"Monitoring of {model_name} v{version}", "\n".join(body))


def _charts(watched: pd.DataFrame) -> str:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from vision_assets.core.evaluation.report_page import figure_html

    figure = make_subplots(rows=len(CHARTS), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                           subplot_titles=[title for _, title in CHARTS])
    for position, (column, _) in enumerate(CHARTS, start=1):
        for index, (scene, days) in enumerate(watched.groupby("scene", sort=True)):
            figure.add_trace(go.Scatter(x=days["day"].tolist(), y=pd.to_numeric(days[column], errors="coerce").tolist(),
                                        mode="lines+markers", name=str(scene), legendgroup=str(scene),
                                        showlegend=position == 1, marker={"color": _colour(index)},
                                        line={"color": _colour(index)}), row=position, col=1)
    figure.add_hline(y=DRIFT_P_VALUE, line_dash="dash", line_color="#b22", row=1, col=1)
    figure.update_yaxes(type="log", row=1, col=1)
    figure.update_xaxes(type="category", categoryorder="category ascending")
    figure.update_layout(height=260 * len(CHARTS), margin={"t": 40, "b": 30}, legend_title_text="scene")
    return figure_html(figure, "drift-over-days")


def _colour(index: int) -> str:
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
    return palette[index % len(palette)]


def _extent(rows: pd.DataFrame) -> str:
    if rows.empty:
        return "none yet"
    scenes, days = sorted(set(rows["scene"])), sorted(set(rows["day"]))
    return f"{len(rows)} scene-days: {', '.join(scenes)}; {days[0]} to {days[-1]}"


def _cell(value) -> str:
    from vision_assets.core.evaluation.report_page import fmt

    if isinstance(value, float):
        return fmt(value, 4)
    return fmt(value if value not in (None, "") else None)


def canary_state(registry, model_name: str, version) -> str:
    """The release state around this version, in words: is it (or another version) the canary, on which scenes,
    and was its own canary rolled back (with why)."""
    from vision_assets.core.monitoring.canary import CANARY, ROLLED_BACK_TAG, canary_scenes

    canary = registry.by_alias(model_name, CANARY)
    if canary is not None and str(canary.version) == str(version.version):
        state = f"canary on {', '.join(canary_scenes(canary.tags))} (the champion serves everywhere else)"
    elif canary is not None:
        state = f"no canary of this version; v{canary.version} is the canary on {', '.join(canary_scenes(canary.tags))}"
    else:
        state = "no canary running"
    why = version.tags.get(ROLLED_BACK_TAG)
    return state + (f"; this version's canary was rolled back: {why}" if why else "")


def latency_text(latency: dict) -> str:
    """One line of the package's latency per image: p50/p95 ms per flavour at batch 1 and the configured batch."""
    if not latency:
        return "not measured (registered before latency was recorded)"
    parts = []
    for flavour, modes in latency["ms"].items():
        for mode, stats in modes.items():
            batch = 1 if mode == "batch1" else latency["batch"]
            parts.append(f"{flavour} batch {batch}: p50 {stats['p50']:.3g} ms, p95 {stats['p95']:.3g} ms")
    return "; ".join(parts) + f" (per image, on {latency['device']})"


def model_facts(registry, model_name: str, version) -> list[tuple[str, str]]:
    """Header lines of a version's monitoring page: its aliases now, the canary state and the package latency."""
    from vision_assets.core.registry.latency import latency_from_tags

    aliases = [alias for alias, v in sorted(registry.aliases(model_name).items()) if v == str(version.version)]
    return [("aliases now", ", ".join(aliases) or "none"),
            ("canary", canary_state(registry, model_name, version)),
            ("package latency", latency_text(latency_from_tags(dict(version.tags))))]


def shadow_summary(rows: pd.DataFrame, version: str) -> pd.DataFrame:
    """Per champion x challenger pair involving `version` and scene: days watched, mean and largest share of boxes
    the two disagree on."""
    columns = ["champion_version", "challenger_version", "scene", "days", "mean_disagreement", "max_disagreement"]
    if rows.empty or "shadow_disagreement_rate" not in rows:
        return pd.DataFrame(columns=columns)
    pairs = rows[(rows["challenger_version"] != "") & ((rows["champion_version"] == version)
                                                       | (rows["challenger_version"] == version))]
    if pairs.empty:
        return pd.DataFrame(columns=columns)
    rate = pd.to_numeric(pairs["shadow_disagreement_rate"], errors="coerce")
    summary = (pairs.assign(rate=rate).groupby(["champion_version", "challenger_version", "scene"], sort=True)
               .agg(days=("day", "nunique"), mean_disagreement=("rate", "mean"), max_disagreement=("rate", "max"))
               .reset_index())
    return summary[columns]

"""The evaluation report page: one self-contained HTML file at `evaluations/<key>/report.html`.

Self-contained: plotly.js is inlined (no CDN), test frames are data URIs, and the only other files it names are
the evaluation's own replays by a path relative to the page (`replays/<video>.mp4`, beside it in the same
folder) and, once the model is registered, its monitoring page (`../../monitoring/<model>/v<N>/drift.html`), so it works opened from the lake folder, from a static server or from object storage, and nothing is
fetched from anywhere else.

Top: model, dataset, test set, operating point, headline numbers with 95 % intervals (bootstrap over test
videos). Then per-class and per-slice bars with their intervals, PR and F1-confidence curves, the confusion
matrix (a click on a cell shows its errors), the error gallery (filter by kind, class, slice, score; each error
on its full frame with ground truth and predictions drawn over it), the replays and tracking per video."""

from __future__ import annotations

import html
import json
import math
import posixpath

import pandas as pd

from vision_assets.core.evaluation.report_data import ReportData, gather
from vision_assets.core.evaluation.uncertainty import evaluation_intervals, interval_text
from vision_assets.core.lake import keys
from vision_assets.core.numbers import finite_number

HEADLINE = ("map50_95", "map50", "map75", "precision", "recall")
LABELS = {"map50_95": "mAP50-95", "map50": "mAP50", "map75": "mAP75", "precision": "precision", "recall": "recall",
          "tracking_mota": "MOTA", "tracking_idf1": "IDF1"}
KIND_NAMES = {"fn": "missed", "fp": "false alarm", "loc": "poorly localised", "cls": "wrong class",
              "dup": "duplicate", "idsw": "ID switch", "frag": "track fragmented"}


def page_key(evaluation_key: str) -> str:
    return f"{keys.evaluation_folder(evaluation_key)}/report.html"


def write_report_page(lake, report: dict, *, model: dict | None = None) -> str:
    """Writes the page for a stored evaluation (with its champion comparison when the report has one); returns
    its lake key. `model` adds what the evaluation does not know: registered name/version, MLflow run."""
    data = gather(lake, report)
    try:
        bounds = evaluation_intervals(lake, report)
    except (KeyError, ValueError, OSError):  # an older record without its detections: the page, without intervals
        bounds = {}
    key = page_key(report["evaluation_key"])
    return lake.write_bytes(key, render(data, bounds, model or {}, folder=posixpath.dirname(key)).encode())


def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def figure_html(figure, div_id: str) -> str:
    return figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                          config={"displaylogo": False, "responsive": True})


def render(data: ReportData, bounds: dict, model: dict, *, folder: str) -> str:
    report = data.report
    body = [_header(report, data, model), _monitoring_link(model, folder), _headline(report, bounds),
            _bars(report, bounds), _curves(data),
            _confusion(report), _gallery(data), _replays(report, folder), _tracking(report, bounds),
            _champion(report)]
    title = f"Evaluation {report['evaluation_key']}"
    return page(title, "\n".join(body), script=GALLERY_JS.replace("__ERRORS__", _errors_json(data))
                .replace("__FRAMES__", json.dumps(data.frames)))


def page(title: str, body: str, script: str = "") -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{STYLE}</style>
<script>{plotly_js()}</script>
</head><body><main>
{body}
</main><script>{script}</script></body></html>"""


def fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def table(columns: list[str], rows: list[list], *, cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _header(report: dict, data: ReportData, model: dict) -> str:
    inference = report["inference_config"]
    conf = report.get("confidence") or {}
    videos = data.images["video_sha256"].nunique() if len(data.images) else 0
    facts = [
        ("model", html.escape(" ".join(filter(None, [model.get("name"), f"v{model['version']}" if model.get("version")
                                                     else None]))) or "checkpoint"),
        ("checkpoint", f"<code>{html.escape(report['checkpoint_sha256'][:16])}</code>"),
        ("MLflow run", f"<code>{html.escape(model['mlflow_run_id'])}</code>" if model.get("mlflow_run_id") else "–"),
        ("dataset version", f"<code>{html.escape(report['dataset_version'])}</code>"),
        ("test set", f"{report['test_images']} images from {videos} videos, {len(data.ground_truth)} labelled boxes "
                     f"(<code>{html.escape(report['test_set_hash'])}</code>)"),
        ("operating point", f"confidence <b>{inference['conf']:.2f}</b> ({html.escape(str(conf.get('how', '')))}"
                            f"), NMS IoU {inference['iou']}, max_det {inference['max_det']}, imgsz {inference['imgsz']}, "
                            f"tracker {html.escape(str(inference.get('tracker')))}"),
        ("evaluation", f"<code>{html.escape(report['evaluation_key'])}</code>"),
    ]
    rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts)
    return (f"<h1>Evaluation report</h1><table class='facts' id='facts'>{rows}</table>"
            "<p class='note'>Intervals: 95 % bootstrap over test videos (frames of one video are not independent); "
            "a slice whose images come from one video has none. Precision and recall are at IoU 0.5 and the "
            "operating confidence; mAP integrates over all confidences.</p>")


def _monitoring_link(model: dict, folder: str) -> str:
    """A registered model's monitoring page (model["monitoring_page"], a lake key), relative to this page."""
    if not model.get("monitoring_page"):
        return ""
    href = html.escape(posixpath.relpath(model["monitoring_page"], folder))
    return (f"<p id='monitoring'><a href='{href}'>Monitoring of this model</a>: drift, detection rate and shadow "
            "disagreement per scene over days on the footage that arrived after delivery.</p>")


def _headline(report: dict, bounds: dict) -> str:
    rows = []
    for metric in HEADLINE:
        rows.append([LABELS[metric], f"<b>{fmt(report['overall'].get(metric))}</b>",
                     interval_text(bounds.get(("all", "all", metric)))])
    tracking = (report.get("tracking") or {}).get("overall") or {}
    for metric in ("mota", "idf1"):
        if metric in tracking:
            rows.append([LABELS[f"tracking_{metric}"], f"<b>{fmt(tracking[metric])}</b>",
                         interval_text(bounds.get(("all", "all", f"tracking_{metric}")))])
    return "<h2>Headline</h2>" + table(["metric", "value", "95 % interval"], rows, cls="headline")


def _error_bars(values: list, lows: list, highs: list) -> dict:
    plus = [None if h is None or v is None else max(0.0, h - v) for v, h in zip(values, highs)]
    minus = [None if lo is None or v is None else max(0.0, v - lo) for v, lo in zip(values, lows)]
    return {"type": "data", "array": plus, "arrayminus": minus, "visible": True}


def _bars(report: dict, bounds: dict) -> str:
    import plotly.graph_objects as go

    per_class = report.get("per_class") or []
    names = [r["class_name"] for r in per_class]
    class_fig = go.Figure()
    for metric in ("ap50_95", "ap50"):
        slice_metric = "map50_95" if metric == "ap50_95" else "map50"
        values = [r.get(metric) for r in per_class]
        ranges = [bounds.get(("class", n, slice_metric)) or {} for n in names]
        class_fig.add_bar(name=metric.upper().replace("_", "-"), x=names, y=values,
                          error_y=_error_bars(values, [r.get("low") for r in ranges], [r.get("high") for r in ranges]))
    class_fig.update_layout(title="Per class (95 % intervals)", barmode="group", height=360, yaxis_range=[0, 1.05],
                            margin={"t": 40, "b": 40})
    rows = [r for r in report.get("slices") or [] if r["dimension"] not in ("all",)]
    labels = [f"{r['dimension']}={r['value']}" for r in rows]
    values = [r.get("map50_95") for r in rows]
    ranges = [bounds.get((r["dimension"], str(r["value"]), "map50_95")) or {} for r in rows]
    colours = ["#bbb" if r.get("too_few") else "#4c78a8" for r in rows]
    slice_fig = go.Figure(go.Bar(x=labels, y=values, marker_color=colours, name="mAP50-95",
                                 error_y=_error_bars(values, [r.get("low") for r in ranges],
                                                     [r.get("high") for r in ranges]),
                                 customdata=[[r["n_images"], r["n_boxes"]] for r in rows],
                                 hovertemplate="%{x}: %{y:.3f}<br>%{customdata[0]} images, "
                                               "%{customdata[1]} boxes<extra></extra>"))
    slice_fig.update_layout(title="mAP50-95 per slice (grey: too few boxes to trust)", height=380,
                            yaxis_range=[0, 1.05], margin={"t": 40, "b": 120})
    slice_rows = [[html.escape(r["dimension"]), html.escape(str(r["value"])), r["n_images"], r["n_boxes"],
                   fmt(r.get("map50_95")), interval_text(bounds.get((r["dimension"], str(r["value"]), "map50_95"))),
                   fmt(r.get("precision")), fmt(r.get("recall")), fmt(bool(r.get("too_few"))),
                   html.escape(", ".join(r.get("confounded_with") or []))] for r in report.get("slices") or []]
    return ("<h2>Per class and per slice</h2><div class='charts'>" + figure_html(class_fig, "per-class-chart")
            + figure_html(slice_fig, "per-slice-chart") + "</div><details><summary>Slice table</summary>"
            + table(["dimension", "value", "images", "boxes", "mAP50-95", "95 % interval", "precision", "recall",
                     "too few", "same images as"], slice_rows) + "</details>")


def _curves(data: ReportData) -> str:
    import plotly.graph_objects as go

    pr = go.Figure()
    for name, group in data.pr.groupby("class_name", sort=False):
        if group["recall"].notna().any():
            pr.add_scatter(x=group["recall"], y=group["precision"], mode="lines", name=str(name),
                           customdata=group["score"], hovertemplate="recall %{x:.3f}, precision %{y:.3f}, "
                                                                    "score %{customdata:.3f}<extra></extra>")
    pr.update_layout(title="Precision-recall (IoU 0.5)", xaxis_title="recall", yaxis_title="precision",
                     xaxis_range=[0, 1.02], yaxis_range=[0, 1.05], height=380, margin={"t": 40})
    f1 = go.Figure()
    for column in [c for c in data.f1.columns if c not in ("confidence",)]:
        f1.add_scatter(x=data.f1["confidence"], y=data.f1[column], mode="lines", name=str(column),
                       line={"width": 3 if column == "f1" else 1.5})
    conf = data.report["inference_config"]["conf"]
    f1.add_vline(x=conf, line_dash="dash", annotation_text=f"operating point {conf:.2f}")
    f1.update_layout(title="F1 against confidence", xaxis_title="confidence", yaxis_title="F1", height=380,
                     yaxis_range=[0, 1.05], margin={"t": 40})
    return ("<h2>Curves</h2><div class='charts'>" + figure_html(pr, "pr-chart") + figure_html(f1, "f1-chart")
            + "</div>")


def _confusion(report: dict) -> str:
    import plotly.graph_objects as go

    matrix = report.get("confusion_matrix") or {}
    labels = matrix.get("labels") or []
    values = matrix.get("rows_predicted_columns_true") or []
    figure = go.Figure(go.Heatmap(z=values, x=labels, y=labels, colorscale="Blues", text=values,
                                  texttemplate="%{text}", hovertemplate="predicted %{y}, true %{x}: %{z}"
                                                                        "<br>click: its errors<extra></extra>"))
    figure.update_layout(title="Confusion matrix (rows predicted, columns true; click a cell for its errors)",
                         xaxis_title="true", yaxis_title="predicted", yaxis_autorange="reversed", height=420,
                         margin={"t": 50})
    return "<h2>Confusion matrix</h2>" + figure_html(figure, "confusion-chart")


def _gallery(data: ReportData) -> str:
    kinds = sorted(set(data.errors["kind"])) if len(data.errors) else []
    classes = sorted({c for c in pd.concat([data.errors.get("class_name", pd.Series(dtype=str)),
                                            data.errors.get("gt_class_name", pd.Series(dtype=str))]) if isinstance(c, str) and c})
    slices = sorted({s for e in _error_records(data) for s in e["slices"]})
    options = {"kind": kinds, "class": classes, "slice": slices}

    def select(name: str) -> str:
        shown = (lambda v: KIND_NAMES.get(v, v)) if name == "kind" else (lambda v: v)
        items = "".join(f'<option value="{html.escape(v)}">{html.escape(shown(v))}</option>' for v in options[name])
        return f'<label>{name} <select id="filter-{name}"><option value="">all</option>{items}</select></label>'

    counts = ", ".join(f"{KIND_NAMES.get(k, k)} {n}" for k, n in (data.report["errors"]["counts"] or {}).items() if n)
    total = sum((data.report["errors"]["counts"] or {}).values())
    shown = len(data.errors)
    return (f"<h2>Errors</h2><p class='note'>{html.escape(counts) or 'none'}. Showing {shown} of {total} (the worst "
            f"of each kind); all are in <code>{html.escape(data.report['errors']['table'])}</code>. Ground truth "
            "green, predictions red; the error's own boxes are thick.</p><div class='filters'>"
            + select("kind") + select("class") + select("slice")
            + '<label>score ≥ <input id="filter-score" type="range" min="0" max="1" step="0.05" value="0">'
              '<span id="filter-score-value">0.00</span></label><button id="filter-reset">show all</button>'
              '<span id="gallery-count"></span></div><div id="gallery"></div>')


def _replays(report: dict, folder: str) -> str:
    replays = report.get("replays") or {}
    if not replays:
        return ""
    scenes = {v["video_sha256"]: v.get("scene", "") for v in (report.get("tracking") or {}).get("videos") or []}
    items = []
    for sha, key in replays.items():
        source = posixpath.relpath(key, folder)
        items.append(f"<figure class='replay'><video controls muted preload='auto' playsinline "
                     f"src='{html.escape(source)}' data-video='{html.escape(sha)}'></video><figcaption>"
                     f"{html.escape(scenes.get(sha, ''))} <code>{html.escape(sha[:12])}</code>: labels green "
                     f"(gt id), predicted tracks coloured by track id</figcaption></figure>")
    return "<h2>Replays</h2><div class='replays'>" + "".join(items) + "</div>"


def _tracking(report: dict, bounds: dict) -> str:
    tracking = report.get("tracking") or {}
    by_video = tracking.get("by_video") or {}
    if not tracking.get("overall"):
        return ""
    columns = ["video", "scene", "MOTA", "IDF1", "HOTA", "ID switches", "fragmentations", "objects", "frames"]
    rows = [[f"<code>{html.escape(sha[:12])}</code>", html.escape(str(m.get("scene", ""))), fmt(m.get("mota")),
             fmt(m.get("idf1")), fmt(m.get("hota")), fmt(m.get("num_switches")), fmt(m.get("num_fragmentations")),
             fmt(m.get("num_objects")), fmt(m.get("num_frames"))] for sha, m in by_video.items()]
    overall = tracking["overall"]
    rows.append(["<b>all</b>", "", f"{fmt(overall.get('mota'))} {interval_text(bounds.get(('all', 'all', 'tracking_mota')))}",
                 f"{fmt(overall.get('idf1'))} {interval_text(bounds.get(('all', 'all', 'tracking_idf1')))}",
                 fmt(overall.get("hota")), fmt(overall.get("num_switches")), fmt(overall.get("num_fragmentations")),
                 fmt(overall.get("num_objects")), fmt(overall.get("num_frames"))])
    return (f"<h2>Tracking ({html.escape(str(tracking.get('tracker', '')))}), per video</h2>"
            + table(columns, rows, cls="tracking"))


def _champion(report: dict) -> str:
    champion = report.get("champion") or {}
    rows = report.get("comparison") or []
    if not rows:
        return f"<h2>Against the champion</h2><p>{html.escape(champion.get('note', 'nothing to compare with'))}</p>" \
            if champion else ""
    shown = [[html.escape(r["metric"]), html.escape(f"{r['slice_dimension']}={r['slice_value']}"), fmt(r["champion"]),
              fmt(r["candidate"]), fmt(r["delta"]), fmt(bool(r["regressed"]))] for r in rows[:40]]
    return (f"<h2>Against the champion v{html.escape(str(champion.get('version')))}</h2>"
            "<p class='note'>Same test split; worse numbers first. <code>vision-assets compare</code> shows "
            "the deltas with their intervals.</p>"
            + table(["metric", "slice", "champion", "candidate", "delta", "worse"], shown))


def _error_records(data: ReportData) -> list[dict]:
    if not len(data.errors):
        return []
    images = data.images.set_index("image_id") if len(data.images) else pd.DataFrame()
    by_video = data.images.drop_duplicates("video_sha256").set_index("video_sha256") if len(data.images) else images
    gt_by_image = {k: g for k, g in data.ground_truth.groupby("image_id")}
    conf = data.report["inference_config"]["conf"]
    kept = data.detections[data.detections["score"] >= conf]
    det_by_image = {k: g for k, g in kept.groupby("image_id")}
    out = []
    for row in data.errors.to_dict("records"):
        image_id = row.get("image_id") or ""
        source = images.loc[image_id] if image_id in images.index else (
            by_video.loc[row["video_sha256"]] if row.get("video_sha256") in by_video.index else None)
        slices = [f"{d}={_value(source[d])}" for d in data.slice_dimensions if source is not None and d in source]
        record = {
            "kind": row["kind"], "class": row.get("class_name") or "", "gt_class": row.get("gt_class_name") or "",
            "score": finite_number(row.get("score")), "iou": finite_number(row.get("iou")), "slices": slices,
            "frame": row.get("image_key") or "", "width": finite_number(source["width"]) if source is not None else None,
            "height": finite_number(source["height"]) if source is not None else None,
            "caption": _caption(row), "crop": row.get("crop_key") or "",
            "det": _box(row, "det"), "gt": _box(row, "gt"),
            "gts": _boxes(gt_by_image.get(image_id)), "dets": _boxes(det_by_image.get(image_id)),
        }
        out.append(record)
    return out


def _errors_json(data: ReportData) -> str:
    return json.dumps(_error_records(data)).replace("</", "<\\/")


def _value(value) -> str:
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value).strip()
    return text or "unknown"


def _box(row: dict, prefix: str) -> list[float] | None:
    box = [finite_number(row.get(f"{prefix}_{c}")) for c in ("x1", "y1", "x2", "y2")]
    return None if any(v is None for v in box) else box


def _boxes(rows: pd.DataFrame | None) -> list[list]:
    if rows is None or not len(rows):
        return []
    return [[float(r.x1), float(r.y1), float(r.x2), float(r.y2), str(r.class_name)] for r in rows.itertuples()]


def _caption(row: dict) -> str:
    from vision_assets.core.evaluation.error_table import caption

    try:
        return caption(row)
    except (KeyError, TypeError, ValueError):
        return KIND_NAMES.get(row.get("kind"), row.get("kind"))


STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#fafafa;color:#222}
main{max-width:1500px;margin:0 auto;padding:16px 24px}
h1{font-size:24px}h2{font-size:19px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;background:#fff}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
table.facts th{background:#f0f0f0;width:150px}.note{color:#555}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.filters{display:flex;gap:16px;align-items:center;flex-wrap:wrap;margin:8px 0}
#gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}
.error{background:#fff;border:1px solid #ddd;padding:6px}.error .frame{position:relative}
.error img{width:100%;display:block}.error svg{position:absolute;left:0;top:0;width:100%;height:100%}
.error figcaption{font-size:12px;margin-top:4px}
.replays{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:12px}
.replay video{width:100%;background:#000}.delta-bad{color:#b00020;font-weight:bold}.delta-good{color:#1b7a1b}
.side{display:grid;grid-template-columns:1fr 1fr;gap:12px}
"""

GALLERY_JS = r"""
const ERRORS = __ERRORS__;
const FRAMES = __FRAMES__;
const state = {kind: "", class: "", slice: "", score: 0, cell: null};
function matches(e) {
  if (state.kind && e.kind !== state.kind) return false;
  if (state.class && e.class !== state.class && e.gt_class !== state.class) return false;
  if (state.slice && !e.slices.includes(state.slice)) return false;
  if (state.score > 0 && (e.score === null || e.score < state.score)) return false;
  if (state.cell) {
    const [pred, truth] = state.cell;
    if (pred === "background") { if (!(e.kind === "fn" && e.class === truth)) return false; }
    else if (truth === "background") { if (!((e.kind === "fp" || e.kind === "dup") && e.class === pred)) return false; }
    else if (pred === truth) { if (!((e.kind === "loc" || e.kind === "dup") && e.class === pred)) return false; }
    else if (!(e.kind === "cls" && e.class === pred && e.gt_class === truth)) return false;
  }
  return true;
}
function rect(svg, box, colour, width) {
  const r = document.createElementNS("http://www.w3.org/2000/svg", "rect");
  r.setAttribute("x", box[0]); r.setAttribute("y", box[1]);
  r.setAttribute("width", Math.max(1, box[2] - box[0])); r.setAttribute("height", Math.max(1, box[3] - box[1]));
  r.setAttribute("fill", "none"); r.setAttribute("stroke", colour); r.setAttribute("stroke-width", width);
  r.setAttribute("vector-effect", "non-scaling-stroke"); svg.appendChild(r);
}
function card(e) {
  const figure = document.createElement("figure"); figure.className = "error"; figure.dataset.kind = e.kind;
  const frame = document.createElement("div"); frame.className = "frame";
  const img = document.createElement("img"); img.alt = e.caption;
  if (e.frame && FRAMES[e.frame]) {
    img.src = FRAMES[e.frame]; frame.appendChild(img);
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", `0 0 ${e.width} ${e.height}`); svg.setAttribute("preserveAspectRatio", "none");
    e.gts.forEach(b => rect(svg, b, "#00c800", 1)); e.dets.forEach(b => rect(svg, b, "#ff3030", 1));
    if (e.gt) rect(svg, e.gt, "#00c800", 3); if (e.det) rect(svg, e.det, "#ff3030", 3);
    frame.appendChild(svg);
  } else if (e.crop && FRAMES[e.crop]) { img.src = FRAMES[e.crop]; frame.appendChild(img); }
  figure.appendChild(frame);
  const caption = document.createElement("figcaption"); caption.textContent = e.caption; figure.appendChild(caption);
  return figure;
}
function render() {
  const gallery = document.getElementById("gallery"); gallery.replaceChildren();
  const shown = ERRORS.filter(matches);
  shown.forEach(e => gallery.appendChild(card(e)));
  const cell = state.cell ? ` (confusion cell: predicted ${state.cell[0]}, true ${state.cell[1]})` : "";
  document.getElementById("gallery-count").textContent = `${shown.length} of ${ERRORS.length} errors${cell}`;
}
for (const name of ["kind", "class", "slice"]) {
  document.getElementById(`filter-${name}`).addEventListener("change", ev => { state[name] = ev.target.value; state.cell = null; render(); });
}
document.getElementById("filter-score").addEventListener("input", ev => {
  state.score = parseFloat(ev.target.value); document.getElementById("filter-score-value").textContent = state.score.toFixed(2); render();
});
document.getElementById("filter-reset").addEventListener("click", () => {
  Object.assign(state, {kind: "", class: "", slice: "", score: 0, cell: null});
  for (const name of ["kind", "class", "slice"]) document.getElementById(`filter-${name}`).value = "";
  document.getElementById("filter-score").value = 0; document.getElementById("filter-score-value").textContent = "0.00"; render();
});
const confusion = document.getElementById("confusion-chart");
if (confusion && confusion.on) {
  confusion.on("plotly_click", ev => {
    const point = ev.points[0]; state.cell = [String(point.y), String(point.x)];
    Object.assign(state, {kind: "", class: "", slice: ""});
    for (const name of ["kind", "class", "slice"]) document.getElementById(`filter-${name}`).value = "";
    render(); document.getElementById("gallery").scrollIntoView();
  });
}
window.showConfusionCell = (pred, truth) => { state.cell = [pred, truth]; render(); };
// A replay the browser cannot decode (OpenCV's mp4v before its H.264 conversion) says so instead of a black box.
for (const video of document.querySelectorAll("video")) {
  const explain = () => {
    const note = document.createElement("p"); note.className = "note replay-unplayable";
    note.textContent = "This browser cannot decode this replay (not H.264); open the MP4 beside this page in a player.";
    video.after(note);
  };
  if (video.error) explain(); else video.addEventListener("error", explain, {once: true});
}
render();
"""

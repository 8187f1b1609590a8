"""The scene x day grid: one cell per scene-day that has footage (scene rows, day columns), each saying what a
user asks of that camera-day - how many videos and frames, how many labels QC kept and its pass rate, whether the
champion finds the footage in distribution - coloured by its checks (a failing check red, a warning amber).

Pure: the numbers come from the lake's per-partition tables (raw_videos, sampled_frames, qc_summary,
footage_monitoring); the check results are handed in by the caller (the Dagster instance knows them). A scene that
did not film on a day has no partition and shows as an empty "no footage" cell, never as a missing partition."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from vision_assets.core.lake import keys
from vision_assets.core.numbers import finite_number

ERROR, WARN = "ERROR", "WARN"
DRIFT, IN_DISTRIBUTION, NOT_MONITORED, NO_VERDICT = "drift", "in distribution", "not monitored", "no verdict"


@dataclass(frozen=True)
class CheckState:
    """The latest evaluation of one check on one scene-day."""

    asset: str
    check: str
    passed: bool
    severity: str = ERROR  # ERROR or WARN: how a failure counts
    description: str = ""


@dataclass(frozen=True)
class GridCell:
    scene: str
    day: str
    videos: int | None = None  # decodable videos ingested (raw_videos rows with outcome ok)
    frames: int | None = None  # sampled frames
    labels_kept: int | None = None  # rows QC kept
    pass_rate: float | None = None  # share of the partition's labels QC kept
    drift: str = NOT_MONITORED  # the footage_in_distribution verdict
    drift_p_value: float | None = None
    drift_champion: str = ""  # the champion version the drift was measured against
    checks: tuple[CheckState, ...] = field(default=())

    @property
    def failing(self) -> list[CheckState]:
        return [c for c in self.checks if not c.passed and c.severity != WARN]

    @property
    def warnings(self) -> list[CheckState]:
        return [c for c in self.checks if not c.passed and c.severity == WARN]

    @property
    def state(self) -> str:
        return "failing" if self.failing else "warning" if self.warnings else "ok"

    @property
    def worst_asset(self) -> str:
        """The asset whose partition page explains the cell best: the first failing, else warning, check's."""
        worst = (self.failing or self.warnings or [None])[0]
        return worst.asset if worst else keys.QC_ANNOTATIONS


def grid_cells(lake, scene_days: Iterable[tuple[str, str]], checks: Mapping[tuple[str, str], Sequence[CheckState]],
               *, drift_check: str = "") -> list[GridCell]:
    """A cell per (scene, day), its numbers read from the lake; `drift_check` names the check whose result is the
    drift verdict (its p-value and champion come from the footage_monitoring row)."""
    cells = []
    for scene, day in sorted(set(scene_days), key=lambda sd: (sd[0], sd[1])):
        partition = {"scene": scene, "day": day}
        states = tuple(checks.get((scene, day), ()))
        videos = _table(lake, keys.RAW_VIDEOS, partition)
        frames = _row_count(lake, keys.SAMPLED_FRAMES, partition)
        summary = _table(lake, keys.QC_SUMMARY, partition)
        monitoring = _table(lake, keys.FOOTAGE_MONITORING, partition)
        qc = summary.iloc[-1] if summary is not None and len(summary) else None
        seen = monitoring.iloc[-1] if monitoring is not None and len(monitoring) else None
        p_value = finite_number(seen["drift_p_value"]) if seen is not None and "drift_p_value" in seen else None
        verdict = next((c for c in states if c.check == drift_check), None) if drift_check else None
        drift = (NOT_MONITORED if seen is None else NO_VERDICT if p_value is None or verdict is None
                 else IN_DISTRIBUTION if verdict.passed else DRIFT)
        cells.append(GridCell(
            scene=scene, day=day,
            videos=None if videos is None else int((videos["outcome"] == "ok").sum()) if "outcome" in videos
            else len(videos),
            frames=frames,
            labels_kept=None if qc is None else int(qc["kept"]),
            pass_rate=None if qc is None else finite_number(qc["pass_rate"]),
            drift=drift, drift_p_value=p_value,
            drift_champion="" if seen is None else str(seen.get("champion_version", "")),
            checks=states))
    return cells


def _table(lake, table: str, partition: dict):
    from vision_assets.core.lake.store import UnreadableTable

    try:
        return lake.read_table(table, partition)
    except UnreadableTable:
        return None  # a broken file shows as an unknown number in its cell, never hides the grid


def _row_count(lake, table: str, partition: dict) -> int | None:
    """Rows of a partition's table from its Parquet footer: a frame table is not read to be counted."""
    import pyarrow.parquet as pq

    key = keys.table_key(table, partition)
    if not lake.exists(key):
        return None
    try:
        with lake.fs.open(lake.path(key), "rb") as handle:
            return int(pq.ParquetFile(handle).metadata.num_rows)
    except (OSError, ValueError):  # truncated or not Parquet: unknown, like a missing table
        return None


def scenes_and_days(cells: Sequence[GridCell]) -> tuple[list[str], list[str]]:
    return sorted({c.scene for c in cells}), sorted({c.day for c in cells})


def summary_line(cells: Sequence[GridCell]) -> str:
    scenes, days = scenes_and_days(cells)
    counts = {state: sum(c.state == state for c in cells) for state in ("failing", "warning", "ok")}
    return (f"{len(cells)} scene-days with footage ({len(scenes)} scenes x {len(days)} days = "
            f"{len(scenes) * len(days)} combinations; the others have no footage and no partition): "
            f"{counts['failing']} failing, {counts['warning']} warning, {counts['ok']} ok")


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _count(value: int | None) -> str:
    return "–" if value is None else str(value)


def _drift_text(cell: GridCell) -> str:
    if cell.drift in (NOT_MONITORED, NO_VERDICT) or cell.drift_p_value is None:
        return f"footage: {cell.drift}"
    return f"footage: {cell.drift} (p {cell.drift_p_value:.3g} vs v{cell.drift_champion})"


def cell_lines(cell: GridCell) -> list[str]:
    """The cell's facts, one short line each (plain text)."""
    lines = [f"{_count(cell.videos)} video{'' if cell.videos == 1 else 's'}, {_count(cell.frames)} frames",
             f"labels kept {_count(cell.labels_kept)}, QC pass {_percent(cell.pass_rate)}", _drift_text(cell)]
    lines += [f"FAILED {c.asset}.{c.check}" for c in cell.failing]
    lines += [f"WARN {c.asset}.{c.check}" for c in cell.warnings]
    return lines


# Dagster's Markdown has no colour and drops raw HTML (<br> included): a text marker and " · " between facts. The
# marks are in common text fonts (DejaVu has them; the square colour emoji are not in a bare Linux browser's fonts).
MARKERS = {"failing": "✗ FAILING", "warning": "⚠ warning", "ok": "✓ ok"}


def grid_markdown(cells: Sequence[GridCell], link: Callable[[GridCell], str]) -> str:
    """Scene rows x day columns as a Markdown table (what the Dagster UI renders); each cell links to `link(cell)`."""
    if not cells:
        return "No scene-day has footage yet."
    scenes, days = scenes_and_days(cells)
    by_place = {(c.scene, c.day): c for c in cells}

    def text(cell: GridCell | None) -> str:
        if cell is None:
            return "no footage"
        parts = [f"[**{MARKERS[cell.state]}**]({link(cell)})"] + cell_lines(cell)
        return " · ".join(p.replace("|", "\\|") for p in parts)

    rows = ["| scene \\ day | " + " | ".join(days) + " |", "|---|" + "---|" * len(days)]
    rows += [f"| **{scene}** | " + " | ".join(text(by_place.get((scene, day))) for day in days) + " |"
             for scene in scenes]
    return summary_line(cells) + "\n\n" + "\n".join(rows)


def grid_html(cells: Sequence[GridCell], link: Callable[[GridCell], str], *, title: str = "Scene x day",
              note: str = "") -> str:
    """A small self-contained page: the grid as an HTML table, failing cells red, warnings amber."""
    scenes, days = scenes_and_days(cells)
    by_place = {(c.scene, c.day): c for c in cells}
    head = "".join(f"<th>{html.escape(day)}</th>" for day in days)
    rows = []
    for scene in scenes:
        tds = []
        for day in days:
            cell = by_place.get((scene, day))
            if cell is None:
                tds.append("<td class='empty'>no footage</td>")
                continue
            lines = "".join(f"<div>{html.escape(line)}</div>" for line in cell_lines(cell))
            tds.append(f"<td class='{cell.state}' data-partition='{html.escape(f'{day}|{scene}')}'>"
                       f"<a href='{html.escape(link(cell))}'><b>{cell.state}</b>{lines}</a></td>")
        rows.append(f"<tr><th>{html.escape(scene)}</th>{''.join(tds)}</tr>")
    table = (f"<table class='grid'><thead><tr><th>scene \\ day</th>{head}</tr></thead><tbody>{''.join(rows)}"
             "</tbody></table>") if cells else "<p>No scene-day has footage yet.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body><main><h1>{html.escape(title)}</h1><p class="summary">{html.escape(summary_line(cells))}</p>{table}
<p class="note">{html.escape(note)}</p></main></body></html>"""


STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#fafafa;color:#222}
main{max-width:1500px;margin:0 auto;padding:16px 24px}h1{font-size:24px}.note,.summary{color:#555}
table.grid{border-collapse:collapse;background:#fff}.grid td,.grid th{border:1px solid #ccc;padding:6px 10px;
text-align:left;vertical-align:top}.grid td a{color:inherit;text-decoration:none;display:block}
.grid td.failing{background:#fbd5d5}.grid td.warning{background:#fdf0c4}.grid td.ok{background:#dcf3dc}
.grid td.empty{background:#eee;color:#888;font-style:italic}.grid td b{text-transform:uppercase;font-size:12px}
"""

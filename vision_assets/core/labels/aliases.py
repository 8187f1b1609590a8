"""Class aliases and the classes still unknown after them: `person` in a COCO file becomes the project's
`pedestrian` when the project file says so; what matches no class is reported per file with its count."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd


def apply_aliases(rows: pd.DataFrame, aliases: Mapping[str, str]) -> pd.DataFrame:
    """The rows with each aliased class name replaced by its class (the source's own name stays in the lake's
    copy of the label file, and `class_id` keeps the source's id)."""
    if not aliases or rows.empty or not rows["class_name"].isin(list(aliases)).any():
        return rows
    return rows.assign(class_name=rows["class_name"].map(lambda name: aliases.get(name, name)))


def unknown_classes(rows: pd.DataFrame, class_names: Iterable[str]) -> list[dict]:
    """[{source_file, class_name, rows}] for class names in no class (after aliases), most rows first."""
    known = set(class_names)
    if rows.empty:
        return []
    stray = rows[~rows["class_name"].isin(known)]
    if stray.empty:
        return []
    counts = stray.groupby(["source_file", "class_name"]).size().reset_index(name="rows")
    counts = counts.sort_values(["rows", "source_file", "class_name"], ascending=[False, True, True])
    return [{"source_file": r.source_file, "class_name": r.class_name, "rows": int(r.rows)}
            for r in counts.itertuples()]


def unknown_class_lines(found: list[dict]) -> list[str]:
    """`file: person: 1646 rows, not in classes` per file and class."""
    return [f"{f['source_file']}: {f['class_name'] or '<none>'}: {f['rows']} rows, not in classes" for f in found]

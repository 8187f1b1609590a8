"""Markdown helpers for asset metadata shown in the Dagster UI."""

import pandas as pd


def md_table(df: pd.DataFrame, max_rows: int = 20) -> str:
    if df is None or df.empty:
        return "_none_"
    shown = df.head(max_rows)
    header = "| " + " | ".join(str(c) for c in shown.columns) + " |"
    rule = "|" + "|".join("---" for _ in shown.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    more = [f"\n_{len(df) - max_rows} more rows_"] if len(df) > max_rows else []
    return "\n".join([header, rule, *body, *more])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def lake_location(store, key: str) -> dict:
    """Where a lake object is, for asset metadata: its lake-relative key always, and `dagster/uri` only for an
    object store (an absolute local path would stop being true as soon as the data folder moves)."""
    location = {"lake_key": key}
    if not store.is_local:
        location["dagster/uri"] = store.uri(key)
    return location

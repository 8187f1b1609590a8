"""Markdown and links for asset metadata shown in the Dagster UI.

Numbers are rounded for reading (4 significant digits); the exact values stay in the asset's record (its output
or its lake tables). Images are thumbnails under a byte budget, with the full-size picture in the lake.
"""

import base64
import math
import os
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # the tables arrive built; this module never needs pandas itself
    import pandas as pd

MLFLOW_UI_URL_ENV = "VISION_MLFLOW_UI_URL"
DEFAULT_MLFLOW_UI_URL = "http://127.0.0.1:5000"  # where `vision-assets ui` serves the MLflow UI by default


def readable(value: float) -> float:
    """A float rounded to 4 significant digits, for reading; NaN and infinities as they are."""
    value = float(value)
    return value if not math.isfinite(value) or value == 0 else float(f"{value:.4g}")


def md_table(df: "pd.DataFrame", max_rows: int = 20) -> str:
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
        return f"{readable(value):g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def md_image(jpeg: bytes, alt: str) -> str:
    return f"![{alt}](data:image/jpeg;base64,{base64.b64encode(jpeg).decode()})"


def lake_location(store, key: str) -> dict:
    """Where a lake object is, for asset metadata: its lake-relative key always, and `dagster/uri` only for an
    object store (an absolute local path would stop being true as soon as the data folder moves)."""
    location = {"lake_key": key}
    if not store.is_local:
        location["dagster/uri"] = store.uri(key)
    return location


def lake_link(store, key: str) -> dg.MetadataValue:
    """A lake object as something to open: a URL on an object store, its lake key (copyable) on a local lake."""
    return dg.MetadataValue.url(store.uri(key)) if not store.is_local else dg.MetadataValue.path(key)


def mlflow_ui_url() -> str:
    """Where `vision-assets ui` serves the MLflow UI now (the links server's redirects go there)."""
    return (os.environ.get(MLFLOW_UI_URL_ENV) or DEFAULT_MLFLOW_UI_URL).rstrip("/")


def mlflow_model_url(name: str, version: str | int | None = None) -> str:
    """A stable link to the registered model: the links server redirects to wherever the MLflow UI is when it is
    opened, so a link written at materialization survives another --mlflow-port or host."""
    from vision_assets.links_server import mlflow_model_redirect

    return mlflow_model_redirect(name, version)


def mlflow_run_link(tracking_uri: str, run_id: str) -> dict:
    """The run as a stable link (see mlflow_model_url); its experiment is looked up when the link is opened."""
    from vision_assets.links_server import mlflow_run_redirect

    del tracking_uri  # resolved at view time by the links server, which knows the tracking store
    return {"mlflow_run": dg.MetadataValue.url(mlflow_run_redirect(run_id))}


def report_page_link(key: str) -> dg.MetadataValue:
    """An evaluation report page (a lake key) as the links server serves it."""
    from vision_assets.links_server import lake_page_url

    return dg.MetadataValue.url(lake_page_url(key))

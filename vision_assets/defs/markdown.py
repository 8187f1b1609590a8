"""Markdown and links for asset metadata shown in the Dagster UI.

Numbers are rounded for reading (4 significant digits); the exact values stay in the asset's record (its output
or its lake tables). Images are thumbnails under a byte budget, with the full-size picture in the lake.
"""

import base64
import math
import os
import urllib.parse

import dagster as dg
import pandas as pd

MLFLOW_UI_URL_ENV = "VISION_MLFLOW_UI_URL"
DEFAULT_MLFLOW_UI_URL = "http://127.0.0.1:5000"  # where `vision-assets ui` serves the MLflow UI


def readable(value: float) -> float:
    """A float rounded to 4 significant digits, for reading; NaN and infinities as they are."""
    value = float(value)
    return value if not math.isfinite(value) or value == 0 else float(f"{value:.4g}")


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
    return (os.environ.get(MLFLOW_UI_URL_ENV) or DEFAULT_MLFLOW_UI_URL).rstrip("/")


def mlflow_run_url(experiment_id: str, run_id: str) -> str:
    return f"{mlflow_ui_url()}/#/experiments/{experiment_id}/runs/{run_id}"


def mlflow_model_url(name: str, version: str | int | None = None) -> str:
    quoted = urllib.parse.quote(name, safe="")
    return f"{mlflow_ui_url()}/#/models/{quoted}" + (f"/versions/{version}" if version is not None else "")


def mlflow_run_link(tracking_uri: str, run_id: str) -> dict:
    """The run as a link into the MLflow UI (its experiment looked up in the tracking store)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        experiment_id = MlflowClient(tracking_uri).get_run(run_id).info.experiment_id
    except (MlflowException, OSError):  # a run deleted or a store not reachable: the metadata still names the run
        return {"mlflow_run": run_id}
    return {"mlflow_run": dg.MetadataValue.url(mlflow_run_url(experiment_id, run_id))}

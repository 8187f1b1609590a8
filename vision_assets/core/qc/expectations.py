"""Table-level expectations of the canonical annotation table, validated by Great Expectations.

QC (vision_assets.core.qc.engine) judges rows; these expectations judge the table as a whole, in the vocabulary data teams
already read: required columns, no missing keys, valid ranges and sets. One ephemeral GX context is built on first
use and reused (building it and importing GX cost seconds; a validation of a million rows well under one).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from typing import Any

import pandas as pd

from vision_assets.core.labels import ANNOTATION_COLUMNS
from vision_assets.core.labels.formats import FORMATS

KNOWN_SOURCE_FORMATS = FORMATS  # the formats the importers produce
# A row without these cannot be traced to a frame, a class or the file it came from.
KEY_COLUMNS = ("video_sha256", "frame_index", "class_name", "source_file", "source_id")
TRACE_COLUMNS = ("video_sha256", "source_file")

_lock = threading.Lock()  # one shared context; GX contexts are not meant for concurrent use
_batch_definition = None


def _batch_definition_once():
    """The whole-dataframe batch definition of a lazily built, quiet, ephemeral context."""
    global _batch_definition
    if _batch_definition is None:
        import great_expectations as gx  # imported here: seconds of import that QC alone should not pay
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        # GX draws tqdm bars on stderr for every validation; they would interleave with CLI and JSON output.
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        asset = context.data_sources.add_pandas("vision_assets").add_dataframe_asset("canonical_annotations")
        _batch_definition = asset.add_batch_definition_whole_dataframe("whole_table")
    return _batch_definition


def annotation_suite(class_names: Iterable[str], *, allow_empty: bool = False):
    """The expectations a canonical annotation table must meet, as a GX ExpectationSuite."""
    import great_expectations as gx

    _batch_definition_once()  # GX builds suites only once a context exists
    e = gx.expectations
    expectations = [
        *(e.ExpectColumnToExist(column=column) for column in ANNOTATION_COLUMNS),
        *(e.ExpectColumnValuesToNotBeNull(column=column) for column in KEY_COLUMNS),
        # An empty string is as untraceable as a null: a row attached to no video, or from no file.
        *(e.ExpectColumnValueLengthsToBeBetween(column=column, min_value=1) for column in TRACE_COLUMNS),
        e.ExpectColumnValuesToBeBetween(column="frame_index", min_value=0),
        e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="x2", column_B="x1"),
        e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="y2", column_B="y1"),
        e.ExpectColumnValuesToBeInSet(column="class_name", value_set=sorted(set(class_names))),
        e.ExpectColumnValuesToBeBetween(column="track_id", min_value=-1),  # -1: no track
        e.ExpectColumnValuesToBeInSet(column="source_format", value_set=list(KNOWN_SOURCE_FORMATS)),
        e.ExpectTableRowCountToBeBetween(min_value=0 if allow_empty else 1),
    ]
    return gx.ExpectationSuite(name="canonical_annotations", expectations=expectations)


def _plain(value: Any) -> Any:
    """numpy scalars, tuples and NaN into JSON-safe Python values (the summary goes into Dagster metadata)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def _failure(result, sample_size: int) -> dict:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k in ("column", "column_A", "column_B")}
    details = result.result or {}
    failure = {
        "expectation": config.type,
        **kwargs,
        "unexpected_count": _plain(details.get("unexpected_count")),
        "unexpected_percent": _plain(details.get("unexpected_percent")),
        "unexpected_values": _plain(list(details.get("partial_unexpected_list") or [])[:sample_size]),
    }
    if "observed_value" in details:
        failure["observed_value"] = _plain(details["observed_value"])
    messages = _exception_messages(result.exception_info or {})
    if messages:
        failure["exception"] = "; ".join(messages)[:300]
    return failure


def _exception_messages(info: dict) -> list[str]:
    # GX reports an exception either flat or keyed by the metric that raised it.
    if "raised_exception" in info:
        return [str(info.get("exception_message", ""))] if info["raised_exception"] else []
    return sorted({m for nested in info.values() if isinstance(nested, dict) for m in _exception_messages(nested)})


def validate_table(df: pd.DataFrame, class_names: Iterable[str], *, allow_empty: bool = False,
                   sample_size: int = 3) -> dict:
    """Validate a canonical annotation table with GX; a JSON-safe summary for metadata.

    Returns {"success", "rows", "evaluated", "successful", "failed": [{"expectation", "column"..., "unexpected_count",
    "unexpected_percent", "unexpected_values"}]}.
    """
    suite = annotation_suite(class_names, allow_empty=allow_empty)
    with _lock:
        batch = _batch_definition_once().get_batch(batch_parameters={"dataframe": df})
        # BASIC: counts and a short list of unexpected values, without the per-value tallies of SUMMARY.
        outcome = batch.validate(suite, result_format={"result_format": "BASIC", "partial_unexpected_count": sample_size})
    failed = [_failure(r, sample_size) for r in outcome.results if not r.success]
    return {
        "success": bool(outcome.success),
        "rows": len(df),
        "evaluated": len(outcome.results),
        "successful": len(outcome.results) - len(failed),
        "failed": failed,
    }

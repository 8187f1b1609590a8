import json

import numpy as np
import pandas as pd
import pytest

from vision_assets.core.labels import ANNOTATION_COLUMNS, ANNOTATION_DEFAULTS, ANNOTATION_DTYPES
from vision_assets.core.qc import KNOWN_SOURCE_FORMATS, annotation_suite, validate_table

CLASSES = ["car", "pedestrian"]
# Expectations in the suite: one per column to exist, five keys not null, six on values and one on the row count.
EXPECTATIONS = len(ANNOTATION_COLUMNS) + 5 + 2 + 6 + 1  # columns, not-null keys, non-empty trace keys, values, rows


def table(n: int = 6) -> pd.DataFrame:
    df = pd.DataFrame({
        "video_sha256": "vidA", "frame_index": np.arange(n), "class_name": ["car", "pedestrian"] * (n // 2),
        "x1": 1.0, "y1": 2.0, "x2": 11.0, "y2": 12.0, "track_id": np.arange(n) % 3 - 1,
        "source_file": "a.xml", "source_id": [str(i) for i in range(n)],
        "source_format": list(KNOWN_SOURCE_FORMATS)[:n],
    })
    for column, default in ANNOTATION_DEFAULTS.items():
        if column not in df:
            df[column] = default
    return df[ANNOTATION_COLUMNS].astype(ANNOTATION_DTYPES)


def failures(summary: dict) -> dict:
    return {(f["expectation"], f.get("column", f.get("column_A"))): f for f in summary["failed"]}


def test_a_clean_table_passes_every_expectation():
    summary = validate_table(table(), CLASSES)
    assert summary == {"success": True, "rows": 6, "evaluated": EXPECTATIONS, "successful": EXPECTATIONS,
                       "failed": []}


def test_a_bad_table_fails_with_counts_and_examples():
    df = table()
    df.loc[1, ["x1", "x2"]] = [30.0, 5.0]  # x2 < x1
    df.loc[2, "class_name"] = "dog"
    df.loc[3, "frame_index"] = -4
    df.loc[4, "track_id"] = -2
    df.loc[5, "source_format"] = "pascal_voc"
    df.loc[0, "video_sha256"] = None
    df.loc[5, "source_file"] = ""  # traceable to no file
    summary = validate_table(df, CLASSES)
    assert summary["success"] is False and summary["evaluated"] == EXPECTATIONS
    failed = failures(summary)
    assert set(failed) == {
        ("expect_column_pair_values_a_to_be_greater_than_b", "x2"),
        ("expect_column_values_to_be_in_set", "class_name"),
        ("expect_column_values_to_be_between", "frame_index"),
        ("expect_column_values_to_be_between", "track_id"),
        ("expect_column_values_to_be_in_set", "source_format"),
        ("expect_column_values_to_not_be_null", "video_sha256"),
        ("expect_column_value_lengths_to_be_between", "source_file"),
    }
    assert summary["successful"] == EXPECTATIONS - 7
    pair = failed[("expect_column_pair_values_a_to_be_greater_than_b", "x2")]
    assert pair["column_B"] == "x1" and pair["unexpected_count"] == 1
    assert pair["unexpected_percent"] == pytest.approx(100 / 6)
    assert pair["unexpected_values"] == [[5.0, 30.0]]
    assert failed[("expect_column_values_to_be_in_set", "class_name")]["unexpected_values"] == ["dog"]
    assert failed[("expect_column_values_to_be_between", "frame_index")]["unexpected_values"] == [-4]
    json.dumps(summary)  # goes into Dagster metadata as is


def test_missing_columns_and_empty_tables():
    summary = validate_table(table().drop(columns=["y2", "file_findings"]), CLASSES)
    failed = failures(summary)
    assert ("expect_column_to_exist", "y2") in failed and ("expect_column_to_exist", "file_findings") in failed
    # The pair expectation on a missing column fails with the reason, rather than raising.
    assert "y2" in failed[("expect_column_pair_values_a_to_be_greater_than_b", "y2")]["exception"]

    empty = table().iloc[:0]
    assert set(failures(validate_table(empty, CLASSES))) == {("expect_table_row_count_to_be_between", None)}
    assert validate_table(empty, CLASSES, allow_empty=True)["success"] is True


def test_the_suite_is_a_real_gx_suite():
    suite = annotation_suite(CLASSES)
    assert len(suite.expectations) == EXPECTATIONS
    in_set = [e for e in suite.expectations if getattr(e, "column", None) == "class_name" and hasattr(e, "value_set")]
    assert in_set[0].value_set == CLASSES


def test_validation_prints_no_progress_bars(capfd):
    validate_table(table(), CLASSES)
    out, err = capfd.readouterr()
    assert out == "" and "Calculating Metrics" not in err and "%|" not in err

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import MATERIAL

from vision_assets.core.annotations import read_annotations
from vision_assets.core.qc import RULES, QcResult, run_qc
from vision_assets.core.schema import ANNOTATION_COLUMNS

RULE_NAMES = ["coordinates_not_finite", "box_not_positive", "box_outside_image", "unknown_image_size", "unknown_class",
              "frame_out_of_range"]


def material() -> Path:
    return MATERIAL


def rows(spec):
    """spec: (source_id, video, class, x1, y1, x2, y2, attributes)."""
    df = pd.DataFrame(spec, columns=["source_id", "video_sha256", "class_name", "x1", "y1", "x2", "y2", "attributes"])
    n = len(df)
    df = df.assign(
        frame_index=np.arange(n, dtype=np.int64),
        track_id=np.int64(-1),
        occluded=False,
        annotator="",
        source_file="t.txt",
    )
    return df[ANNOTATION_COLUMNS]


SIZES = {"vidA": (100, 50)}
CLASSES = ["car", "pedestrian"]


@pytest.fixture
def table():
    return rows(
        [
            ("ok", "vidA", "car", 10, 10, 20, 20, "{}"),
            ("ok_edge_tolerance", "vidA", "car", -0.5, -0.4, 100.5, 50.5, "{}"),
            ("ok_ignored", "vidA", "pedestrian", 1, 1, 2, 2, '{"ignore": true}'),
            ("nan", "vidA", "car", np.nan, 1, 2, 2, "{}"),
            ("zero_width", "vidA", "car", 5, 1, 5, 2, "{}"),
            ("flipped_y", "vidA", "car", 1, 9, 2, 3, "{}"),
            ("right_of_image", "vidA", "car", 90, 1, 100.6, 2, "{}"),
            ("above_image", "vidA", "car", 1, -0.6, 2, 2, "{}"),
            ("no_size", "vidB", "car", 1, 1, 2, 2, "{}"),
            ("bad_class", "vidA", "truck", 1, 1, 2, 2, "{}"),
            ("outside_and_bad_class", "vidA", "truck", 1, 1, 2, 60, "{}"),
            ("inf_and_no_size", "vidB", "car", 1, 1, np.inf, 2, "{}"),
            ("flipped_ignored_bad_class", "vidA", "dog", 3, 1, 2, 2, '{"ignore": true}'),
        ]
    )


def test_rule_registry_names():
    assert [name for name, _ in RULES] == RULE_NAMES


def test_run_qc_exact_split(table):
    res = run_qc(table, SIZES, CLASSES)
    assert isinstance(res, QcResult)
    assert list(res.kept["source_id"]) == ["ok", "ok_edge_tolerance", "ok_ignored"]
    assert list(res.kept.columns) == ANNOTATION_COLUMNS
    assert list(res.rejected.columns) == ANNOTATION_COLUMNS + ["reasons"]
    assert dict(zip(res.rejected["source_id"], res.rejected["reasons"])) == {
        "nan": "coordinates_not_finite",
        "zero_width": "box_not_positive",
        "flipped_y": "box_not_positive",
        "right_of_image": "box_outside_image",
        "above_image": "box_outside_image",
        "no_size": "unknown_image_size",
        "bad_class": "unknown_class",
        "outside_and_bad_class": "box_outside_image;unknown_class",
        # inf lies outside any image, but the size is unknown, so only the finite check fires with it.
        "inf_and_no_size": "coordinates_not_finite;unknown_image_size",
        "flipped_ignored_bad_class": "box_not_positive;unknown_class",
    }
    assert res.rule_counts == {
        "coordinates_not_finite": 2,
        "box_not_positive": 3,
        "box_outside_image": 3,
        "unknown_image_size": 2,
        "unknown_class": 3,
        "frame_out_of_range": 0,
    }
    assert res.pass_rate == pytest.approx(3 / 13)
    # Original index is kept so callers can trace rows back.
    assert sorted(res.kept.index.tolist() + res.rejected.index.tolist()) == list(range(13))


def test_tolerance_is_configurable(table):
    res = run_qc(table, SIZES, CLASSES, tolerance_px=1.0)
    assert "right_of_image" in set(res.kept["source_id"]) and "above_image" in set(res.kept["source_id"])
    strict = run_qc(table, SIZES, CLASSES, tolerance_px=0.0)
    assert "ok_edge_tolerance" in set(strict.rejected["source_id"])


def test_empty_input():
    res = run_qc(rows([]), SIZES, CLASSES)
    assert res.pass_rate == 1.0
    assert res.rule_counts == dict.fromkeys(RULE_NAMES, 0)
    assert list(res.rejected.columns) == ANNOTATION_COLUMNS + ["reasons"]
    assert res.kept.empty and res.rejected.empty


def test_extra_rule_drops_in(table):
    def _tiny(df, ctx):
        return ((df["x2"] - df["x1"]) < 2).to_numpy()

    res = run_qc(table, SIZES, CLASSES, rules=[*RULES, ("box_too_small", _tiny)])
    assert res.rule_counts["box_too_small"] > 0
    assert "ok_ignored" in set(res.rejected["source_id"])
    assert res.rejected.set_index("source_id").loc["ok_ignored", "reasons"] == "box_too_small"


def test_missing_columns_raise(table):
    with pytest.raises(ValueError, match="track_id"):
        run_qc(table.drop(columns="track_id"), SIZES, CLASSES)


def test_real_mot_gt():
    df = read_annotations(material() / "mot" / "TUD-Campus" / "gt.txt").assign(video_sha256="tud")
    res = run_qc(df, {"tud": (640, 480)}, ["pedestrian"])  # TUD-Campus frames are 640x480
    # MOT ground truth keeps the full extent of people walking out of frame, so those boxes cross the edge.
    assert res.rule_counts == {**dict.fromkeys(RULE_NAMES, 0), "box_outside_image": 19}
    assert set(res.rejected["reasons"]) == {"box_outside_image"}
    assert res.pass_rate == pytest.approx(340 / 359)


def test_labels_on_frames_that_do_not_decode_are_rejected():
    table = rows([
        ("first", "vidA", "car", 1, 1, 2, 2, "{}"),
        ("last_decoded", "vidA", "car", 1, 1, 2, 2, "{}"),
        ("past_the_end", "vidA", "car", 1, 1, 2, 2, "{}"),
        ("count_unknown", "vidC", "car", 1, 1, 2, 2, "{}"),
    ])
    table["frame_index"] = [0, 202, 203, 900]
    res = run_qc(table, {"vidA": (100, 50), "vidC": (100, 50)}, CLASSES, frame_counts={"vidA": 203})
    assert res.rejected["source_id"].tolist() == ["past_the_end"]
    assert res.rejected["reasons"].tolist() == ["frame_out_of_range"]
    assert res.rule_counts["frame_out_of_range"] == 1

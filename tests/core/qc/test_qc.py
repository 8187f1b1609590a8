import json

import numpy as np
import pandas as pd
import pytest
from helpers import MATERIAL

from vision_assets.core.labels import ANNOTATION_COLUMNS, ANNOTATION_DEFAULTS, ANNOTATION_DTYPES, read_annotations
from vision_assets.core.qc.engine import (
    AGREEMENT_COLUMNS,
    REVIEW_COLUMNS,
    RULES,
    QcConfig,
    QcResult,
    QcRule,
    _greedy_match,
    qc_rule,
    run_qc,
    summarise,
)

ORIGINAL_RULES = ["coordinates_not_finite", "box_not_positive", "box_outside_image", "unknown_image_size",
                  "unknown_class", "frame_out_of_range"]
SEVERITIES = {
    **dict.fromkeys(ORIGINAL_RULES, "error"),
    "duplicate_box": "error",
    "track_duplicate_in_frame": "error",
    "track_id_reused": "error",
    "track_gap": "warning",
    "track_jump": "warning",
    "annotator_disagreement": "warning",
    "area_mismatch": "warning",
    "class_id_off_by_one": "error",
    "absolute_path_in_data_yaml": "warning",
}
RULE_NAMES = list(SEVERITIES)

SIZES = {"vidA": (100, 50)}
CLASSES = ["car", "pedestrian"]


def rows(spec):
    """spec: (source_id, video, class, x1, y1, x2, y2, attributes); one frame each, no tracks."""
    df = pd.DataFrame(spec, columns=["source_id", "video_sha256", "class_name", "x1", "y1", "x2", "y2", "attributes"])
    df = df.assign(frame_index=np.arange(len(df), dtype=np.int64), source_file="t.txt")
    for column, default in ANNOTATION_DEFAULTS.items():
        if column not in df:
            df[column] = default
    return df[ANNOTATION_COLUMNS].astype(ANNOTATION_DTYPES)


def boxes(*specs, **common):
    """Rows from dicts: anything not given is a 10x10 'car' box at (10, 10) on frame 0 of vidA by annotator 'ann'."""
    base = {"video_sha256": "vidA", "frame_index": 0, "class_name": "car", "x1": 10.0, "y1": 10.0, "x2": 20.0,
            "y2": 20.0, "annotator": "ann", "source_file": "t.txt", "source_format": "cvat_video"}
    records = [{**ANNOTATION_DEFAULTS, **base, **common, **spec} for spec in specs]
    for i, record in enumerate(records):
        record.setdefault("source_id", str(i))
        if record["source_id"] == "":
            record["source_id"] = str(i)
    return pd.DataFrame(records)[ANNOTATION_COLUMNS].astype(ANNOTATION_DTYPES)


def track(track_id, frames, step_x=1.0, **common):
    """One track moving step_x pixels right per frame, a 10x10 box."""
    return [{"track_id": track_id, "frame_index": f, "x1": 10.0 + step_x * f, "x2": 20.0 + step_x * f, **common}
            for f in frames]


def hit(result: QcResult, rule: str) -> list[str]:
    """source_ids of the rows a rule rejected or flagged, in table order."""
    listed = pd.concat([result.rejected, result.flagged]).sort_index()
    return listed.loc[listed["reasons"].str.split(";").map(lambda r: rule in r), "source_id"].tolist()


def run(df, **kwargs):
    sizes = {v: (100, 50) for v in df["video_sha256"].unique()}
    return run_qc(df, sizes, CLASSES, **kwargs)


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


# --- registry and result shape ---------------------------------------------------------------------------------


def test_rule_registry_names_and_severities():
    assert [rule.name for rule in RULES] == RULE_NAMES
    assert {rule.name: rule.severity for rule in RULES} == SEVERITIES
    assert all(rule.description for rule in RULES)


def test_run_qc_exact_split(table):
    res = run_qc(table, SIZES, CLASSES)
    assert isinstance(res, QcResult)
    assert list(res.kept["source_id"]) == ["ok", "ok_edge_tolerance", "ok_ignored"]
    assert list(res.kept.columns) == ANNOTATION_COLUMNS
    assert list(res.rejected.columns) == ANNOTATION_COLUMNS + ["reasons"]
    assert list(res.flagged.columns) == ANNOTATION_COLUMNS + ["reasons"]
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
        **dict.fromkeys(RULE_NAMES, 0),
        "coordinates_not_finite": 2,
        "box_not_positive": 3,
        "box_outside_image": 3,
        "unknown_image_size": 2,
        "unknown_class": 3,
    }
    assert res.severities == SEVERITIES
    assert res.flagged.empty
    assert res.pass_rate == pytest.approx(3 / 13)
    # Original index is kept so callers can trace rows back.
    assert sorted(res.kept.index.tolist() + res.rejected.index.tolist()) == list(range(13))


def test_tolerance_is_configurable(table):
    res = run_qc(table, SIZES, CLASSES, tolerance_px=1.0)
    assert "right_of_image" in set(res.kept["source_id"]) and "above_image" in set(res.kept["source_id"])
    strict = run_qc(table, SIZES, CLASSES, tolerance_px=0.0)
    assert "ok_edge_tolerance" in set(strict.rejected["source_id"])
    via_config = run_qc(table, SIZES, CLASSES, config=QcConfig(tolerance_px=0.0))
    assert via_config.rejected["source_id"].tolist() == strict.rejected["source_id"].tolist()


def test_empty_input():
    res = run_qc(rows([]), SIZES, CLASSES)
    assert res.pass_rate == 1.0
    assert res.rule_counts == dict.fromkeys(RULE_NAMES, 0)
    assert list(res.rejected.columns) == ANNOTATION_COLUMNS + ["reasons"]
    assert res.kept.empty and res.rejected.empty and res.flagged.empty
    assert list(res.agreement.columns) == AGREEMENT_COLUMNS and res.agreement.empty
    assert list(res.review.columns) == REVIEW_COLUMNS and res.review.empty


def test_extra_rule_drops_in_as_a_pair_or_a_rule(table):
    def _tiny(df, ctx):
        return ((df["x2"] - df["x1"]) < 2).to_numpy()

    res = run_qc(table, SIZES, CLASSES, rules=[*RULES, ("box_too_small", _tiny)])
    assert res.rule_counts["box_too_small"] > 0 and res.severities["box_too_small"] == "error"
    assert res.rejected.set_index("source_id").loc["ok_ignored", "reasons"] == "box_too_small"

    res = run_qc(table, SIZES, CLASSES, rules=[*RULES, QcRule("box_too_small", "warning", _tiny)])
    assert "ok_ignored" in set(res.kept["source_id"])
    assert res.flagged.set_index("source_id").loc["ok_ignored", "reasons"] == "box_too_small"


def test_a_team_registers_a_rule_with_the_decorator(table):
    registry: list[QcRule] = []

    @qc_rule("ignored_box", "warning", "marked ignore by the annotator", registry=registry)
    def _ignored(df, ctx):
        return df["attributes"].str.contains('"ignore": true', regex=False).to_numpy()

    res = run_qc(table, SIZES, CLASSES, rules=registry)
    assert res.rule_counts == {"ignored_box": 2} and res.rejected.empty and len(res.kept) == 13
    assert res.flagged["source_id"].tolist() == ["ok_ignored", "flipped_ignored_bad_class"]
    with pytest.raises(ValueError, match="already registered"):
        qc_rule("ignored_box", "warning", registry=registry)(_ignored)
    with pytest.raises(ValueError, match="severity"):
        qc_rule("other", "fatal", registry=registry)


def test_severity_overrides_and_disabled_rules(table):
    res = run_qc(table, SIZES, CLASSES, config=QcConfig(severities={"unknown_class": "warning"},
                                                         disabled=frozenset({"unknown_image_size"})))
    assert "unknown_image_size" not in res.rule_counts
    assert res.severities["unknown_class"] == "warning"
    # bad_class broke nothing else: it is kept and flagged; the two with other errors stay rejected.
    assert dict(zip(res.flagged["source_id"], res.flagged["reasons"])) == {"bad_class": "unknown_class"}
    assert "no_size" in set(res.kept["source_id"])
    assert res.rejected.set_index("source_id").loc["outside_and_bad_class", "reasons"] == "box_outside_image"
    with pytest.raises(ValueError, match="severities"):
        run_qc(table, SIZES, CLASSES, config=QcConfig(severities={"unknown_class": "fatal"}))


def test_missing_columns_raise(table):
    with pytest.raises(ValueError, match="track_id"):
        run_qc(table.drop(columns="track_id"), SIZES, CLASSES)


def test_real_mot_gt():
    df = read_annotations(MATERIAL / "mot" / "TUD-Campus" / "gt.txt").assign(video_sha256="tud")
    res = run_qc(df, {"tud": (640, 480)}, ["pedestrian"])  # TUD-Campus frames are 640x480
    # MOT ground truth keeps the full extent of people walking out of frame, so those boxes cross the edge.
    # Its 8 tracks are continuous and smooth: no track rule fires on real ground truth.
    assert res.rule_counts == {**dict.fromkeys(RULE_NAMES, 0), "box_outside_image": 19}
    assert set(res.rejected["reasons"]) == {"box_outside_image"}
    assert res.flagged.empty
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


# --- duplicates --------------------------------------------------------------------------------------------------


def test_duplicate_box_rejects_the_later_copy_of_one_annotator_only():
    df = boxes(
        {"source_id": "copy_listed_first", "frame_index": 3, "x1": 10.2},  # duplicates "original" but comes first
        {"source_id": "original", "frame_index": 3},
        {"source_id": "dup_iou_0.96", "x2": 20.4},  # IoU 100/104 with "first"
        {"source_id": "first"},
        {"source_id": "other_class", "class_name": "pedestrian"},
        {"source_id": "other_annotator", "annotator": "bob"},  # double labelling, not duplication
        {"source_id": "other_frame", "frame_index": 1},
        {"source_id": "iou_0.85", "x1": 11.5},
        {"source_id": "elsewhere", "x1": 50.0, "x2": 60.0},
    )
    # Source order is table order: the row listed earlier is the one kept, whatever its coordinates.
    res = run(df)
    assert hit(res, "duplicate_box") == ["original", "first"]
    assert res.rule_counts["duplicate_box"] == 2
    assert set(res.rejected["source_id"]) == {"original", "first"}
    # IoU 0.85 with an earlier box passes at 0.9 and is a duplicate at 0.8.
    loose = run(df, config=QcConfig(duplicate_iou=0.8))
    assert hit(loose, "duplicate_box") == ["original", "first", "iou_0.85"]


def test_duplicate_box_groups_of_three_keep_only_the_first():
    df = boxes({"source_id": "a"}, {"source_id": "b"}, {"source_id": "c"}, {"source_id": "d", "frame_index": 2})
    assert hit(run(df), "duplicate_box") == ["b", "c"]


# --- tracks ------------------------------------------------------------------------------------------------------


def test_track_duplicate_in_frame_rejects_the_later_box():
    df = boxes(*track(7, [0, 1]), {"source_id": "second_box_frame_1", "track_id": 7, "frame_index": 1, "x1": 60.0,
                                   "x2": 70.0}, *track(7, [2, 3]),
               *track(7, [1], source_file="other.xml", y1=30.0, y2=40.0))  # same id, another file: another track
    res = run(df)
    assert hit(res, "track_duplicate_in_frame") == ["second_box_frame_1"]
    assert res.severities["track_duplicate_in_frame"] == "error"
    assert res.rejected["source_id"].tolist() == ["second_box_frame_1"]


def test_track_id_reused_on_class_change_or_after_a_long_gap():
    df = boxes(
        {"source_id": "pedestrian_at_start", "track_id": 3, "frame_index": 0, "class_name": "pedestrian"},
        *track(3, range(1, 5)),
        {"source_id": "turned_pedestrian", "track_id": 3, "frame_index": 5, "x1": 15.0, "x2": 25.0,
         "class_name": "pedestrian"},
        *track(4, [0, 1, 2], y1=30.0, y2=40.0),
        {"source_id": "back_after_398", "track_id": 4, "frame_index": 400, "y1": 30.0, "y2": 40.0},
        {"source_id": "still_the_second_object", "track_id": 4, "frame_index": 401, "y1": 30.0, "y2": 40.0},
        *track(5, [0, 250], y1=30.0, y2=40.0, x1=60.0, x2=70.0),  # 250 frames apart: within reuse_gap_frames
    )
    res = run(df)
    # Track 3 is a car (4 of 6 boxes): its two pedestrian boxes are the odd ones, wherever they are.
    reused = ["pedestrian_at_start", "turned_pedestrian", "back_after_398", "still_the_second_object"]
    assert hit(res, "track_id_reused") == reused
    assert set(res.rejected["source_id"]) == set(reused)
    assert hit(run(df, config=QcConfig(reuse_gap_frames=500)), "track_id_reused") == reused[:2]


def test_track_gap_is_relative_to_the_tracks_own_step():
    every_third = track(1, range(0, 31, 3), step_x=0.5)  # CVAT frame_filter step 3: normal
    every_third += [{"source_id": "after_6_missing_steps", "track_id": 1, "frame_index": 51, "x1": 35.5, "x2": 45.5},
                    {"track_id": 1, "frame_index": 54, "x1": 37.0, "x2": 47.0}]
    every_frame = track(2, range(0, 11), y1=30.0, y2=40.0)
    every_frame += [{"source_id": "after_5_missing", "track_id": 2, "frame_index": 16, "x1": 26.0, "x2": 36.0,
                     "y1": 30.0, "y2": 40.0},
                    {"source_id": "after_6_missing", "track_id": 2, "frame_index": 23, "x1": 33.0, "x2": 43.0,
                     "y1": 30.0, "y2": 40.0}]
    res = run(boxes(*every_third, *every_frame))
    assert hit(res, "track_gap") == ["after_6_missing_steps", "after_6_missing"]
    # A warning: the rows stay in kept and are listed in flagged.
    assert res.rejected.empty and len(res.kept) == len(every_third) + len(every_frame)
    assert set(res.flagged["reasons"]) == {"track_gap"}
    assert hit(run(boxes(*every_third, *every_frame), config=QcConfig(max_gap_frames=2)), "track_gap") == [
        "after_6_missing_steps", "after_5_missing", "after_6_missing"]


def test_track_jump_flags_the_jump_and_the_way_back():
    steady = track(1, range(6), step_x=2.0)  # 2 px/frame against a 14 px diagonal
    steady[3] = {**steady[3], "source_id": "jumped", "x1": 46.0, "x2": 56.0}  # 30 px off its path
    steady[4] = {**steady[4], "source_id": "back_on_path"}
    slow_every_third = track(2, range(0, 30, 3), step_x=2.0, y1=30.0, y2=40.0)  # 6 px per 3 frames: 2 px/frame
    res = run(boxes(*steady, *slow_every_third))
    assert hit(res, "track_jump") == ["jumped", "back_on_path"]
    assert res.rejected.empty and set(res.flagged["source_id"]) == {"jumped", "back_on_path"}
    assert hit(run(boxes(*steady), config=QcConfig(max_jump=3.0)), "track_jump") == []


def test_untracked_rows_are_not_tracks():
    df = boxes({"frame_index": 0}, {"frame_index": 500, "class_name": "pedestrian", "x1": 70.0, "x2": 80.0})
    res = run(df)
    assert not any(res.rule_counts[r] for r in ("track_duplicate_in_frame", "track_id_reused", "track_gap",
                                                "track_jump"))


# --- annotator agreement -------------------------------------------------------------------------------------------


def double_labelled():
    return boxes(
        # Frame 5 of vidA, labelled by alice and bob.
        {"source_id": "a_car", "annotator": "alice", "frame_index": 5},
        {"source_id": "a_car2", "annotator": "alice", "frame_index": 5, "x1": 40.0, "x2": 50.0},
        {"source_id": "a_ped", "annotator": "alice", "frame_index": 5, "class_name": "pedestrian", "y1": 30.0,
         "y2": 45.0},
        {"source_id": "b_car", "annotator": "bob", "frame_index": 5, "x1": 11.0, "x2": 21.0},  # IoU 0.82 with a_car
        {"source_id": "b_car2_off", "annotator": "bob", "frame_index": 5, "x1": 45.0, "x2": 55.0},  # IoU 0.33
        {"source_id": "b_ped", "annotator": "bob", "frame_index": 5, "class_name": "pedestrian", "y1": 30.0,
         "y2": 45.0},
        {"source_id": "b_extra", "annotator": "bob", "frame_index": 5, "x1": 70.0, "x2": 80.0},
        # Frame 6 only alice: not double-labelled, no agreement rows.
        {"source_id": "a_alone", "annotator": "alice", "frame_index": 6},
        # Frame 7: the same car drawn by bob as a pedestrian does not match (same class only).
        {"source_id": "a_car_7", "annotator": "alice", "frame_index": 7},
        {"source_id": "b_ped_7", "annotator": "bob", "frame_index": 7, "class_name": "pedestrian"},
    )


def test_agreement_table_on_a_crafted_double_labelled_frame():
    res = run(double_labelled())
    table = res.agreement
    assert list(table.columns) == AGREEMENT_COLUMNS
    assert table.to_dict("records") == [{"annotator_a": "alice", "annotator_b": "bob", "frames": 2, "boxes_a": 4,
                                         "boxes_b": 5, "matched": 2, "agreement": pytest.approx(4 / 9)}]
    assert hit(res, "annotator_disagreement") == ["a_car2", "b_car2_off", "b_extra", "a_car_7", "b_ped_7"]
    # A warning: disputed boxes stay in kept.
    assert res.rejected.empty and len(res.kept) == 10
    strict = run(double_labelled(), config=QcConfig(agreement_iou=0.9))
    assert strict.agreement.loc[0, "matched"] == 1  # only the identical pedestrians


def test_agreement_with_three_annotators_is_per_pair():
    df = boxes({"source_id": "a", "annotator": "a"}, {"source_id": "b", "annotator": "b"},
               {"source_id": "c", "annotator": "c", "x1": 15.0, "x2": 25.0})  # c's box: IoU 0.33 with both
    res = run(df)
    assert res.agreement[["annotator_a", "annotator_b", "frames", "boxes_a", "boxes_b", "matched"]].to_dict(
        "records") == [
        {"annotator_a": "a", "annotator_b": "b", "frames": 1, "boxes_a": 1, "boxes_b": 1, "matched": 1},
        {"annotator_a": "a", "annotator_b": "c", "frames": 1, "boxes_a": 1, "boxes_b": 1, "matched": 0},
        {"annotator_a": "b", "annotator_b": "c", "frames": 1, "boxes_a": 1, "boxes_b": 1, "matched": 0},
    ]
    # Every box is missing from some other annotator's labelling of the frame: all three are disputed.
    assert hit(res, "annotator_disagreement") == ["a", "b", "c"]


def test_greedy_matching_equals_the_sequential_greedy():
    rng = np.random.default_rng(7)
    for _ in range(30):
        m = int(rng.integers(1, 60))
        end_a, end_b = rng.integers(0, 12, m), rng.integers(100, 112, m)
        iou = rng.choice([0.5, 0.6, 0.7, 0.8, 0.9, 1.0], m)  # ties on purpose
        got = _greedy_match(end_a, end_b, iou)
        used, want = set(), np.zeros(m, dtype=bool)
        for i in np.lexsort((end_b, end_a, -iou)):
            if end_a[i] not in used and end_b[i] not in used:
                want[i] = True
                used |= {end_a[i], end_b[i]}
        assert (got == want).all()


# --- spot-check sampling -----------------------------------------------------------------------------------------


def many_frames():
    return boxes(*({"frame_index": f, "annotator": "alice", "source_file": "a.xml"} for f in range(100)),
                 *({"frame_index": f, "annotator": "bob", "video_sha256": "vidB", "source_file": "b.xml"}
                   for f in range(10)))


def test_review_sample_is_deterministic_and_covers_every_annotator():
    first, again = run(many_frames()).review, run(many_frames()).review
    assert list(first.columns) == REVIEW_COLUMNS
    pd.testing.assert_frame_equal(first, again)
    assert first.groupby("annotator").size().to_dict() == {"alice": 5, "bob": 1}  # 5 % of 100, at least 1 of 10
    assert set(first.loc[first["annotator"] == "bob", "source_file"]) == {"b.xml"}
    other_seed = run(many_frames(), config=QcConfig(review_seed=1)).review
    assert not other_seed.equals(first)
    assert len(run(many_frames(), config=QcConfig(review_share=0.2)).review) == 20 + 2


def test_review_draws_stay_drawn_when_more_frames_arrive():
    drawn = run(many_frames(), config=QcConfig(review_share=0.1)).review
    more = boxes(*({"frame_index": f, "annotator": "alice", "source_file": "a.xml"} for f in range(100, 200)))
    grown = run(pd.concat([many_frames(), more], ignore_index=True), config=QcConfig(review_share=0.05)).review
    # Same draw rule, hash order: a frame drawn among 200 was already among the first picks of its own 100.
    alice_before = set(drawn.loc[drawn["annotator"] == "alice", "frame_index"])
    alice_after = set(grown.loc[(grown["annotator"] == "alice") & (grown["frame_index"] < 100), "frame_index"])
    assert alice_after <= alice_before


# --- metadata ----------------------------------------------------------------------------------------------------


def test_area_mismatch():
    coco = {"source_format": "coco", "source_file": "ann.json"}
    df = boxes(
        {"source_id": "exact", "declared_area": 100.0},
        {"source_id": "within_tolerance", "declared_area": 103.0, "frame_index": 1},
        {"source_id": "larger_than_box", "declared_area": 120.0, "frame_index": 2},
        {"source_id": "smaller_no_segmentation", "declared_area": 50.0, "frame_index": 3},
        {"source_id": "smaller_polygon", "declared_area": 50.0, "attributes": '{"segmentation": true}',
         "frame_index": 4},
        {"source_id": "smaller_coco_polygon", "declared_area": 60.0, "attributes": '{"segmentation": "polygon"}',
         "frame_index": 7},
        {"source_id": "polygon_larger_than_box", "declared_area": 120.0, "attributes": '{"segmentation":true}',
         "frame_index": 5},
        {"source_id": "no_area", "frame_index": 6},
        **coco,
    )
    res = run(df)
    assert hit(res, "area_mismatch") == ["larger_than_box", "smaller_no_segmentation", "polygon_larger_than_box"]
    assert res.rejected.empty
    assert hit(run(df, config=QcConfig(area_tolerance=0.01)), "area_mismatch") == [
        "within_tolerance", "larger_than_box", "smaller_no_segmentation", "polygon_larger_than_box"]


def test_class_id_off_by_one_per_yolo_file():
    yolo = {"source_format": "yolo"}
    df = boxes(
        {"source_id": "s1", "source_file": "shifted.txt", "class_id": 1, **yolo},
        {"source_id": "s2", "source_file": "shifted.txt", "class_id": 2, **yolo},
        {"source_id": "ok0", "source_file": "ok.txt", "class_id": 0, **yolo},
        {"source_id": "ok1", "source_file": "ok.txt", "class_id": 1, **yolo},
        {"source_id": "only1", "source_file": "undecided.txt", "class_id": 1, **yolo},  # cannot tell
        {"source_id": "coco2", "source_file": "a.json", "class_id": 2, "source_format": "coco"},  # COCO ids are ids
        {"source_id": "coco1", "source_file": "a.json", "class_id": 1, "source_format": "coco"},
    )
    df["frame_index"] = range(len(df))  # one box per frame: nothing but the ids to look at
    res = run(df)  # two class names: ids 1..2 are one past 0..1
    assert hit(res, "class_id_off_by_one") == ["s1", "s2"]
    assert set(res.rejected["source_id"]) == {"s1", "s2"}
    three_names = run(df, config=QcConfig(class_names=("car", "pedestrian", "cyclist")))
    assert hit(three_names, "class_id_off_by_one") == []


def test_absolute_path_in_data_yaml_is_a_warning():
    df = boxes(
        {"source_id": "abs", "file_findings": "absolute_path_in_data_yaml"},
        {"source_id": "abs_among_others", "file_findings": "names_missing;absolute_path_in_data_yaml",
         "frame_index": 1},
        {"source_id": "other_finding", "file_findings": "names_missing", "frame_index": 2},
        {"source_id": "clean", "frame_index": 3},
    )
    res = run(df)
    assert hit(res, "absolute_path_in_data_yaml") == ["abs", "abs_among_others"]
    assert len(res.kept) == 4 and res.pass_rate == 1.0


# --- summary -----------------------------------------------------------------------------------------------------


def test_summarise_gives_per_rule_counts_and_samples(table):
    summary = summarise(run_qc(table, SIZES, CLASSES), sample_size=2)
    assert list(summary.columns) == ["rule", "severity", "rows", "share", "sample"]
    assert summary["rule"].tolist() == RULE_NAMES
    by_rule = summary.set_index("rule")
    assert by_rule.loc["box_not_positive", "rows"] == 3
    assert by_rule.loc["box_not_positive", "sample"] == "t.txt#zero_width, t.txt#flipped_y"
    assert by_rule.loc["duplicate_box", "sample"] == "" and by_rule.loc["track_gap", "severity"] == "warning"
    assert by_rule.loc["unknown_class", "share"] == pytest.approx(3 / 13)
    json.dumps(summary.to_dict("records"))  # fit for metadata


# --- the vectorised rules against plain loops, on a random table ---------------------------------------------------


def random_table(seed: int, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, y1 = rng.integers(0, 6, n) * 4.0, rng.integers(0, 3, n) * 4.0  # a coarse grid: many overlaps and copies
    return boxes(*({
        "frame_index": int(f), "x1": a, "y1": b, "x2": a + 10 + rng.integers(0, 2), "y2": b + 10.0,
        "class_name": c, "annotator": ann, "track_id": int(t), "source_file": sf,
    } for f, a, b, c, ann, t, sf in zip(
        rng.integers(0, 40, n), x1, y1, rng.choice(CLASSES, n), rng.choice(["ann", "bob", "cy"], n),
        rng.integers(-1, 4, n), rng.choice(["a.xml", "b.xml"], n))))


def iou(r, s):
    ix = max(0.0, min(r.x2, s.x2) - max(r.x1, s.x1))
    iy = max(0.0, min(r.y2, s.y2) - max(r.y1, s.y1))
    inter = ix * iy
    return inter / ((r.x2 - r.x1) * (r.y2 - r.y1) + (s.x2 - s.x1) * (s.y2 - s.y1) - inter)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_rules_match_plain_loops(seed):
    df = random_table(seed)
    # All rules as warnings, so every hit is listed in flagged with all its reasons.
    cfg = QcConfig(max_gap_frames=2, reuse_gap_frames=20, max_jump=0.3,
                   severities={rule.name: "warning" for rule in RULES})
    res = run(df, config=cfg)
    want = {name: set() for name in ("duplicate_box", "track_duplicate_in_frame", "track_id_reused", "track_gap",
                                     "track_jump")}
    records = list(df.itertuples())
    for i, r in enumerate(records):
        if any(s.video_sha256 == r.video_sha256 and s.frame_index == r.frame_index and s.annotator == r.annotator
               and s.class_name == r.class_name and iou(r, s) > cfg.duplicate_iou for s in records[:i]):
            want["duplicate_box"].add(r.source_id)
    tracked = df[df["track_id"] >= 0].reset_index(drop=True)
    for _, t in tracked.groupby(["video_sha256", "annotator", "source_file", "track_id"]):
        t = t.sort_values("frame_index", kind="stable")
        frames, steps = t["frame_index"].tolist(), np.diff(t["frame_index"])
        usual = int(np.sort(steps[steps > 0])[(len(steps[steps > 0]) - 1) // 2]) if (steps > 0).any() else 1
        counts = t["class_name"].value_counts(sort=False)  # majority class; a tie goes to the class seen first
        first_class = max(counts.index, key=lambda c: (counts[c], -t["class_name"].tolist().index(c)))
        reused = False
        if t["class_name"].iloc[0] != first_class:
            want["track_id_reused"].add(t["source_id"].iloc[0])
        for k in range(1, len(t)):
            prev, cur, step = t.iloc[k - 1], t.iloc[k], frames[k] - frames[k - 1]
            reused |= step > cfg.reuse_gap_frames
            if step == 0:
                want["track_duplicate_in_frame"].add(cur.source_id)
            if 0 < step <= cfg.reuse_gap_frames:
                if step / usual - 1 > cfg.max_gap_frames:
                    want["track_gap"].add(cur.source_id)
                move = np.hypot((cur.x1 + cur.x2 - prev.x1 - prev.x2) / 2, (cur.y1 + cur.y2 - prev.y1 - prev.y2) / 2)
                diag = (np.hypot(cur.x2 - cur.x1, cur.y2 - cur.y1) + np.hypot(prev.x2 - prev.x1, prev.y2 - prev.y1)) / 2
                if move / step > cfg.max_jump * diag:
                    want["track_jump"].add(cur.source_id)
            if reused or cur.class_name != first_class:
                want["track_id_reused"].add(cur.source_id)
    for name, ids in want.items():
        assert set(hit(res, name)) == ids, name
        assert res.rule_counts[name] == len(ids)
    assert all(len(ids) for ids in want.values())  # the random table exercises every rule


@pytest.mark.parametrize("seed", [0, 1])
def test_result_invariants(seed):
    df = random_table(seed)
    res = run(df)
    assert sorted(res.kept.index.tolist() + res.rejected.index.tolist()) == list(range(len(df)))
    assert set(res.flagged.index) <= set(res.kept.index)
    errors = {name for name, s in res.severities.items() if s == "error"}
    assert set(";".join(res.rejected["reasons"]).split(";")) <= errors
    assert set(";".join(res.flagged["reasons"]).split(";")) <= set(res.severities) - errors
    assert res.pass_rate == pytest.approx(len(res.kept) / len(df))
    assert res.agreement["frames"].gt(0).all() and res.agreement["agreement"].between(0, 1).all()
    assert (res.agreement["matched"] <= res.agreement[["boxes_a", "boxes_b"]].min(axis=1)).all()


@pytest.mark.parametrize("seed", [0, 3])
def test_agreement_matches_a_plain_greedy_per_frame_and_pair(seed):
    df = random_table(seed, n=300)
    res = run(df)
    thr = QcConfig().agreement_iou
    rows_, disputed = {}, set()
    for _, frame in df.groupby(["video_sha256", "frame_index"]):
        names = sorted(frame["annotator"].unique())
        for ia, a in enumerate(names):
            for b in names[ia + 1:]:
                left, right = frame[frame["annotator"] == a], frame[frame["annotator"] == b]
                pairs = sorted((-iou(r, s), i, j) for i, r in zip(left.index, left.itertuples())
                               for j, s in zip(right.index, right.itertuples())
                               if r.class_name == s.class_name and iou(r, s) >= thr)
                used = set()
                for _, i, j in pairs:
                    if i not in used and j not in used:
                        used |= {i, j}
                disputed |= {df.at[i, "source_id"] for i in [*left.index, *right.index] if i not in used}
                total = rows_.setdefault((a, b), [0, 0, 0, 0])
                total[0] += 1
                total[1] += len(left)
                total[2] += len(right)
                total[3] += len(used) // 2
    got = {(r.annotator_a, r.annotator_b): [r.frames, r.boxes_a, r.boxes_b, r.matched]
           for r in res.agreement.itertuples()}
    assert got == rows_
    flagged = pd.concat([res.rejected, res.flagged])
    assert res.rule_counts["annotator_disagreement"] == len(disputed)
    listed = set(flagged.loc[flagged["reasons"].str.contains("annotator_disagreement"), "source_id"])
    assert listed <= disputed and listed == disputed & set(res.flagged["source_id"])


def test_a_table_with_repeated_index_labels(table):
    doubled = pd.concat([table, table])  # index 0..12 twice, as a concat without ignore_index leaves it
    res = run_qc(doubled, SIZES, CLASSES)
    assert len(res.kept) + len(res.rejected) == 26
    assert res.rejected["reasons"].tolist()[:2] == ["coordinates_not_finite", "box_not_positive"]
    # Every row now has an exact copy listed later: the copies are duplicates, except where a box has no area
    # (zero width, two flipped) or no finite corners (nan, inf): no IoU to speak of.
    assert res.rule_counts["duplicate_box"] == 13 - 5


def test_non_finite_corners_in_tracks_only_break_the_finite_rule():
    df = boxes(*track(1, range(4)), *track(2, range(4), y1=30.0, y2=40.0))
    df.loc[1, "x2"], df.loc[5, "x1"] = np.inf, np.nan
    with np.errstate(all="raise"):
        res = run(df)
    assert res.rejected["reasons"].tolist() == ["coordinates_not_finite;box_outside_image", "coordinates_not_finite"]
    assert res.flagged.empty


def test_off_by_one_class_ids_are_judged_over_a_whole_yolo_dataset_not_one_frame():
    # names [cat, dog, bird]; the dataset uses ids 1..3: shifted. Frame 1 holds only id 1 and must be caught too.
    df = boxes(
        {"source_id": "f1", "source_file": "set/labels/frame_000001.txt", "class_id": 1, "class_name": "dog",
         "source_format": "yolo", "frame_index": 1},
        {"source_id": "f2", "source_file": "set/labels/frame_000002.txt", "class_id": 3, "class_name": "",
         "source_format": "yolo", "frame_index": 2},
        {"source_id": "other", "source_file": "other/labels/frame_000001.txt", "class_id": 1, "class_name": "dog",
         "source_format": "yolo", "frame_index": 1},
    )
    res = run_qc(df, SIZES, ["cat", "dog", "bird"])
    assert hit(res, "class_id_off_by_one") == ["f1", "f2"]


def test_two_unnamed_label_files_of_one_video_are_two_labellings_not_duplicates():
    df = boxes(
        {"source_id": "a", "source_file": "first.txt", "annotator": ""},
        {"source_id": "b", "source_file": "second.txt", "annotator": "", "x2": 20.5},
    )
    res = run(df)
    assert res.rule_counts["duplicate_box"] == 0
    assert res.agreement[["annotator_a", "annotator_b", "matched"]].values.tolist() == [
        ["(unnamed) first.txt", "(unnamed) second.txt", 1]]

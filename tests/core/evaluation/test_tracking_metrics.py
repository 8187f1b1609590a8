"""Tracking metrics: motmetrics parity on TUD-Campus, HOTA parity with TrackEval, and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vision_assets.core.evaluation.tracking import (
    HOTA_ALPHAS,
    evaluate_mot_files,
    evaluate_tracking,
    hota_metrics,
    read_mot_pair,
    read_mot_tracks,
)

# py-motmetrics' own TUD-Campus reference (its test_motchallenge_files; also the MANIFEST's numbers).
TUD_CAMPUS = {
    "mota": 0.526462, "idf1": 0.557659, "idp": 0.729730, "idr": 0.451253, "recall": 0.582173,
    "precision": 0.941441, "motp": 0.277201,
}  # fmt: skip
TUD_CAMPUS_COUNTS = {"num_false_positives": 13, "num_misses": 150, "num_switches": 7, "num_fragmentations": 7,
                     "num_objects": 359, "num_unique_objects": 8, "mostly_tracked": 1, "partially_tracked": 6,
                     "mostly_lost": 1}  # fmt: skip
# TrackEval 1.3.0's HOTA.eval_sequence on the same files (alpha means); later py-motmetrics releases assert the
# same three numbers in their own HOTA test.
TUD_CAMPUS_HOTA = {"hota": 0.3913974378451139, "deta": 0.418047030142763, "assa": 0.36912068120832836,
                   "loca": 0.770052227022172}  # fmt: skip


@pytest.fixture(scope="module")
def tud(material):
    folder = material / "mot" / "TUD-Campus"
    return folder / "gt.txt", folder / "test.txt"


def test_tud_campus_matches_motmetrics_reference(tud):
    result = evaluate_mot_files(*tud)
    for name, expected in TUD_CAMPUS.items():
        assert result[name] == pytest.approx(expected, abs=1e-6), name
    for name, expected in TUD_CAMPUS_COUNTS.items():
        assert result[name] == expected, name
    assert result["num_frames"] == 71 and result["num_predictions"] == 222


def test_tud_campus_hota_matches_trackeval(tud):
    result = evaluate_mot_files(*tud)
    for name, expected in TUD_CAMPUS_HOTA.items():
        assert result[name] == pytest.approx(expected, abs=1e-9), name


def test_project_reader_gives_motmetrics_boxes(tud):
    """The project's MOT reader and motmetrics' loader see the same boxes, so the tables feed motmetrics alike."""
    import motmetrics as mm  # the tracking module has shimmed np.asfarray by now

    gt, pred = read_mot_pair(*tud)
    for table, path in ((gt, tud[0]), (pred, tud[1])):
        ref = mm.io.loadtxt(str(path)).reset_index()
        assert len(table) == len(ref)
        assert (table["frame"].to_numpy() + 1 == ref["FrameId"].to_numpy()).all()  # ours is 0-based
        assert (table["track_id"].to_numpy() == ref["Id"].to_numpy()).all()
        # motmetrics shifts x, y by -1 (MATLAB origin); IoU does not see a shift of both boxes.
        np.testing.assert_allclose(table["x1"], ref["X"] + 1, atol=1e-9)
        np.testing.assert_allclose(table["y1"], ref["Y"] + 1, atol=1e-9)
        np.testing.assert_allclose(table["x2"] - table["x1"], ref["Width"], atol=1e-9)
        np.testing.assert_allclose(table["y2"] - table["y1"], ref["Height"], atol=1e-9)


def test_whole_motmetrics_summary_is_reproduced(tud):
    """Every CLEAR/identity number equals what motmetrics computes from its own loader, exactly as its test does."""
    import motmetrics as mm

    acc = mm.utils.compare_to_groundtruth(mm.io.loadtxt(str(tud[0])), mm.io.loadtxt(str(tud[1])), "iou", distth=0.5)
    names = ["mota", "motp", "idf1", "idp", "idr", "recall", "precision", "num_switches", "num_fragmentations",
             "num_false_positives", "num_misses", "num_objects"]  # fmt: skip
    reference = mm.metrics.create().compute(acc, metrics=names, return_dataframe=False)
    result = evaluate_mot_files(*tud)
    for name in names:
        assert result[name] == pytest.approx(float(reference[name]), abs=1e-12), name


def _tracks(rows):
    return pd.DataFrame(rows, columns=["frame", "track_id", "x1", "y1", "x2", "y2"])


def test_identity_switch_by_hand():
    # One object seen twice; the tracker gives it a new id the second time. Boxes overlap perfectly.
    gt = _tracks([(1, 1, 0, 0, 10, 10), (2, 1, 0, 0, 10, 10)])
    pred = _tracks([(1, 7, 0, 0, 10, 10), (2, 8, 0, 0, 10, 10)])
    r = evaluate_tracking(gt, pred)
    assert r["num_switches"] == 1 and r["num_misses"] == 0 and r["num_false_positives"] == 0
    assert r["mota"] == pytest.approx(1 - 1 / 2)  # 1 - (FN + FP + IDSW) / GT
    assert r["motp"] == pytest.approx(0.0)  # distance 1 - IoU
    assert r["idf1"] == pytest.approx(0.5)  # IDTP 1, IDFP 1, IDFN 1
    # HOTA: every alpha detects both boxes (DetA 1); each of the two id pairs has Jaccard 1 / (2 + 1 - 1).
    assert r["deta"] == pytest.approx(1.0)
    assert r["assa"] == pytest.approx(0.5)
    assert r["hota"] == pytest.approx(np.sqrt(0.5))


def test_hota_alpha_dependence_by_hand():
    # IoU 0.62: a true positive for the 12 alphas 0.05..0.60, a miss plus a false positive for the other 7.
    gt = _tracks([(1, 1, 0, 0, 100, 100)])
    pred = _tracks([(1, 5, 0, 0, 100, 62)])
    h = hota_metrics(gt, pred)
    assert len(HOTA_ALPHAS) == 19
    assert h["hota_alpha"] == pytest.approx([1.0] * 12 + [0.0] * 7)
    assert h["hota"] == pytest.approx(12 / 19)
    assert h["deta"] == pytest.approx(12 / 19)
    assert h["assa"] == pytest.approx(12 / 19)
    assert h["loca"] == pytest.approx((12 * 0.62 + 7 * 1.0) / 19)  # TrackEval's LocA is 1 where nothing matched
    r = evaluate_tracking(gt, pred)
    assert r["mota"] == pytest.approx(1.0) and r["motp"] == pytest.approx(0.38)


def test_iou_threshold_decides_clear_matches():
    gt = _tracks([(1, 1, 0, 0, 100, 100)])
    pred = _tracks([(1, 5, 0, 0, 100, 40)])  # IoU 0.4
    assert evaluate_tracking(gt, pred)["num_misses"] == 1
    loose = evaluate_tracking(gt, pred, iou_threshold=0.3)
    assert loose["num_misses"] == 0 and loose["motp"] == pytest.approx(0.6)


def test_empty_predictions_are_all_misses():
    gt = _tracks([(1, 1, 0, 0, 10, 10), (2, 1, 0, 0, 10, 10)])
    r = evaluate_tracking(gt, pd.DataFrame())
    assert r["num_misses"] == 2 and r["num_false_positives"] == 0 and r["mota"] == 0.0
    assert r["hota"] == 0.0 and r["deta"] == 0.0


def test_bad_tables_are_refused():
    gt = _tracks([(1, 1, 0, 0, 10, 10), (1, 1, 5, 5, 10, 10)])
    with pytest.raises(ValueError, match="twice in one frame"):
        evaluate_tracking(gt, gt.iloc[:1])
    with pytest.raises(ValueError, match="lacks columns"):
        evaluate_tracking(gt.drop(columns="y2"), gt)


def test_reader_drops_ignored_ground_truth_and_keeps_prediction_scores(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("1,1,10,10,20,20,1,1,1\n1,2,50,50,20,20,0,1,1\n2,1,12,10,20,20,1,1,1\n")
    gt = read_mot_tracks(path, ground_truth=True)
    assert gt["track_id"].tolist() == [1, 1]  # conf 0 = "do not evaluate"
    assert gt.iloc[0][["x1", "y1", "x2", "y2"]].tolist() == [10, 10, 30, 30]
    pred = read_mot_tracks(path, ground_truth=False)
    assert len(pred) == 3
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert len(read_mot_tracks(empty, ground_truth=False)) == 0

"""Multi-object tracking metrics: CLEAR-MOT and identity metrics by py-motmetrics, HOTA by TrackEval.

Track table contract (pixel boxes, top-left origin), for ground truth and predictions alike:
    frame, track_id, x1, y1, x2, y2
`frame` is only a key that pairs ground truth with predictions (any integers, same numbering on both sides).

CLEAR-MOT (MOTA, MOTP, switches, fragmentations, ...) and the identity metrics (IDF1, IDP, IDR) come from
py-motmetrics' own accumulator and metric host, fed the way its `utils.compare_to_groundtruth` feeds them, so
the numbers are motmetrics' numbers. motmetrics 1.4.0 (the release on PyPI) has no HOTA, so HOTA/DetA/AssA come
from TrackEval's own `metrics/hota.py` (trackeval on PyPI, the reference later motmetrics releases are tested
against), fed motmetrics' IoU: see `hota_metrics`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vision_assets.core.errors import InvalidInput
from vision_assets.core.geometry import xyxy_to_xywh
from vision_assets.core.labels.formats.mot import read_mot


def _motmetrics():
    """motmetrics (and the scipy it brings) on first use: the code location imports this module at load."""
    # motmetrics 1.4.0 calls np.asfarray (in distances.iou_matrix), which numpy 2 removed; put back the equivalent
    # before motmetrics runs. Only when missing, so an older numpy keeps its own. The patch is process-wide, and
    # harmless: it restores a function numpy 1 had, with numpy 1's meaning.
    if not hasattr(np, "asfarray"):
        np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)
    import motmetrics

    return motmetrics


TRACK_COLUMNS = ("frame", "track_id", "x1", "y1", "x2", "y2")
# HOTA's localisation thresholds, exactly as TrackEval builds them (0.05 ... 0.95, 19 values).
HOTA_ALPHAS = np.arange(0.05, 0.99, 0.05)
HOTA_NAMES = ("hota", "deta", "assa", "detre", "detpr", "assre", "asspr", "loca")
_TRACKEVAL_NAMES = dict(zip(HOTA_NAMES, ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA")))

# motmetrics' names, reported under the same names.
_MOTMETRICS = (
    "mota", "motp", "idf1", "idp", "idr", "recall", "precision", "num_switches", "num_fragmentations",
    "num_false_positives", "num_misses", "num_objects", "num_detections", "num_predictions", "num_frames",
    "num_unique_objects", "mostly_tracked", "partially_tracked", "mostly_lost",
)  # fmt: skip


def evaluate_tracking(
    ground_truth: pd.DataFrame, predictions: pd.DataFrame, *, iou_threshold: float = 0.5
) -> dict[str, float | int]:
    """CLEAR-MOT, identity and HOTA metrics of `predictions` against `ground_truth` (one sequence).

    A prediction may match a ground-truth box when their IoU is at least `iou_threshold` (motmetrics' IoU
    distance 1 - IoU with `distth = 1 - iou_threshold`, as its TUD-Campus test uses with 0.5). `motp` is what
    motmetrics reports: the mean distance 1 - IoU over matches (lower is better). HOTA has no threshold: it
    averages over HOTA_ALPHAS.
    """
    gt = check_tracks(ground_truth, "ground_truth")
    pred = check_tracks(predictions, "predictions")
    acc = _accumulate(gt, pred, max_distance=1.0 - iou_threshold)
    summary = _motmetrics().metrics.create().compute(acc, metrics=list(_MOTMETRICS), return_dataframe=False)
    out: dict[str, float | int] = {}
    for name in _MOTMETRICS:
        value = summary[name]
        out[name] = int(value) if name.startswith(("num_", "mostly_", "partially_")) else float(value)
    hota = hota_metrics(gt, pred)
    out.update({name: hota[name] for name in HOTA_NAMES})
    return out


def evaluate_sequences(sequences: list[tuple[pd.DataFrame, pd.DataFrame]], *, iou_threshold: float = 0.5) -> dict:
    """The metrics of several sequences (videos) taken together, as motmetrics' and TrackEval's overall rows add
    them up: each sequence's frames and ids are shifted past the previous ones', so nothing pairs across videos,
    counts sum, and HOTA's association (a per-id-pair sum over true positives) combines as TrackEval combines it."""
    gts, preds = [], []
    frame_offset = id_offset = 0
    for gt, pred in sequences:
        gt, pred = check_tracks(gt, "ground_truth"), check_tracks(pred, "predictions")
        gts.append(gt.assign(frame=gt["frame"] + frame_offset, track_id=gt["track_id"] + id_offset))
        preds.append(pred.assign(frame=pred["frame"] + frame_offset, track_id=pred["track_id"] + id_offset))
        frames = [t["frame"].max() for t in (gt, pred) if len(t)]
        ids = [t["track_id"].max() for t in (gt, pred) if len(t)]
        frame_offset += int(max(frames, default=0)) + 1
        id_offset += int(max(ids, default=0)) + 1
    together = [pd.concat(t, ignore_index=True) if t else pd.DataFrame() for t in (gts, preds)]
    return evaluate_tracking(*together, iou_threshold=iou_threshold)


def identity_errors(ground_truth: pd.DataFrame, predictions: pd.DataFrame, *,
                    iou_threshold: float = 0.5) -> pd.DataFrame:
    """Every ID switch and fragmentation, where motmetrics counts them: one row per event with kind ("idsw" or
    "frag"), frame, gt_track_id, track_id (the prediction now, -1 while lost), previous_track_id (the prediction
    that had the object before), iou (1 - motmetrics' distance, NaN when lost) and the ground-truth box.

    A switch is motmetrics' SWITCH event. A fragmentation is the start of a run of misses between an object's first
    and last match (motmetrics' num_fragmentations), reported on the first missed frame."""
    gt = check_tracks(ground_truth, "ground_truth")
    pred = check_tracks(predictions, "predictions")
    columns = ["kind", "frame", "gt_track_id", "track_id", "previous_track_id", "iou", "x1", "y1", "x2", "y2"]
    if not len(gt):
        return pd.DataFrame(columns=columns)
    events = _accumulate(gt, pred, max_distance=1.0 - iou_threshold).mot_events.reset_index()
    events = events[events["Type"].isin(["MATCH", "SWITCH", "MISS"])]
    boxes = gt.set_index(["frame", "track_id"])
    rows = []
    for oid, seq in events.groupby("OId", sort=True):
        seq = seq.sort_values("FrameId", kind="stable")
        tracked = (seq["Type"] != "MISS").to_numpy()
        if not tracked.any():
            continue
        first, last = np.flatnonzero(tracked)[[0, -1]]
        previous = -1
        for k, event in enumerate(seq.itertuples(index=False)):
            hid = int(event.HId) if event.Type != "MISS" else -1
            if event.Type == "SWITCH" or (first < k <= last and not tracked[k] and tracked[k - 1]):
                kind = "idsw" if event.Type == "SWITCH" else "frag"
                box = boxes.loc[(event.FrameId, oid)]
                iou = 1.0 - float(event.D) if hid >= 0 else float("nan")
                rows.append([kind, int(event.FrameId), int(oid), hid, previous, iou,
                             *(float(box[c]) for c in ("x1", "y1", "x2", "y2"))])
            if hid >= 0:
                previous = hid
    return pd.DataFrame(rows, columns=columns).sort_values(["frame", "gt_track_id"], kind="stable",
                                                           ignore_index=True)


def hota_metrics(ground_truth: pd.DataFrame, predictions: pd.DataFrame) -> dict:
    """HOTA, DetA, AssA, DetRe, DetPr, AssRe, AssPr, LocA by TrackEval's own HOTA (trackeval 1.3.0), averaged over
    HOTA_ALPHAS, on motmetrics' IoU; the per-alpha arrays under "<name>_alpha".

    TrackEval is given what its MOTChallenge loader would give it for the sequence: 0-based ids per frame and the
    IoU of every ground-truth box with every prediction, frame by frame in order."""
    from trackeval.metrics.hota import HOTA  # imported when used: TrackEval is needed here only

    gt = check_tracks(ground_truth, "ground_truth")
    pred = check_tracks(predictions, "predictions")
    frames = _frames(gt, pred)
    data = {"num_gt_ids": int(gt["track_id"].nunique()), "num_tracker_ids": int(pred["track_id"].nunique()),
            "num_gt_dets": len(gt), "num_tracker_dets": len(pred), "gt_ids": [f[0] for f in frames],
            "tracker_ids": [f[1] for f in frames], "similarity_scores": [f[2] for f in frames]}
    metric = HOTA()
    result = metric.eval_sequence(data)
    per_alpha = {name: np.asarray(result[theirs], dtype=float) for name, theirs in _TRACKEVAL_NAMES.items()}
    out: dict = {name: float(values.mean()) for name, values in per_alpha.items()}
    out.update({f"{name}_alpha": values.tolist() for name, values in per_alpha.items()})
    out["alphas"] = HOTA_ALPHAS.tolist()
    return out


def read_mot_tracks(path: Path, *, ground_truth: bool) -> pd.DataFrame:
    """One MOTChallenge txt file as a track table, through the project's MOT reader.

    Ground-truth lines with conf 0 are MOTChallenge's "do not evaluate" marks and are dropped (motmetrics' own
    advice for ground truth). Prediction lines are all kept: their conf is the tracker's score, which
    MOTChallenge evaluation does not use. Raises AnnotationFormatError (a ValueError) for a malformed file and
    OSError for one that cannot be read. A file with no lines is an empty table (a tracker that found nothing).
    """
    path = Path(path)
    if not path.read_bytes().strip():
        return check_tracks(pd.DataFrame(), str(path))
    table = read_mot(path)
    if ground_truth:
        table = table[~table["attributes"].str.contains('"ignore": true', regex=False)]
    out = table.rename(columns={"frame_index": "frame"})[list(TRACK_COLUMNS)]
    return out.reset_index(drop=True)


def read_mot_pair(gt_path: Path, prediction_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ground truth, predictions) track tables from two MOTChallenge files."""
    return read_mot_tracks(gt_path, ground_truth=True), read_mot_tracks(prediction_path, ground_truth=False)


def evaluate_mot_files(gt_path: Path, prediction_path: Path, *, iou_threshold: float = 0.5) -> dict:
    gt, pred = read_mot_pair(gt_path, prediction_path)
    return evaluate_tracking(gt, pred, iou_threshold=iou_threshold)


def check_tracks(df: pd.DataFrame, what: str) -> pd.DataFrame:
    """The TRACK_COLUMNS of a valid track table; InvalidInput (a ValueError) "<what>: <problem>" otherwise."""
    if len(df) == 0:  # "no tracks" may arrive as pd.DataFrame() without columns
        return pd.DataFrame({c: pd.Series(dtype=float) for c in TRACK_COLUMNS})
    missing = [c for c in TRACK_COLUMNS if c not in df.columns]
    if missing:
        raise InvalidInput(object=what, problem=f"lacks columns {missing}")
    values = df[list(TRACK_COLUMNS)]
    if not np.isfinite(values.to_numpy(dtype=float)).all():
        raise InvalidInput(object=what, problem="non-finite frames, ids or coordinates")
    if ((values["x2"] < values["x1"]) | (values["y2"] < values["y1"])).any():
        raise InvalidInput(object=what, problem="boxes with x2 < x1 or y2 < y1")
    if values.duplicated(["frame", "track_id"]).any():
        raise InvalidInput(object=what, problem="a track id appears twice in one frame")
    return values


# --- internals -------------------------------------------------------------------------------------


def _motmetrics_table(df: pd.DataFrame) -> pd.DataFrame:
    """The (FrameId, Id)-indexed X, Y, Width, Height frame that motmetrics' loaders produce."""
    return pd.DataFrame(
        {
            "FrameId": df["frame"].to_numpy(dtype=np.int64),
            "Id": df["track_id"].to_numpy(dtype=np.int64),
            "X": df["x1"].to_numpy(dtype=float),
            "Y": df["y1"].to_numpy(dtype=float),
            "Width": (df["x2"] - df["x1"]).to_numpy(dtype=float),
            "Height": (df["y2"] - df["y1"]).to_numpy(dtype=float),
        }
    ).set_index(["FrameId", "Id"])


def _accumulate(gt: pd.DataFrame, pred: pd.DataFrame, *, max_distance: float) -> object:
    """motmetrics' compare_to_groundtruth, which needs both tables non-empty (it takes index levels)."""
    gt_mm, pred_mm = _motmetrics_table(gt), _motmetrics_table(pred)
    if len(gt_mm) and len(pred_mm):
        return _motmetrics().utils.compare_to_groundtruth(gt_mm, pred_mm, "iou", distth=max_distance)
    # One side empty: every box is a miss or a false positive; same per-frame updates, no distances.
    acc = _motmetrics().MOTAccumulator()
    by_frame_gt = {f: g.index.get_level_values("Id") for f, g in gt_mm.groupby(level="FrameId")}
    by_frame_pred = {f: g.index.get_level_values("Id") for f, g in pred_mm.groupby(level="FrameId")}
    for frame in sorted(set(by_frame_gt) | set(by_frame_pred)):
        oids = by_frame_gt.get(frame, np.empty(0))
        hids = by_frame_pred.get(frame, np.empty(0))
        acc.update(oids, hids, np.empty((len(oids), len(hids))), frameid=frame)
    return acc


def _xywh(df: pd.DataFrame) -> np.ndarray:
    return np.stack(xyxy_to_xywh(*(df[c].to_numpy(dtype=float) for c in ("x1", "y1", "x2", "y2"))), axis=1)


def _frames(gt: pd.DataFrame, pred: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per frame (in frame order): 0-based gt ids, 0-based prediction ids, IoU matrix (motmetrics' boxiou)."""
    gt_index = {v: i for i, v in enumerate(np.unique(gt["track_id"]))}
    pred_index = {v: i for i, v in enumerate(np.unique(pred["track_id"]))}
    gt_by_frame = dict(iter(gt.groupby("frame")))
    pred_by_frame = dict(iter(pred.groupby("frame")))
    out = []
    for frame in sorted(set(gt_by_frame) | set(pred_by_frame)):
        g = gt_by_frame.get(frame, gt.iloc[:0])
        p = pred_by_frame.get(frame, pred.iloc[:0])
        gt_ids = np.array([gt_index[v] for v in g["track_id"]], dtype=np.int64)
        pred_ids = np.array([pred_index[v] for v in p["track_id"]], dtype=np.int64)
        iou = np.zeros((len(g), len(p)))
        if len(g) and len(p):  # the IoU motmetrics matches on (its iou_matrix is 1 - this)
            iou = np.asarray(_motmetrics().distances.boxiou(_xywh(g)[:, None], _xywh(p)[None, :]), dtype=float)
        out.append((gt_ids, pred_ids, iou))
    return out

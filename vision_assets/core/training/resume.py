"""What a training that died left in its work folder, and how the retry picks it up.

The work folder of one fingerprint (dataset version + config + code) is `runs/<fingerprint>/`: Ultralytics'
weights and results.csv, and our `run_state.json` naming the MLflow run the attempt logs to. A retry resumes
from last.pt when it holds a completed epoch, trims results.csv to the epochs last.pt holds (a kill between
Ultralytics writing the CSV row and the checkpoint would otherwise leave a row the resumed run writes again),
and starts from an empty folder otherwise, so no stale CSV is ever appended to."""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from vision_assets.core.lake.atomic import atomic_write_bytes

STATE_FILE = "run_state.json"


@dataclass(frozen=True)
class ResumePoint:
    completed_epochs: int  # epochs last.pt holds (0: start over)
    finished: bool  # training completed (Ultralytics strips the optimizer from a finished last.pt)

    @property
    def resumable(self) -> bool:
        return self.completed_epochs > 0 and not self.finished


def resume_point(run_dir: Path, epochs: int) -> ResumePoint:
    last = run_dir / "weights" / "last.pt"
    if not last.exists():
        return ResumePoint(0, False)
    try:
        import torch

        checkpoint = torch.load(last, map_location="cpu", weights_only=False)
    except Exception:  # a truncated or foreign file: nothing to resume from
        return ResumePoint(0, False)
    if not isinstance(checkpoint, dict):
        return ResumePoint(0, False)
    epoch = checkpoint.get("epoch", -1)
    if checkpoint.get("optimizer") is None or epoch is None or epoch < 0:
        # Finished (Ultralytics strips a final last.pt) but its record was never written: train again, since
        # the best epoch and fitness the record needs were only in the dead process.
        return ResumePoint(epochs, True)
    return ResumePoint(int(epoch) + 1, int(epoch) + 1 >= epochs)


def prepare_run_dir(run_dir: Path, epochs: int) -> ResumePoint:
    """Leave run_dir ready for the attempt: trimmed for a resume, empty for a fresh start."""
    point = resume_point(run_dir, epochs)
    if point.resumable:
        trim_results_csv(run_dir / "results.csv", point.completed_epochs)
        return point
    state = read_state(run_dir)  # the MLflow run of the dead attempt is still to be closed
    if run_dir.exists():
        shutil.rmtree(run_dir)
    if state:
        write_state(run_dir, state)
    return point


def trim_results_csv(path: Path, keep_epochs: int) -> int:
    """Drop rows past keep_epochs (and repeats); returns the rows dropped."""
    if not path.exists():
        return 0
    text = path.read_text()
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return 0
    header, body = rows[0], rows[1:]
    kept, seen = [], set()
    for row in body:
        try:
            epoch = int(float(row[0]))
        except (ValueError, IndexError):
            continue
        if epoch <= keep_epochs and epoch not in seen:
            seen.add(epoch)
            kept.append(row)
    if len(kept) == len(body):
        return 0
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *kept])
    atomic_write_bytes(path, out.getvalue().encode())
    return len(body) - len(kept)


def read_state(run_dir: Path) -> dict:
    path = run_dir / STATE_FILE
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        return {}


def write_state(run_dir: Path, state: dict) -> None:
    atomic_write_bytes(run_dir / STATE_FILE, json.dumps(state, indent=2, sort_keys=True).encode())

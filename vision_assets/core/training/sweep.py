"""A light hyper-parameter search: grid or random over a declared space, within a trial and a time budget.

Every trial is an ordinary checkpoint (same dataset version, its own config, so its own fingerprint): a
finished trial is found again by its record and never retrained, and a trial that dies resumes like any
training. Trials are ranked by val fitness only; the test split stays untouched until evaluation.

The space file (YAML):

    method: grid            # or random
    max_trials: 4           # trial budget (grid: the first N points; random: N draws)
    time_budget_s: 3600     # no new trial starts after this much training time
    seed: 0                 # random draws
    base: {epochs: 10}      # options every trial shares (on top of the trainer's)
    space:
      lr0: [0.001, 0.003]   # a list: these values (grid) or a choice among them (random)
      batch: [8, 16]
      mixup: {low: 0.0, high: 0.3}    # random only: uniform in [low, high]; add `log: true` for log-uniform
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from vision_assets.core.errors import VisionError
from vision_assets.core.lake import Lake, keys
from vision_assets.core.records import Checkpoint, DatasetVersion
from vision_assets.core.training.checkpoint import existing_checkpoint, train_checkpoint
from vision_assets.core.training.yolo import TrainConfig

if TYPE_CHECKING:
    from vision_assets.core.registry import ModelRegistry

PARENT_TAG = "mlflow.parentRunId"  # MLflow's own tag: the UI nests child runs under it


@dataclass(frozen=True)
class SweepSpace:
    method: str
    space: dict
    max_trials: int
    time_budget_s: float | None  # None: no time limit
    seed: int = 0
    base: dict | None = None

    def as_dict(self) -> dict:
        return {"method": self.method, "space": self.space, "max_trials": self.max_trials,
                "time_budget_s": self.time_budget_s, "seed": self.seed, "base": self.base or {}}


class SweepSpaceError(VisionError, ValueError):
    """A sweep space file that cannot be read or says something the sweep cannot do."""


def load_space(path: Path) -> SweepSpace:
    """A sweep space from YAML; a bad file is one clear line naming it."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise SweepSpaceError(object=str(path), problem=f"cannot read the sweep space: {error}") from error
    try:
        return parse_space(raw)
    except ValueError as error:
        raise SweepSpaceError(object=str(path), problem=str(error)) from error


def parse_space(raw: object) -> SweepSpace:
    if not isinstance(raw, dict) or not isinstance(raw.get("space"), dict) or not raw["space"]:
        raise SweepSpaceError(problem="a sweep space is a mapping with a non-empty 'space' of option: values")
    allowed = {"method", "space", "max_trials", "time_budget_s", "seed", "base"}
    if set(raw) - allowed:
        raise SweepSpaceError(problem=f"unknown sweep keys {sorted(set(raw) - allowed)}; allowed: {sorted(allowed)}")
    method = raw.get("method", "grid")
    if method not in ("grid", "random"):
        raise SweepSpaceError(object="method", problem=f"must be 'grid' or 'random', got {method!r}")
    options = set(TrainConfig().as_dict())
    base = raw.get("base") or {}
    for name in [*raw["space"], *base]:
        if name not in options:
            raise SweepSpaceError(object=repr(name), problem=f"not a training option; options: {sorted(options)}")
    for name, values in raw["space"].items():
        if isinstance(values, dict):
            if method == "grid" or not {"low", "high"} <= set(values):
                raise SweepSpaceError(object=name, problem="a range {low, high[, log]} needs method: random; grid takes a list")
        elif not isinstance(values, list) or not values:
            raise SweepSpaceError(object=name, problem="give a non-empty list of values (or a range for random)")
    space = {name: [_coerce(name, v) for v in values] if isinstance(values, list) else values
             for name, values in raw["space"].items()}
    base = {name: _coerce(name, value) for name, value in base.items()}
    size = math.prod(len(v) for v in space.values()) if method == "grid" else None
    max_trials = int(raw.get("max_trials") or size or 8)
    return SweepSpace(method=method, space=space, max_trials=max_trials,
                      time_budget_s=float(raw["time_budget_s"]) if raw.get("time_budget_s") else None, seed=int(raw.get("seed", 0)),
                      base=base)


def _coerce(name: str, value):
    """To the option's type: YAML reads `1e-3` as a string and `8` where a float is meant as an int."""
    default = TrainConfig().as_dict()[name]
    kind = type(default) if default is not None else type(value)
    try:
        if kind is bool and not isinstance(value, bool):
            raise ValueError  # caught just below, like int("x")
        return kind(value) if kind in (int, float, str) and not isinstance(value, bool) else value
    except (TypeError, ValueError) as error:
        raise SweepSpaceError(object=name, problem=f"{value!r} is not a {kind.__name__}") from error


def trial_params(space: SweepSpace) -> list[dict]:
    """The trials' option values, in order, within the trial budget (deterministic for a given space)."""
    names = sorted(space.space)
    if space.method == "grid":
        points = itertools.product(*(space.space[n] for n in names))
        return [dict(zip(names, p)) for p in itertools.islice(points, space.max_trials)]
    rng = random.Random(space.seed)
    trials, seen = [], set()
    for _ in range(space.max_trials * 20):
        if len(trials) == space.max_trials:
            break
        params = {n: _draw(rng, space.space[n]) for n in names}
        key = json.dumps(params, sort_keys=True)
        if key not in seen:
            seen.add(key)
            trials.append(params)
    return trials


def _draw(rng: random.Random, values):
    if isinstance(values, list):
        return rng.choice(values)
    low, high = float(values["low"]), float(values["high"])
    if values.get("log"):
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return float(rng.uniform(low, high))


def sweep_id(space: SweepSpace, base: TrainConfig, dataset_version: str) -> str:
    payload = json.dumps({"space": space.as_dict(), "base": base.as_dict(), "dataset": dataset_version}, sort_keys=True,
                         default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def run_sweep(lake: Lake, registry: ModelRegistry, dataset: DatasetVersion, base: TrainConfig, space: SweepSpace,
              work_dir: Path, run_tags: dict[str, str], *, log: Callable[[str], None] | None = None,
              on_epoch: Callable[[int, int, dict], None] | None = None) -> dict:
    """Train (or find) each trial, rank them by val fitness; the record names the best trial's checkpoint record."""
    log = log or (lambda _: None)
    base = replace(base, **(space.base or {}))
    identity = sweep_id(space, base, dataset.version)
    parent = registry.client.create_run(registry.experiment_id(), run_name=f"sweep-{dataset.version}",
                                        tags={**run_tags, "sweep_id": identity, "dataset_version": dataset.version})
    parent_id = parent.info.run_id
    trials, spent, started = [], 0.0, time.monotonic()
    try:
        registry.log_params(parent_id, {"method": space.method, "max_trials": space.max_trials,
                                        "time_budget_s": space.time_budget_s, "space": json.dumps(space.space)})
        for number, params in enumerate(trial_params(space), start=1):
            config = replace(base, **params)
            record = existing_checkpoint(lake, config, dataset.version)
            reused = record is not None
            if not reused:
                if space.time_budget_s is not None and spent >= space.time_budget_s:
                    log(f"trial {number}: time budget of {space.time_budget_s:.0f} s spent, not started")
                    trials.append(_trial(number, params, None, "skipped (time budget)"))
                    continue
                log(f"trial {number}/{space.max_trials}: training {params}")
                began = time.monotonic()
                record = train_checkpoint(
                    lake, registry, dataset, config, work_dir,
                    run_tags={**run_tags, PARENT_TAG: parent_id, "sweep_id": identity, "trial": str(number)},
                    on_epoch=(lambda epoch, metrics, n=number: on_epoch(n, epoch, metrics)) if on_epoch else None,
                    log=log)
                spent += time.monotonic() - began
            else:
                log(f"trial {number}: {params} was trained already ({record.fingerprint}), reused")
            trials.append(_trial(number, params, record, "reused" if reused else "trained"))
        ranked = rank(trials)
        if not ranked:
            raise RuntimeError("the sweep finished no trial within its budgets")
        best = ranked[0]
        table = ranking_markdown(ranked + [t for t in trials if t["record"] is None])
        registry.client.log_text(parent_id, table, "sweep/ranking.md")
        registry.log_metrics(parent_id, {"best_val_fitness": best["val_fitness"] or 0.0, "trials": len(ranked)})
        registry.client.set_tag(parent_id, "best_fingerprint", best["fingerprint"])
        registry.client.set_tag(parent_id, "best_mlflow_run_id", best["record"].mlflow_run_id)
    except BaseException:
        registry.client.set_terminated(parent_id, status="FAILED")
        raise
    registry.client.set_terminated(parent_id, status="FINISHED")
    summary = {
        "sweep_id": identity, "dataset_version": dataset.version, "space": space.as_dict(),
        "mlflow_run_id": parent_id, "seconds": round(time.monotonic() - started, 1),
        "trained": sum(t["status"] == "trained" for t in trials), "reused": sum(t["status"] == "reused" for t in trials),
        "best_fingerprint": best["fingerprint"],
        "trials": [{k: v for k, v in t.items() if k != "record"} for t in ranked + [t for t in trials if t["record"] is None]],
    }
    lake.write_json(keys.sweep_record_key(identity), summary)
    return {"summary": summary, "best": best["record"], "table": table}


def _trial(number: int, params: dict, record: Checkpoint | None, status: str) -> dict:
    best_val = (record.best_val if record else None) or {}
    return {"trial": number, "params": params, "status": status, "record": record,
            "fingerprint": record.fingerprint if record else None,
            "val_fitness": record.val_fitness if record else None,
            "val_map50_95": best_val.get("metrics/mAP50-95(B)"), "val_map50": best_val.get("metrics/mAP50(B)"),
            "best_epoch": record.best_epoch if record else None,
            "mlflow_run_id": record.mlflow_run_id if record else None}


def rank(trials: list[dict]) -> list[dict]:
    """Finished trials, best val fitness first; ties go to the earlier trial (a stable, declared order)."""
    done = [t for t in trials if t["record"] is not None]
    return sorted(done, key=lambda t: (-(t["val_fitness"] if t["val_fitness"] is not None else -math.inf), t["trial"]))


def ranking_markdown(trials: list[dict]) -> str:
    names = sorted({n for t in trials for n in t["params"]})
    head = ["rank", "trial", *names, "val fitness", "val mAP50-95", "val mAP50", "best epoch", "status", "MLflow run"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for position, t in enumerate(trials, start=1):
        finished = t["record"] is not None
        cells = [str(position) if finished else "-", str(t["trial"]), *(str(t["params"].get(n, "")) for n in names),
                 _fmt(t["val_fitness"]), _fmt(t["val_map50_95"]), _fmt(t["val_map50"]),
                 str(t["best_epoch"] or ""), t["status"], (t["mlflow_run_id"] or "")[:12]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _fmt(value) -> str:
    return "" if value is None else f"{value:.4f}"

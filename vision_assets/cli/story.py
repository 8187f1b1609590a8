"""What the command line tells after a pass: each video's labels, failed blocking checks in one line each, and
what is still due with the command that does it. Imports stay inside the functions (the CLI starts light)."""

from __future__ import annotations

import sys


def not_done_lines(instance, missing: list[str], failed_run_ids: list[str]) -> list[str]:
    """The failed blocking checks in one line each, then what else is missing; a run whose failure a check line
    explains is not named again."""
    explained, lines = set(), []
    for run_id in failed_run_ids:
        own = failed_check_lines(instance, [run_id])
        if own:
            explained.add(run_id[:8])
            lines += own
    return list(dict.fromkeys(lines)) + [m for m in missing if not (m.startswith("run ") and m[4:12] in explained)]


def failed_check_lines(instance, run_ids: list[str]) -> list[str]:
    """`campus/2024-03-05: qc_pass_rate 52.9 % < 90 %: unknown_class 1646 (person)` for each failed blocking
    check of these runs (the check's own description carries the numbers), never a stack trace."""
    import dagster as dg

    lines = []
    for run_id in run_ids:
        run = instance.get_run_by_id(run_id)
        partition = (run.tags.get("dagster/partition") or "") if run else ""
        scene_day = "/".join(reversed(partition.split("|"))) if "|" in partition else partition
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            evaluation = record.dagster_event.event_specific_data
            if evaluation.passed or not evaluation.blocking or evaluation.severity != dg.AssetCheckSeverity.ERROR:
                continue
            where = f"{scene_day}: " if scene_day else f"{evaluation.asset_key.to_user_string()}: "
            lines.append(f"{where}{evaluation.check_name} {evaluation.description or 'failed'}")
    return list(dict.fromkeys(lines))


def still_due(settings, project) -> tuple[list[str], list[str]]:
    """(work the next `vision-assets run` would do: training on enough new labels, mining by the champion;
    why the rest is not due)."""
    from vision_assets.cli.environment import open_lake, open_registry
    from vision_assets.core.datasets import new_label_count
    from vision_assets.core.mining.partition import partitions_to_mine
    from vision_assets.core.registry import DEFAULT_MODEL_NAME

    lake = open_lake(settings)
    due, not_due = [], []
    count, _ = new_label_count(lake)
    threshold = project.retrain["min_new_labels"]
    labels = f"{count} new QC-passed labels (retrain.min_new_labels {threshold})"
    (due if count >= threshold else not_due).append(f"training: {labels}")
    champion = open_registry(settings).champion(DEFAULT_MODEL_NAME)
    if champion is None:
        not_due.append("hard examples: no champion to mine with")
    else:
        todo = partitions_to_mine(lake, str(champion.version))
        (due if todo else not_due).append(f"hard examples: {len(todo)} partition(s) not mined by champion "
                                          f"v{champion.version}")
    return due, not_due


def print_story(lines: list[str]) -> None:
    for line in lines:
        print(line, file=sys.stderr if line.startswith("warning:") else sys.stdout)

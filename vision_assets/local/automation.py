"""One evaluation of declarative automation for the in-process daemon: what `dg.evaluate_automation_conditions` does,
with the same results and cursor, but the new cursor is built as the Dagster daemon builds it.

The public helper (meant for unit tests) serializes each condition's subsets for the new cursor with the instance
itself as the dynamic-partitions store, so every serialized subset of the scene-day partitions queries SQLite
again: about 800 queries for a pass that has nothing to do, seconds of CPU. The daemon's tick
(AutomationTickEvaluationContext) builds it inside the evaluator's own partition loading context, whose store is the
evaluation's CachingInstanceQueryer: the partitions are read once per evaluation. Nothing adds partitions between the
evaluation and its cursor, so the answer is the same (tests/local/test_automation_evaluation.py compares the two on a
real instance).
"""

from __future__ import annotations

import datetime as dt
import logging

import dagster as dg

from vision_assets.local.dagster_internals import AssetDaemonCursor, AutomationConditionEvaluator


def evaluate_automation(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: AssetDaemonCursor | None = None,
                        evaluation_time: dt.datetime | None = None) -> dg.EvaluateAutomationConditionsResult:
    """Every automation condition of defs on instance, after cursor (None: the first evaluation)."""
    selection = dg.AssetSelection.all(include_sources=True) | dg.AssetSelection.all_asset_checks()
    asset_graph = defs.resolve_asset_graph()
    # The round trip the public helper does: the evaluation starts from what storage would give back.
    cursor = (dg.deserialize_value(dg.serialize_value(cursor), AssetDaemonCursor) if cursor
              else AssetDaemonCursor.empty())
    entity_keys = {key for key in selection.resolve(asset_graph) | selection.resolve_checks(asset_graph)
                   if asset_graph.get(key).automation_condition is not None}
    evaluator = AutomationConditionEvaluator(
        asset_graph=asset_graph, instance=instance,
        entity_keys=entity_keys | asset_graph.automatable_asset_job_keys,  # jobs with a condition, as the helper adds
        evaluation_time=evaluation_time, emit_backfills=False, logger=logging.getLogger("dagster.automation"),
        cursor=cursor, evaluation_id=cursor.evaluation_id)
    results, requested_subsets = evaluator.evaluate()
    with dg.partition_loading_context(new_ctx=evaluator.asset_graph_view.partition_loading_context) as context:
        new_cursor = cursor.with_updates(
            evaluation_timestamp=(evaluation_time or dt.datetime.now()).timestamp(),
            newly_observe_requested_asset_keys=[], evaluation_id=cursor.evaluation_id + 1,
            condition_cursors=[result.get_new_cursor() for result in results], asset_graph=asset_graph)
        # The result computes the requested partitions when made: inside the context too.
        return dg.EvaluateAutomationConditionsResult(cursor=new_cursor, requested_subsets=requested_subsets,
                                                     results=results, partition_loading_context=context)

"""Runs the local daemon executes in this process, created the way the Dagster daemon creates them.

A run carries the code location's origin and the snapshot of the job the UI loads (not of an ephemeral
in-process copy), so the UI files it under its code location, shows what started it, and re-executes it
without warning about a different version. Its worker tag names this process, so a later pass can tell a
run whose process died from one still running.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import dagster as dg

from vision_assets.core.processes import identity_alive, process_identity  # noqa: F401 - process_identity for tests
from vision_assets.local.dagster_internals import (
    ExecuteRunWithPlanIterable,
    InMemoryJob,
    InProcessCodeLocationOrigin,
    InstigatorSelector,
    LoadableTargetOrigin,
    PlanOrchestrationContextManager,
    ReconstructableRepository,
    RemoteInstigatorOrigin,
    RemoteRepositoryOrigin,
    create_execution_plan,
    job_execution_iterator,
    merge_run_tags,
    orchestration_context_event_generator,
)
from vision_assets.settings import PROJECT_ROOT

CODE_LOCATION = "vision_assets"  # workspace.yaml's location_name
ENTRY_FILE = PROJECT_ROOT / "definitions.py"
WORKER_TAG = "vision/worker"  # host/pid/process start of the process executing the run
ASSET_JOB = "__ASSET_JOB"


@dataclass(frozen=True)
class CodeLocationIdentity:
    """Where the UI finds this code: location, repository and the file it loads."""

    repository_name: str

    @property
    def repository_origin(self) -> RemoteRepositoryOrigin:
        target = LoadableTargetOrigin(executable_path=sys.executable, python_file=str(ENTRY_FILE),
                                      working_directory=str(PROJECT_ROOT))
        location = InProcessCodeLocationOrigin(loadable_target_origin=target, location_name=CODE_LOCATION)
        return RemoteRepositoryOrigin(code_location_origin=location, repository_name=self.repository_name)

    def job_code_origin(self, job_name: str):
        repo = ReconstructableRepository.for_file(str(ENTRY_FILE), "defs", str(PROJECT_ROOT))
        return repo.get_python_origin().get_job_origin(job_name)

    def instigator_ids(self, name: str) -> tuple[str, str]:
        """(origin id, selector id) of a sensor or schedule: the UI finds its ticks by the selector id."""
        origin = RemoteInstigatorOrigin(repository_origin=self.repository_origin, instigator_name=name)
        selector = InstigatorSelector(location_name=CODE_LOCATION, repository_name=self.repository_name, name=name)
        return origin.get_id(), selector.get_id()


def worker_alive(identity: str) -> bool | None:
    """True/False for a worker on this host; None when it ran elsewhere (this host cannot tell)."""
    return identity_alive(identity)


def resolve_job(defs: dg.Definitions, job_name: str) -> dg.JobDefinition:
    return defs.resolve_implicit_global_asset_job_def() if job_name == ASSET_JOB else defs.resolve_job_def(job_name)


def create_daemon_run(defs: dg.Definitions, instance: dg.DagsterInstance, identity: CodeLocationIdentity,
                      job_name: str, partition_key: str | None, assets: list[dg.AssetKey] | None,
                      tags: Mapping[str, str], run_config: Mapping[str, object],
                      parent: dg.DagsterRun | None = None) -> dg.DagsterRun:
    """A NOT_STARTED run with the job's real snapshot and origin, owned by this process (see WORKER_TAG)."""
    job = resolve_job(defs, job_name)
    run_tags = {**merge_run_tags(job_def=job, partition_key=partition_key, tags=tags, asset_selection=assets,
                                 instance=instance, run_config=run_config),
                WORKER_TAG: process_identity(os.getpid()) or "unknown"}
    return instance.create_run_for_job(
        job_def=job, run_config=run_config, tags=run_tags, asset_selection=set(assets) if assets else None,
        status=dg.DagsterRunStatus.NOT_STARTED,
        root_run_id=(parent.root_run_id or parent.run_id) if parent else None,
        parent_run_id=parent.run_id if parent else None,
        remote_job_origin=identity.repository_origin.get_job_origin(job.name),
        job_code_origin=identity.job_code_origin(job.name),
    )


def execute_daemon_run(defs: dg.Definitions, instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[dg.DagsterEvent]:
    """The run executes here, step after step (execute_in_process's executor); its record keeps the real job's
    snapshot, which differs from the in-process copy's only by the executor."""
    job = resolve_job(defs, run.job_name)
    assets = sorted(run.asset_selection) if run.asset_selection else None
    in_process = InMemoryJob(job.as_ephemeral_job(resource_defs={}, input_values={}, asset_selection=assets))
    plan = create_execution_plan(in_process, run_config=run.run_config, instance_ref=instance.get_ref())
    return list(ExecuteRunWithPlanIterable(
        execution_plan=plan,
        iterator=job_execution_iterator,
        execution_context_manager=PlanOrchestrationContextManager(
            context_event_generator=orchestration_context_event_generator, job=in_process, execution_plan=plan,
            dagster_run=run, instance=instance, run_config=run.run_config, executor_defs=None, output_capture=None,
            raise_on_error=False),
    ))

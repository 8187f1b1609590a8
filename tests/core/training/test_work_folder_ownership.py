"""One step, one writer, with real processes: a live owner keeps its training work folder (the next attempt waits,
then fails naming it), a dead owner's folder is taken over with the next fencing token, an attempt whose token was
taken stops before it writes, and an orphaned training step (its run worker killed, or its run failed) notices."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest

from vision_assets.core.training.ownership import (
    AttemptSuperseded,
    WorkFolderBusy,
    own_work_folder,
    read_owner,
)

GIVE_UP_S = 120  # a process that never reports is a failure, not a hang


def _start(script: str, *args: str, new_session: bool = False) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=new_session)


def _owner_process(run_dir: Path, run_id: str) -> subprocess.Popen:
    """A real process that takes the folder, says so, and holds it until killed."""
    process = _start("""
        import sys, time
        from pathlib import Path
        from vision_assets.core.training.ownership import own_work_folder
        with own_work_folder(Path(sys.argv[1]), sys.argv[2]) as ownership:
            print("owned", ownership.owner.token, flush=True)
            time.sleep(600)
    """, str(run_dir), run_id)
    assert process.stdout.readline().split()[0] == "owned"
    return process


def test_a_live_owner_keeps_the_folder_and_a_dead_ones_is_taken_over(tmp_path):
    run_dir = tmp_path / "runs" / "fp1"
    owner = _owner_process(run_dir, "run-a")
    try:
        with pytest.raises(WorkFolderBusy) as busy, own_work_folder(run_dir, "run-b", wait_s=0.5, poll_s=0.1):
            pass
        assert f"pid {owner.pid} on" in str(busy.value) and "run run-a" in str(busy.value)
        assert str(run_dir) in str(busy.value)
    finally:
        owner.kill()
        owner.wait(timeout=GIVE_UP_S)

    with own_work_folder(run_dir, "run-b", wait_s=0.5, poll_s=0.1) as ownership:
        assert ownership.previous.run_id == "run-a" and ownership.owner.token == ownership.previous.token + 1 == 2
        assert ownership.owner.process.split("/")[1] == str(os.getpid())
        ownership.check()  # still ours
    assert read_owner(run_dir).run_id == "run-b"


def test_an_attempt_whose_token_was_taken_stops_before_writing(tmp_path):
    run_dir = tmp_path / "runs" / "fp1"
    with own_work_folder(run_dir, "run-a") as mine:
        # A cleaner removed the lock file while this attempt ran: a second attempt (a real process) gets a new lock.
        (run_dir.parent / "fp1.lock").unlink()
        other = _owner_process(run_dir, "run-b")
        try:
            taken = r"taken over by pid \d+ on .* \(run run-b, token 2, since .*\(token 1\) stops without writing"
            with pytest.raises(AttemptSuperseded, match=taken):
                mine.check()
        finally:
            other.kill()
            other.wait(timeout=GIVE_UP_S)


ORPHAN_STEP = """
    import sys, time
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef
    from vision_assets.defs.training import attempt_still_wanted
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(sys.argv[1]))
    still_wanted = attempt_still_wanted(instance, sys.argv[2])
    print("training", flush=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        reason = still_wanted()
        if reason:
            print("stopped:", reason, "orphaned" if still_wanted.orphaned() else "", flush=True)
            sys.exit(0)
        time.sleep(0.2)
    print("never noticed", flush=True)
"""


def _started_run(instance) -> dg.DagsterRun:
    @dg.op
    def train():
        pass

    @dg.job
    def train_and_register():
        train()

    return instance.create_run_for_job(train_and_register, status=dg.DagsterRunStatus.STARTED)


def test_an_orphaned_step_notices_its_run_worker_died(tmp_path, instance):
    run = _started_run(instance)
    # A run worker (real process) starts the training step as its child, then is killed: the step is re-parented.
    worker = _start(f"""
        import subprocess, sys, textwrap, time
        step = subprocess.Popen([sys.executable, "-c", textwrap.dedent({ORPHAN_STEP!r}), sys.argv[1], sys.argv[2]],
                                stdout=sys.stdout, stderr=subprocess.STDOUT)
        time.sleep(600)
    """, instance.root_directory, run.run_id, new_session=True)
    try:
        assert worker.stdout.readline().strip() == "training"
        os.kill(worker.pid, signal.SIGKILL)
        line = worker.stdout.readline().strip()  # the step still holds the pipe until it stops
        assert line == f"stopped: the run worker (pid {worker.pid}) that started this step is gone orphaned"
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=GIVE_UP_S)


def test_a_step_whose_run_was_failed_stops(tmp_path, instance):
    run = _started_run(instance)
    step = _start(ORPHAN_STEP, instance.root_directory, run.run_id)
    try:
        assert step.stdout.readline().strip() == "training"
        instance.report_run_failed(run)  # e.g. the retry sensor found its worker gone
        assert step.stdout.readline().strip() == f"stopped: run {run.run_id} is FAILURE"
        assert step.wait(timeout=GIVE_UP_S) == 0
    finally:
        if step.poll() is None:
            step.kill()

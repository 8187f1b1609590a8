"""What kind of failure ended an attempt, and how often and how soon work that failed that way is tried again.

The kind decides the retry: a lost worker or an interrupted step (SIGTERM on eviction, Ctrl-C) is tried again at once;
a service that did not answer (object store, MLflow, a locked database) is tried again with growing pauses, since it
usually comes back; anything else (most often the inputs) is tried a few times, then waits for a person or for
changed inputs. No Dagster here: the Dagster layer reads the error out of the run (defs/retries.py)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

WORKER_DIED = "worker_died"  # the process executing the run is gone (kill -9, OOM, lost pod)
INTERRUPTED = "interrupted"  # the step was told to stop (SIGTERM, SIGINT / Ctrl-C)
UNREACHABLE = "unreachable"  # a service did not answer or refused for now (S3, MLflow, a locked database)
FAILED = "failed"  # anything else: bad inputs, a bug

# Exception class names and message fragments that mean "the worker was lost", "stopped from outside" or "a service
# was away" (run monitoring's messages for a worker that never started or stopped answering included).
_WORKER_LOST = re.compile(r"taking longer than \d+ seconds to start|run worker .*(failed|not running|exited)|"
                          r"process executing this run is gone|Run execution process for .* (was terminated by "
                          r"signal|unexpectedly exited)", re.I)
_INTERRUPTED = re.compile(r"DagsterExecutionInterruptedError|KeyboardInterrupt|interrupted|SIGTERM|SIGINT", re.I)
_UNREACHABLE = re.compile(
    r"EndpointConnectionError|ConnectionClosedError|ConnectTimeoutError|ReadTimeoutError|ConnectionError|"
    r"ConnectionRefused|ConnectionReset|Could not connect|Connection (was )?(refused|reset|closed|aborted)|"
    r"Max retries exceeded|Temporary failure in name resolution|Name or service not known|timed out|"
    r"WorkFolderBusy|still in use by|ServiceUnavailable|SlowDown|Service Unavailable|database is locked|database table is locked|"
    r"could not connect to server|server closed the connection|API request to .* failed", re.I)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int  # attempts in all, the first included
    first_pause_s: float  # pause before the first retry; doubled for each further one
    max_pause_s: float

    def pause_before(self, attempt: int) -> float:
        """Seconds to wait after the failure of attempt number `attempt - 1` (attempt counts from 1)."""
        scale = float(os.environ.get("VISION_RETRY_PAUSE_SCALE", "1"))  # 0 in tests: retry at once
        return min(self.first_pause_s * 2 ** max(attempt - 2, 0), self.max_pause_s) * scale


POLICIES = {
    WORKER_DIED: RetryPolicy(max_attempts=3, first_pause_s=0, max_pause_s=0),
    INTERRUPTED: RetryPolicy(max_attempts=4, first_pause_s=0, max_pause_s=0),  # an eviction or Ctrl-C: go on at once
    # 1, 2, 4, ... 60 min: an outage of about 4 hours is ridden out
    UNREACHABLE: RetryPolicy(max_attempts=8, first_pause_s=60, max_pause_s=3600),
    FAILED: RetryPolicy(max_attempts=3, first_pause_s=300, max_pause_s=900),
}

WHAT_TO_DO = {
    WORKER_DIED: "its process died every time (memory? see the run's last step); fix the cause, then re-execute "
                 "the run from the UI",
    INTERRUPTED: "it was stopped every time; re-execute the run from the UI when it may run to the end",
    UNREACHABLE: "the service stayed away; check the object store / MLflow / database named in the error, then "
                 "re-execute the run from the UI",
    FAILED: "fix the cause named in the error (a changed input file is tried again by itself), then re-execute the "
            "run from the UI",
}


def failure_kind(errors: list[tuple[str, str]]) -> str:
    """The kind of a failure from its errors as (exception class name, message), causes included."""
    text = " ".join(f"{cls} {message}" for cls, message in errors)
    if _INTERRUPTED.search(text):  # first: a run worker that ended on SIGTERM was stopped, not lost
        return INTERRUPTED
    if _WORKER_LOST.search(text):
        return WORKER_DIED
    if _UNREACHABLE.search(text):
        return UNREACHABLE
    return FAILED

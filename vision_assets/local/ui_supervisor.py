"""`vision-assets ui` keeps `dagster dev` healthy without anyone at the keyboard.

What breaks under `make ui` and what heals it:
- a killed run worker: the retry sensor (defs/retry_sensor.py, every 30 s) fails the run and requests it again;
- a killed daemon or webserver: `dagster dev` then shuts itself down; this supervisor starts it again;
- a killed code server: sensors and automation stop (their ticks fail with DagsterUserCodeUnreachableError, or stop
  coming) until the code location is reloaded. The supervisor watches the retry sensor's ticks through the
  webserver's GraphQL API; when they fail that way or stop, it reloads the location (`reloadRepositoryLocation`),
  and if that does not bring the ticks back, it restarts `dagster dev`.
Restarts are bounded (MAX_RESTARTS per hour) so a broken installation fails instead of looping.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

CODE_LOCATION = "vision_assets"
WATCHED_SENSOR = "retry_sensor"  # ticks every 30 s whenever sensors run at all
CHECK_EVERY_S = 20.0
STALE_TICKS_S = 150.0  # no tick this long (5 intervals) while the webserver answers: sensors have stopped
START_GRACE_S = 180.0  # the code location loads and the daemon starts ticking within this
MAX_RESTARTS = 5  # per hour
UNREACHABLE = ("DagsterUserCodeUnreachableError", "UNAVAILABLE", "failed to connect", "Could not reach user code",
               "StatusCode.UNAVAILABLE", "Connection refused")

TICKS_QUERY = """
query { sensorOrError(sensorSelector: {repositoryLocationName: "%s", repositoryName: "__repository__",
        sensorName: "%s"}) {
  __typename
  ... on Sensor { sensorState { ticks(limit: 1) { status timestamp error { message } } } }
  ... on PythonError { message }
} }"""
LOCATION_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
RELOAD_MUTATION = """
mutation { reloadRepositoryLocation(repositoryLocationName: "%s") { __typename
  ... on WorkspaceLocationEntry { loadStatus locationOrLoadError { __typename ... on PythonError { message } } }
  ... on PythonError { message } } }"""


def graphql(url: str, query: str, timeout: float = 30.0) -> dict:
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())["data"]


def sensors_health(url: str, started: float, now: float) -> str | None:
    """None when sensors tick; otherwise why they do not (the webserver not answering is not judged here)."""
    for entry in graphql(url, LOCATION_QUERY)["workspaceOrError"].get("locationEntries", []):
        error = entry.get("locationOrLoadError") or {}
        if entry["name"] == CODE_LOCATION and error.get("__typename") == "PythonError":
            return f"code location {CODE_LOCATION} failed to load: {error.get('message', '')[:200]}"
    sensor = graphql(url, TICKS_QUERY % (CODE_LOCATION, WATCHED_SENSOR))["sensorOrError"]
    if sensor["__typename"] != "Sensor":
        return f"sensor {WATCHED_SENSOR} unavailable: {sensor.get('message', sensor['__typename'])[:200]}"
    ticks = sensor["sensorState"]["ticks"]
    last = ticks[0] if ticks else None
    # only a failure since the last (re)start or reload counts: an older one was before the cure
    if last and last["status"] == "FAILURE" and last["timestamp"] > started and any(
            m in (last.get("error") or {}).get("message", "") for m in UNREACHABLE):
        return f"{WATCHED_SENSOR} cannot reach the code server: {last['error']['message'][:200]}"
    newest = max(last["timestamp"] if last else 0.0, started + START_GRACE_S - STALE_TICKS_S)
    if now - newest > STALE_TICKS_S:
        return f"{WATCHED_SENSOR} has not ticked for {now - newest:.0f} s"
    return None


@dataclass
class DagsterDevSupervisor:
    command: Sequence[str]
    cwd: str
    env: dict[str, str]
    url: str
    log: Callable[[str], None] = lambda line: print(line, flush=True)
    check_every_s: float = CHECK_EVERY_S
    process: subprocess.Popen | None = None
    restarts: list[float] = field(default_factory=list)
    started: float = 0.0
    reloads_since_healthy: int = 0

    def start(self) -> None:
        # Its own process group: `vision-assets ui` stops the whole group (webserver, daemon, code servers).
        self.process = subprocess.Popen(list(self.command), cwd=self.cwd, env=self.env, start_new_session=True)
        self.started = time.time()
        self.reloads_since_healthy = 0

    def run(self) -> int:
        """Supervise until dagster dev exits for good (KeyboardInterrupt reaches the caller with self.process)."""
        self.start()
        while True:
            try:
                code = self.process.wait(timeout=self.check_every_s)
            except subprocess.TimeoutExpired:
                self.check()
                continue
            if not self._may_restart():
                self.log(f"vision-assets ui: dagster dev exited (code {code}) {MAX_RESTARTS} times within an hour; "
                         "giving up")
                return code or 1
            self.log(f"vision-assets ui: dagster dev exited (code {code}): a child (daemon or webserver) died; "
                     "starting it again")
            self.start()

    def check(self) -> None:
        try:
            problem = sensors_health(self.url, self.started, time.time())
        except (OSError, ValueError, KeyError, TypeError):
            return  # the webserver is starting or busy: judged on a later check
        if problem is None:
            self.reloads_since_healthy = 0
            return
        if self.reloads_since_healthy < 2:
            self.reloads_since_healthy += 1
            self.log(f"vision-assets ui: {problem}; reloading code location {CODE_LOCATION}")
            try:
                graphql(self.url, RELOAD_MUTATION % CODE_LOCATION, timeout=120)
            except (OSError, ValueError, KeyError) as error:
                self.log(f"vision-assets ui: reload failed: {error}")
            self.started = time.time()  # ticks get a fresh grace period after the reload
            return
        if self._may_restart():
            self.log(f"vision-assets ui: {problem} after reloading; restarting dagster dev")
            self.stop()
            self.start()

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        import signal

        self.process.send_signal(signal.SIGINT)  # dagster dev shuts its children down on SIGINT
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _may_restart(self) -> bool:
        now = time.time()
        self.restarts = [t for t in self.restarts if now - t < 3600] + [now]
        return len(self.restarts) <= MAX_RESTARTS

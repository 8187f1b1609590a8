"""Start-up cost, whole process, as ratios against anchors measured in the same run.

    .venv/bin/python benchmarks/startup_benchmark.py [--repeats N] [--no-record]

Each pair is run alternately (A, B, A, B, ...) so background load hits both alike; medians are reported with the
load average before and after, because the machines this runs on are often shared.
  --help                 `vision-assets --help`  vs  `python -c "import av, cv2, numpy"`   target <= 2x
  code location          `python -c "from vision_assets.definitions import defs"` (absolute) target < 1.5 s
                         and against `python -c "import dagster"`, the floor any code location pays
  1 fps sampling         `vision-assets sample VIDEO --strategy fixed_interval --every 1 --out DIR`
                         vs `ffmpeg -i VIDEO -vf fps=1 -q:v 2 DIR/%05d.jpg`, both writing JPEGs:
                         a generated 2-minute 720p H.264 clip (target >= 1.0x) and vtest.avi (target >= 0.9x)
A sampling ratio is ffmpeg's seconds over ours (above 1: we are faster). Records a section in RESULTS.md.

The commands run with Python allowed to write bytecode (PYTHONDONTWRITEBYTECODE removed from their environment),
so the warm-up run leaves the .pyc files an installed package has: the anchors' libraries are installed with
theirs, and without ours every run would recompile the project's modules (0.04 CPU s for `sample`, ~0.15 s for
the code location).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # runnable as a plain script from a checkout

from benchmarks.record import cpu_model, record_section  # noqa: E402
from benchmarks.sampling_benchmark import ffmpeg_exe  # noqa: E402

PYTHON = sys.executable
CLI = str(Path(sys.executable).with_name("vision-assets"))
VTEST = REPO_ROOT.parent / "shared" / "material" / "videos" / "vtest.avi"
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def clip_720p(folder: Path) -> Path:
    """A 2-minute 1280x720 30 fps H.264 clip (ffmpeg's moving test pattern), generated once per run."""
    clip = folder / "testsrc2_720p_120s.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
                    "-t", "120", "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p",
                    str(clip)], check=True)
    return clip


@dataclass(frozen=True)
class Timing:
    walls: tuple[float, ...]  # seconds, start to exit, one per run
    cpus: tuple[float, ...]  # user + system CPU seconds of the process: far less disturbed by other load than wall

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)

    def span(self, kind: str) -> str:
        values = self.walls if kind == "wall" else self.cpus
        return f"{min(values):.2f}-{max(values):.2f}"


def timed(command: list[str], out: Path | None = None) -> tuple[float, float]:
    if out is not None:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def jpegs(out: Path) -> tuple[int, int]:
    """How many JPEGs a run left in `out`, and their mean size in bytes."""
    sizes = [path.stat().st_size for path in out.glob("*.jpg")]
    return len(sizes), (sum(sizes) // len(sizes) if sizes else 0)


def alternate(a: list[str], b: list[str], repeats: int, out: Path | None = None,
              written: dict | None = None) -> tuple[Timing, Timing]:
    """Medians of A and of B, run alternately after one untimed warm-up each (disk cache, .pyc); with `written`,
    what each side's warm-up wrote into `out` (frame count, mean JPEG bytes) is recorded there under "a" / "b"."""
    timed(a, out)
    if written is not None:
        written["a"] = jpegs(out)
    timed(b, out)
    if written is not None:
        written["b"] = jpegs(out)
    runs_a, runs_b = [], []
    for _ in range(repeats):
        runs_a.append(timed(a, out))
        runs_b.append(timed(b, out))
    return tuple(Timing(tuple(w for w, _ in runs), tuple(c for _, c in runs)) for runs in (runs_a, runs_b))


def load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-record", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args(argv)
    load_before = load()
    with tempfile.TemporaryDirectory(prefix="startup_bench_") as tmp:
        work, out = Path(tmp), Path(tmp) / "frames"
        clip = clip_720p(work)
        anchor = [PYTHON, "-c", "import av, cv2, numpy"]
        help_s, anchor_s = alternate([CLI, "--help"], anchor, args.repeats)
        defs_s, dagster_s = alternate([PYTHON, "-c", "from vision_assets.definitions import defs"],
                                      [PYTHON, "-c", "import dagster"], args.repeats)
        sampling, frames_written = {}, {}
        for video in (clip, VTEST):
            written = frames_written[video.name] = {}
            ours = [CLI, "sample", str(video), "--strategy", "fixed_interval", "--every", "1", "--out", str(out)]
            ffmpeg = [ffmpeg_exe(), "-v", "error", "-i", str(video), "-vf", "fps=1", "-q:v", "2", f"{out}/%05d.jpg"]
            sampling[video.name] = alternate(ours, ffmpeg, args.repeats, out, written)
    load_after = load()

    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = [
        ("`vision-assets --help` vs `python -c \"import av, cv2, numpy\"`", help_s, anchor_s,
         lambda a, b: f"{a / b:.2f}x the anchor's time", "<= 2x", lambda a, b: a / b <= 2),
        ("`from vision_assets.definitions import defs` (code location load) vs `import dagster`", defs_s, dagster_s,
         lambda a, b: f"{a:.2f} s ({a / b:.2f}x dagster alone)", "< 1.5 s", lambda a, b: a < 1.5),
    ]
    for name, target in (("testsrc2_720p_120s.mp4", 1.0), (VTEST.name, 0.9)):
        ours_s, ffmpeg_s = sampling[name]
        rows.append((f"`vision-assets sample {name} --every 1` vs `ffmpeg -vf fps=1`", ours_s, ffmpeg_s,
                     lambda a, b: f"{b / a:.2f}x ffmpeg's speed", f">= {target}x",
                     lambda a, b, target=target: b / a >= target))
    lines = []
    for what, ours, anchor_t, result, target, met in rows:
        lines.append(f"| {what} | {ours.wall:.3f} | {anchor_t.wall:.3f} | {result(ours.wall, anchor_t.wall)} | "
                     f"{ours.cpu:.3f} | {anchor_t.cpu:.3f} | {result(ours.cpu, anchor_t.cpu)} | {target} | "
                     f"{'yes' if met(ours.wall, anchor_t.wall) else 'no'} / {'yes' if met(ours.cpu, anchor_t.cpu) else 'no'} |")
    table = "\n".join(lines)
    ranges = "\n".join(f"| {what} | {ours.span('wall')} | {anchor_t.span('wall')} | {ours.span('cpu')} | "
                       f"{anchor_t.span('cpu')} |" for what, ours, anchor_t, *_ in rows)
    written = "; ".join(f"{name}: ours {w['a'][0]} frames of {w['a'][1] / 1000:.0f} kB, ffmpeg {w['b'][0]} of "
                        f"{w['b'][1] / 1000:.0f} kB" for name, w in frames_written.items())
    markdown = f"""## Start-up and whole-process sampling (`startup_benchmark.py`, {stamp})

Machine: {cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; Python {platform.python_version()}.
Load average (1/5/15 min) before: {load_before}; after: {load_after}. Median of {args.repeats} alternated runs each.
Wall is start to exit; CPU is the process's user + system seconds, which other load on the machine disturbs far less
(on a shared machine compare the CPU columns; met = wall / CPU).

| measured (whole process) | ours wall s | anchor wall s | wall result | ours CPU s | anchor CPU s | CPU result | target | met |
|---|---:|---:|---|---:|---:|---|---|---|
{table}

Range (min-max) of the runs behind each median:

| measured | ours wall s | anchor wall s | ours CPU s | anchor CPU s |
|---|---|---|---|---|
{ranges}

JPEGs written (count, mean size): {written}. Both sides write baseline 4:2:0 JPEG: ffmpeg's MJPEG encoder at
`-q:v 2` from yuvj420p, ours OpenCV's libjpeg-turbo at quality 90 from BGR (the pipeline's setting, unchanged);
the mean sizes show how comparable the two qualities are. Ours keeps fewer frames where near-duplicate dropping
(on by default in `sample`, as in the pipeline) removes some; fixed_interval picks the first frame at or after
each second, ffmpeg's fps filter the nearest one, hence one frame more or less at the end.
"""
    print(markdown)
    if not args.no_record:
        record_section("startup_benchmark", markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())

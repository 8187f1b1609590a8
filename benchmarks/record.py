"""benchmarks/RESULTS.md holds one section per benchmark; a run replaces its own section and keeps the others."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = ("# Benchmark results\n\nEach section is written by the script it names (`python benchmarks/<script>.py`), "
          "on the machine and date it states; rerun a script to refresh its section.\n")


def record_section(name: str, markdown: str, path: Path = RESULTS) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    text = path.read_text() if path.exists() else HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    temporary = path.with_suffix(".md.partial")
    temporary.write_text(text)
    temporary.replace(path)

"""Numbers in records: NaN and infinities are not JSON (an undefined metric such as IDP with no prediction, a box
with non-finite corners), so every record, report and command output turns them into null here, in one place."""

from __future__ import annotations

import math


def finite_number(value) -> float | None:
    """A number as a float, or None when it is missing, not a number, NaN or infinite (never compared)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def json_ready(value):
    """`value` with every non-finite float (numpy scalars included) as None, tuples as lists: what a strict JSON
    writer (allow_nan=False) and every other parser accept."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

"""A partition's failed QC gate in one line: the rate, the threshold and the rules (with the classes an
unknown_class rejection named), e.g. `qc_pass_rate 52.9 % < 90 %: unknown_class 1646 (person)`."""

from __future__ import annotations

import pandas as pd

UNKNOWN_CLASS = "unknown_class"


def pass_rate_line(pass_rate: float, threshold: float, labels: int, rule_counts: dict[str, int],
                   rejected: pd.DataFrame | None = None) -> str:
    """The pass rate against its threshold, then the error rules that rejected rows (of `labels`), most rows first."""
    head = f"{pass_rate * 100:.1f} % {'<' if pass_rate < threshold else '>='} {threshold * 100:g} %"
    rules = []
    for rule, count in sorted(rule_counts.items(), key=lambda item: -item[1]):
        if not count or rejected is None or rejected.empty \
                or not rejected["reasons"].str.split(";").map(lambda names, r=rule: r in names).any():
            continue
        text = f"{rule} {count}"
        if rule == UNKNOWN_CLASS:
            hit = rejected[rejected["reasons"].str.split(";").map(lambda names: UNKNOWN_CLASS in names)]
            names = hit["class_name"].value_counts()
            text += " (" + ", ".join(str(name) or "<none>" for name in names.index[:5]) + (", ..." if len(names) > 5 else "") + ")"
        rules.append(text)
    return head + (": " + ", ".join(rules) if rules else "")

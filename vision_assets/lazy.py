"""Package namespaces that import a submodule when one of its names is first used (PEP 562).

A package `__init__` that re-exports from heavy submodules makes importing any light sibling pay for all of them
(`vision_assets.core.training.environment` used to import Ultralytics' dataset code and pandas). With
`lazy_exports`, `from vision_assets.core.training import train_checkpoint` still works, and only that import pays.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, where `exports` maps each public name to its submodule."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> object:
        submodule = exports.get(name)
        if submodule is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{submodule}"), name)
        namespace[name] = value  # the next lookup is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__

"""Benchmarks of the bus against raw Kafka and bare Faust pipelines (``python -m bench`` from the repository root).

The harness lives beside the ``dispatchbus`` package, not in it: it is not in the wheel or the image.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The repository root, the folder that holds this harness."""


def module_command(module: str, *args: str) -> list[str]:
    """argv running one of this harness's modules with this interpreter."""
    return [sys.executable, "-m", module, *args]


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the repository root on PYTHONPATH, so a child finds this harness from any directory."""
    out = dict(env)
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return out

"""Helpers the benchmarks share: children's CPU time, the one-line figures ``run_all.sh``
collects into its closing table, and the SKIP rows of a benchmark whose orchestrator this
interpreter lacks."""

from __future__ import annotations

import importlib.util
import resource
import statistics
import sys


def children_cpu() -> float:
    """User + system CPU seconds of every reaped child (and their reaped descendants) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def figure(key: str, what: str, measured: str, target: str, ok: bool) -> None:
    """Print one figure for the closing table of ``run_all.sh`` (tab-separated, prefixed)."""
    _row(key, what, measured, target, "PASS" if ok else "FAIL")


def _row(key: str, what: str, measured: str, target: str, verdict: str) -> None:
    print(f"FIGURE\t{key}\t{what}\t{measured}\t{target}\t{verdict}")


def best_median(values: list[float]) -> str:
    """The best and the median of millisecond samples: noise only adds, so the best is the cost."""
    return f"{min(values):7.1f} ms best, {statistics.median(values):7.1f} ms median"


def skip_without(module: str, figures: list[tuple[str, str]], target: str, hint: str = "") -> bool:
    """Whether this interpreter lacks ``module`` (an orchestrator); if so, say it, and print a
    SKIP row for each (key, what) figure, so the benchmark can exit 0 with nothing measured."""
    try:
        present = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        present = False
    if present:
        return False
    reason = f"not installed ({module} is not importable by {sys.executable}{hint})"
    print(f"skipped: {reason}")
    for key, what in figures:
        _row(key, what, reason, target, "SKIP")
    return True

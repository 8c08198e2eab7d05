"""Helpers the benchmarks share: children's CPU time, and the one-line figures ``run_all.sh``
collects into its closing table."""

from __future__ import annotations

import importlib.util
import resource


def children_cpu() -> float:
    """User + system CPU seconds of every reaped child (and their reaped descendants) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def figure(key: str, what: str, measured: str, target: str, ok: bool) -> None:
    """Print one figure for the closing table of ``run_all.sh`` (tab-separated, prefixed)."""
    print(f"FIGURE\t{key}\t{what}\t{measured}\t{target}\t{'PASS' if ok else 'FAIL'}")


def importable(module: str) -> bool:
    """Whether this interpreter can import ``module`` (its parent packages are imported to tell)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def not_run(key: str, what: str, reason: str, target: str) -> None:
    """The closing table's row for a figure this interpreter cannot measure (verdict SKIP)."""
    print(f"FIGURE\t{key}\t{what}\t{reason}\t{target}\tSKIP")

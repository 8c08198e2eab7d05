"""Helpers the benchmarks share: children's CPU time, and the one-line figures ``run_all.sh``
collects into its closing table."""

from __future__ import annotations

import resource


def children_cpu() -> float:
    """User + system CPU seconds of every reaped child (and their reaped descendants) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def figure(key: str, what: str, measured: str, target: str, ok: bool) -> None:
    """Print one figure for the closing table of ``run_all.sh`` (tab-separated, prefixed)."""
    print(f"FIGURE\t{key}\t{what}\t{measured}\t{target}\t{'PASS' if ok else 'FAIL'}")

"""Print the matrix: per nox session, the versions pip resolved and the wall time.

    python scripts/nox_report.py REPORTS_DIR [TOTAL_SECONDS]

Reads the ``<session>.json`` files noxfile.py writes; stdlib only (runs in the tools venv).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SHOWN = ("apache-airflow", "prefect", "fastapi", "svcs", "pydantic", "sqlalchemy", "docker",
         "redis", "psycopg")


def main(argv: list[str]) -> int:
    reports = sorted(Path(argv[0]).glob("*.json")) if Path(argv[0]).is_dir() else []
    if not reports:
        print("nox_report: no session reports")
        return 0
    print("\n== test matrix (session: resolved versions; wall time)")
    for path in reports:
        data = json.loads(path.read_text())
        versions = data.get("versions", {})
        shown = ", ".join(f"{k} {versions[k]}" for k in SHOWN if k in versions)
        print(f"  {data['session']:<12} {data['seconds']:>6.0f} s  {shown}")
        for key, value in data.items():
            if key not in ("session", "seconds", "versions"):
                print(f"  {'':<12} {'':>8}  {key}: {value}")
    if len(argv) > 1:
        print(f"  {'total':<12} {float(argv[1]):>6.0f} s")
    print(_totals(Path(argv[0])))
    return 0


def _totals(reports: Path) -> str:
    """One closing line over every session's pytest run (their JUnit XML files), so the
    whole matrix ends the way a single pytest run does: ``N passed, N failed, N skipped``."""
    import xml.etree.ElementTree as ElementTree

    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for path in sorted(reports.glob("*.xml")):
        root = ElementTree.parse(path).getroot()
        for suite in root.iter("testsuite"):
            for key in counts:
                counts[key] += int(suite.get(key, "0"))
    failed = counts["failures"] + counts["errors"]
    passed = counts["tests"] - failed - counts["skipped"]
    return f"{passed} passed, {failed} failed, {counts['skipped']} skipped"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

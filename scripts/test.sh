#!/usr/bin/env bash
# Install what the tests need, then run lint, type checks and every test environment.
#
#   bash scripts/test.sh                 # every nox session (what CI runs)
#   bash scripts/test.sh -s airflow-3.3  # arguments go to nox: one session, `-l` to list...
#
# System packages (PostgreSQL, Redis, a Docker engine, debootstrap) come from Debian via
# scripts/system_deps.sh. A small tools venv (.venv-tools) holds nox; nox gives each
# environment of noxfile.py (core, postgres, containers, workflow, prefect, ray, ray-airflow,
# airflow-3.1, airflow-3.2, airflow-3.3, lint) a fresh venv with outlive installed from its wheel, all
# sharing pip's cache. The Docker engine and the test images are started and built (once) by
# the container tests' own fixtures. Without arguments the sessions run in two lanes side by
# side. At the end it prints what each session resolved and its wall time (.nox/_reports).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/system_deps.sh

export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ ! -x .venv-tools/bin/nox ]; then
    python3 -m venv .venv-tools
    .venv-tools/bin/python -m pip install -q "nox>=2025.2.9"
fi

export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
rm -rf .nox/_reports
started=$SECONDS
status=0
if [ $# -gt 0 ]; then
    .venv-tools/bin/nox "$@" || status=$?
else
    # Two lanes side by side (each session is tagged lane-1 or lane-2 in noxfile.py): the
    # sessions mostly wait on subprocesses and servers, so two fit on two cores. Lane 2's
    # output is printed when both are done.
    mkdir -p .nox
    .venv-tools/bin/nox -t lane-2 >.nox/lane-2.log 2>&1 &
    lane2=$!
    .venv-tools/bin/nox -t lane-1 || status=$?
    wait "$lane2" || status=$?
    echo "== lane 2 (nox -t lane-2)"
    cat .nox/lane-2.log
fi
.venv-tools/bin/python scripts/nox_report.py .nox/_reports "$((SECONDS - started))"
exit "$status"

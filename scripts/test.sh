#!/usr/bin/env bash
# Install everything the tests need, then run lint, type checks and the whole test suite.
#
#   bash scripts/test.sh [extra pytest arguments]
#
# System packages (PostgreSQL, Redis, a Docker engine, debootstrap) come from Debian via
# scripts/system_deps.sh; Python packages go into .venv with every extra. The Docker engine
# and the test images are started and built by the container tests' own fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/system_deps.sh

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -U pip
.venv/bin/python -m pip install -q --disable-pip-version-check \
    --config-settings editable_mode=compat -e ".[all,test]"

export PREFECT_SERVER_ANALYTICS_ENABLED=false
export DO_NOT_TRACK=1

echo "== ruff"
.venv/bin/ruff check plugin_core prefect_ext airflow_ext
echo "== mypy --strict plugin_core"
.venv/bin/mypy plugin_core
echo "== pytest"
exec .venv/bin/python -m pytest -q -ra "$@"

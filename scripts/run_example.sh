#!/usr/bin/env bash
# The main job, on a fresh machine: install outlive, train a tiny model, start a model server
# that outlives this script, wait until it is ACTIVE, print its URL and one prediction, and
# show it in `outlive list`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -U pip
.venv/bin/python -m pip install -q --disable-pip-version-check \
    --config-settings editable_mode=compat -e .

.venv/bin/python examples/deploy_model.py
echo
.venv/bin/outlive list

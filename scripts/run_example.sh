#!/usr/bin/env bash
# The main job, on a fresh machine: install outlive, train a tiny model, start a model server
# that outlives this script, wait until it is ACTIVE, print its URL and one prediction, and
# show it in `outlive list`.
#
# outlive is installed as a user installs it (`pip install .`, no extras) into its own venv,
# .venv-example, so a development venv in .venv is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-example
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
rm -rf build  # setuptools' scratch: a stale build/lib would put deleted modules in the wheel
"$VENV/bin/python" -m pip install -q --disable-pip-version-check .

"$VENV/bin/python" examples/deploy_model.py
echo
"$VENV/bin/outlive" list

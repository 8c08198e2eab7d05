#!/usr/bin/env bash
# Run outlive's benchmarks, one after the other, and summarise PASS/FAIL.
#
#   bench/run_all.sh          # the core four, then every other bench/bench_*.py
#   bench/run_all.sh --core   # the core four only
#
# Benchmarks are noisy: run them on an otherwise idle machine. Each script
# prints its baseline, ours and the ratio from the same run; see bench/README.md.
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
CORE=(bench_import.py bench_start.py bench_readiness_lag.py bench_registry.py)

scripts=("${CORE[@]}")
if [[ "${1:-}" != "--core" ]]; then
    for path in bench/bench_*.py; do
        name="$(basename "$path")"
        [[ " ${CORE[*]} " == *" $name "* ]] || scripts+=("$name")
    done
fi

declare -a summary
status=0
for name in "${scripts[@]}"; do
    echo "=== $name ($(date -u +%H:%M:%S) UTC)"
    if [[ "$name" == bench_container.py ]]; then
        # The container benchmark needs an engine and the base image; both are built locally.
        bash scripts/docker_engine.sh up >/dev/null && "$PY" scripts/docker_images.py --base-only >/dev/null
    fi
    if "$PY" "bench/$name"; then
        summary+=("PASS  $name")
    else
        summary+=("FAIL  $name")
        status=1
    fi
    echo
done
echo "=== summary"
printf '%s\n' "${summary[@]}"
exit "$status"

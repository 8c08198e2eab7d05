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

# The target each script checks (its exit status is the verdict), for the closing table.
declare -A TARGETS=(
    [bench_import.py]="P4: import plugin_core adds <= 25 ms over pydantic, no heavy module"
    [bench_start.py]="P1: CommandService start <= 1.25x bare spawn (issue 13 aims at 1.10x)"
    [bench_readiness_lag.py]="readiness lag median <= 10 ms"
    [bench_registry.py]="find by label <= 5 ms among 10k; P6: status of 200 live <= 150 ms"
    [bench_cli.py]="P10: outlive --help <= 80 ms, outlive list (20 live) <= 150 ms wall"
    [bench_supervisor_memory.py]="P9: <= 1.5 MB USS per service (ours, or the per-host prototype)"
    [bench_container.py]="container start <= 1.15x containers.run"
    [bench_prefect_import.py]="import prefect_ext <= 30 ms over prefect"
    [bench_workflow.py]="workflow service ~1.0x a bare FastAPI endpoint"
)
declare -a summary
status=0
for name in "${scripts[@]}"; do
    echo "=== $name ($(date -u +%H:%M:%S) UTC, load average $(cut -d' ' -f1 /proc/loadavg))"
    if [[ "$name" == bench_container.py ]]; then
        # The container benchmark needs an engine and the base image; both are built locally.
        bash scripts/docker_engine.sh up >/dev/null && "$PY" scripts/docker_images.py --base-only >/dev/null
    fi
    if "$PY" "bench/$name"; then
        summary+=("$(printf 'PASS  %-28s %s' "$name" "${TARGETS[$name]:-see its docstring}")")
    else
        summary+=("$(printf 'FAIL  %-28s %s' "$name" "${TARGETS[$name]:-see its docstring}")")
        status=1
    fi
    echo
done
echo "=== summary (load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%s\n' "${summary[@]}"
exit "$status"

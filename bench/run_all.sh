#!/usr/bin/env bash
# Run outlive's benchmarks, one after the other, and close with one table of every figure.
#
#   bench/run_all.sh          # the core four, then every other bench/bench_*.py
#   bench/run_all.sh --core   # the core four only
#
# Benchmarks are noisy: run them on an otherwise idle machine. Each script
# prints its baseline, ours and the ratio from the same run; see bench/README.md.
# Each figure a script prints as a FIGURE line (bench/_measure.py) becomes a row of the
# closing table; a script without one gets a row with its verdict and target.
#
# bench_airflow_import.py needs Airflow 3, which .venv (Prefect's environment: the two do not
# share one) lacks: it runs with PYTHON_AIRFLOW, else the airflow-3.3 nox session's venv when
# it exists (`nox -s airflow-3.3` leaves it), else with .venv, where it reports "not installed".
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
PY_AIRFLOW="${PYTHON_AIRFLOW:-}"
if [[ -z "$PY_AIRFLOW" && -x .nox/airflow-3-3/bin/python ]]; then
    PY_AIRFLOW=.nox/airflow-3-3/bin/python
fi
CORE=(bench_import.py bench_start.py bench_readiness_lag.py bench_registry.py)
if [[ -n "${PYTHONDONTWRITEBYTECODE:-}" ]]; then
    # Users' interpreters cache bytecode; without it every process recompiles what it imports
    # (tens of milliseconds) and every start-up figure measures the compiler.
    echo "note: PYTHONDONTWRITEBYTECODE unset for the benchmarks (bytecode cached as users have it)"
    unset PYTHONDONTWRITEBYTECODE
fi

scripts=("${CORE[@]}")
if [[ "${1:-}" != "--core" ]]; then
    for path in bench/bench_*.py; do
        name="$(basename "$path")"
        [[ " ${CORE[*]} " == *" $name "* ]] || scripts+=("$name")
    done
fi

# The target each script checks (its exit status is the verdict), for scripts without FIGURE lines.
declare -A TARGETS=(
    [bench_container.py]="container start <= 1.15x containers.run"
    [bench_workflow.py]="workflow service ~1.0x a bare FastAPI endpoint"
    [bench_ray.py]="Ray Serve app start <= 1.15x the bare REST calls"
)
figures="$(mktemp)"
trap 'rm -f "$figures"' EXIT
status=0
for name in "${scripts[@]}"; do
    echo "=== $name ($(date -u +%H:%M:%S) UTC, load average $(cut -d' ' -f1 /proc/loadavg))"
    if [[ "$name" == bench_container.py ]]; then
        # The container benchmark needs an engine and the base image; both are built locally.
        bash scripts/docker_engine.sh up >/dev/null && "$PY" scripts/docker_images.py --base-only >/dev/null
    fi
    python="$PY"
    [[ "$name" == bench_airflow_import.py && -n "$PY_AIRFLOW" ]] && python="$PY_AIRFLOW"
    [[ "$python" == "$PY" ]] || echo "(run with $python)"
    out="$(mktemp)"
    "$python" "bench/$name" | tee "$out"
    code="${PIPESTATUS[0]}"
    verdict=PASS
    [[ "$code" == 0 ]] || { verdict=FAIL; status=1; }
    if grep -q '^FIGURE' "$out"; then
        grep '^FIGURE' "$out" | cut -f2- | sed "s|^|$name\t|" >>"$figures"
    else
        printf '%s\t-\t%s\t(see above)\t-\t%s\n' "$name" "${TARGETS[$name]:-see its docstring}" "$verdict" >>"$figures"
    fi
    rm -f "$out"
    echo
done
echo "=== summary (load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
{
    printf 'SCRIPT\tFIGURE\tWHAT\tMEASURED\tTARGET\tVERDICT\n'
    cat "$figures"
} | column -t -s $'\t'
exit "$status"

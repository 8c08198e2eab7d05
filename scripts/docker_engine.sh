#!/usr/bin/env bash
# Make sure a Docker engine answers on the local socket, starting one if needed.
#
#   scripts/docker_engine.sh [up]   install (root, apt) and start dockerd if needed; idempotent
#   scripts/docker_engine.sh down   stop the dockerd that `up` started (never a foreign one)
#   scripts/docker_engine.sh status exit 0 when the engine answers
#
# Why a script: test machines and CI run no engine until one is started, and have
# no network except Debian and PyPI mirrors.  `up` prints the engine version on its
# last line; on failure it exits non-zero with the reason and the log's tail.
#
# Environment: OUTLIVE_DOCKER_SOCK (default /var/run/docker.sock),
# OUTLIVE_DOCKERD_LOG (default /tmp/outlive-dockerd.log), OUTLIVE_DOCKERD_WAIT (seconds, 60).
set -euo pipefail

SOCK="${OUTLIVE_DOCKER_SOCK:-/var/run/docker.sock}"
LOG="${OUTLIVE_DOCKERD_LOG:-/tmp/outlive-dockerd.log}"
WAIT="${OUTLIVE_DOCKERD_WAIT:-60}"
# Our own pidfile, so `down` only ever stops the daemon we started.
PIDFILE="${OUTLIVE_DOCKERD_PIDFILE:-/var/run/outlive-dockerd.pid}"

die() { echo "docker_engine: $*" >&2; exit 1; }

engine_answers() {
    # /_ping is the cheapest call that proves the API (not just the socket file) is up.
    [ -S "$SOCK" ] && curl -fsS --max-time 2 --unix-socket "$SOCK" http://docker/_ping >/dev/null 2>&1
}

engine_version() {
    curl -fsS --max-time 5 --unix-socket "$SOCK" http://docker/version \
        | python3 -c 'import json,sys; v=json.load(sys.stdin); print("docker engine", v["Version"], "api", v["ApiVersion"])'
}

ensure_installed() {
    local need=()
    command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
    command -v curl >/dev/null 2>&1 || need+=(curl)  # how we ask the socket whether it answers
    [ ${#need[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "${need[*]} missing and we are not root: install ${need[*]} first"
    command -v apt-get >/dev/null 2>&1 || die "${need[*]} missing and apt-get is unavailable"
    echo "docker_engine: installing ${need[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -q "${need[@]}" >&2
    command -v dockerd >/dev/null 2>&1 || die "apt-get installed docker.io but dockerd is still missing"
}

iptables_works() {
    command -v iptables >/dev/null 2>&1 && iptables -t nat -L -n >/dev/null 2>&1
}

# Start dockerd with the given extra flags; return 0 once it answers, 1 if it died.
start_dockerd() {
    local flags=("$@")
    if ! iptables_works; then
        # Without netfilter, published ports still work through docker-proxy.
        flags+=(--iptables=false --ip-masq=false)
    fi
    echo "docker_engine: starting dockerd ${flags[*]}" >&2
    echo "=== $(date -u +%FT%TZ) dockerd ${flags[*]}" >>"$LOG"
    setsid dockerd --host "unix://$SOCK" --pidfile /var/run/docker.pid "${flags[@]}" \
        >>"$LOG" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$PIDFILE"
    local deadline=$((SECONDS + WAIT))
    while [ "$SECONDS" -lt "$deadline" ]; do
        engine_answers && return 0
        kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; return 1; }
        sleep 0.1
    done
    die "dockerd (pid $pid) did not answer on $SOCK within ${WAIT}s; see $LOG"
}

up() {
    command -v curl >/dev/null 2>&1 || ensure_installed
    if engine_answers; then
        engine_version
        return 0
    fi
    ensure_installed
    [ "$(id -u)" = 0 ] || die "no engine answers on $SOCK and only root can start dockerd"
    # A stale pidfile from a crashed daemon makes dockerd refuse to start.
    if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    # overlay2 is the fast default; some kernels or nested filesystems refuse it, vfs always works.
    if ! start_dockerd; then
        echo "docker_engine: dockerd exited at start; retrying with --storage-driver=vfs" >&2
        start_dockerd --storage-driver=vfs \
            || { tail -n 20 "$LOG" >&2; die "dockerd failed to start; see $LOG"; }
    fi
    engine_version
}

down() {
    [ -f "$PIDFILE" ] || { echo "docker_engine: no dockerd started by us"; return 0; }
    local pid
    pid="$(cat "$PIDFILE")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        # dockerd stops its containers (10 s each at most) and containerd; give it time.
        for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$PIDFILE"
    echo "docker_engine: stopped dockerd (pid $pid)"
}

case "${1:-up}" in
    up) up ;;
    down) down ;;
    status) engine_answers && engine_version ;;
    *) die "usage: $0 [up|down|status]" ;;
esac

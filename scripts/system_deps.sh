#!/usr/bin/env bash
# Install the Debian packages the test suite uses, when running as root and they are missing:
# a PostgreSQL server (shared-registry tests), redis-server (workflow queue tests), a Docker
# engine and debootstrap (container tests, images built locally), curl (engine health checks).
# Idempotent and quiet when everything is present; `apt-get update` runs only if needed.
set -euo pipefail

need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v runuser >/dev/null 2>&1 || need+=(util-linux)

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "system_deps: missing ${need[*]}; install them (as root: apt-get install ${need[*]})." >&2
    echo "system_deps: tests that need them will skip with a reason (but fail when CI=true)." >&2
    exit 0
fi
echo "system_deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts a cluster and a redis on install; the tests start their own on free ports.
service postgresql stop >/dev/null 2>&1 || true
service redis-server stop >/dev/null 2>&1 || true

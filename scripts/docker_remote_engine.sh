#!/usr/bin/env bash
# A second, independent Docker engine listening on TCP, to test DOCKER_HOST=tcp://... .
#
#   scripts/docker_remote_engine.sh up   DIR [ADDR]   start it; prints the client settings
#   scripts/docker_remote_engine.sh down DIR          stop it and remove its containers' state
#
# `up` prints KEY=VALUE lines to export: DOCKER_HOST=tcp://ADDR and, with OUTLIVE_REMOTE_TLS=1,
# DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH=DIR/tls (a throwaway CA, a server certificate for
# ADDR's IP and a client certificate, made with openssl), as a real remote engine would need.
#
# With OUTLIVE_REMOTE_NETNS=NAME the engine runs in a network namespace of its own, created
# here and deleted by `down`: it is then reached over a veth pair at ADDR, the namespace's
# end (OUTLIVE_REMOTE_NETNS_CIDR, default 198.18.77.2/30, gives it; the host's end takes the
# other address of that /30).  That is an engine on "another machine": its loopback is not
# ours, and the ports it publishes answer only on ADDR.  Nothing listens on any address of
# the host but loopback.
#
# DIR holds everything the engine owns (data root, exec root, pidfile, unix socket, log), so
# it shares nothing with the main engine.  ADDR defaults to 127.0.0.1:23750.  In the host's
# namespace it gets its own bridge (outlive-br1, 172.31.250.1/24) because docker0 belongs to
# the main engine, and it leaves iptables alone so the two engines never fight over the
# DOCKER chains; published ports work through docker-proxy.  Root only.
set -euo pipefail

die() { echo "docker_remote_engine: $*" >&2; exit 1; }

ACTION="${1:-}"
DIR="${2:-}"
ADDR="${3:-127.0.0.1:23750}"
BRIDGE="${OUTLIVE_REMOTE_BRIDGE:-outlive-br1}"
BRIDGE_CIDR="${OUTLIVE_REMOTE_BRIDGE_CIDR:-172.31.250.1/24}"
WAIT="${OUTLIVE_DOCKERD_WAIT:-60}"
[ -n "$DIR" ] || die "usage: $0 up|down DIR [ADDR]"

TLS="${OUTLIVE_REMOTE_TLS:-0}"
NETNS="${OUTLIVE_REMOTE_NETNS:-}"
NETNS_CIDR="${OUTLIVE_REMOTE_NETNS_CIDR:-198.18.77.2/30}"

make_certs() {
    local tls="$DIR/tls" ip="${ADDR%:*}"
    mkdir -p "$tls"
    (
        cd "$tls"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=outlive test CA" \
            -keyout ca-key.pem -out ca.pem
        openssl req -newkey rsa:2048 -nodes -subj "/CN=$ip" -keyout server-key.pem -out server.csr
        printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$ip" >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
            -extfile server.ext -out server-cert.pem
        openssl req -newkey rsa:2048 -nodes -subj "/CN=client" -keyout key.pem -out client.csr
        printf 'extendedKeyUsage=clientAuth\n' >client.ext
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
            -extfile client.ext -out cert.pem
    ) >/dev/null 2>&1 || die "openssl could not make the TLS certificates"
}

print_settings() {
    echo "DOCKER_HOST=tcp://$ADDR"
    echo "OUTLIVE_REMOTE_SOCKET=unix://$DIR/docker.sock"
    if [ "$TLS" = 1 ]; then
        echo "DOCKER_TLS_VERIFY=1"
        echo "DOCKER_CERT_PATH=$DIR/tls"
    fi
}

engine_answers() {
    if [ "$TLS" = 1 ]; then
        curl -fsS --max-time 2 --cacert "$DIR/tls/ca.pem" --cert "$DIR/tls/cert.pem" \
            --key "$DIR/tls/key.pem" "https://$ADDR/_ping" >/dev/null 2>&1
    else
        curl -fsS --max-time 2 "http://$ADDR/_ping" >/dev/null 2>&1
    fi
}

ensure_bridge() {
    ip link show "$BRIDGE" >/dev/null 2>&1 && return 0
    ip link add name "$BRIDGE" type bridge
    ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
    ip link set "$BRIDGE" up
}

# The host end of the veth pair: the other usable address of the namespace's /30.
host_end_cidr() {
    python3 -c 'import ipaddress, sys
net = ipaddress.ip_interface(sys.argv[1]).network
ours = ipaddress.ip_interface(sys.argv[1]).ip
print(f"{next(h for h in net.hosts() if h != ours)}/{net.prefixlen}")' "$NETNS_CIDR"
}

make_netns() {
    [ "${ADDR%:*}" = "${NETNS_CIDR%/*}" ] || die "ADDR $ADDR must be the namespace's address ${NETNS_CIDR%/*}"
    ip netns add "$NETNS"
    ip link add "${NETNS}h" type veth peer name "${NETNS}n"
    ip link set "${NETNS}n" netns "$NETNS"
    ip addr add "$(host_end_cidr)" dev "${NETNS}h"
    ip link set "${NETNS}h" up
    ip netns exec "$NETNS" ip link set lo up
    ip netns exec "$NETNS" ip addr add "$NETNS_CIDR" dev "${NETNS}n"
    ip netns exec "$NETNS" ip link set "${NETNS}n" up
}

up() {
    [ "$(id -u)" = 0 ] || die "starting a second dockerd needs root"
    command -v dockerd >/dev/null 2>&1 || die "dockerd is not installed (run scripts/docker_engine.sh first)"
    mkdir -p "$DIR/data" "$DIR/exec"
    if [ -f "$DIR/dockerd.pid" ] && kill -0 "$(cat "$DIR/dockerd.pid")" 2>/dev/null; then
        print_settings
        return 0
    fi
    local where=() net_flags=()
    if [ -n "$NETNS" ]; then
        # docker0 inside the namespace is its own: no clash with the main engine's.  nsenter,
        # not `ip netns exec`, which also remounts /sys and so hides the cgroup hierarchy.
        make_netns
        where=(nsenter "--net=/run/netns/$NETNS")
    else
        ensure_bridge
        net_flags=(--bridge "$BRIDGE")
    fi
    local tls_flags=()
    if [ "$TLS" = 1 ]; then
        make_certs
        tls_flags=(--tlsverify --tlscacert "$DIR/tls/ca.pem" --tlscert "$DIR/tls/server-cert.pem"
                   --tlskey "$DIR/tls/server-key.pem")
    fi
    setsid "${where[@]}" dockerd "${tls_flags[@]}" \
        --host "unix://$DIR/docker.sock" --host "tcp://$ADDR" \
        --data-root "$DIR/data" --exec-root "$DIR/exec" --pidfile "$DIR/dockerd.pid" \
        "${net_flags[@]}" --iptables=false --ip-masq=false --ip6tables=false \
        >>"$DIR/dockerd.log" 2>&1 </dev/null &
    local pid=$!
    local deadline=$((SECONDS + WAIT))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if engine_answers; then
            print_settings
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$DIR/dockerd.log" >&2; die "dockerd exited at start"; }
        sleep 0.1
    done
    kill -TERM "$pid" 2>/dev/null || true
    die "dockerd did not answer on tcp://$ADDR within ${WAIT}s; see $DIR/dockerd.log"
}

down() {
    if [ -f "$DIR/dockerd.pid" ]; then
        local pid
        pid="$(cat "$DIR/dockerd.pid")"
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        fi
    fi
    # overlay mounts under the data root must go before the directory can be removed.
    grep -o " $DIR/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    if [ -n "$NETNS" ]; then
        # Deleting the namespace deletes its veth end, and with it the host's end.
        ip netns delete "$NETNS" 2>/dev/null || true
    else
        ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE" || true
    fi
    rm -rf "$DIR"
    echo "docker_remote_engine: stopped"
}

case "$ACTION" in
    up) up ;;
    down) down ;;
    *) die "usage: $0 up|down DIR [ADDR]" ;;
esac

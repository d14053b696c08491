#!/usr/bin/env bash
# What an idle ssh session to an instance sends with the keepalives `azml-ssh config` writes
# (ServerAliveInterval 15, ServerAliveCountMax 4): `ssh -N` through azml-ssh's relay (and with ProxyUseFdpass)
# to a throwaway sshd, with a counting TCP relay in front of sshd; bytes and chunks (≈ SSH packets) per minute,
# each way, after the first 10 s (key exchange and login).
#
#   contrib/bench/keepalive.sh [SECONDS]        (default 120)
#
# Needs: a Rust toolchain, OpenSSH client and server, python3. Everything runs on 127.0.0.1; not part of the
# test suite.
set -euo pipefail
umask 077
SECONDS_IDLE=${1:-120}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/contrib/bench"
# shellcheck source=contrib/lib.sh
. "$ROOT/contrib/lib.sh"
require python3 /usr/sbin/sshd ssh ssh-keygen
build_release
make_work
private_world keepalive-token

SSHD_PORT=$(free_port)
start_sshd "$SSHD_PORT"
ID="/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/bench/providers/Microsoft.MachineLearningServices/workspaces/bench/computes/idle"

measure() { # NAME EXTRA_SSH_OPTIONS PROXY_FLAGS
    local log="$WORK/$1.log"
    : > "$log"
    python3 "$HERE/count_relay.py" "$SSHD_PORT" "$log" > "$WORK/$1.port" &
    PIDS+=($!)
    wait_for_file "$WORK/$1.port" "the counting relay"
    direct_entry "$ID" "$(cat "$WORK/$1.port")"
    { ssh_client_config ka; cat <<CFG
Host ka
    ServerAliveInterval 15
    ServerAliveCountMax 4
    $2
    ProxyCommand "$BIN" proxy $3 $ID
CFG
    } > "$WORK/ssh_config"
    ssh -F "$WORK/ssh_config" -N ka &
    local ssh_pid=$!
    sleep "$SECONDS_IDLE"
    kill "$ssh_pid"; wait "$ssh_pid" 2>/dev/null || true
    python3 - "$log" "$SECONDS_IDLE" "$1" <<'PY'
import sys
lines = [l.split() for l in open(sys.argv[1])]
idle = float(sys.argv[2]) - 10
for direction in ("up", "down"):
    chunks = [int(n) for t, d, n in lines if d == direction and 10 <= float(t) < 10 + idle]
    per_min = 60 / idle
    sizes = sorted(set(chunks))
    print(f"{sys.argv[3]:8} {direction:4}  {sum(chunks) * per_min:6.0f} B/min  {len(chunks) * per_min:4.1f} packets/min  sizes {sizes}")
PY
}

echo "idle ssh -N for ${SECONDS_IDLE} s (the first 10 s left out):"
measure relay "" ""
measure fdpass "ProxyUseFdpass yes" "--fdpass"

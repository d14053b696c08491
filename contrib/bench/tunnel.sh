#!/usr/bin/env bash
# The Azure ML tunnel, measured: throughput each way and CPU per GiB of
#   (a) azml-ssh through a local TLS WebSocket gateway (the test suite's, in Rust, so the gateway is not the limit),
#   (b) a connector written the way `az ml compute connect-ssh` is (Python `websockets`, 4096-byte reads, one
#       binary message per read) through the same gateway,
#   (c) azml-ssh's direct relay, the ceiling;
# and `ssh HOST true` through the tunnel, warm (cached endpoint and token) and cold (a fake `az` that takes 0.8 s,
# an ARM lookup), next to the direct warm path.
#
#   contrib/bench/tunnel.sh [SIZE_MIB]        (default 512)
#
# Needs: a Rust toolchain, OpenSSH client and server, hyperfine, GNU time, python3 with venv (pip fetches
# `websockets`). Everything runs on 127.0.0.1; not part of the test suite.
set -euo pipefail
umask 077
SIZE_MIB=${1:-512}
RUNS=${RUNS:-3}
SSH_RUNS=${SSH_RUNS:-20}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/contrib/bench"
# shellcheck source=contrib/lib.sh
. "$ROOT/contrib/lib.sh"
require hyperfine python3 /usr/bin/time /usr/sbin/sshd ssh ssh-keygen
build_release bench_gateway
make_work

python3 -m venv "$WORK/py" && "$WORK/py/bin/pip" install -q websockets
PY="$WORK/py/bin/python"

TOKEN=bench-token
private_world "$TOKEN"
echo 0 > "$WORK/az-delay"

BYTES=$((SIZE_MIB * 1024 * 1024))
start_server sinkn "$BYTES"; SINK=$SERVER_PORT
start_server source "$BYTES"; SOURCE=$SERVER_PORT

# The "instance": sshd with its own host key.
SSHD_PORT=$(free_port)
start_sshd "$SSHD_PORT"

mkfifo "$WORK/control"
"$TARGET/release/examples/bench_gateway" "$TOKEN" "$WORK" "$SSHD_PORT" "$SINK" "$SOURCE" < "$WORK/control" > "$WORK/gw.out" &
GW_PID=$!
PIDS+=($GW_PID)
exec 3>"$WORK/control"
for _ in $(seq 200); do [ "$(grep -c '^gateway' "$WORK/gw.out" 2>/dev/null)" = 3 ] && break; sleep 0.05; done
[ "$(grep -c '^gateway' "$WORK/gw.out")" = 3 ] || { echo "bench: the gateway did not start" >&2; exit 1; }
ARM=$(sed -n 's/^arm //p' "$WORK/gw.out")
mapfile -t GW < <(sed -n 's/^gateway //p' "$WORK/gw.out")
export AZML_SSH_ARM_ENDPOINT="$ARM" SSL_CERT_FILE="$WORK/test-ca.pem" AZML_SSH_GATEWAY_DOMAINS=localhost

ID_OF() { echo "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/bench/providers/Microsoft.MachineLearningServices/workspaces/bench/computes/$1"; }
tunnel_entry "$(ID_OF tsink)" "${GW[1]}"; tunnel_entry "$(ID_OF tsource)" "${GW[2]}"
direct_entry "$(ID_OF dsink)" "$SINK"; direct_entry "$(ID_OF dsource)" "$SOURCE"
"$BIN" status "$(ID_OF ci1)" > /dev/null   # signs in once: the token is cached from here on

relay_cmd() { # tool direction
    local gw_port
    case $1 in
        azml-tunnel) echo "$BIN proxy $(ID_OF "t$2")" ;;
        azml-direct) echo "$BIN proxy $(ID_OF "d$2")" ;;
        cli-style)
            gw_port=$([ "$2" = sink ] && echo "${GW[1]}" || echo "${GW[2]}")
            echo "$PY $HERE/cli_connector.py wss://localhost:$gw_port/nbip/v1.0/ws-tcp/port/22 $TOKEN $SSL_CERT_FILE" ;;
    esac
}
measure() { # direction tool; median "elapsed user sys" of RUNS runs into $WORK/result
    : > "$WORK/results"
    for _ in $(seq "$RUNS"); do
        if [ "$1" = up ]; then
            head -c "$BYTES" /dev/zero | /usr/bin/time -f "%e %U %S" -o "$WORK/t" $(relay_cmd "$2" sink) > /dev/null
        else
            /usr/bin/time -f "%e %U %S" -o "$WORK/t" $(relay_cmd "$2" source) < /dev/null | wc -c > "$WORK/bytes"
            [ "$(cat "$WORK/bytes")" = "$BYTES" ] || { echo "bench: $2 delivered $(cat "$WORK/bytes") of $BYTES bytes" >&2; exit 1; }
        fi
        tail -n 1 "$WORK/t" >> "$WORK/results"
    done
    sort -n "$WORK/results" | sed -n "$(( (RUNS + 1) / 2 ))p" > "$WORK/result"
}

echo "## azml-ssh tunnel benchmark — $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r), ${SIZE_MIB} MiB each way, median of $RUNS"
echo
echo "| direction | route | MB/s | CPU s/GiB | vs CLI-style | vs direct | CPU vs direct |"
echo "|---|---|---|---|---|---|---|"
for dir in up down; do
    declare -A mbs cpu
    for tool in azml-direct cli-style azml-tunnel; do
        measure "$dir" "$tool"
        read -r elapsed user sys < "$WORK/result"
        mbs[$tool]=$(python3 -c "print(round($SIZE_MIB*1.048576/max($elapsed,0.01)))")
        cpu[$tool]=$(python3 -c "print(round(($user+$sys)/($SIZE_MIB/1024),3))")
    done
    label=$([ "$dir" = up ] && echo "stdin→gateway" || echo "gateway→stdout")
    for tool in azml-direct cli-style azml-tunnel; do
        echo "| $label | $tool | ${mbs[$tool]} | ${cpu[$tool]} | $(python3 -c "print(round(${mbs[$tool]}/${mbs[cli-style]},1))") | $(python3 -c "print(round(${mbs[$tool]}/${mbs[azml-direct]},2))") | $(python3 -c "d=${cpu[azml-direct]}; print(round(${cpu[$tool]}/d,2) if d else 'n/a')") |"
    done
done

# ssh HOST true: direct warm, tunnel warm, tunnel cold (no endpoint, no token, az takes 0.8 s).
{
    ssh_client_config azmlci1
    cat <<CFG
Host direct
    ProxyCommand $BIN proxy $(ID_OF dsshd)
Host tunnel
    ProxyCommand $BIN proxy $(ID_OF ci1)
CFG
} > "$WORK/ssh_config"
direct_entry "$(ID_OF dsshd)" "$SSHD_PORT"
tunnel_entry "$(ID_OF ci1)" "${GW[0]}"
calls_before=$(wc -l < "$WORK/az.log")
hyperfine -N --warmup 3 --runs "$SSH_RUNS" --export-json "$WORK/warm.json" \
    "ssh -F $WORK/ssh_config direct true" "ssh -F $WORK/ssh_config tunnel true" > /dev/null 2>&1
calls_warm=$(( $(wc -l < "$WORK/az.log") - calls_before ))
echo 0.8 > "$WORK/az-delay"
hyperfine --runs "$((SSH_RUNS / 2))" --export-json "$WORK/cold.json" \
    --prepare "rm -rf $XDG_CACHE_HOME/azml-ssh/endpoints/$(printf %s "$(ID_OF ci1 | tr 'A-Z' 'a-z')" | sha256sum | cut -d' ' -f1).json $XDG_CACHE_HOME/azml-ssh/tokens.json" \
    "ssh -F $WORK/ssh_config tunnel true" > /dev/null 2>&1
exec 3>&-
wait "$GW_PID" 2>/dev/null || true
echo
echo "### \`ssh HOST true\` wall time"
echo
echo "| route | mean ms | ± ms |"
echo "|---|---|---|"
python3 - "$WORK/warm.json" "$WORK/cold.json" <<'PY'
import json, sys
warm = json.load(open(sys.argv[1]))["results"]
cold = json.load(open(sys.argv[2]))["results"]
for r, name in zip(warm + cold, ["direct, warm", "tunnel, warm", "tunnel, cold (az 0.8 s + ARM)"]):
    print(f"| {name} | {r['mean']*1000:.1f} | {(r['stddev'] or 0)*1000:.1f} |")
PY
echo
echo "Warm tunnel connections ($((SSH_RUNS + 3)) of them): $calls_warm \`az\` calls; ARM requests in the whole run: $(sed -n 's/^requests //p' "$WORK/gw.out")."

#!/usr/bin/env bash
# azml-ssh benchmarks, each reported as a ratio against reference tools measured in the same run.
#
#   contrib/bench/run.sh [SIZE_MIB]        (default 2048: 2 GiB each way)
#
# Needs: a Rust toolchain, OpenSSH client and server, socat, netcat-openbsd, hyperfine, GNU time, python3.
# On Debian: apt-get install -y openssh-server openssh-client socat netcat-openbsd hyperfine time python3
# Everything runs on 127.0.0.1; nothing here talks to Azure. Not part of the test suite.
set -euo pipefail
# azml-ssh trusts only private cache files of its user (see docs/security.md).
umask 077
SIZE_MIB=${1:-2048}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=contrib/lib.sh
. "$ROOT/contrib/lib.sh"
require socat nc hyperfine python3 /usr/bin/time /usr/sbin/sshd ssh ssh-keygen
build_release demo_arm
make_work
export XDG_CACHE_HOME="$WORK/cache"
ID=/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/bench/providers/Microsoft.MachineLearningServices/workspaces/bench/computes/bench

# A warm endpoint cache entry: the proxy connects to 127.0.0.1:$1 with no Azure call at all.
warm_cache() { direct_entry "$ID" "$1"; }

relay_cmd() { # tool port
    case $1 in
        azml-ssh) echo "$BIN proxy $ID" ;;
        socat) echo "socat -b 262144 -t 3600 - TCP:127.0.0.1:$2" ;;
        nc) echo "nc -N 127.0.0.1 $2" ;;
    esac
}

# Median (by elapsed time) of RUNS runs, as "elapsed user sys maxrss_kib" in $WORK/result.
measure() { # direction tool
    local dir=$1 tool=$2
    : > "$WORK/results"
    for _ in $(seq "$RUNS"); do
        if [ "$dir" = up ]; then
            start_server sink
            warm_cache "$SERVER_PORT"
            head -c "${SIZE_MIB}M" /dev/zero | /usr/bin/time -f "%e %U %S %M" -o "$WORK/t" $(relay_cmd "$tool" "$SERVER_PORT") > /dev/null
        else
            start_server source $((SIZE_MIB * 1024 * 1024))
            warm_cache "$SERVER_PORT"
            /usr/bin/time -f "%e %U %S %M" -o "$WORK/t" $(relay_cmd "$tool" "$SERVER_PORT") < /dev/null | cat > /dev/null
        fi
        tail -n 1 "$WORK/t" >> "$WORK/results"
        kill "$SERVER_PID" 2>/dev/null || true
    done
    sort -n "$WORK/results" | sed -n "$(( (RUNS + 1) / 2 ))p" > "$WORK/result"
}

echo "## azml-ssh benchmark — $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r), size ${SIZE_MIB} MiB, median of $RUNS"
echo
echo "### Relay throughput (loopback, stdin/stdout are pipes)"
echo
echo "| direction | tool | MB/s | CPU s/GiB | peak RSS MiB | MB/s vs socat | CPU vs socat |"
echo "|---|---|---|---|---|---|---|"
for dir in up down; do
    declare -A mbs cpu
    for tool in socat nc azml-ssh; do
        measure "$dir" "$tool"
        read -r elapsed user sys rss < "$WORK/result"
        mbs[$tool]=$(python3 -c "print(round($SIZE_MIB*1.048576/max($elapsed,0.01)))")
        cpu[$tool]=$(python3 -c "print(round(($user+$sys)/($SIZE_MIB/1024),3))")
        ratio=$(python3 -c "print(round(${mbs[$tool]}/${mbs[socat]},2))")
        cpuratio=$(python3 -c "s=${cpu[socat]}; print(round(${cpu[$tool]}/s,2) if s else 'n/a')")
        label=$([ "$dir" = up ] && echo "stdin→tcp" || echo "tcp→stdout")
        echo "| $label | $tool | ${mbs[$tool]} | ${cpu[$tool]} | $((rss / 1024)) | $ratio | $cpuratio |"
    done
done

# --- proxy start to connected (warm cache): the process with empty stdin against a listening sink ------------
start_server sink
warm_cache "$SERVER_PORT"
hyperfine -N --warmup 5 --runs "${START_RUNS:-200}" --export-json "$WORK/start.json" \
    "sh -c 'exec nc -N 127.0.0.1 $SERVER_PORT </dev/null'" "sh -c 'exec $BIN proxy $ID </dev/null'" > /dev/null 2>&1
echo
echo "### Process start → connected → exit (warm cache, empty stdin)"
echo
echo "| tool | mean ms | ± ms | vs nc |"
echo "|---|---|---|---|"
python3 - "$WORK/start.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
nc = results[0]["mean"]
for r, name in zip(results, ["nc -N", "azml-ssh proxy"]):
    print(f"| {name} | {r['mean']*1000:.2f} | {(r['stddev'] or 0)*1000:.2f} | {r['mean']/nc:.2f} |")
PY
kill "$SERVER_PID" 2>/dev/null || true

# --- ssh wall time -----------------------------------------------------------------------------------------------
SSH_PORT=$(free_port)
start_sshd "$SSH_PORT"
warm_cache "$SSH_PORT"
{
    ssh_client_config bench
    cat <<CFG
Host azml-relay
    ProxyCommand $BIN proxy $ID
Host azml-fdpass
    ProxyUseFdpass yes
    ProxyCommand $BIN proxy --fdpass $ID
Host nc
    HostName 127.0.0.1
    Port $SSH_PORT
    ProxyCommand nc %h %p
Host plain
    HostName 127.0.0.1
    Port $SSH_PORT
CFG
} > "$WORK/ssh_config"
hyperfine -N --warmup 3 --runs "${SSH_RUNS:-40}" --export-json "$WORK/ssh.json" \
    "ssh -F $WORK/ssh_config plain true" "ssh -F $WORK/ssh_config nc true" \
    "ssh -F $WORK/ssh_config azml-relay true" "ssh -F $WORK/ssh_config azml-fdpass true" > /dev/null 2>&1
echo
echo "### \`ssh HOST true\` wall time (warm endpoint cache)"
echo
echo "| route | mean ms | ± ms | vs ProxyCommand nc |"
echo "|---|---|---|---|"
python3 - "$WORK/ssh.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
nc = next(r["mean"] for r in results if " nc true" in r["command"])
for r in results:
    route = r["command"].split()[-2]
    print(f"| {route} | {r['mean']*1000:.1f} | {(r['stddev'] or 0)*1000:.1f} | {r['mean']/nc:.3f} |")
PY

# --- cold path: Azure calls per connection --------------------------------------------------------------------------
# A fake `az` (each call logged) and the demo's mock ARM, which serves this instance at 127.0.0.1:$SSH_PORT.
private_world bench-token
mkfifo "$WORK/control"
"$TARGET/release/examples/demo_arm" "$ID" "$SSH_PORT" bench-token < "$WORK/control" > "$WORK/arm.out" &
PIDS+=($!)
exec 3>"$WORK/control"
wait_for_file "$WORK/arm.out" "the mock Azure Resource Manager"
COLD=5
for _ in $(seq $COLD); do
    rm -rf "$XDG_CACHE_HOME"
    AZML_SSH_ARM_ENDPOINT=$(head -n 1 "$WORK/arm.out") ssh -F "$WORK/ssh_config" azml-relay true
done
echo requests >&3
until grep -q '^requests ' "$WORK/arm.out"; do sleep 0.05; done
ARM_REQUESTS=$(sed -n 's/^requests //p' "$WORK/arm.out")
exec 3>&-
echo
echo "### Cold path (no cached endpoint or token), per connection"
echo
echo "| token fetches | ARM requests |"
echo "|---|---|"
python3 -c "print(f'| {$(wc -l < "$WORK/az.log")/$COLD:g} | {$ARM_REQUESTS/$COLD:g} |')"
echo
echo "Release binary: $(stat -c %s "$BIN") bytes ($(python3 -c "print(round($(stat -c %s "$BIN")/1048576,1))") MiB)."

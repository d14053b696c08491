#!/usr/bin/env bash
# azml-ssh benchmarks, each reported as a ratio against reference tools measured in the same run.
#
#   contrib/bench/run.sh [SIZE_MIB]        (default 2048: 2 GiB each way)
#
# Needs: a Rust toolchain, OpenSSH client and server, socat, netcat-openbsd, hyperfine, GNU time, python3.
# On Debian: apt-get install -y openssh-server openssh-client socat netcat-openbsd hyperfine time python3
# Everything runs on 127.0.0.1; nothing here talks to Azure. Not part of the test suite.
set -euo pipefail
# azml-ssh trusts only private cache files of its user (see README, Security notes).
umask 077
SIZE_MIB=${1:-2048}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/contrib/bench"
for tool in socat nc hyperfine python3 /usr/bin/time /usr/sbin/sshd ssh ssh-keygen; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (see the header of $0)" >&2; exit 1; }
done

cargo build --release --locked --manifest-path "$ROOT/Cargo.toml" >&2
BIN="$ROOT/target/release/azml-ssh"
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
export XDG_CACHE_HOME="$WORK/cache"
ID=/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/bench/providers/Microsoft.MachineLearningServices/workspaces/bench/computes/bench

# A warm endpoint cache entry: the proxy connects to 127.0.0.1:$1 with no Azure call at all.
warm_cache() {
    local key dir
    key=$(printf %s "$ID" | tr 'A-Z' 'a-z' | sha256sum | cut -d' ' -f1)
    dir="$XDG_CACHE_HOME/azml-ssh/endpoints"
    mkdir -p "$dir"
    printf '{"resource_id":"%s","endpoint":{"transport":"direct","address":"127.0.0.1:%s"},"resolved_at":%s}' \
        "$(printf %s "$ID" | tr 'A-Z' 'a-z')" "$1" "$(date +%s)" > "$dir/$key.json"
}

start_server() { # mode [size]; sets SERVER_PORT and SERVER_PID (not in a subshell, so they stick)
    : > "$WORK/port"
    python3 "$HERE/loopback_server.py" "$@" > "$WORK/port" &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    while [ ! -s "$WORK/port" ]; do sleep 0.05; done
    SERVER_PORT=$(cat "$WORK/port")
}

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
        mbs[$tool]=$(python3 -c "print(round($SIZE_MIB*1.048576/$elapsed))")
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
    print(f"| {name} | {r['mean']*1000:.2f} | {r['stddev']*1000:.2f} | {r['mean']/nc:.2f} |")
PY
kill "$SERVER_PID" 2>/dev/null || true

# --- ssh wall time -----------------------------------------------------------------------------------------------
mkdir -p /run/sshd 2>/dev/null || true
ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/user_key"
SSH_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/sshd_config" <<CFG
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $WORK/host_key
PidFile $WORK/sshd.pid
AuthorizedKeysFile $WORK/user_key.pub
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
LogLevel ERROR
CFG
/usr/sbin/sshd -f "$WORK/sshd_config" -D -e 2>/dev/null &
PIDS+=($!)
until python3 -c "import socket; socket.create_connection(('127.0.0.1',$SSH_PORT),1)" 2>/dev/null; do sleep 0.05; done
warm_cache "$SSH_PORT"
HOSTKEY=$(cut -d' ' -f1-2 "$WORK/host_key.pub")
printf 'bench %s\n[127.0.0.1]:%s %s\n' "$HOSTKEY" "$SSH_PORT" "$HOSTKEY" > "$WORK/known_hosts"
cat > "$WORK/ssh_config" <<CFG
Host *
    User $(id -un)
    IdentityFile $WORK/user_key
    IdentitiesOnly yes
    BatchMode yes
    UserKnownHostsFile $WORK/known_hosts
    GlobalKnownHostsFile /dev/null
    HostKeyAlias bench
    LogLevel ERROR
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
    print(f"| {route} | {r['mean']*1000:.1f} | {r['stddev']*1000:.1f} | {r['mean']/nc:.3f} |")
PY

# --- cold path: Azure calls per connection --------------------------------------------------------------------------
mkdir -p "$WORK/az"
cat > "$WORK/az/az" <<AZ
#!/bin/sh
echo "\$*" >> "$WORK/az-calls"
printf '{"accessToken":"bench-token","expires_on":%s,"tokenType":"Bearer"}' \$((\$(date +%s) + 3600))
AZ
chmod +x "$WORK/az/az"
: > "$WORK/arm-calls"
python3 "$HERE/mock_arm.py" "$SSH_PORT" "$WORK/arm-calls" > "$WORK/arm-port" &
PIDS+=($!)
while [ ! -s "$WORK/arm-port" ]; do sleep 0.05; done
ARM_PORT=$(cat "$WORK/arm-port")
COLD=5
for _ in $(seq $COLD); do
    rm -rf "$XDG_CACHE_HOME"
    PATH="$WORK/az:$PATH" AZML_SSH_ARM_ENDPOINT="http://127.0.0.1:$ARM_PORT" ssh -F "$WORK/ssh_config" azml-relay true
done
echo
echo "### Cold path (no cached endpoint or token), per connection"
echo
echo "| token fetches | ARM requests |"
echo "|---|---|"
python3 -c "print(f'| {$(wc -l < "$WORK/az-calls")/$COLD:g} | {$(wc -l < "$WORK/arm-calls")/$COLD:g} |')"
echo
echo "Release binary: $(stat -c %s "$BIN") bytes ($(python3 -c "print(round($(stat -c %s "$BIN")/1048576,1))") MiB)."

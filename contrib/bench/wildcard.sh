#!/usr/bin/env bash
# What the wildcard host costs a warm connection: `ssh bench.azml true` (the name found in the name index `config`
# leaves, then the cached endpoint) against `ssh azml-fdpass true` (the per-instance block, resource ID in the
# ProxyCommand) and ProxyCommand nc, in one run, alternating rounds so that load changes hit all alike.
#
#   contrib/bench/wildcard.sh [ROUNDS]        (default 5 rounds of 20 connections each)
#
# Needs: a Rust toolchain, OpenSSH client and server, hyperfine, python3. Everything runs on 127.0.0.1; nothing
# here talks to Azure (the endpoint and the index are planted in a private cache). Not part of the test suite.
set -euo pipefail
umask 077
ROUNDS=${1:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=contrib/lib.sh
. "$ROOT/contrib/lib.sh"
require hyperfine python3 /usr/sbin/sshd ssh ssh-keygen
build_release
make_work
export XDG_CACHE_HOME="$WORK/cache" HOME="$WORK/home"
mkdir -p "$HOME"
ID=/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/bench/providers/Microsoft.MachineLearningServices/workspaces/bench/computes/bench
SSH_PORT=$(free_port)
start_sshd "$SSH_PORT"
direct_entry "$ID" "$SSH_PORT"
# A listening sink for the bare proxy's start → connected → exit.
start_server sink
SINK_ENTRY_ID=${ID%/bench}/sink
direct_entry "$SINK_ENTRY_ID" "$SERVER_PORT"
# The name index as `azml-ssh config` leaves it: the scope it searched and the instances it knows.
mkdir -p "$XDG_CACHE_HOME/azml-ssh/names"
printf '{"subscriptions":[],"resource_group":null,"workspace":null,"instances":["%s","%s"]}\n' "$ID" "$SINK_ENTRY_ID" \
    > "$XDG_CACHE_HOME/azml-ssh/names/index.json"
{
    ssh_client_config bench
    cat <<CFG
Host azml-fdpass
    ProxyUseFdpass yes
    ProxyCommand $BIN proxy --fdpass $ID
Host *.azml
    ProxyUseFdpass yes
    ProxyCommand $BIN proxy --fdpass --wildcard azml -- '%h'
Host nc
    HostName 127.0.0.1
    Port $SSH_PORT
    ProxyCommand nc %h %p
CFG
} > "$WORK/ssh_config"
for host in nc azml-fdpass bench.azml; do
    ssh -F "$WORK/ssh_config" "$host" true || { echo "wildcard.sh: ssh $host failed" >&2; exit 1; }
done

for round in $(seq "$ROUNDS"); do
    hyperfine -N --warmup 5 --runs 100 --export-json "$WORK/start$round.json" \
        "sh -c 'exec $BIN proxy $SINK_ENTRY_ID </dev/null'" "sh -c 'exec $BIN proxy --wildcard azml sink.azml </dev/null'" \
        > /dev/null 2>&1
    hyperfine -N --warmup 2 --runs 20 --export-json "$WORK/round$round.json" \
        "ssh -F $WORK/ssh_config nc true" "ssh -F $WORK/ssh_config azml-fdpass true" \
        "ssh -F $WORK/ssh_config bench.azml true" > /dev/null 2>&1
done
echo "### Warm \`ssh HOST true\`: the wildcard host against the per-instance block ($(date -u +%Y-%m-%d), $(nproc) cores, $ROUNDS rounds × 20)"
echo
python3 - "$WORK" "$ROUNDS" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
starts = {}
for i in range(1, rounds + 1):
    for r, name in zip(json.load(open(f"{work}/start{i}.json"))["results"], ["proxy ID", "proxy --wildcard azml NAME"]):
        starts.setdefault(name, []).append(r["mean"] * 1000)
print("Bare proxy, process start → connected → exit (warm cache, empty stdin, 100 runs a round):")
print()
print("| proxy | median of round means, ms | vs proxy ID (median of per-round ratios) |")
print("|---|---|---|")
for name, values in starts.items():
    ratios = [v / b for v, b in zip(values, starts["proxy ID"])]
    print(f"| {name} | {statistics.median(values):.2f} | {statistics.median(ratios):.3f} |")
print()
print("`ssh HOST true`, 20 runs a round:")
print()
means = {}
for i in range(1, rounds + 1):
    for r in json.load(open(f"{work}/round{i}.json"))["results"]:
        means.setdefault(r["command"].split()[-2], []).append(r["mean"] * 1000)
print("| route | median of round means, ms | vs per-instance block (median of per-round ratios) |")
print("|---|---|---|")
for route, values in means.items():
    ratios = [v / b for v, b in zip(values, means["azml-fdpass"])]
    print(f"| {route} | {statistics.median(values):.1f} | {statistics.median(ratios):.3f} |")
PY

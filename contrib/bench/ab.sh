#!/usr/bin/env bash
# A/B: two builds of azml-ssh measured alternately in the same run, so that whatever else the machine does
# weighs on both alike. For a change that should not move performance (a restructuring): the relay's throughput
# and CPU both ways, `ssh HOST true` through each (relaying and with fd passing), and process start → exit.
# Each measure is a list of pairs (A then B, or B then A, alternating); the table gives medians and the paired
# ratio B/A with a 95 % bootstrap interval. An interval that contains 1 shows no difference.
#
#   contrib/bench/ab.sh A_BIN B_BIN [SIZE_MIB]     e.g. contrib/bench/ab.sh /tmp/old/azml-ssh target/release/azml-ssh
#
# Environment: ROUNDS (relay pairs per direction, default 8), SSH_PAIRS (default 100), START_PAIRS (default 300).
# Needs: OpenSSH client and server, netcat-openbsd, GNU time, python3 (Debian: openssh-server openssh-client
# netcat-openbsd time python3). Everything runs on 127.0.0.1. Not part of the test suite.
set -euo pipefail
umask 077
[ $# -ge 2 ] || { echo "usage: $0 A_BIN B_BIN [SIZE_MIB]" >&2; exit 2; }
A=$(realpath "$1") B=$(realpath "$2") SIZE_MIB=${3:-1024}
ROUNDS=${ROUNDS:-8} SSH_PAIRS=${SSH_PAIRS:-100} START_PAIRS=${START_PAIRS:-300}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=contrib/lib.sh
. "$ROOT/contrib/lib.sh"
require nc python3 /usr/bin/time /usr/sbin/sshd ssh ssh-keygen
# shellcheck disable=SC2119 # no mktemp template
make_work
export XDG_CACHE_HOME="$WORK/cache"
ID=/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/bench/providers/Microsoft.MachineLearningServices/workspaces/bench/computes/bench
: > "$WORK/samples"

# One sample: "MEASURE SIDE VALUE" appended to $WORK/samples.
sample() { echo "$1 $2 $3" >> "$WORK/samples"; }
# The sides of pair number $1: A first on even pairs, B first on odd ones.
order() { if (( $1 % 2 )); then echo "B A"; else echo "A B"; fi; }
bin_of() { if [ "$1" = A ]; then echo "$A"; else echo "$B"; fi; }

relay_once() { # side direction
    local bin
    bin=$(bin_of "$1")
    if [ "$2" = up ]; then
        start_server sink
        direct_entry "$ID" "$SERVER_PORT"
        head -c "${SIZE_MIB}M" /dev/zero | /usr/bin/time -f "%e %U %S" -o "$WORK/t" "$bin" proxy "$ID" > /dev/null
    else
        start_server source $((SIZE_MIB * 1024 * 1024))
        direct_entry "$ID" "$SERVER_PORT"
        /usr/bin/time -f "%e %U %S" -o "$WORK/t" "$bin" proxy "$ID" < /dev/null | cat > /dev/null
    fi
    kill "$SERVER_PID" 2>/dev/null || true
    read -r elapsed user sys < <(tail -n 1 "$WORK/t")
    sample "relay-$2-MiB/s" "$1" "$(python3 -c "print($SIZE_MIB / max($elapsed, 0.001))")"
    sample "relay-$2-cpu-s/GiB" "$1" "$(python3 -c "print(($user + $sys) / ($SIZE_MIB / 1024))")"
}

for round in $(seq "$ROUNDS"); do
    for side in $(order "$round"); do relay_once "$side" up; done
    for side in $(order "$round"); do relay_once "$side" down; done
done

# ssh HOST true through each build, call by call.
SSH_PORT=$(free_port)
start_sshd "$SSH_PORT"
direct_entry "$ID" "$SSH_PORT"
{
    ssh_client_config bench
    for side in A B; do
        printf 'Host relay-%s\n    ProxyCommand %s proxy %s\n' "$side" "$(bin_of "$side")" "$ID"
        printf 'Host fdpass-%s\n    ProxyUseFdpass yes\n    ProxyCommand %s proxy --fdpass %s\n' "$side" "$(bin_of "$side")" "$ID"
    done
} > "$WORK/ssh_config"
for route in relay fdpass; do
    for pair in $(seq "$SSH_PAIRS"); do
        for side in $(order "$pair"); do
            start=$EPOCHREALTIME
            ssh -F "$WORK/ssh_config" "$route-$side" true
            end=$EPOCHREALTIME
            sample "ssh-true-$route-ms" "$side" "$(awk "BEGIN { print ($end - $start) * 1000 }")"
        done
    done
done

# Process start → connected → exit, with empty stdin against a listening sink, timed inside one python process so
# the timer's own start-up does not count.
start_server sink
direct_entry "$ID" "$SERVER_PORT"
python3 - "$A" "$B" "$ID" "$START_PAIRS" >> "$WORK/samples" <<'PY'
import subprocess, sys, time
a, b, compute, pairs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
for pair in range(pairs):
    for side in (("A", "B") if pair % 2 == 0 else ("B", "A")):
        program = a if side == "A" else b
        start = time.perf_counter()
        subprocess.run([program, "proxy", compute], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
        print(f"start-exit-ms {side} {(time.perf_counter() - start) * 1000}")
PY
kill "$SERVER_PID" 2>/dev/null || true

echo "## A/B — $(date -u +%Y-%m-%d), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "A: $A ($(stat -c %s "$A") bytes), B: $B ($(stat -c %s "$B") bytes); relay ${SIZE_MIB} MiB × $ROUNDS pairs each way"
echo
python3 - "$WORK/samples" <<'PY'
import random, statistics, sys
from collections import defaultdict
samples = defaultdict(lambda: {"A": [], "B": []})
order = []
for line in open(sys.argv[1]):
    measure, side, value = line.split()
    if measure not in order:
        order.append(measure)
    samples[measure][side].append(float(value))
random.seed(7)
print("| measure | A median | B median | B/A paired (95 % CI) | pairs |")
print("|---|---|---|---|---|")
for measure in order:
    a, b = samples[measure]["A"], samples[measure]["B"]
    ratios = [y / x for x, y in zip(a, b) if x > 0]
    if not ratios:
        print(f"| {measure} | {statistics.median(a):.3f} | {statistics.median(b):.3f} | n/a (too small to time) | 0 |")
        continue
    boots = sorted(statistics.fmean(random.choices(ratios, k=len(ratios))) for _ in range(2000))
    low, high = boots[50], boots[1949]
    print(f"| {measure} | {statistics.median(a):.3f} | {statistics.median(b):.3f} | "
          f"{statistics.fmean(ratios):.3f} ({low:.3f}–{high:.3f}) | {len(ratios)} |")
PY

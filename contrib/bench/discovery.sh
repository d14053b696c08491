#!/usr/bin/env bash
# Discovery at scale: `azml-ssh config --all --dry-run` against a mock ARM with SUBS subscriptions × WORKSPACES
# workspaces × INSTANCES instances and LATENCY_MS per request, compared with what "every list of a level in flight
# at once" allows: (levels + 2) × latency, the levels being tenants → subscriptions → workspaces → computes.
#
#   contrib/bench/discovery.sh [SUBS WORKSPACES INSTANCES LATENCY_MS]     (default 20 5 10 100)
#
# Needs a Rust toolchain and python3. Runs on 127.0.0.1 only; not part of the test suite.
set -euo pipefail
umask 077
SUBS=${1:-20} WORKSPACES=${2:-5} INSTANCES=${3:-10} LATENCY_MS=${4:-100}
RUNS=${RUNS:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=contrib/lib.sh
. "$ROOT/contrib/lib.sh"
require python3
build_release discovery_arm
make_work

TOKEN=bench-token
private_world "$TOKEN"

mkfifo "$WORK/control"
"$TARGET/release/examples/discovery_arm" "$TOKEN" "$SUBS" "$WORKSPACES" "$INSTANCES" "$LATENCY_MS" \
    < "$WORK/control" > "$WORK/arm.out" &
ARM_PID=$!
PIDS+=("$ARM_PID")
exec 3>"$WORK/control"
wait_for_file "$WORK/arm.out" "the mock Azure Resource Manager"
export AZML_SSH_ARM_ENDPOINT=$(head -n 1 "$WORK/arm.out")

"$BIN" config --all --dry-run --binary "$BIN" > "$WORK/first.txt"   # warms the token cache
hosts=$(grep -c '^+Host ' "$WORK/first.txt" || true)
for _ in $(seq "$RUNS"); do
    start=$(date +%s.%N)
    "$BIN" config --all --dry-run --binary "$BIN" > /dev/null
    end=$(date +%s.%N)
    python3 -c "print(round(($end - $start) * 1000))"
done | sort -n > "$WORK/times"
exec 3>&-
wait "$ARM_PID" || true
requests=$(tail -n 1 "$WORK/arm.out")
median=$(sed -n "$(( (RUNS + 1) / 2 ))p" "$WORK/times")
target=$(( (4 + 2) * LATENCY_MS ))
echo "### Discovery at scale ($SUBS subscriptions × $WORKSPACES workspaces × $INSTANCES instances, ${LATENCY_MS} ms per request)"
echo
echo "| hosts found | ARM requests (all runs) | median wall ms ($RUNS runs) | target ms | ratio |"
echo "|---|---|---|---|---|"
echo "| $hosts | $requests | $median | $target | $(python3 -c "print(round($median/$target, 2))") |"

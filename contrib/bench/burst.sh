#!/usr/bin/env bash
# Cold bursts: N `ssh HOST true` started at once with nothing cached (no endpoint, no token), as VS Code, scp and
# scripts do; counts how many succeeded, how many times `az` ran and how many ARM requests they made together.
#
#   contrib/bench/burst.sh [N...]        (default: 1 5 50)
#
# Needs: a Rust toolchain, OpenSSH client and server. Everything runs on 127.0.0.1 (the demo's mock ARM, a
# throwaway sshd, a fake `az` taking 0.8 s as a real one does); not part of the test suite.
set -euo pipefail
umask 077
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=contrib/lib.sh
. "$ROOT/contrib/lib.sh"
require /usr/sbin/sshd ssh ssh-keygen
build_release demo_arm
make_work

private_world bench-token
echo 0.8 > "$WORK/az-delay"
SSH_PORT=$(free_port)
start_sshd "$SSH_PORT"
ID=/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/bench/providers/Microsoft.MachineLearningServices/workspaces/bench/computes/ci1
mkfifo "$WORK/control"
"$TARGET/release/examples/demo_arm" "$ID" "$SSH_PORT" bench-token < "$WORK/control" > "$WORK/arm.out" &
PIDS+=($!)
exec 3>"$WORK/control"
wait_for_file "$WORK/arm.out" "the mock Azure Resource Manager"
export AZML_SSH_ARM_ENDPOINT=$(head -n 1 "$WORK/arm.out")
{
    ssh_client_config azmlci1
    cat <<CFG
Host azmlci1
    ProxyUseFdpass yes
    ProxyCommand $BIN proxy --fdpass $ID
CFG
} > "$WORK/ssh_config"

# The mock's running count of ARM requests, asked for and waited on.
arm_requests() {
    local asked
    asked=$(grep -c '^requests ' "$WORK/arm.out" || true)
    echo requests >&3
    until [ "$(grep -c '^requests ' "$WORK/arm.out" || true)" -gt "$asked" ]; do sleep 0.05; done
    grep '^requests ' "$WORK/arm.out" | tail -n 1 | cut -d' ' -f2
}

echo "### Cold bursts ($(date -u +%Y-%m-%d), $(nproc) cores; fake \`az\` 0.8 s; demo mock ARM; fd passing)"
echo
echo "| cold \`ssh HOST true\` at once | succeeded | token fetches (\`az\`) | ARM requests | wall s |"
echo "|---|---|---|---|---|"
for n in "${@:-1 5 50}"; do
    for count in $n; do
        rm -rf "$XDG_CACHE_HOME"
        : > "$WORK/az.log"
        rm -f "$WORK"/ssh.*.err
        before=$(arm_requests)
        start=$(date +%s%N)
        burst=()
        for i in $(seq "$count"); do
            ssh -F "$WORK/ssh_config" azmlci1 true 2> "$WORK/ssh.$i.err" &
            burst+=($!)
        done
        ok=0
        for pid in "${burst[@]}"; do wait "$pid" && ok=$((ok + 1)); done
        ms=$((($(date +%s%N) - start) / 1000000))
        after=$(arm_requests)
        [ "$ok" = "$count" ] || { echo "burst: $((count - ok)) failed; first errors:" >&2; cat "$WORK"/ssh.*.err | sort | uniq -c | sort -rn | head -3 >&2; }
        echo "| $count | $ok | $(wc -l < "$WORK/az.log") | $((after - before)) | $((ms / 1000)).$((ms % 1000 / 100)) |"
    done
done

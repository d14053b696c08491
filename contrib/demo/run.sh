#!/usr/bin/env bash
# See azml-ssh work without an Azure subscription:
#
#   contrib/demo/run.sh
#
# Starts a local mock of Azure Resource Manager and a throwaway sshd on 127.0.0.1, writes a temporary ssh config
# with `azml-ssh add`, connects with plain ssh, moves the instance's endpoint, connects again, then "stops" the
# instance and connects once more to show the automatic start. Everything lives in a temporary directory (HOME
# included) that is removed at the end: your own ~/.ssh is never read or written.
#
# Needs: a Rust toolchain and OpenSSH (client and server: apt-get install -y openssh-server openssh-client).
# AZML_SSH_BIN and DEMO_ARM_BIN may name already-built binaries (the test suite does that).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=contrib/lib.sh
. "$ROOT/contrib/lib.sh"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ -z "${AZML_SSH_BIN:-}" ] || [ -z "${DEMO_ARM_BIN:-}" ]; then
    # The dev profile, which `cargo test` reuses: the demo and the tests share one build.
    cargo build --quiet --locked --manifest-path "$ROOT/Cargo.toml" --bin azml-ssh --example demo_arm
    TARGET=$(target_dir "$ROOT")
    AZML_SSH_BIN="$TARGET/debug/azml-ssh"
    DEMO_ARM_BIN="$TARGET/debug/examples/demo_arm"
fi
for bin in "$AZML_SSH_BIN" "$DEMO_ARM_BIN"; do
    [ -x "$bin" ] || { echo "demo: $bin is missing or not executable" >&2; exit 1; }
done

make_work "${TMPDIR:-/tmp}/azml-ssh-demo.XXXXXX"

# A private world: HOME, caches and a fake `az` that hands out a token, so nothing touches the real ones.
TOKEN=demo-token
private_world "$TOKEN"
PORT_A=$(free_port); start_sshd "$PORT_A"
PORT_B=$(free_port); start_sshd "$PORT_B"

# The mock Azure Resource Manager, driven through a FIFO; it answers each command with a line once it holds.
ID=/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/demo-rg/providers/Microsoft.MachineLearningServices/workspaces/demo-ws/computes/ci1
mkfifo "$WORK/control"
"$DEMO_ARM_BIN" "$ID" "$PORT_A" "$TOKEN" < "$WORK/control" > "$WORK/arm.out" &
PIDS+=($!)
exec 3>"$WORK/control"
wait_for_file "$WORK/arm.out" "the mock Azure Resource Manager"
export AZML_SSH_ARM_ENDPOINT=$(head -n 1 "$WORK/arm.out")
control() {
    local answered
    answered=$(wc -l < "$WORK/arm.out")
    echo "$*" >&3
    for _ in $(seq 200); do [ "$(wc -l < "$WORK/arm.out")" -gt "$answered" ] && return; sleep 0.05; done
    echo "demo: the mock did not answer \"$*\"" >&2
    exit 1
}

say "azml-ssh add azmlci1 <resource id>   (writes ~/.ssh/azml-ssh/config and one Include line)"
# --binary names the program for ProxyCommand: in the demo it is a build output, and saying so is not news.
"$AZML_SSH_BIN" add azmlci1 "$ID" --identity-file "$WORK/user_key" --user "$(id -un)" --binary "$AZML_SSH_BIN"
# The demo's own host-key and batch settings, after azml-ssh's Include (so they apply to its hosts too).
known_host azmlci1 > "$WORK/known_hosts"
cat >> "$HOME/.ssh/config" <<CFG
UserKnownHostsFile $WORK/known_hosts
GlobalKnownHostsFile /dev/null
StrictHostKeyChecking yes
BatchMode yes
CFG
echo "--- ~/.ssh/config"; cat "$HOME/.ssh/config"
echo "--- ~/.ssh/azml-ssh/config"; cat "$HOME/.ssh/azml-ssh/config"
SSH=(ssh -F "$HOME/.ssh/config")

say "ssh azmlci1   (the endpoint is looked up in Azure: port $PORT_A)"
"${SSH[@]}" azmlci1 'echo "hello from the instance, sshd on port $(echo $SSH_CONNECTION | cut -d" " -f4)"'

say "The instance moves (stopped and started elsewhere: now port $PORT_B); ssh azmlci1 again"
control move "$PORT_B"
kill "${PIDS[0]}"
"${SSH[@]}" azmlci1 'echo "hello again, sshd on port $(echo $SSH_CONNECTION | cut -d" " -f4)"'

say "Idle shutdown stops the instance; ssh azmlci1 starts it and waits"
control stop
rm -rf "$XDG_CACHE_HOME/azml-ssh/endpoints"
"${SSH[@]}" azmlci1 'echo "hello after the automatic start"'

say "azml-ssh status azmlci1"
"$AZML_SSH_BIN" status azmlci1

say "Done: everything ran in $WORK, which is removed now."

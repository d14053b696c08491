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
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ -z "${AZML_SSH_BIN:-}" ] || [ -z "${DEMO_ARM_BIN:-}" ]; then
    cargo build --quiet --locked --manifest-path "$ROOT/Cargo.toml" --bin azml-ssh --example demo_arm
    # Wherever cargo builds (CARGO_TARGET_DIR, a config's target-dir): ask it rather than guess.
    TARGET=$(cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    AZML_SSH_BIN="$TARGET/debug/azml-ssh"
    DEMO_ARM_BIN="$TARGET/debug/examples/demo_arm"
fi
for bin in "$AZML_SSH_BIN" "$DEMO_ARM_BIN"; do
    [ -x "$bin" ] || { echo "demo: $bin is missing or not executable" >&2; exit 1; }
done
SSHD=/usr/sbin/sshd
[ -x "$SSHD" ] || { echo "demo: $SSHD is missing: install openssh-server" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/azml-ssh-demo.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# A private world: HOME, caches and a fake `az` that hands out a token, so nothing touches the real ones.
export HOME="$WORK/home" XDG_CACHE_HOME="$WORK/cache"
unset XDG_RUNTIME_DIR AZURE_TENANT_ID AZURE_CLIENT_ID AZURE_CLIENT_SECRET AZURE_FEDERATED_TOKEN_FILE AZML_SSH_AUTH
mkdir -p "$HOME" "$WORK/bin"
TOKEN=demo-token
cat > "$WORK/bin/az" <<AZ
#!/bin/sh
printf '{"accessToken":"$TOKEN","expires_on":%s,"tokenType":"Bearer"}' \$((\$(date +%s) + 3600))
AZ
chmod +x "$WORK/bin/az"
export PATH="$WORK/bin:$PATH"

# The "instance": sshd with its own host key, accepting a fresh user key.
[ "$(id -u)" != 0 ] || mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/id_demo"
free_port() { local p; while :; do p=$((20000 + RANDOM % 20000)); (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }; done; }
start_sshd() { # port
    cat > "$WORK/sshd_$1.conf" <<CFG
Port $1
ListenAddress 127.0.0.1
HostKey $WORK/host_key
PidFile $WORK/sshd_$1.pid
AuthorizedKeysFile $WORK/id_demo.pub
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
LogLevel ERROR
CFG
    "$SSHD" -f "$WORK/sshd_$1.conf" -D -e 2>/dev/null &
    PIDS+=($!)
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done
    echo "demo: sshd did not start on port $1" >&2; exit 1
}
PORT_A=$(free_port); start_sshd "$PORT_A"
PORT_B=$(free_port); start_sshd "$PORT_B"

# The mock Azure Resource Manager, driven through a FIFO.
ID=/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/demo-rg/providers/Microsoft.MachineLearningServices/workspaces/demo-ws/computes/ci1
mkfifo "$WORK/control"
"$DEMO_ARM_BIN" "$ID" "$PORT_A" "$TOKEN" < "$WORK/control" > "$WORK/arm-url" &
PIDS+=($!)
exec 3>"$WORK/control"
for _ in $(seq 100); do [ -s "$WORK/arm-url" ] && break; sleep 0.05; done
[ -s "$WORK/arm-url" ] || { echo "demo: the mock Azure Resource Manager did not start" >&2; exit 1; }
export AZML_SSH_ARM_ENDPOINT=$(cat "$WORK/arm-url")
control() { echo "$*" >&3; sleep 0.2; }

say "azml-ssh add azmlci1 <resource id>   (writes ~/.ssh/azml-ssh/config and one Include line)"
# --binary names the program for ProxyCommand: in the demo it is a build output, and saying so is not news.
"$AZML_SSH_BIN" add azmlci1 "$ID" --identity-file "$WORK/id_demo" --user "$(id -un)" --binary "$AZML_SSH_BIN"
# The demo's own host-key and batch settings, after azml-ssh's Include (so they apply to its hosts too).
printf 'azmlci1 %s\n' "$(cut -d' ' -f1-2 "$WORK/host_key.pub")" > "$WORK/known_hosts"
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

# Shared by contrib/demo/run.sh and contrib/bench/*.sh (sourced, not run): a private world for azml-ssh on
# 127.0.0.1 — its own HOME and caches, a fake `az`, a throwaway sshd — so nothing touches the user's own files
# and nothing talks to Azure. The callers set `set -euo pipefail` and ROOT, the checkout, and make their WORK
# directory with make_work.

# Exits with a message naming the first of the given programs that is missing.
require() { # PROGRAM...
    for tool; do
        command -v "$tool" >/dev/null || { echo "$(basename "$0"): $tool is missing (see the header of $0)" >&2; exit 1; }
    done
}

# A scratch directory WORK, removed on exit together with every background process listed in PIDS.
make_work() { # [mktemp TEMPLATE]
    WORK=$(mktemp -d ${1:+"$1"})
    PIDS=()
    trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
}

# Builds the release binary and the given examples; sets TARGET (cargo's target directory) and BIN.
build_release() { # EXAMPLE...
    local examples=() name
    for name; do examples+=(--example "$name"); done
    cargo build --release --locked --quiet --manifest-path "$ROOT/Cargo.toml" --bin azml-ssh "${examples[@]}"
    TARGET=$(target_dir "$ROOT")
    BIN="$TARGET/release/azml-ssh"
}

# Wherever cargo builds (CARGO_TARGET_DIR, a config's target-dir): ask it rather than guess.
target_dir() { # ROOT
    cargo metadata --format-version 1 --no-deps --manifest-path "$1/Cargo.toml" |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
}

# HOME and the caches under $WORK, no inherited sign-in settings, and a fake `az` first on PATH that hands out
# TOKEN. Each call appends a line to $WORK/az.log; when $WORK/az-delay holds a number, `az` first sleeps that
# long (a real `az` takes about a second).
private_world() { # TOKEN
    export HOME="$WORK/home" XDG_CACHE_HOME="$WORK/cache"
    unset XDG_RUNTIME_DIR AZURE_TENANT_ID AZURE_CLIENT_ID AZURE_CLIENT_SECRET AZURE_FEDERATED_TOKEN_FILE \
        AZML_SSH_AUTH AZURE_CONFIG_DIR
    # A signed-in Azure CLI has this file; azml-ssh reuses a cached token only while it is unchanged.
    mkdir -p "$HOME/.azure" "$WORK/bin"
    echo '{}' > "$HOME/.azure/azureProfile.json"
    cat > "$WORK/bin/az" <<AZ
#!/bin/sh
echo "\$*" >> "$WORK/az.log"
[ ! -s "$WORK/az-delay" ] || sleep "\$(cat "$WORK/az-delay")"
printf '{"accessToken":"$1","expires_on":%s,"tokenType":"Bearer"}' \$((\$(date +%s) + 3600))
AZ
    chmod +x "$WORK/bin/az"
    : > "$WORK/az.log"
    export PATH="$WORK/bin:$PATH"
}

# A TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 20000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}

# Runs until FILE is not empty, for at most 10 s; fails with WHAT in the message otherwise.
wait_for_file() { # FILE WHAT
    for _ in $(seq 200); do [ -s "$1" ] && return; sleep 0.05; done
    echo "$(basename "$0"): $2 did not start" >&2
    exit 1
}

# contrib/bench/loopback_server.py MODE [ARGS…] in the background; sets SERVER_PORT and SERVER_PID (so call it
# directly, not in $(…), or they are lost with the subshell — and the server with them outlives the script).
start_server() {
    : > "$WORK/port.$1"
    python3 "$ROOT/contrib/bench/loopback_server.py" "$@" > "$WORK/port.$1" &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_for_file "$WORK/port.$1" "the $1 server"
    SERVER_PORT=$(cat "$WORK/port.$1")
}

# The "instance": sshd on 127.0.0.1:PORT with $WORK/host_key, letting in the key $WORK/user_key (both made on
# the first call). Returns once sshd accepts connections.
start_sshd() { # PORT
    local sshd=/usr/sbin/sshd
    [ -x "$sshd" ] || { echo "$(basename "$0"): $sshd is missing: install openssh-server" >&2; exit 1; }
    [ "$(id -u)" != 0 ] || mkdir -p /run/sshd
    [ -f "$WORK/host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key"
    [ -f "$WORK/user_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$WORK/user_key"
    cat > "$WORK/sshd_$1.conf" <<CFG
Port $1
ListenAddress 127.0.0.1
HostKey $WORK/host_key
PidFile $WORK/sshd_$1.pid
AuthorizedKeysFile $WORK/user_key.pub
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
LogLevel ERROR
# sshd's default (10:30:100) drops some of more than ten connections that are still authenticating, which a
# burst benchmark would count against the proxy.
MaxStartups 200
CFG
    "$sshd" -f "$WORK/sshd_$1.conf" -D -e 2>/dev/null &
    PIDS+=($!)
    for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done
    echo "$(basename "$0"): sshd did not start on port $1" >&2
    exit 1
}

# The line for known_hosts that makes ssh trust the throwaway sshd under ALIAS.
known_host() { # ALIAS
    printf '%s %s\n' "$1" "$(cut -d' ' -f1-2 "$WORK/host_key.pub")"
}

# The first lines of an ssh config for the throwaway sshd, on stdout: its user key, batch mode, and host-key
# checking on under ALIAS (the known_hosts it names is written here). The caller appends its own Host blocks.
ssh_client_config() { # ALIAS
    known_host "$1" > "$WORK/known_hosts"
    cat <<CFG
Host *
    User $(id -un)
    IdentityFile $WORK/user_key
    IdentitiesOnly yes
    BatchMode yes
    UserKnownHostsFile $WORK/known_hosts
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    HostKeyAlias $1
    LogLevel ERROR
CFG
}

# An endpoint cache entry that makes `azml-ssh proxy ID` connect with no Azure call at all.
cache_entry() { # RESOURCE_ID ENDPOINT_JSON
    local id key dir="$XDG_CACHE_HOME/azml-ssh/endpoints"
    id=$(printf %s "$1" | tr 'A-Z' 'a-z')
    key=$(printf %s "$id" | sha256sum | cut -d' ' -f1)
    # azml-ssh trusts only private cache files of its user (docs/security.md).
    (umask 077 && mkdir -p "$dir" &&
        printf '{"resource_id":"%s","endpoint":%s,"resolved_at":%s}' "$id" "$2" "$(date +%s)" > "$dir/$key.json")
}
direct_entry() { cache_entry "$1" "{\"transport\":\"direct\",\"address\":\"127.0.0.1:$2\"}"; } # RESOURCE_ID PORT
tunnel_entry() { cache_entry "$1" "{\"transport\":\"tunnel\",\"gateway\":{\"host\":\"localhost\",\"port\":$2}}"; }

#!/usr/bin/env bash
# Crash consistency at scale: the integration tests of tests/it/crash.rs with KILLS SIGKILLs that land while
# `config`, `add`, `remove` or `config --remove` runs (the suite's default is 150), then two writers at once, an
# editor saving in between, a full disk and a read-only ~/.ssh. Prints the counts docs/security.md quotes.
#
#   contrib/crash/run.sh [KILLS] [SEED]        (default 1000, a seed from the clock)
#
# Needs: a Rust toolchain, the OpenSSH client, and root with util-linux's unshare (the full disk is a 64 KiB
# tmpfs, the read-only ~/.ssh a read-only bind mount, each in a private mount namespace). Touches nothing of the
# user's: every run has its own temporary HOME.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export AZML_SSH_CRASH_KILLS=${1:-1000}
[ -n "${2:-}" ] && export AZML_SSH_CRASH_SEED=$2
cd "$ROOT"
cargo test --locked --quiet --test it crash:: -- --nocapture --test-threads=1 2>&1 | tee /dev/stderr |
    grep -oE 'crash: .*|^test result.*' >"${TMPDIR:-/tmp}/azml-ssh-crash.$$" || true
echo
echo "== crash consistency, $AZML_SSH_CRASH_KILLS kills that landed =="
sed 's/^crash: //' "${TMPDIR:-/tmp}/azml-ssh-crash.$$"
grep -q '^test result: ok' "${TMPDIR:-/tmp}/azml-ssh-crash.$$"
rm -f "${TMPDIR:-/tmp}/azml-ssh-crash.$$"

#!/usr/bin/env bash
# The test suite, as README.md gives it: the Linux suite (`cargo test`), a 45 s fault soak (tests/it/soak.rs; the
# ten-minute one is contrib/soak/run.sh), a brief run of every fuzz target (4 s each from the committed corpus;
# the campaign is contrib/fuzz/run.sh), then the Windows build (azml-ssh.exe,
# x86_64-pc-windows-gnu) under Wine, driven by the same mocks, sshd and OpenSSH client (tests/it/wine.rs).
#
#   contrib/test.sh
#
# Needs (Debian/Ubuntu): openssh-server openssh-client git, and for Windows: rustc-web rust-web-src cargo-web
# gcc-mingw-w64-x86-64 wine64, and g++ for libFuzzer (see CONTRIBUTING.md). Environment (optional):
#   AZML_SSH_WINDOWS_EXE   an azml-ssh.exe already built from this checkout (CI passes the one in its wheel);
#                          otherwise it is built here with contrib/windows/build-exe.sh
#   AZML_SSH_WINE_PREFIX   the Wine prefix to run it in (default: target/wine-prefix, prepared on first use)
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --locked
contrib/soak/run.sh "${AZML_SSH_SOAK_SECONDS:-45}"
contrib/fuzz/run.sh --brief "${AZML_SSH_FUZZ_SECONDS:-4}"

target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
exe=${AZML_SSH_WINDOWS_EXE:-}
if [ -z "$exe" ]; then
    exe=$(contrib/windows/build-exe.sh)
fi
prefix=${AZML_SSH_WINE_PREFIX:-$target/wine-prefix}
contrib/windows/wine-prefix.sh "$prefix"
# wine-prefix.sh leaves a persistent wineserver (and Wine's services) running; nothing is left behind after the run.
trap 'WINEPREFIX="$(realpath "$prefix")" /usr/lib/wine/wineserver -k 2>/dev/null || true' EXIT
# Each test starts several Wine processes and an sshd; two at a time suit the two cores CI has.
AZML_SSH_WINDOWS_EXE=$(realpath "$exe") AZML_SSH_WINE_PREFIX=$(realpath "$prefix") \
    cargo test --locked --test it wine:: -- --ignored --test-threads 2

#!/usr/bin/env bash
# Cross-builds the Windows programs, azml-ssh.exe and its GUI-subsystem twin azml-sshw.exe (the one ssh's
# ProxyCommand names: no console window), x86_64-pc-windows-gnu, release profile, on Debian with Debian's Rust and
# std built from its source (rustup's targets cannot be downloaded here; see contrib/windows/README.md). Prints
# azml-ssh.exe's path on stdout (the twin is beside it); cargo's progress goes to stderr.
#
# Needs: apt-get install --no-install-recommends rustc-web rust-web-src cargo-web gcc-mingw-w64-x86-64
# Environment: WINDOWS_TARGET_DIR (default: target/windows), shared with build-wheel.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in /usr/bin/cargo /usr/bin/rustc x86_64-w64-mingw32-gcc; do
    command -v "$tool" >/dev/null || { echo "build-exe.sh: $tool is missing (see the header of $0)" >&2; exit 1; }
done
dir=${WINDOWS_TARGET_DIR:-target/windows}
# Debian's cargo and rustc together (the std source must match the compiler exactly); rustup's stays the Linux one.
RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
    CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc CARGO_TARGET_DIR="$dir" \
    /usr/bin/cargo build --release --locked --target x86_64-pc-windows-gnu -Zbuild-std=std,panic_abort --features windowless --bin azml-ssh --bin azml-sshw >&2
echo "$dir/x86_64-pc-windows-gnu/release/azml-ssh.exe"

#!/usr/bin/env bash
# Cross-builds the Windows wheel of azml-ssh on Debian: azml_ssh-<version>-py3-none-win_amd64.whl, with the
# program and its GUI-subsystem twin as scripts (<name>.data/scripts/azml-ssh.exe and azml-sshw.exe, the one ssh's
# ProxyCommand names), so `pip install` / pipx / `uv tool install` put both on a Windows user's PATH. Also copies
# the bare azml-ssh.exe and azml-sshw.exe to OUT_DIR and checks them all with check-wheel.py.
#
#   contrib/windows/build-wheel.sh OUT_DIR
#
# maturin (the same as for the Linux wheel) builds it with Debian's Rust and std built from source
# (see contrib/windows/README.md). Needs, on Debian 12:
#   apt-get install -y --no-install-recommends rustc-web rust-web-src cargo-web gcc-mingw-w64-x86-64 python3-venv
# and network to crates.io (std's own dependencies) and PyPI (maturin, unless MATURIN is given).
# Environment (all optional):
#   MANIFEST_DIR        the crate to build (default: this checkout)
#   WINDOWS_TARGET_DIR  cargo's target directory for the Windows build, shared with build-exe.sh
#                       (default: target/windows; relative to MANIFEST_DIR)
#   MATURIN             a maturin >= 1.5, < 2 (default: one installed into $WINDOWS_TARGET_DIR/maturin-venv)
#   DEB_CARGO, DEB_RUSTC, DEB_RUSTDOC   Debian's toolchain (default: /usr/bin/cargo, /usr/bin/rustc, /usr/bin/rustdoc)
#   JOBS                parallel build jobs (default: cargo's, one per CPU)
# Prints the wheel's and the two .exe's paths on stdout; everything else goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
me="build-wheel.sh"
die() { echo "$me: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 OUT_DIR"
mkdir -p "$1"
OUT_DIR=$(cd "$1" && pwd)
MANIFEST_DIR=$(cd "${MANIFEST_DIR:-$here/../..}" && pwd)
[ -f "$MANIFEST_DIR/Cargo.toml" ] && [ -f "$MANIFEST_DIR/pyproject.toml" ] ||
    die "$MANIFEST_DIR has no Cargo.toml and pyproject.toml"
cd "$MANIFEST_DIR" # a relative WINDOWS_TARGET_DIR is relative to the crate, as in build-exe.sh
WINDOWS_TARGET_DIR=${WINDOWS_TARGET_DIR:-$MANIFEST_DIR/target/windows}
mkdir -p "$WINDOWS_TARGET_DIR"
WINDOWS_TARGET_DIR=$(cd "$WINDOWS_TARGET_DIR" && pwd)
DEB_CARGO=${DEB_CARGO:-/usr/bin/cargo}
DEB_RUSTC=${DEB_RUSTC:-/usr/bin/rustc}
DEB_RUSTDOC=${DEB_RUSTDOC:-/usr/bin/rustdoc}
TRIPLE=x86_64-pc-windows-gnu
LINKER=${CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER:-x86_64-w64-mingw32-gcc}

for tool in "$DEB_CARGO" "$DEB_RUSTC" "$DEB_RUSTDOC" "$LINKER" python3; do
    command -v "$tool" >/dev/null || die "$tool is missing (see the header of $0)"
done
# -Zbuild-std compiles std from the source that matches the compiler exactly (Debian's rust-web-src).
std_src="$("$DEB_RUSTC" --print sysroot)/lib/rustlib/src/rust/library"
[ -f "$std_src/Cargo.lock" ] || die "no std source at $std_src (apt-get install rust-web-src)"

if [ -z "${MATURIN:-}" ]; then
    venv="$WINDOWS_TARGET_DIR/maturin-venv"
    if [ ! -x "$venv/bin/maturin" ]; then
        echo "$me: installing maturin into $venv" >&2
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install -q 'maturin>=1.5,<2' >&2
    fi
    MATURIN="$venv/bin/maturin"
fi
"$MATURIN" --version >/dev/null || die "$MATURIN does not run"

# maturin runs `cargo rustc` as $CARGO but `cargo metadata` as whatever `cargo` is first on PATH (rustup's,
# here): a directory of links puts Debian's toolchain first for every call.
shims=$(mktemp -d)
trap 'rm -rf "$shims"' EXIT
ln -s "$(command -v "$DEB_CARGO")" "$shims/cargo"
ln -s "$(command -v "$DEB_RUSTC")" "$shims/rustc"
ln -s "$(command -v "$DEB_RUSTDOC")" "$shims/rustdoc"
export PATH="$shims:$PATH" CARGO="$shims/cargo" RUSTC="$shims/rustc" RUSTDOC="$shims/rustdoc"
export RUSTC_BOOTSTRAP=1 CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER="$LINKER" CARGO_TARGET_DIR="$WINDOWS_TARGET_DIR"
unset CARGO_BUILD_TARGET RUSTUP_TOOLCHAIN

# The program's name: the package's binary target besides the twin, <name>w. The package is the one whose manifest
# this is; the workspace's other members (the fuzz targets, the test kit) are not shipped.
bin=$(cargo metadata --no-deps --format-version 1 --manifest-path "$MANIFEST_DIR/Cargo.toml" |
    MANIFEST="$(realpath "$MANIFEST_DIR/Cargo.toml")" python3 -c '
import json, os, sys
packages = [p for p in json.load(sys.stdin)["packages"] if os.path.realpath(p["manifest_path"]) == os.environ["MANIFEST"]]
bins = sorted(t["name"] for p in packages for t in p["targets"] if "bin" in t["kind"])
ok = len(bins) == 2 and bins[1] == bins[0] + "w"
sys.exit("expected a program and its twin, found %s" % bins) if not ok else print(bins[0])')

echo "$me: building $bin.exe and its wheel from $MANIFEST_DIR ($("$DEB_RUSTC" --version), $("$MATURIN" --version))" >&2
start=$SECONDS
stage=$(mktemp -d "$OUT_DIR/.build-wheel.XXXXXX")
trap 'rm -rf "$shims" "$stage"' EXIT

# maturin runs `cargo rustc --release --locked --target $TRIPLE -Zbuild-std=std,panic_abort --bin $bin`, i.e.
# build-exe.sh's build, plus `-- -C strip=symbols` for pyproject's `strip = true`. Those extra rustc arguments
# would make cargo relink the program (fat LTO: minutes) whenever build-exe.sh and this script alternate, so they
# are turned off where maturin allows it (`--strip false`: 1.16 has it, 1.5 not). Cargo.toml's release profile
# strips already, and check-wheel.py fails an unstripped .exe.
strip=()
maturin_help=$("$MATURIN" build --help)
if [[ $maturin_help == *'--strip [<STRIP>]'* ]]; then
    strip=(--strip false)
fi
# `--features windowless` builds the twin azml-sshw.exe too (Cargo.toml).
"$MATURIN" build --release --locked --target "$TRIPLE" -Z build-std=std,panic_abort "${strip[@]}" --features windowless \
    ${JOBS:+--jobs "$JOBS"} --manifest-path "$MANIFEST_DIR/Cargo.toml" --target-dir "$WINDOWS_TARGET_DIR" \
    -o "$stage" >&2
wheels=("$stage"/*.whl)
[ ${#wheels[@]} -eq 1 ] && [ -f "${wheels[0]}" ] || die "maturin left ${#wheels[@]} wheels in $stage, expected one"
wheel="$OUT_DIR/$(basename "${wheels[0]}")"
mv -f "${wheels[0]}" "$wheel"
for program in "$bin" "${bin}w"; do
    exe="$WINDOWS_TARGET_DIR/$TRIPLE/release/$program.exe"
    [ -f "$exe" ] || die "maturin built no $exe"
    cp -f "$exe" "$OUT_DIR/$program.exe"
done
echo "$me: built in $((SECONDS - start)) s" >&2

python3 "$here/check-wheel.py" --manifest-path "$MANIFEST_DIR/Cargo.toml" "$wheel" "$OUT_DIR/$bin.exe" >&2
echo "$wheel"
echo "$OUT_DIR/$bin.exe"
echo "$OUT_DIR/${bin}w.exe"

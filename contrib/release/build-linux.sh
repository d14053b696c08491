#!/usr/bin/env bash
# Builds the Linux release artifacts of azml-ssh for x86_64 on Debian, and proves each runs everywhere it claims:
#   - the manylinux2014 wheel (glibc >= 2.17): rustup's toolchain, linked by zig against glibc 2.17's symbols
#     (`maturin --zig`), judged by auditwheel and by check-glibc.sh (the newest GLIBC_ symbol the program needs);
#   - the musllinux_1_2 wheel and the static program: Debian's Rust with std built from its source (rustup cannot
#     fetch the musl target here), linked by zig against its own musl; checked to be static, and run.
# Both bare programs are copied out as azml-ssh-<target>, as a release names them.
#
#   contrib/release/build-linux.sh OUT_DIR
#
# Needs: python3 with venv; for the musl build apt-get install --no-install-recommends rustc-web rust-web-src
# cargo-web; binutils (readelf). Network to PyPI (the pinned tools) and crates.io (std's own dependencies).
# Environment (optional): TOOLS_VENV (default: target/release-tools, where contrib/release/requirements.txt is
# installed), MUSL_TARGET_DIR (default: target/musl; apart from the glibc build, whose std is rustup's, and which
# goes to cargo's usual target directory, CARGO_TARGET_DIR if set).
# Prints the paths of the two wheels and the two programs on stdout; everything else goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."
me=build-linux
die() { echo "$me: FAIL $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: $0 OUT_DIR"
mkdir -p "$1"
out=$(cd "$1" && pwd)
venv=${TOOLS_VENV:-target/release-tools}
[ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
"$venv/bin/pip" install -q -r contrib/release/requirements.txt >&2
venv=$(cd "$venv" && pwd)
for tool in readelf /usr/bin/cargo /usr/bin/rustc; do
    command -v "$tool" >/dev/null || die "$tool is missing (see the header of $0)"
done
# maturin finds zig as `python3 -m ziglang` of the first python3 on PATH, and auditwheel there too.
export PATH="$venv/bin:$PATH"
stage=$(mktemp -d "$out/.build-linux.XXXXXX")
shims=$(mktemp -d)
trap 'rm -rf "$stage" "$shims"' EXIT

one_wheel() { # DIR: the one wheel maturin left there, moved to OUT_DIR
    local wheels=("$1"/*.whl)
    if [ ${#wheels[@]} -ne 1 ] || [ ! -f "${wheels[0]}" ]; then
        die "maturin left ${#wheels[@]} wheels in $1, expected one"
    fi
    mv -f "${wheels[0]}" "$out/"
    echo "$out/$(basename "${wheels[0]}")"
}

# glibc: x86_64-unknown-linux-gnu, named explicitly so that zig (not the host's gcc and glibc 2.36) links it.
gnu=x86_64-unknown-linux-gnu
start=$SECONDS
maturin build --release --locked --quiet --zig --compatibility manylinux2014 --target $gnu -o "$stage/gnu" >&2
gnu_wheel=$(one_wheel "$stage/gnu")
echo "$me: built $(basename "$gnu_wheel") in $((SECONDS - start)) s" >&2
shown=$(auditwheel show "$gnu_wheel")
echo "$shown" | tr '\n' ' ' | grep -q 'consistent with the following platform tag: "manylinux_2_17_x86_64"' ||
    die "auditwheel: $(echo "$shown" | head -n 4 | tr '\n' ' ')"
echo "$me: auditwheel: $(basename "$gnu_wheel") is consistent with the platform tag manylinux_2_17_x86_64" >&2
contrib/release/check-glibc.sh --max 2.17 "$gnu_wheel" >&2
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
cp -f "$target_dir/$gnu/release/azml-ssh" "$out/azml-ssh-$gnu"

# musl: Debian's cargo and rustc together (the std source must match the compiler), as for Windows. Debian's
# sysroot has no musl crt objects ("self-contained" linking), so rustc is told not to add them; zig's linker
# brings musl's own crt, libc and libunwind, and links statically.
musl=x86_64-unknown-linux-musl
ln -s /usr/bin/cargo "$shims/cargo"
ln -s /usr/bin/rustc "$shims/rustc"
ln -s /usr/bin/rustdoc "$shims/rustdoc"
start=$SECONDS
# `--strip false`: Cargo.toml's release profile strips already, and maturin's `-C strip=symbols` would make cargo
# relink (fat LTO) whenever this and a plain cargo build alternate.
PATH="$shims:$PATH" CARGO="$shims/cargo" RUSTC="$shims/rustc" RUSTDOC="$shims/rustdoc" RUSTC_BOOTSTRAP=1 \
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C link-self-contained=no" \
    maturin build --release --locked --quiet --zig --compatibility musllinux_1_2 --target $musl \
    -Z build-std=std,panic_abort --strip false --target-dir "${MUSL_TARGET_DIR:-target/musl}" -o "$stage/musl" >&2
musl_wheel=$(one_wheel "$stage/musl")
echo "$me: built $(basename "$musl_wheel") in $((SECONDS - start)) s" >&2
musl_bin="$out/azml-ssh-$musl"
cp -f "${MUSL_TARGET_DIR:-target/musl}/$musl/release/azml-ssh" "$musl_bin"
[[ $(basename "$musl_wheel") == *-musllinux_1_2_x86_64.whl ]] || die "$(basename "$musl_wheel"): not musllinux_1_2"
readelf --program-headers "$musl_bin" | grep -q INTERP && die "$musl_bin asks for a dynamic loader: not static"
readelf --dynamic "$musl_bin" | grep -q NEEDED && die "$musl_bin needs shared libraries: not static"
"$musl_bin" --version | grep -q ", $musl)\$" || die "$musl_bin --version: $("$musl_bin" --version)"
echo "$me: $(basename "$musl_bin") is static (no loader, no shared library) and runs: $("$musl_bin" --version)" >&2

echo "$gnu_wheel"
echo "$musl_wheel"
echo "$out/azml-ssh-$gnu"
echo "$musl_bin"

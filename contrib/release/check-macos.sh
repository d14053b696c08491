#!/usr/bin/env bash
# Type-checks azml-ssh for macOS on this Linux machine: `cargo check` of the library and the program for each macOS
# target in contrib/release/targets.txt, with warnings as errors. No macOS machine runs in CI, and rustup cannot
# fetch the macOS std here, so std is checked from Debian's source (-Zbuild-std, as for Windows); aws-lc-sys's build
# script compiles its C even for `cargo check`, which zig's clang (with its bundled macOS libc headers) does.
# This proves the code compiles for macOS (cfg(unix) paths, the platform crates' APIs); it links nothing and runs
# nothing: the release workflow builds and smoke-runs the macOS programs on GitHub's macOS runners.
#
#   contrib/release/check-macos.sh
#
# Needs: apt-get install --no-install-recommends rustc-web rust-web-src cargo-web, and zig (ziglang from PyPI).
# Environment (optional): ZIG (default: the zig of ziglang in TOOLS_VENV), TOOLS_VENV (default:
# target/release-tools, where contrib/release/requirements.txt is installed), MACOS_TARGET_DIR (default:
# target/macos).
set -euo pipefail
cd "$(dirname "$0")/../.."
me=check-macos
die() { echo "$me: FAIL $*" >&2; exit 1; }
for tool in /usr/bin/cargo /usr/bin/rustc; do
    [ -x "$tool" ] || die "$tool is missing (apt-get install rustc-web cargo-web rust-web-src)"
done
[ -f "$(/usr/bin/rustc --print sysroot)/lib/rustlib/src/rust/library/Cargo.lock" ] ||
    die "no std source for /usr/bin/rustc (apt-get install rust-web-src)"
venv=${TOOLS_VENV:-target/release-tools}
if [ -z "${ZIG:-}" ]; then
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r contrib/release/requirements.txt
    ZIG=$("$venv/bin/python" -c 'import ziglang, os; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')
fi
"$ZIG" version >/dev/null || die "$ZIG does not run"

targets=$(awk '!/^#/ && $2 == "macos" { print $1 }' contrib/release/targets.txt)
[ -n "$targets" ] || die "contrib/release/targets.txt lists no macOS target"
shims=$(mktemp -d)
trap 'rm -rf "$shims"' EXIT
for target in $targets; do
    start=$SECONDS
    zig_target=${target%%-*}-macos # aarch64-apple-darwin -> aarch64-macos
    var=${target//-/_}
    # cc-rs runs CC_<target> with clang's --target=…-apple-macosx and -mmacosx-version-min=…, which zig cc does
    # not parse; the wrapper drops them and gives zig its own -target (the C is compiled, never linked here).
    cat >"$shims/cc-$target" <<WRAPPER
#!/bin/sh
for arg do
    shift
    case "\$arg" in --target=*|-mmacosx-version-min=*) continue ;; esac
    set -- "\$@" "\$arg"
done
exec "$ZIG" cc -target $zig_target "\$@"
WRAPPER
    printf '#!/bin/sh\nexec "%s" ar "$@"\n' "$ZIG" >"$shims/ar"
    chmod +x "$shims/cc-$target" "$shims/ar"
    echo "$me: cargo check --target $target (lib and program, -D warnings)" >&2
    env RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 RUSTFLAGS=-Dwarnings \
        "CC_$var=$shims/cc-$target" "AR_$var=$shims/ar" CARGO_TARGET_DIR="${MACOS_TARGET_DIR:-target/macos}" \
        /usr/bin/cargo check --locked --quiet --target "$target" -Zbuild-std=std,panic_abort --lib --bins
    echo "$me: OK $target type-checks ($((SECONDS - start)) s)"
done

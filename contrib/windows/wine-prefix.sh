#!/usr/bin/env bash
# contrib/windows/wine-prefix.sh PREFIX_DIR [CA_CERT]
#
# Prepares a 64-bit Wine prefix in which Rust-built Windows .exe files (azml-ssh for x86_64-pc-windows-gnu) run:
#   1. compiles the helpers in this folder with MinGW into PREFIX_DIR/azml-tools/ (only when their sources changed);
#   2. starts a persistent wineserver and boots the prefix (creating it on first use);
#   3. installs the stand-in bcryptprimitives.dll (ProcessPrng) into drive_c/windows/system32 and proves it loads;
#   4. if CA_CERT (PEM or DER) is given, adds it to the prefix's CurrentUser and LocalMachine "Root" stores and proves
#      the default chain engine (what rustls-platform-verifier's Verifier::new uses) trusts it.
# Idempotent: run it again at will (a second run takes about a second). Prints nothing on stdout; diagnostics go to
# stderr; exits non-zero with a message on any failure. Works as root and with no network.
#
# Needs (Debian 12): apt-get install --no-install-recommends wine64 gcc-mingw-w64-x86-64
#
# The wineserver it starts stays up (persistent, stdio on /dev/null) so later runs are warm (~25-40 ms per .exe);
# stop it with: WINEPREFIX=PREFIX_DIR /usr/lib/wine/wineserver -k
# Run the .exe files as:  env -i WINEPREFIX=PREFIX_DIR WINEDEBUG=-all /usr/lib/wine/wine64 'Z:\path\to\x.exe' ...
set -euo pipefail

me=wine-prefix.sh
die() { printf '%s: error: %s\n' "$me" "$*" >&2; exit 1; }
note() { [[ -n "${WINE_PREFIX_QUIET:-}" ]] || printf '%s: %s\n' "$me" "$*" >&2; }

[[ $# -ge 1 && $# -le 2 && -n "$1" ]] || die "usage: $me PREFIX_DIR [CA_CERT_PEM_OR_DER]"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prefix=$(realpath -m -- "$1")
ca=
if [[ $# -eq 2 ]]; then
    [[ -f "$2" && -r "$2" ]] || die "CA certificate '$2' is not a readable file"
    ca=$(realpath -- "$2")
fi

wine=/usr/lib/wine/wine64
wineserver=/usr/lib/wine/wineserver64
mingw=x86_64-w64-mingw32-gcc
[[ -x $wine && -x $wineserver ]] || die "Wine not found at $wine (apt-get install --no-install-recommends wine64)"
command -v "$mingw" >/dev/null || die "$mingw not found (apt-get install --no-install-recommends gcc-mingw-w64-x86-64)"
for src in processprng.c processprng.def checkprng.c addroot.c; do
    [[ -f "$here/$src" ]] || die "missing $here/$src"
done

mkdir -p -- "$prefix" || die "cannot create $prefix"
# Wine refuses a prefix owned by another user ("is not owned by you").
[[ -O "$prefix" ]] || die "$prefix is not owned by the current user ($(id -un)); Wine would refuse it"
tools=$prefix/azml-tools
mkdir -p -- "$tools"

# One run at a time per prefix. The lock's descriptor (9) is closed for every child, or the wineserver daemon would
# inherit it and hold the lock forever.
exec 9>"$tools/.lock"
if ! flock -w 600 9; then die "timed out waiting for another $me on $prefix"; fi

win_path() { local p=${1//\//\\}; printf 'Z:%s' "$p"; } # absolute Unix path -> Windows path through drive Z:

# --- 1. build the helpers (content-addressed: rebuilt only when a source, the compiler or the flags change) ------
cflags=(-O2 -s -Wall -Wno-unused-parameter)
stamp=$( { cat "$here/processprng.c" "$here/processprng.def" "$here/checkprng.c" "$here/addroot.c"
           "$mingw" --version | head -n1; printf '%s\n' "${cflags[@]}"; } | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$tools/.stamp" 2>/dev/null || true)" != "$stamp" \
      || ! -f "$tools/bcryptprimitives.dll" || ! -f "$tools/checkprng.exe" || ! -f "$tools/addroot.exe" ]]; then
    note "compiling helpers into $tools"
    tmp=$(mktemp -d "$tools/.build.XXXXXX")
    trap 'rm -rf -- "$tmp"' EXIT
    "$mingw" "${cflags[@]}" -shared -o "$tmp/bcryptprimitives.dll" \
        "$here/processprng.c" "$here/processprng.def" -ladvapi32 9>&- >&2 || die "compiling processprng.c failed"
    "$mingw" "${cflags[@]}" -o "$tmp/checkprng.exe" "$here/checkprng.c" 9>&- >&2 || die "compiling checkprng.c failed"
    "$mingw" "${cflags[@]}" -o "$tmp/addroot.exe" "$here/addroot.c" -lcrypt32 9>&- >&2 || die "compiling addroot.c failed"
    mv -f -- "$tmp"/* "$tools"/
    printf '%s\n' "$stamp" >"$tools/.stamp"
    rm -rf -- "$tmp"
    trap - EXIT
fi

# --- 2. start the server and boot the prefix ------------------------------------------------------------------
# Every Wine process runs under env -i (as the tests will), with stdin from /dev/null and output to a log file:
# Wine's background services (services.exe, explorer.exe, ...) inherit the stdio of the Wine process that starts
# them and live on, so a pipe given to the first Wine call would never be closed.
wine_env=(env -i "WINEPREFIX=$prefix" WINEDEBUG=-all)
log=$tools/boot.log # wineserver and wineboot (whose services keep it open); later calls use last-wine.log
show_log() { [[ -s "$log" ]] && sed 's/^/    /' "$log" >&2 || true; }

# -p: stay up after the last client exits. Exit status 2 means one is already running for this prefix.
rc=0
"${wine_env[@]}" "$wineserver" -p </dev/null >"$log" 2>&1 9>&- || rc=$?
if [[ $rc -ne 0 && $rc -ne 2 ]]; then show_log; die "wineserver -p failed (exit $rc)"; fi

started=$SECONDS
if [[ -f "$prefix/drive_c/windows/system32/kernel32.dll" ]]; then boot=(wineboot); else
    boot=(wineboot -i); note "creating Wine prefix $prefix"; fi
# No Mono/Gecko install prompts (mscoree, mshtml) and no desktop menu entries written to $HOME (winemenubuilder).
rc=0
timeout 600 "${wine_env[@]}" WINEDLLOVERRIDES='mscoree,mshtml=;winemenubuilder.exe=d' \
    "$wine" "${boot[@]}" </dev/null >"$log" 2>&1 9>&- || rc=$?
if [[ $rc -ne 0 ]]; then
    show_log
    [[ $rc -eq 124 ]] && die "${boot[*]} did not finish within 600 s"
    die "${boot[*]} failed (exit $rc)"
fi

log=$tools/last-wine.log
# wineboot has returned; the prefix is ready once its registry answers from a fresh Wine process. Poll with a deadline.
ready() {
    [[ -f "$prefix/drive_c/windows/system32/kernel32.dll" ]] &&
        "${wine_env[@]}" "$wine" reg query 'HKLM\Software\Microsoft\Windows NT\CurrentVersion' /v CurrentVersion \
            </dev/null >"$log" 2>&1 9>&-
}
deadline=$((SECONDS + 120))
until ready; do
    if ((SECONDS >= deadline)); then show_log; die "Wine prefix $prefix not ready 120 s after ${boot[*]}"; fi
    sleep 0.2
done
[[ ${boot[1]:-} != -i ]] || note "prefix created in $((SECONDS - started)) s"

# --- 3. the stand-in bcryptprimitives.dll ---------------------------------------------------------------------
sys32=$prefix/drive_c/windows/system32
if ! cmp -s "$tools/bcryptprimitives.dll" "$sys32/bcryptprimitives.dll"; then
    install -m 0644 -- "$tools/bcryptprimitives.dll" "$sys32/bcryptprimitives.dll" ||
        die "cannot install bcryptprimitives.dll into $sys32"
fi
if ! "${wine_env[@]}" "$wine" "$(win_path "$tools/checkprng.exe")" </dev/null >"$log" 2>&1 9>&-; then
    show_log; die "bcryptprimitives.dll (ProcessPrng) does not work in $prefix"
fi

# --- 4. trust the test CA -------------------------------------------------------------------------------------
if [[ -n $ca ]]; then
    if ! "${wine_env[@]}" "$wine" "$(win_path "$tools/addroot.exe")" --both "$(win_path "$ca")" \
        </dev/null >"$log" 2>&1 9>&-; then
        show_log; die "could not make $prefix trust $ca"
    fi
fi
exit 0

#!/usr/bin/env bash
# Proves a Linux build runs on every glibc from a floor up: reads the GLIBC_x.y symbol versions each program
# requires (readelf's version-needs section) and fails unless the newest is at most the floor. auditwheel judges a
# wheel's tag; this looks at the program itself, so a wheel tagged right but carrying the wrong binary fails too.
# The floor is manylinux2014's glibc 2.17 (CentOS 7, and every distribution since) unless --max says otherwise.
#
#   contrib/release/check-glibc.sh [--max 2.17] FILE...
#
# FILE: an ELF program, or a wheel (every ELF file under its *.data/scripts/ is checked). A program that needs no
# glibc at all (a static musl build) fails here: check that with `file`, not with this. Needs readelf (binutils)
# and python3 (to open a wheel). Prints one line per program; exits 1 at the first that needs more.
set -euo pipefail
me=check-glibc
die() { echo "$me: FAIL $*" >&2; exit 1; }
max=2.17
if [ "${1:-}" = --max ]; then
    max=${2:?--max needs a version}
    shift 2
fi
[ $# -ge 1 ] || die "usage: $0 [--max 2.17] FILE..."
command -v readelf >/dev/null || die "readelf is missing (apt-get install binutils)"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The newest GLIBC_ version an ELF file requires (empty when it requires none).
newest_glibc() {
    readelf --version-info --wide "$1" |
        sed -n 's/.*Name: GLIBC_\([0-9][0-9.]*\).*/\1/p' | sort -uV | tail -n 1
}

check_elf() { # FILE LABEL
    local need
    readelf --file-header "$1" >/dev/null 2>&1 || die "$2 is not an ELF file"
    need=$(newest_glibc "$1")
    [ -n "$need" ] || die "$2 requires no GLIBC_ symbol version at all (static, or not a glibc build)"
    if [ "$(printf '%s\n%s\n' "$need" "$max" | sort -V | tail -n 1)" != "$max" ]; then
        echo "$me: FAIL $2 requires GLIBC_$need, newer than the floor GLIBC_$max; the symbols behind it:" >&2
        readelf --dyn-syms --wide "$1" | grep -oE '[^ ]+@GLIBC_[0-9.]+' | sort -u |
            while IFS= read -r symbol; do
                version=${symbol##*@GLIBC_}
                [ "$(printf '%s\n%s\n' "$version" "$max" | sort -V | tail -n 1)" = "$max" ] || echo "  $symbol"
            done >&2
        exit 1
    fi
    echo "$me: OK $2 requires at most GLIBC_$need (floor GLIBC_$max)"
}

for file in "$@"; do
    [ -f "$file" ] || die "$file does not exist"
    case $file in
    *.whl)
        dir="$scratch/$(basename "$file")"
        python3 - "$file" "$dir" <<'PY'
import sys, zipfile
from pathlib import Path
wheel, out = sys.argv[1], Path(sys.argv[2])
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if ".data/scripts/" in n and not n.endswith("/")]
    if not names:
        sys.exit(f"check-glibc: FAIL {wheel} has no *.data/scripts/ program")
    for n in names:
        target = out / n
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(z.read(n))
PY
        found=0
        while IFS= read -r -d '' program; do
            found=1
            check_elf "$program" "$(basename "$file"):${program#"$dir"/}"
        done < <(find "$dir" -type f -print0)
        [ $found = 1 ] || die "$file: nothing to check"
        ;;
    *) check_elf "$file" "$file" ;;
    esac
done

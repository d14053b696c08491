#!/usr/bin/env bash
# RUSTC_WRAPPER for contrib/fuzz/run.sh: adds libFuzzer's coverage instrumentation (what `cargo fuzz` puts in
# RUSTFLAGS) to azml-ssh's own code and the fuzz targets, and to nothing else. Dependencies and build scripts are
# compiled exactly as the test build compiles them, so a brief run reuses that build instead of compiling all of
# them again (aws-lc's C included); the coverage that guides libFuzzer is that of the parsers under test.
#
# Cargo runs it as: rustc-wrapper.sh RUSTC ARGS... (CARGO_PKG_NAME and CARGO_CRATE_NAME name the unit).
set -euo pipefail
rustc=$1
shift
case "${CARGO_PKG_NAME:-}/${CARGO_CRATE_NAME:-}" in
*/build_script_build) ;;
azml-ssh/* | azml-ssh-fuzz/*)
    set -- "$@" -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
        -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
        -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks
    ;;
esac
exec "$rustc" "$@"

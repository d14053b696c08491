#!/usr/bin/env bash
# Builds the fuzz targets in fuzz/ with libFuzzer's coverage instrumentation and runs each for SECONDS (default
# 60), starting from the committed corpus (fuzz/corpus/TARGET) and adding what it finds to a working copy of it.
# Prints one line per target: executions, coverage, corpus size, and whether it found a failing input (kept in
# target/fuzz/artifacts/TARGET/).
#
#   contrib/fuzz/run.sh [SECONDS] [TARGET...]     e.g. contrib/fuzz/run.sh 600   (the campaign in the README)
#
# No cargo-fuzz binary is needed: this is what `cargo fuzz run -s none` does — rustup's stable toolchain with
# RUSTC_BOOTSTRAP=1 for the sancov options — with a size and time bound per input (-rss_limit_mb, -timeout) so a
# slow or huge case counts as a finding. CI runs it briefly (contrib/test.sh); the committed corpus is also
# replayed by `cargo test` (azml_ssh::fuzzing's unit test).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift || true
all=(ssh_config hosts_file compute schedule jsonc checkup_report visible name_index http_connect ws_frames cli)
targets=("${@:-${all[@]}}")
triple=$(rustc -vV | sed -n 's/^host: //p')
dir=${FUZZ_TARGET_DIR:-target/fuzz}
export RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$dir"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# --target: the instrumentation must reach the targets, not build scripts (which would need libFuzzer to link).
cargo build --release --locked --quiet --manifest-path fuzz/Cargo.toml --target "$triple" >&2
failed=0
for target in "${targets[@]}"; do
    work="$dir/corpus/$target" artifacts="$dir/artifacts/$target/"
    mkdir -p "$work" "$artifacts"
    cp -n fuzz/corpus/"$target"/* "$work/" 2>/dev/null || true
    log="$dir/$target.log"
    if "$dir/$triple/release/$target" "$work" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=1024 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts" >"$log" 2>&1; then
        verdict="no failure"
    else
        verdict="FAILED: $(ls "$artifacts" | head -n 1)"
        failed=1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    echo "fuzz: $target: ${runs:-0} runs in ${seconds} s, coverage ${cov:-?} edges, corpus $(ls "$work" | wc -l), $verdict"
done
exit "$failed"

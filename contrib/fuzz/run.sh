#!/usr/bin/env bash
# Builds the fuzz targets in fuzz/ with libFuzzer's coverage instrumentation and runs each for SECONDS (default
# 60), starting from the committed corpus (fuzz/corpus/TARGET) and adding what it finds to a working copy of it.
# Prints one line per target: executions, coverage, corpus size, and whether it found a failing input (kept in
# target/fuzz-work/artifacts/TARGET/). Exits non-zero when any target found one.
#
#   contrib/fuzz/run.sh [--brief] [SECONDS] [TARGET...]
#       contrib/fuzz/run.sh 600        the campaign in CONTRIBUTING.md (profile `fuzz`: optimised, quick to link)
#       contrib/fuzz/run.sh --brief 5  CI's run (contrib/test.sh): the test build's profile, whose compiled
#                                      dependencies it reuses, so it costs the instrumented crates and a link each
#
# No cargo-fuzz binary is needed: the instrumentation `cargo fuzz` would put in RUSTFLAGS is added by
# rustc-wrapper.sh to azml-ssh's own crates only (stable rustc takes those options). Each input is bounded in size,
# time and memory (-max_len, -timeout, -rss_limit_mb), so a slow or huge case counts as a finding. The committed
# corpus is also replayed by `cargo test` (azml_ssh::fuzzing's unit test).
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=fuzz
if [[ "${1:-}" == --brief ]]; then
    profile=dev
    shift
fi
seconds=${1:-60}
shift || true
all=(ssh_config hosts_file compute schedule jsonc checkup_report visible name_index http_connect ws_frames cli)
targets=("${@:-${all[@]}}")
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
work=$target_dir/fuzz-work
export RUSTC_WRAPPER="$PWD/contrib/fuzz/rustc-wrapper.sh"
cargo build --locked --quiet -p azml-ssh-fuzz --profile "$profile" >&2
bin=$target_dir/$([[ $profile == dev ]] && echo debug || echo "$profile")
failed=0
for target in "${targets[@]}"; do
    corpus="$work/corpus/$target" artifacts="$work/artifacts/$target/"
    mkdir -p "$corpus" "$artifacts"
    cp -n fuzz/corpus/"$target"/* "$corpus/" 2>/dev/null || true
    log="$work/$target.log"
    if "$bin/$target" "$corpus" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=1024 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts" >"$log" 2>&1; then
        verdict="no failure"
    else
        verdict="FAILED: $(find "$artifacts" -type f | head -n 1) (log: $log)"
        failed=1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    echo "fuzz: $target: ${runs:-0} runs in ${seconds} s, coverage ${cov:-?} edges, corpus $(find "$corpus" -type f | wc -l), $verdict"
done
exit "$failed"

#!/usr/bin/env bash
# The fault soak (tests/it/soak.rs) for SECONDS (default 600): bursts of real ssh connections through azml-ssh on
# 127.0.0.1 — direct, through the mock Azure ML gateway, and through it under fd passing — while the mock ARM
# throttles (429 with Retry-After), fails (500), resets connections and answers slowly, the gateway drops
# WebSockets mid-stream, sshd restarts on its port and the instance's endpoint moves. It stops by itself and prints
# the figures: connections attempted, succeeded, failed with an azml-ssh: error, hung; leaked processes and
# descriptors; peak RSS; ARM requests per connection. It fails on any hang, panic, leak or unbounded memory.
#
#   contrib/soak/run.sh [SECONDS]          AZML_SSH_SOAK_SEED=N replays a schedule (the seed is printed)
#
# Needs: a Rust toolchain, OpenSSH client and server (as the test suite). contrib/test.sh runs it for 45 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
AZML_SSH_SOAK_SECONDS=${1:-600} cargo test --locked --test it soak::fault_soak -- --ignored --exact --nocapture

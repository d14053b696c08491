#!/usr/bin/env python3
"""Checks that the release workflow and the install guide (docs/install.md) name exactly the supported targets.

Usage: check-targets.py [REPO_DIR]

contrib/release/targets.txt is the one list of the Rust targets azml-ssh is built for. This fails (exit 1, one
line per problem on stderr) when .github/workflows/release.yml names a target that is not on the list or leaves
one out (every supported target is released), or when the install guide's "Platforms and releases" section does not
name each of them, or names another. check-macos.sh reads its targets from the same list. Standard library only.
"""
import re
import sys
from pathlib import Path

PROG = "check-targets"
# A Rust target triple as the workflow or README would write one (arch-vendor-os[-env]).
TRIPLE = re.compile(
    r"\b(?:x86_64|aarch64|i686|i586|armv7|arm|riscv64gc|powerpc64le|s390x|loongarch64|universal2)"
    r"-(?:unknown|apple|pc|alpine)-[a-z0-9]+(?:-[a-z0-9]+)?\b"
)


def supported(repo):
    targets = []
    for number, line in enumerate((repo / "contrib/release/targets.txt").read_text().splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 2 or not TRIPLE.fullmatch(fields[0]) or fields[1] not in ("linux", "macos", "windows"):
            sys.exit(f"{PROG}: FAIL targets.txt:{number}: expected `TRIPLE linux|macos|windows`, got {line!r}")
        targets.append(fields[0])
    if len(set(targets)) != len(targets) or not targets:
        sys.exit(f"{PROG}: FAIL targets.txt lists no target, or one twice")
    return targets


def readme_section(text, heading):
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    return match.group(1) if match else None


def main():
    repo = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2])
    targets = supported(repo)
    problems = []

    workflow = (repo / ".github/workflows/release.yml").read_text()
    named = set(TRIPLE.findall(workflow))
    problems += [f"release.yml names {t}, which targets.txt does not list" for t in sorted(named - set(targets))]
    problems += [f"release.yml does not build {t}, which targets.txt lists" for t in targets if t not in named]

    section = readme_section((repo / "docs/install.md").read_text(), "Platforms and releases")
    if section is None:
        problems.append("docs/install.md has no `## Platforms and releases` section")
    else:
        named = set(TRIPLE.findall(section))
        problems += [f"docs/install.md's platforms name {t}, which targets.txt does not list" for t in sorted(named - set(targets))]
        problems += [f"docs/install.md's platforms do not name {t}" for t in targets if t not in named]

    if "targets.txt" not in (repo / "contrib/release/check-macos.sh").read_text():
        problems.append("check-macos.sh does not take its targets from targets.txt")

    for problem in problems:
        print(f"{PROG}: FAIL {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"{PROG}: OK release.yml and docs/install.md name the {len(targets)} targets of targets.txt: {' '.join(targets)}")


if __name__ == "__main__":
    main()

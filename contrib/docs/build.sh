#!/usr/bin/env bash
# Builds the documentation site (mdBook, from docs/) into docs/book, as CI and the docs workflow do:
#
#   contrib/docs/build.sh
#
# mdBook is installed once with cargo (crates.io is a package registry, so this works where only the registries are
# reachable) into target/docs-tools, without its `serve`/`watch`/search features, which the build does not need.
# The links between the pages are checked offline by the test suite (tests/it/docs.rs); mdBook itself fails the
# build on a page SUMMARY.md names that does not exist.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools=${DOCS_TOOLS:-target/docs-tools}
version=0.5.4
if ! "$tools/bin/mdbook" --version 2>/dev/null | grep -qF "v$version"; then
    cargo install --quiet --locked --no-default-features --version "$version" --root "$tools" mdbook
fi
"$tools/bin/mdbook" build docs
echo "docs: built docs/book with $("$tools/bin/mdbook" --version)"

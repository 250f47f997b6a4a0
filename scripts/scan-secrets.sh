#!/usr/bin/env bash
# Scans every file git tracks (what would be pushed) with secretlint's recommended rules.
# A finding prints the file, line and rule, with the secret masked, and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z | xargs -0 node_modules/.bin/secretlint --no-glob
else
  node_modules/.bin/secretlint "**/*"
fi

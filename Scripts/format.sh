#!/usr/bin/env bash
# Formats every Swift file in place with the checked-in .swift-format, then lints strictly.
#   Scripts/format.sh          format, then lint (what to run before committing)
#   Scripts/format.sh --check  lint only; exits non-zero on any finding (what deploy/test.sh runs)
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files -co --exclude-standard '*.swift')
if [ "${1:-}" != "--check" ]; then
  swift format format --in-place --parallel $files
fi
swift format lint --strict --parallel $files

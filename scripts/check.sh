#!/usr/bin/env bash
# Lint, then the whole test suite: what CI runs after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> ruff check and ruff format --check (Python)"
python3 -m ruff check .
python3 -m ruff format --check .

echo "==> prettier and eslint (labextension/src)"
(cd labextension && { [ -d node_modules ] || jlpm install --immutable; } && jlpm run lint:check)

echo "==> tests"
python3 -m pytest -v -ra --durations=40 tests

#!/usr/bin/env bash
# Lint, then the tests: what CI runs after scripts/setup.sh.
#   bash scripts/check.sh          the whole suite (a Docker engine, kernels, Chromium)
#   bash scripts/check.sh --fast   lint and every test that needs no engine, kernel or browser
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> ruff check and ruff format --check (Python)"
python3 -m ruff check .
python3 -m ruff format --check .

echo "==> lint-imports (the layers in pyproject.toml's [tool.importlinter])"
lint-imports

echo "==> prettier and eslint (labextension/src)"
(cd labextension && { [ -d node_modules ] || jlpm install --immutable; } && jlpm run lint:check)

if [ "${1:-}" = "--fast" ]; then
  echo "==> tests: the fast tier"
  MLCONTAINER_TEST_TIER=fast python3 -m pytest -q -ra --durations=15 -n auto \
    -m "not engine and not kernel and not browser" tests
else
  echo "==> tests"
  python3 -m pytest -v -ra --durations=40 tests
fi

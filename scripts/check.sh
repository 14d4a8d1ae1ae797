#!/usr/bin/env bash
# Lint, then the tests: what CI runs after scripts/setup.sh.
#   bash scripts/check.sh          the whole suite (a Docker engine, kernels, Chromium), on every
#                                  core
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
  # One run on every core. Tests that share one of the machine's singletons (swarm mode, a
  # user's Podman socket, the engine nodes' subnet), and the tests of a module that needs an
  # engine, a kernel or a browser, run on one worker in turn (tests/conftest.py,
  # `_worker_group`); every other test goes to whichever worker is free.
  echo "==> tests: the whole suite, on every core"
  python3 -m pytest -v -ra --durations=40 -n auto --dist loadgroup tests
fi

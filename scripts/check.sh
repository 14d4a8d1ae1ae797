#!/usr/bin/env bash
# Lint, then the tests: what CI runs after scripts/setup.sh.
#   bash scripts/check.sh          the whole suite (a Docker engine, kernels, Chromium): the tests
#                                  that need none of them in parallel, then the others in turn
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
  # Tests that need no engine, kernel or browser run two at a time; the others share one engine
  # (swarm mode, ports, the images built once per run) and run one at a time. Both always run.
  echo "==> tests: no engine, kernel or browser (in parallel)"
  status=0
  python3 -m pytest -v -ra --durations=15 -n auto \
    -m "not engine and not kernel and not browser" tests || status=$?
  echo "==> tests: engine, kernel and browser"
  python3 -m pytest -v -ra --durations=40 -m "engine or kernel or browser" tests || status=$?
  exit $status
fi

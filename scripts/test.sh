#!/usr/bin/env bash
# Installs naga with every extra and test tool into .venv-test, starts a single-node Slurm when
# this machine can (root with apt-get), and runs the full test suite. Extra arguments go to pytest.
# The test tools (pytest, ruff, mypy, ...) stay in .venv-test: the quickstart's .venv holds only
# naga[all], so neither command changes what the other installed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  command -v git >/dev/null || need+=(git)
  # naga dag renders svg, png and html with Graphviz; its html page is checked in Chromium.
  command -v dot >/dev/null || need+=(graphviz)
  command -v chromium >/dev/null || need+=(chromium)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi
# Installed here: their tests must run, not skip.
if command -v dot >/dev/null; then export NAGA_REQUIRE_GRAPHVIZ="${NAGA_REQUIRE_GRAPHVIZ:-1}"; fi
if command -v chromium >/dev/null; then export NAGA_REQUIRE_CHROMIUM="${NAGA_REQUIRE_CHROMIUM:-1}"; fi

python3 -m venv .venv-test
.venv-test/bin/python -m pip install -q --upgrade pip
.venv-test/bin/python -m pip install -q -e ".[test]"

if [ "${NAGA_SKIP_SLURM:-0}" != 1 ] && [ -x scripts/slurm/setup.sh ] && [ "$(id -u)" = 0 ]; then
  if scripts/slurm/setup.sh; then
    export NAGA_REQUIRE_SLURM=1
  else
    echo "test.sh: Slurm could not be started; Slurm tests will be skipped" >&2
  fi
fi

export MLFLOW_DISABLE_TELEMETRY=true
set +e
.venv-test/bin/python -m pytest "$@"
status=$?
set -e
# pytest exits 5 when it collected no test: that is a failure of the suite, not a pass.
exit $status

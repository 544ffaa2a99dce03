#!/usr/bin/env bash
# Installs naga with every extra into .venv and runs the README's quickstart end to end on the
# embedded defaults: a fresh git repository in a temp folder, a local MLflow store (sqlite in that
# folder) and local worker processes.
#
#   bash scripts/quickstart.sh                 install naga (editable, [all]) into .venv, then run
#   bash scripts/quickstart.sh --no-install    reuse an existing .venv (else the python on PATH)
#   bash scripts/quickstart.sh --python PY     run with the interpreter PY of an environment that
#                                              already has naga installed (e.g. from the wheel, as
#                                              CI does); nothing is installed. NAGA_PYTHON=PY too.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

mode=install
python="${NAGA_PYTHON:-}"
[ -n "$python" ] && mode=given
while [ $# -gt 0 ]; do
  case "$1" in
    --no-install) mode=reuse; shift ;;
    --python) [ $# -ge 2 ] || { echo "quickstart.sh: --python needs a path" >&2; exit 2; }
              python="$2"; mode=given; shift 2 ;;
    --python=*) python="${1#--python=}"; mode=given; shift ;;
    *) echo "quickstart.sh: unknown argument: $1 (use --no-install or --python PY)" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! command -v git >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git >/dev/null
fi

case "$mode" in
  install)
    python3 -m venv "$here/.venv"
    "$here/.venv/bin/python" -m pip install -q --upgrade pip
    "$here/.venv/bin/python" -m pip install -q -e "$here[all]"
    export PATH="$here/.venv/bin:$PATH"
    ;;
  reuse)
    if [ -x "$here/.venv/bin/python" ]; then export PATH="$here/.venv/bin:$PATH"; fi
    ;;
  given)
    [ -x "$python" ] || { echo "quickstart.sh: not an executable python: $python" >&2; exit 2; }
    # Its own bin folder first, so that `python` and `naga` below are this environment's. The path
    # is kept as given (a venv's bin/python is a symlink to the base interpreter).
    bindir="$(cd "$(dirname "$python")" && pwd)"
    export PATH="$bindir:$PATH"
    if [ "$(basename "$python")" != python ]; then python() { "$bindir/$(basename "$python")" "$@"; }; fi
    # naga must come from that environment, never from a source tree named by PYTHONPATH.
    unset PYTHONPATH
    ;;
esac
export MLFLOW_DISABLE_TELEMETRY=true

work="$(mktemp -d "${TMPDIR:-/tmp}/naga-quickstart.XXXXXX")"
cp -r "$here/examples/quickstart/." "$work/"
cd "$work"
echo "== quickstart in $work"
python -c 'import naga, sys; print(f"== naga from {naga.__file__} (python: {sys.executable})")'
git init -q -b main
git -c user.name=naga -c user.email=naga@example.com add -A
git -c user.name=naga -c user.email=naga@example.com commit -q -m "quickstart"

step() { printf '\n$ %s\n' "$*"; "$@"; }
step python process.py
step python process.py -o param=10
step python process.py --config conf/my_config.yml
step python process.py --config conf/multi_stage.yml --experiment process_v2
printf '1\n2\n3\n' > tasks.txt
step python process.py --tasks tasks.txt --task_to param --n_jobs=3
step python log.py
step naga status results/process
step naga diff results/process/param=1 results/process/param=2 || [ $? = 1 ]  # 1: they differ
step naga ls results
step naga ls results/process --table
step naga status --all results/process
step python process.py --config results/process/config.json --if_stale   # up to date: skipped, like make
step naga rerun results/process         # reproduced from its run.lock alone
step naga dag results/process --format mermaid
step naga log results/process
echo
echo "== quickstart done: $work"

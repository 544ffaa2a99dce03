#!/usr/bin/env bash
# Installs naga with every extra into .venv and runs the README's quickstart end to end on the
# embedded defaults: a fresh git repository in a temp folder, a local MLflow store (sqlite in that
# folder) and local worker processes. Pass --no-install to reuse an existing .venv.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

if [ "${1:-}" != "--no-install" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! command -v git >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git >/dev/null
  fi
  python3 -m venv "$here/.venv"
  "$here/.venv/bin/python" -m pip install -q --upgrade pip
  "$here/.venv/bin/python" -m pip install -q -e "$here[all]"
fi
export PATH="$here/.venv/bin:$PATH"
export MLFLOW_DISABLE_TELEMETRY=true

work="$(mktemp -d "${TMPDIR:-/tmp}/naga-quickstart.XXXXXX")"
cp -r "$here/examples/quickstart/." "$work/"
cd "$work"
echo "== quickstart in $work"
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
step naga log results/process
echo
echo "== quickstart done: $work"

#!/usr/bin/env bash
# Draws docs/images/lineage.svg with naga itself, and prints the README's `naga ls --table --md`
# example, from a small pipeline built in a temporary git repository:
#   prepare -> train, a sweep over lr (one task diverges) -> evaluate (which also reads prepare's
#   table: an inferred upstream), then evaluate.py is edited, so evaluate is stale.
# Needs Graphviz's dot. Run: bash docs/images/lineage.sh [python]
set -euo pipefail
out="$(cd "$(dirname "$0")" && pwd)/lineage.svg"
python="$(command -v "${1:-python3}")"
work="$(mktemp -d "${TMPDIR:-/tmp}/naga-lineage.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1

cat > prepare.py <<'PY'
from pathlib import Path
from naga import clicfg, runlock

class Config:
    rows = 1000
    save_dir = "results/prepare"

@clicfg(config_class=Config)
def main(cfg: Config):
    (Path(cfg.save_dir) / "table.csv").write_text("x\n" * cfg.rows)
    runlock(config=cfg, repos=["."])

if __name__ == "__main__":
    main()
PY
cat > train.py <<'PY'
from pathlib import Path
from naga import clicfg, runlock

class Config:
    lr = 0.1
    epochs = 10
    save_dir = "results/train"

@clicfg(config_class=Config)
def main(cfg: Config):
    if cfg.lr >= 1:
        raise FloatingPointError("loss diverged at epoch 2")
    Path(cfg.save_dir, "model.txt").write_text(str(cfg.lr))
    runlock(config=cfg, repos=["."], prevs=["results/prepare"])
    return {"acc": round(0.95 - cfg.lr / 2, 3), "loss": round(0.1 + cfg.lr, 3)}

if __name__ == "__main__":
    main()
PY
cat > evaluate.py <<'PY'
from pathlib import Path
from naga import clicfg, runlock

class Config:
    models = ["results/train/lr=0.1", "results/train/lr=0.01"]
    table = "results/prepare/table.csv"
    save_dir = "results/evaluate"

@clicfg(config_class=Config)
def main(cfg: Config):
    Path(cfg.save_dir, "report.md").write_text("best: lr=0.01")
    runlock(config=cfg, repos=["."], data=[cfg.table], prevs=cfg.models)
    return {"best_acc": 0.945}

if __name__ == "__main__":
    main()
PY
printf '0.1\n0.01\n1.0\n' > lrs.txt
printf 'results/\n' > .gitignore
git init -q -b main && git add . && git -c user.name=naga -c user.email=naga@example.com commit -qm example
"$python" prepare.py
"$python" train.py --tasks lrs.txt --task_to lr --n_jobs 3 2>/dev/null || true  # lr=1.0 fails
"$python" evaluate.py
echo "# compare on the held-out split too" >> evaluate.py
"$python" -m naga dag results --format svg -o "$out"
echo "wrote $out"
echo
echo '$ naga ls results/train --table --md --sort -acc'
"$python" -m naga ls results/train --table --md --sort -acc

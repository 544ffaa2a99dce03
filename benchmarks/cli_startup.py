"""CLI start-up: `python process.py -o param=10` with naga, bare argparse, Hydra, tyro, OmegaConf.

Run: .venv/bin/python benchmarks/cli_startup.py [rounds]. Prints median wall times and ratios.
"""

from __future__ import annotations

import compileall
import importlib.util
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import interleaved, table, time_command

CONFIG = """
class Config:
    param = 1
    input_path = 'data/preprocess/input.csv'
    save_dir = 'results/process'
"""

SCRIPTS = {
    "naga": CONFIG
    + """
from naga import clicfg

@clicfg(config_class=Config)
def main(cfg: Config):
    print(cfg.param)

if __name__ == '__main__':
    main()
""",
    "argparse": CONFIG
    + """
import argparse

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('-o', nargs='+', action='extend', default=[])
    cfg = Config()
    for item in parser.parse_args().o:
        key, value = item.split('=', 1)
        setattr(cfg, key, type(getattr(Config, key))(value))
    print(cfg.param)

if __name__ == '__main__':
    main()
""",
    "hydra": """
from dataclasses import dataclass
import hydra
from hydra.core.config_store import ConfigStore

@dataclass
class Config:
    param: int = 1
    input_path: str = 'data/preprocess/input.csv'
    save_dir: str = 'results/process'

ConfigStore.instance().store(name="config", node=Config)

@hydra.main(version_base=None, config_name="config")
def main(cfg: Config):
    print(cfg.param)

if __name__ == '__main__':
    main()
""",
    "tyro": """
from dataclasses import dataclass
import tyro

@dataclass
class Config:
    param: int = 1
    input_path: str = 'data/preprocess/input.csv'
    save_dir: str = 'results/process'

if __name__ == '__main__':
    print(tyro.cli(Config).param)
""",
    "omegaconf": CONFIG
    + """
import sys
from omegaconf import OmegaConf

if __name__ == '__main__':
    cfg = OmegaConf.merge(OmegaConf.structured({k: v for k, v in vars(Config).items() if not k.startswith('_')}),
                          OmegaConf.from_dotlist(sys.argv[2:]))
    print(cfg.param)
""",
}
ARGS = {
    "naga": ["-o", "param=10"],
    "argparse": ["-o", "param=10"],
    "hydra": [
        "param=10",
        "hydra.run.dir=.",
        "hydra.output_subdir=null",
        "hydra/job_logging=disabled",
    ],
    "tyro": ["--param", "10"],
    "omegaconf": ["-o", "param=10"],
}
MODULES = {"hydra": "hydra", "tyro": "tyro", "omegaconf": "omegaconf"}


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "src"), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        cases = {}
        for name, text in SCRIPTS.items():
            module = MODULES.get(name)
            if module and importlib.util.find_spec(module) is None:
                print(f"  ({name} is not installed: skipped)")
                continue
            script = Path(tmp, f"{name}_process.py")
            script.write_text(text)
            argv = [sys.executable, str(script), *ARGS[name]]
            time_command(argv, cwd=tmp)  # warm the page cache and write .pyc files
            cases[name] = lambda argv=argv: time_command(argv, cwd=tmp)
        medians = interleaved(cases, rounds)
    table(
        f"python process.py -o param=10, median of {rounds} interleaved runs", medians, "argparse"
    )


if __name__ == "__main__":
    main()

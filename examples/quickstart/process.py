# process.py
import os
from pathlib import Path

from naga import clicfg, runlock


class Config:
    param = 1  # how many copies of the input to write
    input_path = 'data/preprocess/input.csv'
    save_dir = 'results/process'


def process(cfg: Config = Config()):
    print(f"Running with param: {cfg.param}")
    # Create dummy input if it doesn't exist (written aside and renamed into place: the tasks of
    # a sweep run this at the same time, and one must never read another's half-written file)
    if not Path(cfg.input_path).exists():
        Path(cfg.input_path).parent.mkdir(parents=True, exist_ok=True)
        draft = Path(f"{cfg.input_path}.{os.getpid()}.tmp")
        draft.write_text("some data")
        draft.replace(cfg.input_path)

    # Core logic
    output_path = Path(cfg.save_dir) / 'out.txt'
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with open(output_path, 'w') as f:
        for _ in range(cfg.param):
            f.write(Path(cfg.input_path).read_text())
    print(f"Output written to {output_path}")

    runlock(
        config=cfg,
        repos=['.'],  # Track the git version of the current repo
        data=[cfg.input_path],  # Hash the input data
        runlock_path=Path(cfg.save_dir) / 'run.lock',
    )


@clicfg(config_class=Config)
def main(cfg: Config):
    """Main entry point for the process."""
    process(cfg)


if __name__ == '__main__':
    main()

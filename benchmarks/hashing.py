"""Data hashing: naga's hash_path against `cat` and `xxhsum -H128`, and a re-check against stat.

Run: .venv/bin/python benchmarks/hashing.py [GiB of the big file] [number of small files]
Creates its data under a temp dir (about 1.4 GB by default) and deletes it at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import interleaved, table, time_call


def stat_walk(root: str) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            os.stat(os.path.join(folder, name))


def main() -> None:
    gib = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 50_000
    tmp = tempfile.mkdtemp(prefix="naga-bench-")
    os.environ["NAGA_CACHE_DIR"] = os.path.join(tmp, "cache")
    from naga.lock import hash_path

    try:
        big = Path(tmp, "big.bin")
        with open(big, "wb") as handle:
            block = os.urandom(1 << 20)
            for _ in range(int(gib * 1024)):
                handle.write(block)
        subprocess.run(["cat", str(big)], stdout=subprocess.DEVNULL, check=True)  # page cache
        cases = {
            "cat FILE > /dev/null": lambda: time_call(
                lambda: subprocess.run(["cat", str(big)], stdout=subprocess.DEVNULL, check=True)
            ),
            "naga hash_path (xxh3-128, reads)": lambda: time_call(lambda: hash_path(big)),
        }
        medians = interleaved(cases, 5)
        table(f"one page-cached {gib:g} GiB file", medians, "cat FILE > /dev/null")
        size = big.stat().st_size
        print(
            f"  naga throughput: {size / medians['naga hash_path (xxh3-128, reads)'] / 1e9:.1f} GB/s"
        )
        big.unlink()

        small = Path(tmp, "small")
        for i in range(count):
            sub = small / f"{i // 1000:03d}"
            if i % 1000 == 0:
                sub.mkdir(parents=True)
            (sub / f"{i}.bin").write_bytes(os.urandom(8192))
        files = sorted(str(p) for p in small.rglob("*.bin"))
        half = len(files) // 2
        xxhsum = shutil.which("xxhsum")
        results = {}
        if xxhsum:

            def two_xxhsum() -> None:
                procs = [
                    subprocess.Popen([xxhsum, "-H128", *part], stdout=subprocess.DEVNULL)
                    for part in (files[:half], files[half:])
                ]
                for proc in procs:
                    proc.wait()

            two_xxhsum()
            results["xxhsum -H128, 2 processes"] = min(time_call(two_xxhsum) for _ in range(3))
        else:
            print("  (xxhsum not installed: apt-get install xxhash)")
        cold = []
        for _ in range(3):
            shutil.rmtree(os.environ["NAGA_CACHE_DIR"], ignore_errors=True)
            cold.append(time_call(lambda: hash_path(small)))
        results["naga hash_path, empty cache"] = min(cold)
        total = sum(os.path.getsize(f) for f in files[:100]) / 100 * len(files)
        table(
            f"{len(files)} small files, {total / 1e6:.0f} MB, page-cached",
            results,
            "xxhsum -H128, 2 processes" if xxhsum else "naga hash_path, empty cache",
        )
        medians = interleaved(
            {
                "bare os.stat walk": lambda: time_call(lambda: stat_walk(str(small))),
                "naga hash_path, unchanged tree": lambda: time_call(lambda: hash_path(small)),
            },
            5,
        )
        table("re-check of the unchanged tree", medians, "bare os.stat walk")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

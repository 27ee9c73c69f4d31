"""synthfaces rendering speed in images per second, in one process and in two.

python benchmarks/synthfaces_speed.py [--count 2048]
"""

from __future__ import annotations

import argparse
import time

from stylescope.data import render_synthfaces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2048, help="images per measurement")
    args = parser.parse_args()
    render_synthfaces(64, 32)  # Warm-up: imports and caches.
    print(f"{'resolution':>10s} {'processes':>9s} {'img/s':>8s}")
    for resolution in (32, 64, 128):
        count = args.count if resolution < 128 else args.count // 4
        for workers in (1, 2):
            start = time.perf_counter()
            render_synthfaces(count, resolution, seed=0, num_workers=workers)
            rate = count / (time.perf_counter() - start)
            print(f"{resolution:>10d} {workers:>9d} {rate:>8.0f}")


if __name__ == "__main__":
    main()

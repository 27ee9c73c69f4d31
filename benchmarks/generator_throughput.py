"""Generator inference throughput and peak memory on this machine.

Each case (config x precision x memory layout) runs in a fresh process, so that the peak resident
set size it reports belongs to that case alone. Throughput is images per second over timed
batches after warm-up; MACs come from `stylescope summary`'s counter.

    python benchmarks/generator_throughput.py [--configs faces32,faces64] [--batch 32] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time


def run_case(config: str, precision: str, layout: str, batch: int, seconds: float, queue) -> None:
    import torch

    from stylescope.networks import Generator, get_config
    from stylescope.networks.summary import generator_costs

    torch.manual_seed(0)
    G = Generator(get_config(config)).eval()
    G.synthesis.channels_last = layout == "nhwc"
    macs = generator_costs(G)[-1].macs
    z = torch.randn(batch, G.z_dim)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")

    with torch.no_grad(), autocast:
        for _ in range(2):
            G(z, noise_mode="const")
        images, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            G(z, noise_mode="const")
            images += batch
        elapsed = time.perf_counter() - start

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = images / elapsed
    queue.put(
        {
            "config": config,
            "precision": precision,
            "layout": layout,
            "batch": batch,
            "img_per_s": rate,
            "gmac_per_s": rate * macs / 1e9,
            "peak_rss_mib": peak_mib,
            "threads": torch.get_num_threads(),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="faces32,faces64,faces32-sg1,faces64-sg1")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per case")
    parser.add_argument("--json", action="store_true", help="one JSON object per case")
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    if not args.json:
        header = ("config", "prec", "layout", "img/s", "GMAC/s", "peak MiB")
        print("{:12s} {:5s} {:6s} {:>8s} {:>8s} {:>9s}".format(*header))
    for config in args.configs.split(","):
        for precision in ("fp32", "bf16"):
            for layout in ("nchw", "nhwc"):
                queue = ctx.Queue()
                proc = ctx.Process(
                    target=run_case,
                    args=(config, precision, layout, args.batch, args.seconds, queue),
                )
                proc.start()
                row = queue.get()
                proc.join()
                if args.json:
                    print(json.dumps(row))
                else:
                    print(
                        f"{config:12s} {precision:5s} {layout:6s} {row['img_per_s']:8.1f} "
                        f"{row['gmac_per_s']:8.1f} {row['peak_rss_mib']:9.0f}"
                    )


if __name__ == "__main__":
    main()

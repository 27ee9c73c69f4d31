"""Does a channel cut turn into time? Pruned generators timed against their dense parent.

Two parts:
1. Convolution width sweep: one 3x3 conv at 32x32 (batch 32, channels-last) per channel count,
   in GMAC/s. CPU kernels work on vectors of 16 fp32 values, so widths that are not multiples of
   16 waste lanes; this is why `stylescope prune` rounds kept counts (`--channel-multiple 16`).
2. Pruned variants of a generator (the shipped default unless --network), built from L1 scores
   (speed does not depend on which channels survive), each timed against the dense network in
   alternating rounds (`stylescope.prune.evaluate.compare_latency`), at every batch, precision
   and thread count asked for. The speed-up is reported beside the MAC cut and as their ratio.
   With --compiled, every setting is timed a second time with both networks compiled by
   torch.compile (`stylescope.networks.CompiledGenerator`).

    python benchmarks/prune_speed.py [--network G.safetensors] [--threads 1,2] [--batches 1,32]
                                     [--variants tiered] [--compiled] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time

import torch
import torch.nn.functional as F

# name -> (uniform keep, per-block overrides, channel multiple). "tiered" is the demo's cut
# (`stylescope.commands.demo.PRUNE_KEEP_AT`).
VARIANTS = {
    "keep0.3 exact (38 ch)": (0.3, {}, 1),
    "keep0.25 (32 ch)": (0.25, {}, 16),
    "tiered (64/64/48/32 ch)": (0.25, {"b4": 0.5, "b8": 0.5, "b16": 0.375}, 16),
}


def pruned_variants(dense, wanted: list[str]) -> dict[str, tuple[object, float]]:
    """name -> (pruned generator, MAC cut) for every variant whose name contains one of `wanted`
    (all when empty), pruned by L1 scores: speed does not depend on which channels survive."""
    from stylescope.prune.channels import (
        keep_ratios,
        prune_channels,
        score_channels,
        select_channels,
    )
    from stylescope.prune.evaluate import generator_macs

    scores = score_channels(dense, "l1")
    dense_macs = generator_macs(dense)
    variants = {}
    for name, (keep, overrides, multiple) in VARIANTS.items():
        if wanted and not any(w in name for w in wanted):
            continue
        ratios = keep_ratios(list(scores), keep, overrides)
        pruned = prune_channels(dense, select_channels(scores, ratios, 4, multiple)).eval()
        variants[name] = (pruned, dense_macs / generator_macs(pruned))
    return variants


def conv_sweep(widths: list[int], rounds: int = 15) -> list[dict]:
    rows = []
    for width in widths:
        for dtype in (torch.float32, torch.bfloat16):
            x = torch.randn(32, width, 32, 32, dtype=dtype)
            x = x.contiguous(memory_format=torch.channels_last)
            w = torch.randn(width, width, 3, 3, dtype=dtype)
            with torch.no_grad():
                for _ in range(3):
                    F.conv2d(x, w, padding=1)
                times = []
                for _ in range(rounds):
                    start = time.perf_counter()
                    F.conv2d(x, w, padding=1)
                    times.append(time.perf_counter() - start)
            seconds = statistics.median(times)
            macs = 32 * 32 * 32 * width * width * 9
            rows.append({"channels": width, "dtype": str(dtype).removeprefix("torch."),
                         "ms": 1000 * seconds, "gmac_per_s": macs / seconds / 1e9})  # fmt: skip
    return rows


def main() -> None:
    from stylescope.checkpoint import load_generator
    from stylescope.prune.evaluate import compare_latency

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default=None, help="dense generator (default: shipped)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--widths", default="24,32,38,40,48,64,128")
    parser.add_argument("--variants", default="", help="substrings of variant names (default all)")
    parser.add_argument("--compiled", action="store_true", help="also time compiled networks")
    parser.add_argument("--json", action="store_true", help="print JSON lines only")
    args = parser.parse_args()

    sweep = conv_sweep([int(w) for w in args.widths.split(",") if w])
    if args.json:
        for row in sweep:
            print(json.dumps({"part": "conv_width"} | row))
    else:
        print("3x3 conv at 32x32, batch 32, channels-last (median of 15)")
        for row in sweep:
            print(f"  {row['channels']:4d} ch {row['dtype']:9s} {row['ms']:7.3f} ms "
                  f"{row['gmac_per_s']:6.1f} GMAC/s")  # fmt: skip

    dense = load_generator(args.network).eval()
    variants = pruned_variants(dense, [v for v in args.variants.split(",") if v])

    default_threads = torch.get_num_threads()
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for batch in [int(b) for b in args.batches.split(",")]:
            for precision in args.precisions.split(","):
                for (name, (pruned, mac_cut)), compiled in itertools.product(
                    variants.items(), (False, True) if args.compiled else (False,)
                ):
                    timing = compare_latency(dense, pruned, batch, precision, compiled=compiled)
                    row = {"part": "pruned", "variant": name, "threads": threads,
                           "batch": batch, "precision": precision, "compiled": compiled,
                           "mac_cut": mac_cut, **timing,
                           "speedup_per_mac_cut": timing["speedup"] / mac_cut}  # fmt: skip
                    if args.json:
                        print(json.dumps(row), flush=True)
                    else:
                        mode = "compiled" if compiled else "eager"
                        print(f"{threads} thr b{batch:<3d} {precision} {mode:8s} {name:24s} "
                              f"MAC cut {mac_cut:5.2f}  dense {timing['reference_ms']:6.3f} ms  "
                              f"pruned {timing['candidate_ms']:6.3f} ms  speed-up "
                              f"{timing['speedup']:5.2f}  = {row['speedup_per_mac_cut']:.2f} "
                              f"of the MAC cut", flush=True)  # fmt: skip
    torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()

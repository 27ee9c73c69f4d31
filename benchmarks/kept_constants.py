"""What keeping parameter-derived tensors between inference passes saves, dense and pruned.

Inference passes keep gain-scaled kernels, demodulation norms, bias plus constant noise and the
affines' effective weights (`stylescope.networks.layers.frozen`); `rebuilt_constants()` turns
that off, as training has it. Each round times one forward pass of every (network, variant)
pair in turn, in one process, so that the machine's drift hits all of them alike; the medians
are reported in ms per image, with the pruned network's speed-up over the dense one.

The pruned network is the shipped generator cut to the demo's 64/64/48/32 channels, as
`prune_speed.py` builds its "tiered" variant.

    python benchmarks/kept_constants.py [--network G.safetensors] [--batches 1,32]
                                        [--precisions fp32,bf16] [--rounds 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch


def main() -> None:
    from prune_speed import pruned_variants

    from stylescope.checkpoint import load_generator
    from stylescope.networks.layers import rebuilt_constants

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default=None, help="dense generator (default: shipped)")
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dense = load_generator(args.network).eval()
    ((pruned, mac_cut),) = pruned_variants(dense, ["tiered"]).values()
    print(f"{args.threads} threads; pruned to {mac_cut:.2f}x fewer MACs; median ms/img over "
          f"{args.rounds} rounds")  # fmt: skip

    networks = {"dense": dense, "pruned": pruned}
    for batch in [int(b) for b in args.batches.split(",")]:
        z = torch.randn(batch, dense.z_dim)
        for precision in args.precisions.split(","):
            times: dict[tuple[str, str], list[float]] = {}
            autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
            with torch.no_grad(), autocast:
                for round_index in range(args.rounds + 3):  # The first 3 rounds warm up.
                    for variant in ("kept", "rebuilt"):
                        for name, G in networks.items():
                            with (
                                rebuilt_constants()
                                if variant == "rebuilt"
                                else contextlib.nullcontext()
                            ):
                                start = time.perf_counter()
                                G(z, noise_mode="const")
                                seconds = time.perf_counter() - start
                            if round_index >= 3:
                                times.setdefault((name, variant), []).append(seconds)
            ms = {key: 1000 * statistics.median(v) / batch for key, v in times.items()}
            for variant in ("rebuilt", "kept"):
                d, p = ms[("dense", variant)], ms[("pruned", variant)]
                print(f"b{batch:<3d} {precision}  {variant:8s} dense {d:7.3f}  pruned {p:6.3f}  "
                      f"speed-up {d / p:5.2f} = {d / p / mac_cut:.2f} of the MAC cut")  # fmt: skip


if __name__ == "__main__":
    main()

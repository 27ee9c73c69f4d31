"""Training throughput: images per second, peak memory and achieved FLOP/s.

Each case (config x precision) runs in a fresh process on synthfaces. FLOPs of one training
minibatch (every forward and backward convolution and matrix product of the D step, the G step
and the amortised lazy R1) are counted with torch.utils.flop_counter on the first minibatch; the
rate divides them by the measured time of the following ones.

    python benchmarks/train_throughput.py [--configs faces32,faces64] [--minibatches 24]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import tempfile
import time


def _total_flops_mode():
    """A dispatch mode that adds up the FLOPs of every counted op.

    torch.utils.flop_counter.FlopCounterMode attributes FLOPs to modules with hooks that break
    the double backward of R1, so the registry of per-op formulas is used directly here.
    """
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class TotalFlops(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                self.total += formula(*args, **kwargs, out_val=out)
            return out

    return TotalFlops()


def run_case(config: str, precision: str, batch: int, minibatches: int, queue) -> None:
    import torch

    from stylescope.train import Trainer, TrainOptions

    with tempfile.TemporaryDirectory() as tmp:
        options = TrainOptions(
            cfg=config, data="synthfaces:size=2048", precision=precision, batch=batch,
            outdir=tmp, kimg=1000, r1_interval=16,
        )  # fmt: skip
        trainer = Trainer(options)

        # FLOPs of a minibatch with and without R1, amortised over the R1 interval.
        counts = []
        for _ in range(2):
            with _total_flops_mode() as counter:
                trainer.train_minibatch()
            counts.append(counter.total)
        r1_every = options.r1_interval
        flops = (counts[0] + (r1_every - 1) * counts[1]) / r1_every

        # Timed minibatches.
        trainer.train_minibatch()
        start = time.perf_counter()
        for _ in range(minibatches):
            trainer.train_minibatch()
        elapsed = time.perf_counter() - start

    rate = minibatches * batch / elapsed
    queue.put({
        "config": config, "precision": precision, "batch": batch, "img_per_s": rate,
        "gflop_per_img": flops / batch / 1e9, "tflop_per_s": rate * flops / batch / 1e12,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),
    })  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="faces32,faces64")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--minibatches", type=int, default=24, help="timed minibatches per case")
    parser.add_argument("--json", action="store_true", help="one JSON object per case")
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    if not args.json:
        header = ("config", "prec", "img/s", "GFLOP/img", "TFLOP/s", "peak MiB")
        print("{:12s} {:5s} {:>8s} {:>10s} {:>8s} {:>9s}".format(*header))
    for config in args.configs.split(","):
        for precision in args.precisions.split(","):
            queue = ctx.Queue()
            proc = ctx.Process(
                target=run_case, args=(config, precision, args.batch, args.minibatches, queue)
            )
            proc.start()
            proc.join()
            if proc.exitcode != 0:
                raise SystemExit(f"{config} {precision}: benchmark process failed")
            row = queue.get(timeout=10)
            if args.json:
                print(json.dumps(row))
            else:
                print(
                    f"{config:12s} {precision:5s} {row['img_per_s']:8.1f} "
                    f"{row['gflop_per_img']:10.2f} {row['tflop_per_s']:8.3f} "
                    f"{row['peak_rss_mib']:9.0f}"
                )


if __name__ == "__main__":
    main()

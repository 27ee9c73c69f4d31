"""What a pruning costs and saves: MACs, measured CPU/GPU latency and same-latent fidelity.

MACs come from `torch.utils.flop_counter` (networks.summary). Latency is the median of repeated
timed forward passes after warm-up, per image, at a given batch and precision; it measures the
machine as it is, so compare numbers from one run only. Fidelity compares the dense and pruned
generators on the same z and noise (PSNR, SSIM, probe feature distance) and, optionally, the
distribution metrics of each generator against the training data (FID, fd_probe).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from stylescope.networks import CompiledGenerator, Generator
from stylescope.networks.summary import generator_costs


def generator_macs(G: Generator) -> int:
    """Multiply-accumulates of one image (mapping and synthesis) at batch 1."""
    return generator_costs(G)[-1].macs


def _forward_seconds(
    run: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
    z: torch.Tensor,
    c: torch.Tensor | None,
) -> float:
    """Wall time of one run(z, c), waiting for the GPU where there is one."""
    cuda = z.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    run(z, c)
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _const_noise(G: Generator) -> Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]:
    return lambda z, c: G(z, c, noise_mode="const")


def _latents(G: Generator, batch: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Random z and, for a conditional G, all-zero labels c, on G's device."""
    device = next(G.parameters()).device
    z = torch.randn(batch, G.z_dim, device=device)
    return z, torch.zeros(batch, G.c_dim, device=device) if G.c_dim else None


@torch.no_grad()
def generator_latency(
    G: Generator, batch: int = 32, precision: str = "fp32", repeats: int = 5, warmup: int = 2
) -> float:
    """Median seconds per image of G(z) with constant noise."""
    was_training = G.training
    G.eval()
    z, c = _latents(G, batch)
    run = _const_noise(G)
    enabled = precision == "bf16"
    times = []
    with torch.autocast(z.device.type, dtype=torch.bfloat16, enabled=enabled):
        for i in range(warmup + repeats):
            seconds = _forward_seconds(run, z, c)
            if i >= warmup:
                times.append(seconds)
    G.train(was_training)
    return statistics.median(times) / batch


# (batch, precision) pairs at which a pruned generator is timed against its dense parent.
LATENCY_SETTINGS = ((1, "fp32"), (1, "bf16"), (32, "fp32"), (32, "bf16"))

# The pairs timed again with both networks compiled (`speed_table(..., compiled=True)`).
COMPILED_LATENCY_SETTINGS = ((32, "fp32"), (32, "bf16"))


@torch.no_grad()
def compare_latency(
    reference: Generator,
    candidate: Generator,
    batch: int = 32,
    precision: str = "fp32",
    rounds: int | None = None,
    warmup: int = 2,
    compiled: bool = False,
) -> dict[str, float]:
    """Time two generators in alternating rounds, so that both see the same machine.

    On a shared or virtual machine the speed drifts by tens of percent within a minute; timing
    one network after the other turns that drift into a false speed-up. Each round times one
    forward pass of each network (in alternating order), and the speed-up is the median of the
    per-round ratios. With `compiled`, both run through `CompiledGenerator` (the first warm-up
    call compiles, untimed); it raises `CompileUnavailable` where torch.compile cannot run.

    Returns:
        reference_ms and candidate_ms (median ms per image) and speedup (reference / candidate).
    """
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    rounds = rounds or (40 if batch == 1 else 20)
    if compiled:
        run_reference, run_candidate = CompiledGenerator(reference), CompiledGenerator(candidate)
        warmup = max(warmup, 1)  # The first call compiles.
    else:
        run_reference, run_candidate = _const_noise(reference), _const_noise(candidate)
    modes = (reference.training, candidate.training)
    reference.eval()
    candidate.eval()
    z, c = _latents(reference, batch)

    times: list[tuple[float, float]] = []
    with torch.autocast(z.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        for i in range(warmup + rounds):
            if i % 2:
                t_candidate = _forward_seconds(run_candidate, z, c)
                t_reference = _forward_seconds(run_reference, z, c)
            else:
                t_reference = _forward_seconds(run_reference, z, c)
                t_candidate = _forward_seconds(run_candidate, z, c)
            if i >= warmup:
                times.append((t_reference, t_candidate))
    reference.train(modes[0])
    candidate.train(modes[1])
    return {
        "reference_ms": 1000 * statistics.median(t for t, _ in times) / batch,
        "candidate_ms": 1000 * statistics.median(t for _, t in times) / batch,
        "speedup": statistics.median(r / c for r, c in times),
    }


def speed_table(dense: Generator, pruned: Generator, compiled: bool = False) -> dict[str, float]:
    """Latency of the pruned generator and its speed-up over the dense one, per setting.

    Keys: ms_per_img_{S} (pruned), dense_ms_per_img_{S} (the dense network in the same rounds)
    and speedup_{S}, where S is b{B}_{P} for every (B, P) in LATENCY_SETTINGS and, with
    `compiled`, also b{B}_{P}_compiled for every pair in COMPILED_LATENCY_SETTINGS.
    """
    settings = [(batch, precision, False) for batch, precision in LATENCY_SETTINGS]
    if compiled:
        settings += [(batch, precision, True) for batch, precision in COMPILED_LATENCY_SETTINGS]
    row: dict[str, float] = {}
    for batch, precision, through_compile in settings:
        timing = compare_latency(dense, pruned, batch, precision, compiled=through_compile)
        key = f"b{batch}_{precision}" + ("_compiled" if through_compile else "")
        row[f"ms_per_img_{key}"] = timing["candidate_ms"]
        row[f"dense_ms_per_img_{key}"] = timing["reference_ms"]
        row[f"speedup_{key}"] = timing["speedup"]
    return row


def cost_table(
    G: Generator, batches: tuple[int, ...] = (1, 32), precisions: tuple[str, ...] = ("fp32", "bf16")
) -> dict[str, Any]:
    """MACs, parameters and latency (ms/img) for every batch and precision."""
    row: dict[str, Any] = {"macs": generator_macs(G), "params": G.num_parameters()}
    for batch in batches:
        for precision in precisions:
            repeats = 20 if batch == 1 else 5
            seconds = generator_latency(G, batch, precision, repeats=repeats)
            row[f"ms_per_img_b{batch}_{precision}"] = 1000 * seconds
    return row


def distribution(
    G: Generator, metrics: str, probe=None, data: str = "synthfaces", cache_dir=None
) -> dict[str, float]:
    """Distribution metrics of one generator as a flat name -> value dict."""
    from stylescope.metrics.evaluate import compute_metrics, parse_metrics

    values: dict[str, float] = {}
    for result in compute_metrics(
        G, parse_metrics(metrics), data, probe=probe, cache_dir=cache_dir
    ):
        values.update(result["results"])
    return values

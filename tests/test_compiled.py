"""Compiled inference: eager's images, the current weights, a clear error without a compiler."""

from __future__ import annotations

import pytest
import torch

from conftest import tiny_config
from stylescope.networks import CompiledGenerator, CompileUnavailable, Generator, compile_problem
from stylescope.prune.channels import prune_channels, score_channels, select_channels
from stylescope.prune.evaluate import compare_latency

pytestmark = pytest.mark.skipif(
    compile_problem("cpu") is not None, reason=str(compile_problem("cpu"))
)


def _generator(name: str) -> Generator:
    torch.manual_seed(0)
    G = Generator(tiny_config(name)).eval()
    with torch.no_grad():
        for p in G.synthesis.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return G


@pytest.mark.parametrize("name", ["faces32", "faces32-sg1"])
def test_compiled_images_equal_eager_ones(name):
    G = _generator(name)
    z = torch.randn(3, G.z_dim)
    compiled = CompiledGenerator(G, truncation_psi=0.7)
    with torch.no_grad():
        eager = G(z, None, 0.7, noise_mode="const")
    torch.testing.assert_close(compiled(z), eager, atol=1e-4, rtol=1e-4)
    if name != "faces32":
        return  # One bf16 graph is enough to check the autocast path.

    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        eager_bf16 = G(z, None, 0.7, noise_mode="const").float()
        compiled_bf16 = compiled(z).float()
    # A separate bf16 graph (not the fp32 one), no less accurate than eager bf16.
    compiled_error = (compiled_bf16 - eager).abs().mean()
    assert 0 < compiled_error < 1.5 * (eager_bf16 - eager).abs().mean()


def test_compiled_generator_follows_weight_edits_and_pruned_widths():
    G = _generator("faces32")
    P = prune_channels(G, select_channels(score_channels(G, "l1"), 0.5, min_channels=2))
    z = torch.randn(2, G.z_dim)
    compiled = CompiledGenerator(P)
    before = compiled(z)

    # In-place edits (as an optimizer step makes them) reach the compiled graph.
    with torch.no_grad():
        for p in P.parameters():
            p.mul_(torch.rand_like(p) + 0.5)
        eager = P(z, None, noise_mode="const")
    after = compiled(z)
    assert (after - before).abs().max() > 1e-2
    torch.testing.assert_close(after, eager, atol=1e-4, rtol=1e-4)


def test_compare_latency_of_compiled_networks():
    # Two copies of one network: the second compile finds the first one's kernels in the cache.
    G = _generator("faces32")
    timing = compare_latency(G, G, batch=2, precision="fp32", rounds=3, warmup=1, compiled=True)
    assert timing["reference_ms"] > 0 and timing["candidate_ms"] > 0 and timing["speedup"] > 0


def test_a_missing_compiler_is_named(monkeypatch):
    import torch._inductor.config as inductor_config

    monkeypatch.setattr(inductor_config.cpp, "cxx", (None, "no-such-compiler++"))
    assert "no-such-compiler++" in compile_problem("cpu")
    with pytest.raises(CompileUnavailable, match="C\\+\\+ compiler"):
        CompiledGenerator(_generator("faces32"))
    assert "not supported" in compile_problem("meta")

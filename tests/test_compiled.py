"""Compiled inference: eager's images, the current weights, a clear error without a compiler."""

from __future__ import annotations

import pytest
import torch

from conftest import tiny_generator
from stylescope.checkpoint import save_network
from stylescope.cli import main
from stylescope.networks import CompiledGenerator, CompileUnavailable, compile_problem
from stylescope.prune import evaluate
from stylescope.prune.channels import prune_channels, score_channels, select_channels

pytestmark = pytest.mark.skipif(
    compile_problem("cpu") is not None, reason=str(compile_problem("cpu"))
)


@pytest.mark.parametrize("name", ["faces32", "faces32-sg1"])
def test_compiled_images_equal_eager_ones(name):
    G = tiny_generator(name)
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
    G = tiny_generator("faces32")
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


def test_speed_table_times_compiled_networks(monkeypatch):
    monkeypatch.setattr(evaluate, "LATENCY_SETTINGS", ((2, "fp32"),))
    monkeypatch.setattr(evaluate, "COMPILED_LATENCY_SETTINGS", ((2, "fp32"),))
    # Two copies of one network: the second compile finds the first one's kernels in the cache.
    G = tiny_generator("faces32")
    row = evaluate.speed_table(G, G, compiled=True)
    for key in ("b2_fp32", "b2_fp32_compiled"):
        assert row[f"ms_per_img_{key}"] > 0 and row[f"dense_ms_per_img_{key}"] > 0
        assert row[f"speedup_{key}"] > 0


def _without_compiler():
    import torch._inductor.config as inductor_config

    return inductor_config.patch({"cpp.cxx": (None, "no-such-compiler++")})


def test_a_missing_compiler_is_named():
    with _without_compiler():
        assert "no-such-compiler++" in compile_problem("cpu")
        with pytest.raises(CompileUnavailable, match="C\\+\\+ compiler"):
            CompiledGenerator(tiny_generator("faces32"))
    assert "not supported" in compile_problem("meta")


def test_prune_compiled_latency_fails_early_without_a_compiler(tmp_path, capsys):
    save_network(tmp_path / "G.safetensors", tiny_generator("faces32"))
    argv = ["prune", "--network", str(tmp_path / "G.safetensors"), "--compiled-latency",
            "--out", str(tmp_path / "out")]  # fmt: skip
    with _without_compiler():
        assert main(argv) == 2
    assert "--compiled-latency" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

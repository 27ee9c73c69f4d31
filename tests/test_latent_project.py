"""Projection into W / W+: the loss goes down, resuming matches an uninterrupted run."""

from __future__ import annotations

import pytest
import torch

from conftest import tiny_config
from stylescope.checkpoint import CheckpointError
from stylescope.latent.common import seeds_to_ws
from stylescope.latent.project import (
    ProjectionSettings,
    load_state,
    project,
    reconstruction,
    save_state,
    start_projection,
)
from stylescope.metrics.probes import FaceProbe
from stylescope.networks import Generator


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny optimisation loops lose far more to thread hand-offs than they gain on a busy CPU.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _setup(name: str):
    G = Generator(tiny_config(name)).eval()
    probe = FaceProbe(16).eval()
    with torch.no_grad():
        target = G.synthesis(seeds_to_ws(G, [3]), noise_mode="const")
    return G, probe, target


@pytest.mark.parametrize("name,space", [("faces32", "w+"), ("faces32-sg1", "w")])
def test_projection_reduces_the_loss(name, space):
    G, probe, target = _setup(name)
    state = start_projection(G, ProjectionSettings(space, num_steps=30, lr=0.1), 200)
    before, _ = reconstruction(G, state, target)
    state = project(G, target, probe, state)
    after, quality = reconstruction(G, state, target)
    losses = [r["loss"] for r in state.history]
    assert len(losses) == 30 and state.step == 30
    assert min(losses[-5:]) < losses[0]
    assert (after - target).square().mean() < (before - target).square().mean()
    assert set(quality) == {"psnr", "ssim"}
    assert state.w.shape == (1, G.num_ws if space == "w+" else 1, G.w_dim)
    # The generator's own noise buffers are left as they were.
    assert all(not b.requires_grad for b in G.buffers())


def test_resumed_projection_matches_an_uninterrupted_one(tmp_path):
    G, probe, target = _setup("faces32")
    settings = ProjectionSettings("w", num_steps=12, lr=0.05)
    straight = project(G, target, probe, start_projection(G, settings, 200))

    half = project(G, target, probe, start_projection(G, settings, 200), stop_step=6)
    save_state(tmp_path / "state.safetensors", half)
    resumed = load_state(tmp_path / "state.safetensors", G)
    assert resumed.step == 6 and len(resumed.history) == 6
    resumed = project(G, target, probe, resumed)
    assert torch.allclose(resumed.w, straight.w, atol=1e-5)
    assert resumed.history[-1]["loss"] == pytest.approx(straight.history[-1]["loss"], rel=1e-4)


def test_projection_states_are_checked(tmp_path):
    G, probe, target = _setup("faces32")
    state = start_projection(G, ProjectionSettings("w+", num_steps=2), 100)
    save_state(tmp_path / "s.safetensors", state)
    other = Generator(tiny_config("faces32-sg1"))
    with pytest.raises(CheckpointError, match="malformed projection state"):
        load_state(tmp_path / "s.safetensors", other)
    (tmp_path / "bad.safetensors").write_bytes(b"junk")
    with pytest.raises(CheckpointError):
        load_state(tmp_path / "bad.safetensors", G)
    with pytest.raises(ValueError, match="'w' or 'w\\+'"):
        ProjectionSettings("z")

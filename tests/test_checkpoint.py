"""Network files: round trip, and clear errors for every kind of bad file."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from conftest import tiny_config
from stylescope.checkpoint import CheckpointError, load_network, read_safetensors, save_network
from stylescope.networks import Discriminator, Generator


@pytest.mark.parametrize("name", ["faces32", "faces32-sg1"])
def test_generator_round_trip(tmp_path, name):
    G = Generator(tiny_config(name)).eval()
    G.mapping.w_avg.normal_()
    path = tmp_path / "G.safetensors"
    save_network(path, G)
    loaded = load_network(path)
    assert loaded.config == G.config
    z = torch.randn(2, G.z_dim)
    torch.testing.assert_close(loaded(z, noise_mode="const"), G(z, noise_mode="const"))
    torch.testing.assert_close(loaded.w_avg, G.w_avg)


def test_pruned_config_round_trip(tmp_path):
    G = Generator(tiny_config("faces32", channel_overrides={"b8.conv0": 8})).eval()
    save_network(tmp_path / "G.safetensors", G)
    assert load_network(tmp_path / "G.safetensors").synthesis.b8.conv0.out_channels == 8


def test_discriminator_round_trip_and_kind_check(tmp_path):
    D = Discriminator(tiny_config("faces32"))
    save_network(tmp_path / "D.safetensors", D)
    assert isinstance(load_network(tmp_path / "D.safetensors", "discriminator"), Discriminator)
    with pytest.raises(CheckpointError, match="holds a discriminator, not a generator"):
        load_network(tmp_path / "D.safetensors", "generator")


def test_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_network(tmp_path / "absent.safetensors")

    G = Generator(tiny_config("faces32"))
    path = tmp_path / "G.safetensors"
    save_network(path, G)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_network(truncated)

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x80\x04\x95 this is a pickle, not safetensors")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_network(garbage)

    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a stylescope network file"):
        load_network(foreign)


def test_mismatched_and_malformed_contents(tmp_path):
    G = Generator(tiny_config("faces32"))
    path = tmp_path / "G.safetensors"
    save_network(path, G)
    tensors, metadata = read_safetensors(path)

    # Config says 32 channels but the tensors were saved from a different network.
    other = Generator(tiny_config("faces32", channel_max=16))
    bad_shapes = tmp_path / "shapes.safetensors"
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(bad_shapes), metadata)
    with pytest.raises(CheckpointError, match="wrong shapes"):
        load_network(bad_shapes)

    missing = tmp_path / "missing.safetensors"
    save_file({k: v for k, v in tensors.items() if "mapping" not in k}, str(missing), metadata)
    with pytest.raises(CheckpointError, match="missing"):
        load_network(missing)

    broken_config = tmp_path / "config.safetensors"
    save_file(tensors, str(broken_config), {**metadata, "config": "{not json"})
    with pytest.raises(CheckpointError, match="malformed network config"):
        load_network(broken_config)

    unknown_key = tmp_path / "unknown.safetensors"
    config = json.loads(metadata["config"]) | {"bogus": 1}
    save_file(tensors, str(unknown_key), {**metadata, "config": json.dumps(config)})
    with pytest.raises(CheckpointError, match="unknown keys"):
        load_network(unknown_key)

    nan = tmp_path / "nan.safetensors"
    poisoned = dict(tensors)
    key = next(k for k in poisoned if k.endswith("weight"))
    poisoned[key] = torch.full_like(poisoned[key], float("nan"))
    save_file(poisoned, str(nan), metadata)
    with pytest.raises(CheckpointError, match="non-finite"):
        load_network(nan)


def test_atomic_save_keeps_previous_file_on_failure(tmp_path, monkeypatch):
    G = Generator(tiny_config("faces32"))
    path = tmp_path / "G.safetensors"
    save_network(path, G)
    before = path.read_bytes()

    import stylescope.checkpoint as checkpoint

    def failing_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_file", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_network(path, G)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["G.safetensors"]

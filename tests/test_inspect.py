"""Weight inspection: statistics, spectra, magnitude sweeps, channel importance and the command."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import tiny_config
from stylescope.checkpoint import save_network
from stylescope.cli import main
from stylescope.inspect import (
    affine_spectrum,
    channel_importance,
    inspect_generator,
    inspect_layer,
    magnitude_sweep,
    tensor_stats,
    weight_layers,
)
from stylescope.inspect.output import FIGURE_NAMES, SECTION, remove_inspection
from stylescope.networks import Generator
from stylescope.report.manifest import add_table

ARCHS = ["faces32", "faces32-sg1"]


def _tiny_generator(name: str, **overrides) -> Generator:
    return Generator(tiny_config(name, **overrides)).eval()


# ------------------------------------------------------------------------------------------------
# Statistics.


def test_tensor_stats_on_known_values():
    stats = tensor_stats(torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]), near_zero_rel=0.01)
    assert stats.numel == 5
    assert stats.mean == 0 and stats.min == -2 and stats.max == 2
    assert stats.std == pytest.approx(math.sqrt(2))
    assert stats.rms == pytest.approx(math.sqrt(2))
    assert stats.abs_mean == pytest.approx(1.2)
    assert stats.quantiles["0.5"] == 0 and stats.quantiles["0.25"] == -1
    assert stats.near_zero_fraction == pytest.approx(0.2)


@pytest.mark.parametrize("name", ARCHS)
def test_layer_with_known_weights(name):
    G = _tiny_generator(name)
    layer = next(x for x in weight_layers(G) if x.name == "b8.layer1" or x.name == "b8.conv1")
    with torch.no_grad():
        values = torch.linspace(-3, 3, layer.module.weight.numel())
        layer.module.weight.copy_(values.reshape(layer.module.weight.shape))
    result = inspect_layer(layer)
    gain = layer.module.weight_gain
    expected = values.double().numpy()

    # Raw statistics are those of the values written; effective ones are scaled by the gain.
    assert result.raw.mean == pytest.approx(0, abs=1e-6)
    assert result.raw.std == pytest.approx(expected.std(), rel=1e-6)
    assert result.raw.min == pytest.approx(-3) and result.raw.max == pytest.approx(3)
    assert result.effective.std == pytest.approx(result.raw.std * gain, rel=1e-6)
    assert result.effective.abs_mean == pytest.approx(result.raw.abs_mean * gain, rel=1e-6)
    assert result.effective.quantiles["0.99"] == pytest.approx(
        np.quantile(expected, 0.99) * gain, rel=1e-5
    )
    assert result.effective.near_zero_fraction == result.raw.near_zero_fraction
    assert sum(result.histogram.counts) == values.numel()
    assert result.histogram.edges_raw[-1] == pytest.approx(
        result.histogram.edges_effective[-1] / gain
    )

    # Channel norms: output channel o holds one contiguous run of the values.
    out_channels = layer.module.weight.shape[0]
    rows = (values.double() * gain).reshape(out_channels, -1)
    assert np.allclose(result.out_channel_norms, rows.norm(dim=1).numpy())


@pytest.mark.parametrize("name", ARCHS)
def test_gains_and_lr_multipliers(name):
    G = _tiny_generator(name)
    result = inspect_generator(G, num_samples=8, sparsities=(0.5,))
    for layer in result.layers:
        expected_lr = G.config.mapping_lr_multiplier if layer.group == "mapping" else 1.0
        assert layer.lr_multiplier == pytest.approx(expected_lr)
        assert layer.weight_gain == pytest.approx(expected_lr / math.sqrt(layer.fan_in))
        assert layer.effective.std == pytest.approx(layer.raw.std * layer.weight_gain, rel=1e-6)
        assert layer.effective.max == pytest.approx(layer.raw.max * layer.weight_gain, rel=1e-6)
    noisy = [layer for layer in result.layers if layer.noise_strength is not None]
    assert noisy and all(layer.group == "synthesis" for layer in noisy)
    json.dumps(result.to_dict(), allow_nan=False)


@pytest.mark.parametrize("name", ARCHS)
def test_affine_spectra_match_svdvals(name):
    G = _tiny_generator(name)
    for info in G.style_layers():
        spectrum = affine_spectrum(info.affine)
        expected = torch.linalg.svdvals(info.affine.effective_weight().detach().double())
        got = torch.tensor(spectrum.singular_values, dtype=torch.float64)
        assert torch.allclose(got, expected, atol=1e-6 * float(expected[0]))
        assert 1 <= spectrum.effective_rank <= len(expected)

    # A rank-one affine has effective rank 1; an orthogonal one has full effective rank.
    affine = G.style_layers()[0].affine
    with torch.no_grad():
        affine.weight.copy_(torch.outer(torch.randn(affine.out_features), torch.randn(G.w_dim)))
    assert affine_spectrum(affine).effective_rank == pytest.approx(1, abs=1e-3)
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(affine.out_features, G.w_dim))  # Orthonormal columns.
        affine.weight.copy_(q)
    rank = affine_spectrum(affine).effective_rank
    assert rank == pytest.approx(min(affine.out_features, G.w_dim), rel=1e-4)


def test_magnitude_sweep_accounts_for_every_weight():
    G = _tiny_generator("faces32")
    layers = [layer for layer in weight_layers(G) if layer.group != "affine"]
    sweep = magnitude_sweep(layers, (0.0, 0.25, 0.5, 0.9))
    sizes = np.array([layer.module.weight.numel() for layer in layers])
    total = sizes.sum()
    removed = (np.asarray(sweep.layer_removed) * sizes[:, None]).sum(axis=0)
    assert np.allclose(removed / total, sweep.removed_fraction)
    assert sweep.removed_fraction[0] == 0 and sweep.mass_removed[0] == 0
    assert sweep.removed_fraction[2] == pytest.approx(0.5, abs=1 / total)
    assert np.all(np.diff(sweep.mass_removed) > 0) and np.all(np.diff(sweep.macs_removed) > 0)
    # Removing the smallest half removes less than half the mass and less still of the energy.
    assert sweep.energy_removed[2] < sweep.mass_removed[2] < 0.5

    # The global threshold, recomputed directly.
    pooled = torch.cat([x.module.effective_weight().detach().flatten().abs() for x in layers])
    threshold = pooled.double().sort().values[int(round(0.25 * total)) - 1]
    assert sweep.thresholds[1] == pytest.approx(float(threshold))


# ------------------------------------------------------------------------------------------------
# Channel importance.


def _reader_and_style(G: Generator, name: str, channel: int):
    """For group b8.conv0 / b8.layer0: the reader weight slice and the style rows of `channel`."""
    if name == "faces32":
        reader = G.synthesis.b8.conv1
        return reader.weight, reader.affine, [channel]
    count = G.synthesis.b8.layer0.out_channels
    return (
        G.synthesis.b8.layer1.conv.weight,
        G.synthesis.b8.layer0.affine,
        [channel, count + channel],
    )


@pytest.mark.parametrize("name", ARCHS)
def test_importance_responds_to_zeroed_channel(name):
    G = _tiny_generator(name)
    group = "b8.conv0" if name == "faces32" else "b8.layer0"
    channel = 5

    # Keys are channel_overrides names with one score per channel.
    l1 = channel_importance(G, "l1")
    for key, scores in l1.items():
        Generator(G.config.replace(channel_overrides={key: 4}))
        assert scores.ndim == 1 and bool((scores > 0).all())
    assert int(l1[group].argmin()) != channel

    # Zeroing the readers' weights on the channel makes it the least important by L1.
    weight, affine, style_rows = _reader_and_style(G, name, channel)
    saved = weight.detach().clone()
    with torch.no_grad():
        weight[:, channel] = 0
    l1 = channel_importance(G, "l1")
    assert float(l1[group][channel]) == 0 and int(l1[group].argmin()) == channel
    with torch.no_grad():
        weight.copy_(saved)

    # Zeroing its styles leaves L1 alone but makes it least important by the style criterion.
    with torch.no_grad():
        affine.weight[style_rows] = 0
        affine.bias[style_rows] = 0
    assert float(channel_importance(G, "l1")[group][channel]) > 0
    style = channel_importance(G, "style", num_samples=16)
    assert float(style[group][channel]) == 0 and int(style[group].argmin()) == channel
    with pytest.raises(ValueError, match="criterion"):
        channel_importance(G, "gradient")


# ------------------------------------------------------------------------------------------------
# The command.


def test_inspect_command_end_to_end(tmp_path, capsys):
    path = tmp_path / "G.safetensors"
    save_network(path, _tiny_generator("faces32"))
    out = tmp_path / "inspect"
    args = ["inspect", "--network", str(path), "--out", str(out), "--samples", "16"]
    assert main(args) == 0
    assert "weight layers" in capsys.readouterr().out

    # Numbers, figures and report entries.
    data = json.loads((out / "inspection.json").read_text())
    assert data["source"] == str(path)
    assert {layer["name"] for layer in data["layers"]} >= {"mapping.fc0", "b16.conv1", "b4.torgb"}
    assert set(data["importance"]) == {"l1", "style"}
    for name in FIGURE_NAMES:
        assert Image.open(out / f"{name}.png").format == "PNG"
    entries = [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]
    assert sorted(e["kind"] for e in entries) == ["figure"] * len(FIGURE_NAMES) + ["table"] * 2
    assert all(e["section"] == "Weights" and e["caption"].strip() for e in entries)
    assert main(["report", str(out)]) == 0
    assert "Weight histograms" in (out / "report.html").read_text()


def test_inspect_command_on_pruned_stylegan1(tmp_path, capsys):
    overrides = {"b4.const": 20, "b8.layer0": 12, "b8.layer1": 9}
    G = _tiny_generator("faces32-sg1", resolution=8, channel_overrides=overrides)
    path = tmp_path / "pruned.safetensors"
    save_network(path, G)
    out = tmp_path / "inspect"
    args = ["inspect", "--network", str(path), "--out", str(out), "--samples", "8"]
    assert main(args) == 0

    # An existing inspection is replaced only on request (see test_remove_inspection).
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    data = json.loads((out / "inspection.json").read_text())
    for key, count in overrides.items():
        assert len(data["importance"]["l1"][key]) == count
        assert len(data["importance"]["style"][key]) == count
    layer = next(x for x in data["layers"] if x["name"] == "b8.layer1")
    assert layer["shape"] == [9, 12, 3, 3]
    assert layer["noise_strength"] is not None


def test_inspect_command_errors(tmp_path, capsys):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not a network file")
    assert main(["inspect", "--network", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "stylescope inspect: error:" in err and "broken.safetensors" in err
    args = ["inspect", "--config", "faces32", "--sparsities", "0.5,1.5", "--out", str(tmp_path)]
    assert main(args) == 2
    assert "--sparsities" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_remove_inspection_keeps_other_report_entries(tmp_path):
    add_table(tmp_path, "Training", "losses", ["a"], [[1]], "kept")
    add_table(tmp_path, SECTION, "layers", ["a"], [[1]], "removed")
    (tmp_path / "inspection.json").write_text("{}")
    (tmp_path / "histograms.png").write_bytes(b"")
    remove_inspection(tmp_path)
    entries = [json.loads(line) for line in (tmp_path / "report.jsonl").read_text().splitlines()]
    assert [e["section"] for e in entries] == ["Training"]
    assert not (tmp_path / "inspection.json").exists()
    assert not (tmp_path / "histograms.png").exists()

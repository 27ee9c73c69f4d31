"""The CLI commands of the core package: summary, generate from a config, demo."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from stylescope.checkpoint import load_network
from stylescope.cli import main
from stylescope.commands import CommandError, parse_int_list
from stylescope.networks import Generator, get_config
from stylescope.networks.summary import count_macs, generator_costs
from stylescope.report import read_manifests


def test_parse_int_list():
    assert parse_int_list("0-3,7, 10-11") == [0, 1, 2, 3, 7, 10, 11]
    for bad in ("", "a", "3-1", "-2"):
        with pytest.raises(CommandError):
            parse_int_list(bad)


def test_summary_table_and_json(capsys):
    assert main(["summary", "faces32"]) == 0
    out = capsys.readouterr().out
    assert "synthesis.b32" in out and "Discriminator" in out
    assert main(["summary", "faces32", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    total = payload["generator"][-1]
    assert total["name"] == "total" and total["flops"] == 2 * total["macs"]
    blocks = sum(row["macs"] for row in payload["generator"][:-1])
    assert blocks == pytest.approx(total["macs"], rel=0.01)


def test_summary_unknown_config(capsys):
    assert main(["summary", "nope"]) == 2
    assert "unknown network config 'nope'" in capsys.readouterr().err


def test_mac_count_of_one_convolution():
    import torch

    conv = torch.nn.Conv2d(4, 8, 3, padding=1, bias=False)
    assert count_macs(conv, torch.zeros(1, 4, 16, 16))[""] == 4 * 8 * 9 * 16 * 16


def test_generator_costs_cover_every_block():
    G = Generator(get_config("faces32"))
    rows = generator_costs(G)
    assert [r.name for r in rows][-1] == "total"
    assert rows[-1].params == G.num_parameters()
    # The 32x32 block dominates: two 3x3 convs at 128 channels are ~190 MMACs.
    assert 150e6 < rows[-2].macs < 250e6


def test_generate_from_config(tmp_path, capsys):
    out = tmp_path / "gen"
    code = main(["generate", "--config", "faces32", "--seeds", "0-3", "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "grid.png",
        "seed0000.png",
        "seed0001.png",
        "seed0002.png",
        "seed0003.png",
    ]
    assert Image.open(out / "grid.png").size == (64, 64)


def test_generate_reports_bad_options(tmp_path, capsys):
    assert main(["generate", "--config", "faces32", "--seeds", "x", "--out", str(tmp_path)]) == 2
    assert "--seeds" in capsys.readouterr().err
    missing = tmp_path / "missing.safetensors"
    assert main(["generate", "--network", str(missing), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_demo_quick_runs_every_stage_into_one_report(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path.parent)
    assert main(["demo", "--quick", "--out", tmp_path.name]) == 0  # A relative --out, as in make.
    summary = json.loads((tmp_path / "demo.json").read_text())
    for stage in ("generator", "metrics", "weights", "pruning", "latent", "report"):
        assert summary[stage]["status"] == "ok", stage
    page = (tmp_path / "report.html").read_text()
    for section in ("Generator", "Weights", "Pruning", "Latent space"):
        assert section in page
    figures = [e for e in read_manifests(tmp_path) if e["kind"] == "figure"]
    assert len(figures) >= 10
    assert page.count("data:image/png;base64") == len(figures)  # Every figure was found.
    (pruned,) = (tmp_path / "pruning" / "channel").glob("keep*/generator.safetensors")
    # Vector-width channel counts: 32 at the finest resolution, 48 and 64 below.
    widths = [load_network(pruned).synthesis.b32.conv1.out_channels]
    widths += [load_network(pruned).synthesis.b16.conv1.out_channels]
    assert widths == [32, 48]
    assert (tmp_path / "latent" / "edits" / "age" / "edit_age.png").is_file()


def test_demo_reports_bad_options(tmp_path, capsys):
    assert main(["demo", "--skip", "everything", "--out", str(tmp_path)]) == 2
    assert "--skip" in capsys.readouterr().err
    assert main(["demo", "--network", str(tmp_path / "none.safetensors")]) == 2
    assert "no generator file" in capsys.readouterr().err

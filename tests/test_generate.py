"""`stylescope generate`: seeds, style-mixing grids and interpolation animations."""

from __future__ import annotations

from PIL import Image

from stylescope.cli import main


def test_style_mixing_grid(tmp_path):
    args = ["generate", "--config", "faces32", "--style-mix", "0-2", "--cols", "10-13",
            "--mix-layers", "0-3", "--out", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    assert Image.open(tmp_path / "style_mix.png").size == (5 * 32, 4 * 32)


def test_style_mixing_rejects_unknown_layers(tmp_path, capsys):
    args = ["generate", "--config", "faces32", "--style-mix", "0", "--mix-layers", "0-99",
            "--out", str(tmp_path)]  # fmt: skip
    assert main(args) == 2
    assert "--mix-layers" in capsys.readouterr().err


def test_interpolation_gif(tmp_path, capsys):
    args = ["generate", "--config", "faces32", "--seeds", "0-2", "--interpolate", "--frames",
            "3", "--out", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    gif = Image.open(tmp_path / "interpolation.gif")
    assert gif.n_frames == 9 and gif.size == (32, 32)
    assert main(["generate", "--config", "faces32", "--seeds", "0", "--interpolate"]) == 2

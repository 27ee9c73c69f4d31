"""`stylescope latent ...`, `edit` and `project` end to end on a tiny network file."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import tiny_config
from stylescope.checkpoint import save_network
from stylescope.cli import main
from stylescope.metrics.probes import FaceProbe, save_probe
from stylescope.networks import Generator


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny networks lose far more to thread hand-offs than they gain on a busy CPU.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("latent")
    torch.manual_seed(0)
    save_network(root / "G.safetensors", Generator(tiny_config("faces32")))
    save_probe(root / "probe.safetensors", FaceProbe(16).eval(), {})
    return root


def _net(files, probe=True):
    args = ["--network", str(files / "G.safetensors")]
    return args + (["--probe", str(files / "probe.safetensors")] if probe else [])


def _manifest(folder):
    return [json.loads(line) for line in (folder / "report.jsonl").read_text().splitlines()]


def test_global_and_sweep(files, capsys):
    out = files / "global"
    args = ["latent", "global", *_net(files), "--seeds", "0-1", "--num-single", "1"]
    assert main([*args, "--stats-samples", "100", "--out", str(out)]) == 0
    data = json.loads((out / "global.json").read_text())
    assert data["verdict"]["claim"] in ("confirmed", "refuted", "mixed")
    entries = _manifest(out)
    assert {e["kind"] for e in entries} == {"table", "figure"}
    assert all("2 seeds" in e["caption"] or "seeds [0, 1]" in e["caption"] for e in entries)
    assert "latent global: claim" in capsys.readouterr().out

    out = files / "sweep"
    args = ["latent", "sweep", *_net(files), "--seeds", "0-1", "--space", "s", "--dims", "0-2"]
    assert (
        main([*args, "--style-layer", "b8.conv0", "--stats-samples", "100", "--out", str(out)]) == 0
    )
    semantic = json.loads((out / "semantic_map_s.json").read_text())
    assert [e["layer"] for e in semantic["entries"]] == ["b8.conv0"] * 3
    assert (out / "change_maps_s.png").is_file() and len(_manifest(out)) == 3


def test_directions_edit_and_evaluate(files, capsys):
    out = files / "directions"
    args = ["latent", "directions", *_net(files), "--samples", "100", "--num-components", "2"]
    assert main([*args, "--layers", "0-2", "--condition", "--out", str(out)]) == 0
    index = json.loads((out / "directions.json").read_text())
    names = {d["name"] for d in index}
    assert {"pca00", "sefa01", "age", "yaw", "smile", "age_c_yaw_c_smile"} <= names
    assert all(d["layers"] == [0, 1, 2] for d in index)
    assert index[0]["provenance"]["generator"].endswith("G.safetensors")

    edit_out = files / "edit"
    args = ["edit", *_net(files, probe=False), "--seeds", "0-1", "--direction", "age"]
    args += ["--directions", str(out), "--strengths", "-2:2:3", "--layers", "0-1"]
    assert main([*args, "--condition", "yaw", "--out", str(edit_out)]) == 0
    record = json.loads((edit_out / "edit_age_c_yaw.json").read_text())
    assert record["layers"] == [0, 1] and record["strengths"] == [-2.0, 0.0, 2.0]
    assert (edit_out / "edit_age_c_yaw.png").is_file()

    eval_out = files / "evaluate"
    args = ["latent", "evaluate", *_net(files), "--seeds", "0-1", "--calibration-seeds", "5-6"]
    args += ["--samples", "100", "--num-components", "2", "--attributes", "age", "--stats-samples"]
    assert main([*args, "100", "--strengths", "-1,1", "--out", str(eval_out)]) == 0
    rows = json.loads((eval_out / "evaluate.json").read_text())["rows"]
    methods = {r["method"] for r in rows}
    assert methods == {"pca", "sefa", "supervised", "supervised-conditional", "s-channel"}
    assert _manifest(eval_out)[0]["title"] == "Edit precision and side effects"

    # Directions from a folder (e.g. of the dense generator) measured on this generator.
    transfer_out = files / "transfer"
    assert main([*args, "100", "--strengths", "-1,1", "--transfer", str(out),
                 "--out", str(transfer_out)]) == 0  # fmt: skip
    rows = json.loads((transfer_out / "evaluate.json").read_text())["rows"]
    transferred = [r for r in rows if r["method"] == "transferred"]
    assert [(r["direction"], r["layers"]) for r in transferred] == [("age", [0, 1, 2])]
    assert main([*args, "100", "--transfer", str(files), "--out", str(transfer_out)]) == 2


def test_project_and_resume(files):
    out = files / "project"
    args = ["project", *_net(files), "--target-seed", "3", "--steps", "8", "--out", str(out)]
    assert main([*args, "--stop-after", "4"]) == 0
    assert json.loads((out / "project.json").read_text())["step"] == 4
    assert main([*args, "--resume", str(out / "state.safetensors")]) == 0
    result = json.loads((out / "project.json").read_text())
    assert result["step"] == 8 and result["psnr"] > 0 and 0 < result["ssim"] <= 1

    # The projected latent can be edited like a seed.
    if (files / "directions").is_dir():
        edit_out = files / "edit_projection"
        args = ["edit", *_net(files, False), "--direction", "pca00", "--directions"]
        args += [str(files / "directions"), "--projection", str(out / "state.safetensors")]
        assert main([*args, "--out", str(edit_out)]) == 0
        assert json.loads((edit_out / "edit_pca00.json").read_text())["rows"] == ["projection"]


@pytest.mark.parametrize(
    "argv,message",
    [
        (["edit", "--direction", "nope", "--directions", "{d}"], "unknown direction 'nope'"),
        (["edit", "--direction", "{bad}"], "malformed direction file"),
        (["edit", "--direction", "age", "--directions", "{d}", "--layers", "0-99"], "--layers"),
        (
            ["edit", "--direction", "age", "--directions", "{d}", "--strengths", "3:1"],
            "--strengths",
        ),
        (["edit", "--direction", "age", "--directions", "{d}", "--seeds", "5-1"], "backwards"),
        (["latent", "sweep", "--dims", "0-99999", "--probe", "{p}"], "outside"),
        (["latent", "directions", "--method", "ica"], "--method"),
        (["latent", "evaluate", "--probe", "{p}", "--attributes", "nose"], "--attributes"),
        (["latent", "global", "--probe", "{missing}"], "--probe"),
        (["project", "--probe", "{p}"], "--target"),
    ],
)
def test_bad_input_gives_clear_errors(files, capsys, argv, message):
    if not (files / "directions").is_dir():
        pytest.skip("needs the directions of test_directions_edit_and_evaluate")
    bad = files / "bad.json"
    bad.write_text('{"format": "stylescope-direction", "name": "x"}')
    values = {"d": files / "directions", "bad": bad, "p": files / "probe.safetensors",
              "missing": files / "none.safetensors"}  # fmt: skip
    argv = [a.format(**{k: str(v) for k, v in values.items()}) for a in argv]
    words = 2 if argv[0] == "latent" else 1
    assert main([*argv[:words], *_net(files, probe=False), *argv[words:]]) == 2
    assert message in capsys.readouterr().err

"""Write a weight inspection to a folder: inspection.json, PNG figures and report entries.

The report entries (section 'Weights') go through `stylescope.report.manifest`, so
`stylescope report DIR` renders them with the rest of a study.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from stylescope.inspect import plots
from stylescope.inspect.weights import GeneratorInspection
from stylescope.report.manifest import MANIFEST_NAME, add_figure, add_table

log = logging.getLogger(__name__)

SECTION = "Weights"
JSON_NAME = "inspection.json"
FIGURE_NAMES = (
    "histograms",
    "affine_spectra",
    "channel_norms",
    "gains_noise",
    "magnitude_sweep",
    "channel_importance",
)


def write_inspection(
    result: GeneratorInspection, out_dir: str | os.PathLike, source: str = ""
) -> dict[str, Path]:
    """Write inspection.json, six figures and two tables to `out_dir`; return the paths by name.

    Args:
        result: from `inspect_generator`.
        out_dir: folder to write into (created if needed); report entries are appended to its
            report.jsonl.
        source: what was inspected (a file path or 'config NAME'), recorded in the JSON and
            captions.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    what = f" of {source}" if source else ""

    # All numbers.
    payload = {"source": source, **result.to_dict()}
    json_path = out_dir / JSON_NAME
    json_path.write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    paths = {"json": json_path}

    # Counts quoted in captions.
    synthesis = [layer for layer in result.layers if layer.group == "synthesis"]
    plain = [layer for layer in result.layers if layer.group != "affine"]
    affines = [layer for layer in result.layers if layer.group == "affine"]
    num_weights = sum(layer.effective.numel for layer in plain)
    sweep = result.sweeps["effective"]

    # Figures.
    figures = [
        (
            "histograms",
            plots.plot_histograms,
            "Weight histograms",
            f"Histogram (64 equal bins over +-max|w|, log counts) of the effective weights "
            f"(raw weights times weight_gain){what}, for each of the {len(plain)} mapping "
            f"(orange) and synthesis (blue) layers; {num_weights:,} weights in all. Raw "
            f"histograms have the same shape, with edges divided by the gain.",
        ),
        (
            "affine_spectra",
            plots.plot_affine_spectra,
            "Style-affine spectra",
            f"Singular values of the effective weight of each of the {len(affines)} style "
            f"affines{what} (torch.linalg.svdvals, normalised by the largest), and their "
            f"effective rank, exp of the entropy of the normalised singular values.",
        ),
        (
            "channel_norms",
            plots.plot_channel_norms,
            "Channel norms",
            f"L2 norm of each input channel (over outputs and kernel taps) and each output "
            f"channel (over inputs and taps) of the effective weights of the {len(synthesis)} "
            f"synthesis layers{what}, sorted and divided by each layer's largest.",
        ),
        (
            "gains_noise",
            plots.plot_gains_noise,
            "Gains, noise strengths and biases",
            f"Equalized-LR weight_gain (lr_multiplier / sqrt(fan_in)), learned noise strength and "
            f"effective bias RMS of each of the {len(plain)} mapping and synthesis layers{what}, "
            f"read from the module attributes.",
        ),
        (
            "magnitude_sweep",
            plots.plot_magnitude_sweep,
            "What magnitude pruning would cut",
            f"Global unstructured magnitude pruning simulated on {num_weights:,} effective "
            f"weights of {len(plain)} mapping and synthesis layers{what} (style affines "
            f"excluded): one |w| threshold per sparsity; share of |w| mass, w^2 energy and of "
            f"the conv/matmul MACs (batch 1) of removed weights; right, share of each layer "
            f"under the threshold. Nothing is pruned; dense kernels would not run faster.",
        ),
        (
            "channel_importance",
            plots.plot_channel_importance,
            "Channel importance",
            f"Importance of each feature map of the {len(result.importance.get('l1', {}))} "
            f"channel groups{what}, sorted and divided by each group's largest: 'l1' is the L1 "
            f"norm of the reader layers' effective weights on that channel; 'style' also "
            f"weights it by the mean style magnitude over {result.num_style_samples} latents "
            f"z ~ N(0, I) (seed {result.seed}).",
        ),
    ]
    for order, (name, draw, title, caption) in enumerate(figures):
        paths[name] = draw(result, out_dir / f"{name}.png")
        add_figure(out_dir, SECTION, paths[name].name, title, caption, order=order)

    # Tables.
    rows = []
    for layer in result.layers:
        rows.append(
            [
                layer.name,
                layer.kind,
                "x".join(str(d) for d in layer.shape),
                layer.weight_gain,
                layer.lr_multiplier,
                layer.raw.std,
                layer.effective.std,
                layer.effective.abs_mean,
                layer.effective.near_zero_fraction,
                "" if layer.noise_strength is None else layer.noise_strength,
                "" if layer.bias_effective is None else layer.bias_effective.rms,
                "" if layer.spectrum is None else layer.spectrum.effective_rank,
            ]
        )
    columns = ["layer", "kind", "shape", "weight_gain", "lr mult", "raw std", "eff. std",
               "eff. |w| mean", "near-zero", "noise", "bias RMS", "eff. rank"]  # fmt: skip
    add_table(
        out_dir,
        SECTION,
        "Weight layers",
        columns,
        rows,
        f"One row per weight layer{what} ({len(result.layers)} layers). Effective = raw times "
        f"weight_gain; near-zero is the share with |w| < {plain[0].effective.near_zero_rel:g} "
        f"times the layer's RMS; eff. rank is given for style affines.",
        order=len(figures),
    )
    raw_sweep = result.sweeps.get("raw", sweep)
    sweep_rows = [
        [s, t, m, e, mac, raw_mac]
        for s, t, m, e, mac, raw_mac in zip(
            sweep.sparsities,
            sweep.thresholds,
            sweep.mass_removed,
            sweep.energy_removed,
            sweep.macs_removed,
            raw_sweep.macs_removed,
            strict=True,
        )
    ]
    add_table(
        out_dir,
        SECTION,
        "Global magnitude sparsity",
        [
            "sparsity",
            "|w| threshold",
            "mass removed",
            "energy removed",
            "MACs removed",
            "MACs removed (raw ranking)",
        ],  # fmt: skip
        sweep_rows,
        f"Global magnitude pruning simulated on {num_weights:,} effective weights of "
        f"{len(plain)} layers{what}; the last column ranks raw (gain-free) weights instead.",
        order=len(figures) + 1,
    )
    log.info("wrote inspection of %d layers to %s", len(result.layers), out_dir)
    return paths


def remove_inspection(out_dir: str | os.PathLike) -> None:
    """Delete an earlier inspection in `out_dir`: its JSON, figures and 'Weights' report lines."""
    out_dir = Path(out_dir)
    (out_dir / JSON_NAME).unlink(missing_ok=True)
    for name in FIGURE_NAMES:
        (out_dir / f"{name}.png").unlink(missing_ok=True)
    manifest = out_dir / MANIFEST_NAME
    if manifest.is_file():
        kept = [
            line
            for line in manifest.read_text(encoding="utf-8").splitlines()
            if line.strip() and not _is_ours(line)
        ]
        manifest.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def _is_ours(line: str) -> bool:
    try:
        return json.loads(line).get("section") == SECTION
    except ValueError:
        return False

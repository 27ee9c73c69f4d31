"""Weight inspection: what a generator learned, layer by layer, and what pruning would cut.

`inspect_generator(G)` measures every weight layer (raw and gain-applied statistics, histograms,
equalized-LR gains, channel norms, noise strengths, biases, style-affine spectra), sweeps global
magnitude sparsity, and scores channels for structured pruning (`channel_importance`). The
result is plain dataclasses with `to_dict()`; `write_inspection` turns it into inspection.json,
a few PNG figures and report.jsonl entries.

The package is `stylescope.inspect`; code inside it never needs the standard `inspect` module.
"""

from stylescope.inspect.importance import (
    ChannelGroup,
    channel_groups,
    channel_importance,
    style_magnitudes,
)
from stylescope.inspect.output import write_inspection
from stylescope.inspect.weights import (
    GeneratorInspection,
    LayerInspection,
    MagnitudeSweep,
    TensorStats,
    WeightLayer,
    affine_spectrum,
    channel_norms,
    inspect_generator,
    inspect_layer,
    magnitude_sweep,
    tensor_stats,
    weight_layers,
)

__all__ = [
    "ChannelGroup",
    "GeneratorInspection",
    "LayerInspection",
    "MagnitudeSweep",
    "TensorStats",
    "WeightLayer",
    "affine_spectrum",
    "channel_groups",
    "channel_importance",
    "channel_norms",
    "inspect_generator",
    "inspect_layer",
    "magnitude_sweep",
    "style_magnitudes",
    "tensor_stats",
    "weight_layers",
    "write_inspection",
]

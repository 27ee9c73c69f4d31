"""Datasets for training and analysis: procedural `synthfaces` and real images by path.

Every dataset here is a `torch.utils.data.Dataset` whose item i is `(img, c)`: `img` a float32
[3, R, R] tensor in [-1, 1] and `c` a float32 label vector (empty when a dataset has no labels).
Each also has `resolution`, `num_channels`, `label_dim`, `label_names` and `has_labels`, so the
training loop can call `open_dataset(spec, resolution)` and treat them alike.

    synthfaces      procedural cartoon portraits with ground-truth attributes and region maps
    images          folders and zips of PNG/JPEG/WebP images, with optional labels from
                    dataset.json (NVlabs layout) or CelebA's list_attr_celeba.txt
"""

from stylescope.data.images import (
    DatasetError,
    DatasetReport,
    ImageFolderDataset,
    open_dataset,
    scan_dataset,
)
from stylescope.data.synthfaces import (
    ATTRIBUTE_NAMES,
    ATTRIBUTE_RANGES,
    REGION_NAMES,
    SynthFacesBatch,
    SynthFacesDataset,
    render_synthfaces,
    sample_attributes,
)

__all__ = [
    "DatasetError",
    "DatasetReport",
    "ImageFolderDataset",
    "open_dataset",
    "scan_dataset",
    "ATTRIBUTE_NAMES",
    "ATTRIBUTE_RANGES",
    "REGION_NAMES",
    "SynthFacesBatch",
    "SynthFacesDataset",
    "render_synthfaces",
    "sample_attributes",
]

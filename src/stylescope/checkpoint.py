"""Network files: safetensors weights plus a JSON config, never pickles.

A network file holds the module's state dict as safetensors tensors and, in the safetensors
metadata, the format name, the kind of network ('generator' or 'discriminator') and its
`NetworkConfig` as JSON. Loading rebuilds the module from that config and then loads the tensors,
so no code stored in a file is ever run. Writes go to a temporary file that is renamed into place,
so a crash mid-write leaves any earlier file intact.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Literal

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from stylescope.networks import Discriminator, Generator, NetworkConfig

log = logging.getLogger(__name__)

FORMAT_NAME = "stylescope-network"
FORMAT_VERSION = "1"
NetworkKind = Literal["generator", "discriminator"]


class CheckpointError(ValueError):
    """A network or snapshot file is missing, malformed or does not match its config."""


def atomic_save_tensors(
    path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict[str, str]
) -> None:
    """Write safetensors to a temporary file beside `path`, fsync it, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp_name, metadata=metadata)
        with open(tmp_name, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file, with a clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        tensors = load_file(str(path))
        with open(path, "rb") as f:
            header_size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(header_size))
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: not a readable safetensors file ({error})") from error
    return tensors, dict(header.get("__metadata__") or {})


def save_network(
    path: str | os.PathLike,
    module: Generator | Discriminator,
    extra_metadata: dict[str, str] | None = None,
) -> None:
    """Save a generator or discriminator with its config."""
    kind = "generator" if isinstance(module, Generator) else "discriminator"
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "config": module.config.to_json(),
    }
    metadata.update(extra_metadata or {})
    atomic_save_tensors(path, module.state_dict(), metadata)
    log.info("saved %s to %s", kind, path)


def load_network(
    path: str | os.PathLike, kind: NetworkKind = "generator", device: str | torch.device = "cpu"
) -> Generator | Discriminator:
    """Rebuild a network from its config and load its tensors, checking every key and shape."""
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{path}: not a stylescope network file (metadata format is {metadata.get('format')!r})"
        )
    if metadata.get("kind") != kind:
        raise CheckpointError(f"{path}: holds a {metadata.get('kind')}, not a {kind}")
    try:
        config = NetworkConfig.from_dict(json.loads(metadata["config"]))
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: malformed network config ({error})") from error

    module = Generator(config) if kind == "generator" else Discriminator(config)
    load_state_strict(module, tensors, str(path))
    return module.to(device).eval()


def load_state_strict(
    module: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str
) -> None:
    """Load a state dict, reporting missing, unexpected and mis-shaped entries by name."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong_shape = [
        f"{k}: file {list(tensors[k].shape)} vs network {list(v.shape)}"
        for k, v in expected.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        problems.append(f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
    if wrong_shape:
        problems.append(f"wrong shapes {wrong_shape[:5]}")
    if problems:
        raise CheckpointError(f"{source}: tensors do not match the network: " + "; ".join(problems))
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{source}: non-finite values in {bad[:5]}")
    module.load_state_dict(tensors, strict=True)


# Shipped default generator (trained by `stylescope train`; see its model card beside it).
ASSETS_DIR = Path(__file__).resolve().parent / "assets"
DEFAULT_GENERATOR = ASSETS_DIR / "faces32_generator.safetensors"


def load_generator(
    network: str | os.PathLike | None = None,
    config: str | None = None,
    init_seed: int = 0,
    device: str | torch.device = "cpu",
) -> Generator:
    """A generator from a file, a freshly initialised registered config, or the shipped default.

    Args:
        network: path of a generator file; takes precedence.
        config: name of a registered config to initialise with `init_seed` (untrained).
        init_seed: seed of the initialisation when `config` is used.
        device: where to put the network.
    """
    from stylescope.networks import get_config

    if network is not None:
        return load_network(network, "generator", device)
    if config is not None:
        torch.manual_seed(init_seed)
        return Generator(get_config(config)).to(device).eval()
    if not DEFAULT_GENERATOR.is_file():
        raise CheckpointError(
            f"no shipped default generator at {DEFAULT_GENERATOR}; pass a network file or a config"
        )
    return load_network(DEFAULT_GENERATOR, "generator", device)

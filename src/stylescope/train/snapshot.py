"""Training snapshots: everything needed to continue a run bit for bit, in one safetensors file.

Tensors: the state dicts of G, D and G_ema under 'G/', 'D/', 'G_ema/'; the Adam moments and step
counts of both optimisers under 'opt_G/<index>/' and 'opt_D/<index>/'; the path-length mean; and
the torch CPU (and CUDA) random states as uint8 tensors. Metadata (strings): the format, the
resolved training options, the network config, counters in images and ticks, the augmentation
state, optimiser hyper-parameters, and the NumPy and Python random states as JSON. No pickles.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylescope.checkpoint import (
    CheckpointError,
    atomic_save_tensors,
    load_state_strict,
    read_safetensors,
)

SNAPSHOT_FORMAT = "stylescope-training-snapshot"
SNAPSHOT_VERSION = "1"


@dataclass
class Counters:
    """Progress counters, in images and ticks."""

    cur_nimg: int = 0
    cur_tick: int = 0
    batch_idx: int = 0
    tick_start_nimg: int = 0
    nan_events: int = 0
    lr_scale: float = 1.0


def optimizer_tensors(prefix: str, opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    tensors = {}
    for index, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"{prefix}/{index}/{key}"] = torch.as_tensor(value)
    return tensors


def optimizer_groups(opt: torch.optim.Optimizer) -> list[dict[str, Any]]:
    groups = []
    for group in opt.state_dict()["param_groups"]:
        groups.append({k: v for k, v in group.items() if k != "params"})
    return groups


def load_optimizer(
    opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor], groups: list
) -> None:
    current = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "/"):
            _, index, name = key.split("/", 2)
            state.setdefault(int(index), {})[name] = value
    if len(groups) != len(current["param_groups"]):
        raise CheckpointError(f"{prefix}: snapshot has {len(groups)} parameter groups")
    param_groups = [
        {**saved, "params": live["params"]}
        for saved, live in zip(groups, current["param_groups"], strict=True)
    ]
    opt.load_state_dict({"state": state, "param_groups": param_groups})


def save_snapshot(
    path: str | os.PathLike,
    G: torch.nn.Module,
    D: torch.nn.Module,
    G_ema: torch.nn.Module,
    opt_G: torch.optim.Optimizer,
    opt_D: torch.optim.Optimizer,
    counters: Counters,
    options_json: str,
    augment_state: dict[str, float],
    pl_mean: torch.Tensor,
) -> None:
    """Write a snapshot atomically; refuses to write non-finite weights."""
    tensors: dict[str, torch.Tensor] = {}
    for prefix, module in (("G", G), ("D", D), ("G_ema", G_ema)):
        for key, value in module.state_dict().items():
            if value.is_floating_point() and not torch.isfinite(value).all():
                raise CheckpointError(f"refusing to save a snapshot: {prefix}.{key} is not finite")
            tensors[f"{prefix}/{key}"] = value
    tensors.update(optimizer_tensors("opt_G", opt_G))
    tensors.update(optimizer_tensors("opt_D", opt_D))
    tensors["state/pl_mean"] = pl_mean.detach().reshape(1).float()
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda{i}"] = state

    np_state = np.random.get_state()
    metadata = {
        "format": SNAPSHOT_FORMAT,
        "format_version": SNAPSHOT_VERSION,
        "options": options_json,
        "config": G.config.to_json(),
        "counters": json.dumps(counters.__dict__),
        "augment": json.dumps(augment_state),
        "opt_G_groups": json.dumps(optimizer_groups(opt_G)),
        "opt_D_groups": json.dumps(optimizer_groups(opt_D)),
        "rng_numpy": json.dumps([np_state[0], np_state[1].tolist(), *np_state[2:]]),
        "rng_python": json.dumps(random.getstate(), default=list),
    }
    atomic_save_tensors(path, tensors, metadata)


@dataclass
class Snapshot:
    """A snapshot read back: tensors by key and decoded metadata."""

    path: Path
    tensors: dict[str, torch.Tensor]
    options: dict[str, Any]
    config: dict[str, Any]
    counters: Counters
    augment: dict[str, float]
    opt_groups: dict[str, list]
    rng_numpy: list
    rng_python: list

    def module_state(self, prefix: str) -> dict[str, torch.Tensor]:
        start = prefix + "/"
        return {k[len(start) :]: v for k, v in self.tensors.items() if k.startswith(start)}

    def restore_into(self, G, D, G_ema, opt_G, opt_D) -> None:
        """Load networks and optimisers (shapes and keys checked) and the random states."""
        for prefix, module in (("G", G), ("D", D), ("G_ema", G_ema)):
            load_state_strict(module, self.module_state(prefix), f"{self.path} [{prefix}]")
        load_optimizer(opt_G, "opt_G", self.tensors, self.opt_groups["opt_G"])
        load_optimizer(opt_D, "opt_D", self.tensors, self.opt_groups["opt_D"])
        torch.set_rng_state(self.tensors["rng/torch"])
        np.random.set_state((self.rng_numpy[0], np.array(self.rng_numpy[1], dtype=np.uint32),
                             *self.rng_numpy[2:]))  # fmt: skip
        version, internal, gauss = self.rng_python
        random.setstate((version, tuple(internal), gauss))


def load_snapshot(path: str | os.PathLike) -> Snapshot:
    """Read and validate a snapshot file."""
    path = Path(path)
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != SNAPSHOT_FORMAT:
        raise CheckpointError(f"{path}: not a stylescope training snapshot")
    try:
        return Snapshot(
            path=path,
            tensors=tensors,
            options=json.loads(metadata["options"]),
            config=json.loads(metadata["config"]),
            counters=Counters(**json.loads(metadata["counters"])),
            augment=json.loads(metadata["augment"]),
            opt_groups={
                "opt_G": json.loads(metadata["opt_G_groups"]),
                "opt_D": json.loads(metadata["opt_D_groups"]),
            },
            rng_numpy=json.loads(metadata["rng_numpy"]),
            rng_python=json.loads(metadata["rng_python"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: malformed snapshot metadata ({error})") from error


def find_latest_snapshot(path: str | os.PathLike) -> Path:
    """The snapshot file itself, or the newest snapshot in a run folder."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        snapshots = sorted(path.glob("snapshot-*.safetensors"))
        if snapshots:
            return snapshots[-1]
        raise CheckpointError(f"--resume {path}: the folder holds no snapshot-*.safetensors")
    raise CheckpointError(f"--resume {path}: no such file or folder")

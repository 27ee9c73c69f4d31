"""Pruning specs: a JSON file naming, per channel group, the channels a pruned generator keeps.

    {
      "format": "stylescope-prune-spec",
      "version": 1,
      "architecture": "stylegan2",
      "base_channels": {"b4.const": 128, "b4.conv1": 128, ...},
      "keep": {"b4.const": [0, 3, 5, ...], "b8.conv0": [...], ...},
      "provenance": {"criterion": "style", "keep_ratio": 0.3, "network": "...", ...}
    }

A spec rebuilds the pruned generator from the dense one (`apply_spec`), so a pruning can be
reviewed, edited by hand and reproduced. Group names are checked against the generator: an
unknown name, a width that does not match the dense generator or an out-of-range index fails
loudly instead of pruning something else.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stylescope.networks import Generator
from stylescope.prune.channels import channel_groups, prune_channels

SPEC_FORMAT = "stylescope-prune-spec"
SPEC_VERSION = 1


class SpecError(ValueError):
    """A pruning spec is malformed or does not fit the generator it is applied to."""


@dataclass
class PruneSpec:
    """Which channels of each group survive.

    Attributes:
        architecture: 'stylegan2' or 'stylegan', checked against the generator.
        base_channels: the dense widths of every group, checked against the generator.
        keep: channel indices kept per group; groups not named keep every channel.
        provenance: free-form record of how the spec was made.
    """

    architecture: str
    base_channels: dict[str, int]
    keep: dict[str, list[int]]
    provenance: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_generator(
        cls, G: Generator, keep: dict[str, list[int]], provenance: dict[str, Any] | None = None
    ) -> PruneSpec:
        base = {group.name: group.channels for group in channel_groups(G)}
        return cls(G.config.architecture, base, {k: list(v) for k, v in keep.items()},
                   dict(provenance or {}))  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SPEC_FORMAT,
            "version": SPEC_VERSION,
            "architecture": self.architecture,
            "base_channels": self.base_channels,
            "keep": self.keep,
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "spec") -> PruneSpec:
        if not isinstance(data, dict):
            raise SpecError(f"{source}: a pruning spec must be a JSON object")
        if data.get("format") != SPEC_FORMAT:
            raise SpecError(f"{source}: format must be {SPEC_FORMAT!r}, got {data.get('format')!r}")
        if data.get("version") != SPEC_VERSION:
            raise SpecError(f"{source}: unsupported spec version {data.get('version')!r}")
        for key, kind in (("architecture", str), ("base_channels", dict), ("keep", dict)):
            if not isinstance(data.get(key), kind):
                raise SpecError(f"{source}: {key!r} must be a {kind.__name__}")
        for name, indices in data["keep"].items():
            if not isinstance(indices, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in indices
            ):
                raise SpecError(f"{source}: keep[{name!r}] must be a list of integers")
        for name, width in data["base_channels"].items():
            if not isinstance(width, int) or width <= 0:
                raise SpecError(f"{source}: base_channels[{name!r}] must be a positive integer")
        provenance = data.get("provenance", {})
        if not isinstance(provenance, dict):
            raise SpecError(f"{source}: 'provenance' must be an object")
        return cls(data["architecture"], data["base_channels"], data["keep"], provenance)


def save_spec(path: str | os.PathLike, spec: PruneSpec) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(spec.to_dict(), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def load_spec(path: str | os.PathLike) -> PruneSpec:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise SpecError(f"{path}: no such pruning spec") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SpecError(f"{path}: not a readable JSON pruning spec ({error})") from error
    return PruneSpec.from_dict(data, str(path))


def apply_spec(G: Generator, spec: PruneSpec) -> Generator:
    """Rebuild the pruned generator from the dense G, after checking that the spec fits G."""
    if spec.architecture != G.config.architecture:
        raise SpecError(
            f"spec is for a {spec.architecture} generator, this one is {G.config.architecture}"
        )
    widths = {group.name: group.channels for group in channel_groups(G)}
    unknown = sorted(set(spec.keep) - set(widths))
    if unknown:
        raise SpecError(f"spec names unknown channel groups {unknown}; known: {list(widths)}")
    mismatched = [
        f"{name}: spec {width}, generator {widths.get(name)}"
        for name, width in spec.base_channels.items()
        if widths.get(name) != width
    ]
    if mismatched:
        raise SpecError("spec does not match the generator's widths: " + "; ".join(mismatched))
    try:
        return prune_channels(G, spec.keep)
    except ValueError as error:
        raise SpecError(str(error)) from error

"""Architecture configs of generator and discriminator, and the registry of named configs.

A `NetworkConfig` fully describes both networks; it is saved as JSON beside every checkpoint, so a
network can always be rebuilt from its own files. Named configs:

    faces32, faces64        CPU-sized StyleGAN2 for the embedded synthfaces data
    faces32-sg1, faces64-sg1   the same sizes with the original StyleGAN (AdaIN) synthesis
    paper256                StyleGAN2-ADA's paper256 config (FFHQ/LSUN at 256x256)
    ffhq1024                StyleGAN2 config F at 1024x1024
    ffhq1024-sg1            the original StyleGAN FFHQ generator at 1024x1024
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from stylescope.networks.layers import channels_at, resolution_log2

Architecture = Literal["stylegan2", "stylegan"]


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture of a generator/discriminator pair.

    Attributes:
        name: registry name this config was derived from.
        architecture: 'stylegan2' (modulated conv) or 'stylegan' (AdaIN, progressive growing).
        img_resolution: output resolution, a power of two >= 4.
        img_channels: image channels.
        z_dim: input latent size.
        w_dim: intermediate latent size.
        c_dim: label size; 0 means unconditional.
        mapping_layers: depth of the mapping MLP.
        mapping_lr_multiplier: equalized-LR multiplier of the mapping MLP.
        channel_base: feature maps at resolution r are min(channel_base / r, channel_max).
        channel_max: largest number of feature maps.
        conv_clamp: activation clamp in the synthesis and D convs; None means none.
        use_noise: per-pixel noise inputs in the synthesis network.
        mbstd_group_size: D minibatch-std group size.
        mbstd_num_channels: D minibatch-std feature groups.
        channel_overrides: synthesis output channels per layer name (pruned networks).
        description: one line for `stylescope summary`.
    """

    name: str
    architecture: Architecture
    img_resolution: int
    img_channels: int = 3
    z_dim: int = 512
    w_dim: int = 512
    c_dim: int = 0
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    channel_base: int = 32768
    channel_max: int = 512
    conv_clamp: float | None = None
    use_noise: bool = True
    mbstd_group_size: int = 4
    mbstd_num_channels: int = 1
    channel_overrides: dict[str, int] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        resolution_log2(self.img_resolution)
        if self.architecture not in ("stylegan2", "stylegan"):
            raise ValueError(
                f"architecture must be 'stylegan2' or 'stylegan', got {self.architecture!r}"
            )
        positive = (
            "img_channels",
            "z_dim",
            "w_dim",
            "mapping_layers",
            "channel_base",
            "channel_max",
        )
        for key in positive:
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        if self.c_dim < 0:
            raise ValueError(f"c_dim must be >= 0, got {self.c_dim}")

    def channels(self, resolution: int) -> int:
        return channels_at(resolution, self.channel_base, self.channel_max)

    def replace(self, **changes: Any) -> NetworkConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkConfig:
        """Build from a dict, rejecting unknown keys; keys added later keep their defaults."""
        if not isinstance(data, dict):
            raise ValueError(f"network config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"network config has unknown keys {unknown}; known: {sorted(known)}")
        missing = [k for k in ("name", "architecture", "img_resolution") if k not in data]
        if missing:
            raise ValueError(f"network config lacks required keys {missing}")
        return cls(**data)


_REGISTRY: dict[str, NetworkConfig] = {}


def register_config(config: NetworkConfig) -> NetworkConfig:
    if config.name in _REGISTRY:
        raise ValueError(f"config {config.name!r} is already registered")
    _REGISTRY[config.name] = config
    return config


def list_configs() -> list[str]:
    return sorted(_REGISTRY)


def get_config(name: str, **overrides: Any) -> NetworkConfig:
    """The registered config `name`, with optional field overrides."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown network config {name!r}; choose one of {list_configs()}")
    return _REGISTRY[name].replace(**overrides) if overrides else _REGISTRY[name]


# Small configs for CPUs: 2-layer mapping (as StyleGAN2-ADA's 'auto' config) and 128 feature maps,
# sized so that training reaches recognisable faces within minutes on two cores. They use no
# activation clamp: clamping exists to protect fp16, while CPUs train in fp32 or bf16, whose range
# needs none, and the clamp and its backward cost about an eighth of a training step on a CPU.
register_config(
    NetworkConfig(
        name="faces32",
        architecture="stylegan2",
        img_resolution=32,
        z_dim=256,
        w_dim=256,
        mapping_layers=2,
        channel_base=16384,
        channel_max=128,
        description="CPU default: StyleGAN2 at 32x32, 128 feature maps, 2-layer mapping",
    )
)
register_config(
    NetworkConfig(
        name="faces64",
        architecture="stylegan2",
        img_resolution=64,
        z_dim=256,
        w_dim=256,
        mapping_layers=2,
        channel_base=4096,
        channel_max=128,
        description="CPU: StyleGAN2 at 64x64, 128 feature maps (64 at 64x64), 2-layer mapping",
    )
)
register_config(
    NetworkConfig(
        name="faces32-sg1",
        architecture="stylegan",
        img_resolution=32,
        z_dim=256,
        w_dim=256,
        mapping_layers=2,
        channel_base=16384,
        channel_max=128,
        description="CPU: original StyleGAN (AdaIN) at 32x32, 128 feature maps",
    )
)
register_config(
    NetworkConfig(
        name="faces64-sg1",
        architecture="stylegan",
        img_resolution=64,
        z_dim=256,
        w_dim=256,
        mapping_layers=2,
        channel_base=4096,
        channel_max=128,
        description="CPU: original StyleGAN (AdaIN) at 64x64, 128 feature maps (64 at 64x64)",
    )
)
register_config(
    NetworkConfig(
        name="paper256",
        architecture="stylegan2",
        img_resolution=256,
        channel_base=16384,
        channel_max=512,
        mapping_layers=8,
        conv_clamp=256,
        mbstd_group_size=8,
        description="StyleGAN2-ADA paper256: 256x256, half-width feature maps, 8-layer mapping",
    )
)
register_config(
    NetworkConfig(
        name="ffhq1024",
        architecture="stylegan2",
        img_resolution=1024,
        channel_base=32768,
        channel_max=512,
        mapping_layers=8,
        conv_clamp=256,
        description="StyleGAN2 config F at 1024x1024 (FFHQ)",
    )
)
register_config(
    NetworkConfig(
        name="ffhq1024-sg1",
        architecture="stylegan",
        img_resolution=1024,
        channel_base=16384,
        channel_max=512,
        mapping_layers=8,
        description="Original StyleGAN FFHQ generator at 1024x1024",
    )
)

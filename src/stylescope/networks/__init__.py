"""StyleGAN networks in plain PyTorch: layers, mapping, both synthesis families, discriminator."""

from stylescope.networks.base import StyleLayerInfo
from stylescope.networks.compiled import CompiledGenerator, CompileUnavailable, compile_problem
from stylescope.networks.config import NetworkConfig, get_config, list_configs, register_config
from stylescope.networks.discriminator import Discriminator
from stylescope.networks.generator import Generator, mix_styles
from stylescope.networks.mapping import MappingNetwork, truncate

__all__ = [
    "CompileUnavailable",
    "CompiledGenerator",
    "Discriminator",
    "Generator",
    "MappingNetwork",
    "NetworkConfig",
    "StyleLayerInfo",
    "compile_problem",
    "get_config",
    "list_configs",
    "mix_styles",
    "register_config",
    "truncate",
]

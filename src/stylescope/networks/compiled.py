"""Compiled inference: a generator traced by TorchInductor into fused kernels.

In eager mode a thin (pruned) generator spends a large share of its forward pass outside the
convolutions. Modulation, demodulation, noise, bias and activation each read and write the
activations, and every op pays Python dispatch. `torch.compile` turns the pass into one graph:
- the elementwise work around each convolution runs as one generated loop;
- with `freezing`, the convolutions run through oneDNN ops chosen at compile time;
- on CPU the wrapper that launches the kernels is C++ (`cpp_wrapper`), not Python.

The compiled function still reads the module's parameters on every call, so weight edits show
up without recompiling (tests/test_compiled.py checks this). It is traced once per input shape,
precision (autocast state), truncation and noise mode. The first call of each pays the compile:
5-30 s on 2 CPU cores, less when TorchInductor finds the kernels in its on-disk cache.

On CPU it needs a C++ compiler and the Python headers; `compile_problem` says what is missing.
"""

from __future__ import annotations

import shutil
import sysconfig
import types
from pathlib import Path

import torch

from stylescope.networks.generator import Generator
from stylescope.networks.layers import NoiseMode


class CompileUnavailable(RuntimeError):
    """torch.compile cannot run on this machine (a missing compiler, headers or backend)."""


def compile_problem(device: torch.device | str = "cpu") -> str | None:
    """Why torch.compile cannot build kernels for `device` here, or None when it can."""
    device = torch.device(device)
    if device.type == "cpu":
        import torch._inductor.config as inductor_config

        compiler = inductor_config.cpp.cxx[-1]
        if shutil.which(compiler) is None:
            return f"compiled inference on CPU needs a C++ compiler ({compiler!r} is not on PATH)"
        headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
        if not headers.is_file():
            return f"compiled inference on CPU needs the Python headers ({headers} is missing)"
        return None
    if device.type == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:
            return "compiled inference on CUDA needs triton, which is not installed"
        return None
    return f"compiled inference is not supported on {device.type!r}"


def _generate(
    G: Generator,
    z: torch.Tensor,
    c: torch.Tensor | None,
    truncation_psi: float,
    truncation_cutoff: int | None,
    noise_mode: NoiseMode,
) -> torch.Tensor:
    return G(z, c, truncation_psi, truncation_cutoff, noise_mode=noise_mode)


class CompiledGenerator:
    """`G(z, c)` at inference through torch.compile: same images, fused kernels.

    Args:
        G: the generator, used in the mode it is in (graphs are traced per train/eval mode). The
            compiled graph reads its current weights on every call.
        truncation_psi, truncation_cutoff: truncation toward w_avg, as in `Generator.forward`.
        noise_mode: 'const' (default, deterministic images), 'random' or 'none'. Random noise is
            drawn inside the compiled graph, so it does not repeat eager draws of the same seed.

    Call it as `img = compiled(z, c)` under the autocast state wanted: bf16 autocast gives a
    separately compiled bf16 graph.
    """

    def __init__(
        self,
        G: Generator,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: NoiseMode = "const",
    ) -> None:
        device = next(G.parameters()).device
        problem = compile_problem(device)
        if problem is not None:
            raise CompileUnavailable(problem)
        self.G = G
        self.truncation_psi = truncation_psi
        self.truncation_cutoff = truncation_cutoff
        self.noise_mode: NoiseMode = noise_mode

        # torch.compile keeps its traced graphs per code object, eight by default. A copy of the
        # code per instance keeps one generator's graphs (per batch size and precision) from
        # using up another's, which would silently fall back to eager.
        code = _generate.__code__.replace()
        generate = types.FunctionType(code, _generate.__globals__, _generate.__name__)
        options = {"freezing": True}
        if device.type == "cpu":
            options["cpp_wrapper"] = True
        self._run = torch.compile(generate, fullgraph=True, dynamic=False, options=options)

    @torch.no_grad()
    def __call__(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self._run(self.G, z, c, self.truncation_psi, self.truncation_cutoff, self.noise_mode)

"""The runtime layer: onnxruntime + numpy + aws-lambda-powertools for one architecture and Python version,
slimmed and zipped under `python/` (→ /opt/python on Lambda), built Docker-free and cached by recipe hash.

recipe.py (the recipe files, their hash, the layer's name and cache folder) → build.py (pip install, then
slimming.py's rules and shared-object check, which reads ELF files with elf.py, then bytecode.py's .pyc for
the cold-start modules, then the deterministic zip and its sizes.json).
"""

from .build import build_runtime_layer, runtime_layer_sizes
from .bytecode import compile_bytecode, host_layer_arch

__all__ = ["build_runtime_layer", "compile_bytecode", "host_layer_arch", "runtime_layer_sizes"]

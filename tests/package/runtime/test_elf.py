"""Reading ELF files like readelf: the architecture and DT_NEEDED entries of this machine's numpy and
onnxruntime binaries."""

from __future__ import annotations

from pathlib import Path

import numpy
import onnxruntime

from sls_deploy.package.runtime.elf import elf_info
from tests.support.runtime_layer_support import HOST_ARCH, NUMPY_CORE

ORT_BINDING = next((Path(onnxruntime.__file__).parent / "capi").glob("onnxruntime_pybind11_state*.so"))


def test_elf_info_reads_architecture_and_needed_libraries_like_readelf():
    info = elf_info(NUMPY_CORE)
    assert info is not None and info.machine_name == {"x86_64": "x86_64", "arm64": "aarch64"}[HOST_ARCH]
    assert any(name.startswith("libscipy_openblas") for name in info.needed)
    assert "libc.so.6" in info.needed
    assert elf_info(Path(numpy.__file__)) is None


def test_onnxruntimes_python_binding_does_not_need_the_c_library_the_rules_remove():
    info = elf_info(ORT_BINDING)
    assert info is not None
    assert not any(name.startswith("libonnxruntime.so") for name in info.needed), info.needed

"""The processing layer: its recipe and cache key, removing what the runtime layer holds, and (slow) layers
built with pip for Lambda's platform that import and work under the runtime's Python from the layer alone."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from sls_deploy.core.errors import PackagingError
from sls_deploy.core.interpreters import find_interpreter
from sls_deploy.core.resources import processing_recipe_dir
from sls_deploy.core.zips import extract_zip
from sls_deploy.package import processing_layer
from sls_deploy.package.budget import check_budget
from sls_deploy.package.processing_layer import (
    build_processing_layer,
    processing_layer_info,
    recipe_hash,
)
from tests.support.runtime_layer_support import HOST_ARCH


def test_every_shipped_processing_package_is_pinned_to_an_exact_version():
    for need in processing_layer.NEEDS:
        lines = (processing_recipe_dir() / f"{need}.txt").read_text().splitlines()
        requirements = [line for line in lines if line.strip() and not line.startswith("#")]
        assert requirements, need
        assert all("==" in line for line in requirements), requirements


def test_the_recipe_hash_follows_needs_requirements_arch_and_python_and_nothing_else(tmp_path):
    recipe = processing_recipe_dir()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("humanize==4.17.0\n")
    base = recipe_hash(("text",), requirements, "x86_64", "3.12", recipe)
    assert recipe_hash(("text",), requirements, "x86_64", "3.12", recipe) == base
    assert recipe_hash(("text", "image"), requirements, "x86_64", "3.12", recipe) != base
    assert recipe_hash(("image", "text"), requirements, "x86_64", "3.12", recipe) == recipe_hash(
        ("text", "image"), requirements, "x86_64", "3.12", recipe
    )
    assert recipe_hash(("text",), None, "x86_64", "3.12", recipe) != base
    assert recipe_hash(("text",), requirements, "arm64", "3.12", recipe) != base
    assert recipe_hash(("text",), requirements, "x86_64", "3.13", recipe) != base
    requirements.write_text("humanize==4.16.0\n")
    assert recipe_hash(("text",), requirements, "x86_64", "3.12", recipe) != base


def test_nothing_to_hold_gives_no_layer_and_bad_asks_are_refused_before_pip(tmp_path, monkeypatch):
    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run")

    monkeypatch.setattr(processing_layer, "pip_install_for_platform", no_pip)
    assert build_processing_layer((), None, "x86_64", "3.12", tmp_path) is None
    with pytest.raises(PackagingError, match="unknown processing need"):
        build_processing_layer(("audio",), None, "x86_64", "3.12", tmp_path)
    with pytest.raises(PackagingError, match="does not exist") as missing:
        build_processing_layer((), tmp_path / "nope.txt", "x86_64", "3.12", tmp_path)
    assert "--requirements" in missing.value.hint
    with pytest.raises(PackagingError, match="unknown architecture"):
        build_processing_layer(("text",), None, "sparc", "3.12", tmp_path)


def _fake_distribution(site: Path, name: str, version: str, files: dict[str, str]) -> None:
    dist_info = site / f"{name}-{version}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Name: {name}\nVersion: {version}\n")
    for relative, text in files.items():
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_text(text)
    record = [f"{relative},," for relative in files] + [
        f"{dist_info.name}/METADATA,,",
        f"{dist_info.name}/RECORD,,",
    ]
    (dist_info / "RECORD").write_text("\n".join(record) + "\n")


def test_distributions_the_runtime_layer_holds_are_removed_file_by_file_and_others_kept(tmp_path):
    site = tmp_path / "python"
    _fake_distribution(
        site, "numpy", "2.4.6", {"numpy/__init__.py": "", "numpy/_core/x.py": "", "numpy.libs/a.so": ""}
    )
    _fake_distribution(site, "humanize", "4.17.0", {"humanize/__init__.py": "x = 1\n"})
    _fake_distribution(site, "typing_extensions", "4.16.0", {"typing_extensions.py": ""})
    removed = processing_layer._remove_distributions(site, processing_layer._runtime_pins())
    assert sorted(removed) == ["numpy", "typing_extensions"]
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()) == [
        "humanize-4.17.0.dist-info/METADATA",
        "humanize-4.17.0.dist-info/RECORD",
        "humanize/__init__.py",
    ]


def test_the_runtime_pins_name_what_the_runtime_layer_installs():
    pins = processing_layer._runtime_pins()
    assert {"numpy", "onnxruntime", "aws-lambda-powertools", "typing-extensions"} <= pins


# --- built with pip for Lambda's platform (slow: downloads wheels once, then pip's cache) ----------------------

PNG_SCRIPT = r"""
import io, sys
import PIL, PIL.Image, tokenizers
from tokenizers import Tokenizer, models, pre_tokenizers
assert all(p.startswith(sys.argv[1]) for p in (PIL.__file__, tokenizers.__file__)), (PIL.__file__, tokenizers.__file__)
image = PIL.Image.new("RGB", (4, 3), (250, 10, 5))
buffer = io.BytesIO(); image.save(buffer, "PNG"); image.save(io.BytesIO(), "JPEG")
decoded = PIL.Image.open(io.BytesIO(buffer.getvalue())).convert("L").resize((2, 2))
tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "hello": 1}, unk_token="[UNK]"))
tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
print(PIL.__version__, tokenizers.__version__, decoded.size, tokenizer.encode("hello there").ids)
"""


def _run_from_layer(interpreter: Path, opt: Path, script: str) -> subprocess.CompletedProcess[str]:
    """`script` in a fresh interpreter that sees only the standard library and the layer (Lambda's
    /opt/python), as the function does."""
    return subprocess.run(
        [
            str(interpreter),
            "-s",
            "-S",
            "-c",
            f"import sys; sys.path.insert(0, {str(opt)!r})\n" + script,
            str(opt),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
    )


@pytest.mark.slow
@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_the_text_and_image_layer_imports_and_works_under_the_runtime_python_from_the_layer_alone(
    version, layer_cache_dir, tmp_path
):
    interpreter = find_interpreter(version)
    if interpreter is None:
        pytest.skip(f"no python{version} on this machine")
    layer = build_processing_layer(("text", "image"), None, HOST_ARCH, version, layer_cache_dir)
    assert layer is not None and layer.kind == "processing-layer"
    extract_zip(layer.zip_path, tmp_path)
    proc = _run_from_layer(interpreter, tmp_path / "python", PNG_SCRIPT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["13.0.0", "0.23.3", "(2,", "2)", "[1,", "0]"]
    info = processing_layer_info(layer)
    assert info["packages"] == {"pillow": "13.0.0", "tokenizers": "0.23.3"} and info["bytecode"] is True
    with zipfile.ZipFile(layer.zip_path) as zf:
        names = zf.namelist()
    assert all(name.startswith("python/") for name in names)
    assert not any(name.startswith("python/huggingface_hub") for name in names)  # --no-deps kept it out
    tag = f"cpython-{version.replace('.', '')}"
    assert any(name.startswith("python/PIL/__pycache__/") and tag in name for name in names)


@pytest.mark.slow
def test_the_arm64_layer_holds_aarch64_binaries_and_everything_fits_the_budget(layer_cache_dir):
    arm = build_processing_layer(("text", "image"), None, "arm64", "3.12", layer_cache_dir)
    x86 = build_processing_layer(("text", "image"), None, "x86_64", "3.12", layer_cache_dir)
    assert arm is not None and x86 is not None and arm.sha256 != x86.sha256
    from sls_deploy.package.runtime import build_runtime_layer

    runtime = build_runtime_layer("x86_64", "3.12", layer_cache_dir)
    budget = check_budget([runtime, x86])
    assert budget.total_unzipped_bytes == runtime.unzipped_bytes + x86.unzipped_bytes
    assert budget.layer_count == 2 and budget.fits_unzipped and budget.headroom_bytes > 100 * 2**20


@pytest.mark.slow
def test_a_requirement_is_installed_and_what_the_runtime_layer_holds_is_left_out(layer_cache_dir, tmp_path):
    interpreter = find_interpreter("3.12")
    if interpreter is None:
        pytest.skip("no python3.12 on this machine")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("humanize==4.17.0\nnumpy\n")  # numpy: the runtime layer's copy is the one used
    layer = build_processing_layer((), requirements, HOST_ARCH, "3.12", layer_cache_dir)
    assert layer is not None
    info = processing_layer_info(layer)
    assert info["packages"] == {"humanize": "4.17.0"} and info["removed"] == ["numpy"]
    opt = tmp_path / "opt"
    extract_zip(layer.zip_path, opt)
    proc = _run_from_layer(interpreter, opt / "python", "import humanize; print(humanize.intcomma(1234567))")
    assert (proc.returncode, proc.stdout.strip()) == (0, "1,234,567"), proc.stderr
    again = build_processing_layer((), requirements, HOST_ARCH, "3.12", layer_cache_dir)
    assert again == layer  # the cache, same bytes


@pytest.mark.slow
def test_a_requirement_that_contradicts_a_runtime_pin_is_refused_naming_the_pin(layer_cache_dir, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy==1.26.4\n")
    with pytest.raises(PackagingError, match="pins otherwise") as refused:
        build_processing_layer((), requirements, HOST_ARCH, "3.12", layer_cache_dir)
    assert "numpy" in refused.value.message and "layers/runtime/requirements.txt" in refused.value.hint
    assert not list(Path(layer_cache_dir, "layers").glob(".build-processing-*"))  # nothing half-built left

"""Building the runtime layer: the cache and sizes.json without running pip, then the real layer (slow).

The real layer is built with pip for Lambda's platform, within the size budget, and — extracted alone, with
the model layer and the function code, in an isolated python3.X — it runs the digits model and powertools'
Logger/Metrics, loading every layer module of that cold start from the bytecode the layer ships. Builds are
cached by recipe hash (tests/conftest.py: layer_cache_dir), so a run builds each layer once; a rebuilt layer
takes ~10 s plus downloads (the reproducibility test builds two more, uncached)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from sls_deploy.core.errors import PackagingError
from sls_deploy.core.interpreters import find_interpreter
from sls_deploy.core.zips import extract_zip
from sls_deploy.model import inspect_model
from sls_deploy.model.folder import build_model_layer
from sls_deploy.package.function_code import build_function_code
from sls_deploy.package.runtime.build import (
    LAYER_ZIP_NAME,
    SIZES_NAME,
    RuntimeLayerSizes,
    build_runtime_layer,
    runtime_layer_sizes,
)
from sls_deploy.package.runtime.bytecode import BytecodeReport
from sls_deploy.package.runtime.elf import elf_info
from sls_deploy.package.runtime.recipe import runtime_layer_dir
from tests.support.runtime_layer_support import HOST_PYTHON, copy_recipe


def _seed_cache(cache: Path, recipe: Path, python_version: str = "3.12", bytecode_status: str = "") -> Path:
    layer_dir = runtime_layer_dir(cache, "x86_64", python_version, recipe)
    layer_dir.mkdir(parents=True)
    zip_path = layer_dir / LAYER_ZIP_NAME
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("python/x.py", "x = 1\n")
    sizes = {"sha256": "c" * 64, "zipped_bytes": zip_path.stat().st_size, "unzipped_bytes": 6}
    if bytecode_status:
        sizes["bytecode"] = BytecodeReport(status=bytecode_status, reason="seeded").to_json()
    (layer_dir / SIZES_NAME).write_text(json.dumps(sizes))
    return zip_path


def test_a_built_layer_is_taken_from_the_cache_without_running_pip(tmp_path):
    recipe = copy_recipe(tmp_path)
    zip_path = _seed_cache(tmp_path / "cache", recipe)
    messages: list[str] = []
    artifact = build_runtime_layer(
        "x86_64", "3.12", tmp_path / "cache", progress=messages.append, recipe_dir=recipe
    )
    assert artifact.zip_path == zip_path and artifact.sha256 == "c" * 64 and artifact.unzipped_bytes == 6
    assert artifact.kind == "runtime-layer" and artifact.name == "runtime-x86_64-py312"
    assert len(messages) == 1 and "cached" in messages[0]


def test_a_relative_cache_folder_is_taken_from_the_current_folder_as_an_absolute_path(tmp_path, monkeypatch):
    recipe = copy_recipe(tmp_path)
    zip_path = _seed_cache(tmp_path / "cache", recipe)
    monkeypatch.chdir(tmp_path)
    artifact = build_runtime_layer("x86_64", "3.12", Path("cache"), recipe_dir=recipe)
    assert artifact.zip_path.is_absolute() and artifact.zip_path.samefile(zip_path)


def test_a_damaged_cache_entry_is_rebuilt_not_trusted(tmp_path):
    recipe = copy_recipe(tmp_path)
    # The rebuild runs pip on a requirement that fails at once, offline: proof the cache was not used.
    (recipe / "requirements.txt").write_text(f"{tmp_path / 'missing-1.0-py3-none-any.whl'}\n")
    zip_path = _seed_cache(tmp_path / "cache", recipe)
    zip_path.write_bytes(b"truncated")
    with pytest.raises(PackagingError, match="pip failed"):
        build_runtime_layer("x86_64", "3.12", tmp_path / "cache", recipe_dir=recipe)
    assert not list((tmp_path / "cache" / "layers").glob(".build-*"))  # no leftovers


def test_sizes_round_trip_the_bytecode_report_and_older_records_read_without_one():
    report = BytecodeReport(
        status="compiled",
        reason="",
        interpreter="3.12.1",
        cache_tag="cpython-312",
        files=3,
        unzipped_bytes=300,
        zipped_bytes=120,
    )
    sizes = RuntimeLayerSizes(
        arch="x86_64",
        python_version="3.12",
        recipe_hash="h",
        sha256="s",
        naive_unzipped_bytes=10,
        naive_zipped_bytes=5,
        unzipped_bytes=8,
        zipped_bytes=4,
        rules=(),
        packages={},
        build_seconds={},
        bytecode=report,
    )
    assert RuntimeLayerSizes.from_json(json.loads(json.dumps(sizes.to_json()))) == sizes
    old = {k: v for k, v in sizes.to_json().items() if k != "bytecode"}
    assert RuntimeLayerSizes.from_json(old).bytecode is None


def test_a_layer_cached_without_bytecode_for_want_of_an_interpreter_is_rebuilt_once_one_exists(tmp_path):
    recipe = copy_recipe(tmp_path)
    # The rebuild runs pip on a requirement that fails at once, offline: proof the cache was not used.
    (recipe / "requirements.txt").write_text(f"{tmp_path / 'missing-1.0-py3-none-any.whl'}\n")
    _seed_cache(tmp_path / "cache", recipe, HOST_PYTHON, bytecode_status="no-interpreter")
    messages: list[str] = []
    with pytest.raises(PackagingError, match="pip failed"):
        build_runtime_layer(
            "x86_64",
            HOST_PYTHON,
            tmp_path / "cache",
            progress=messages.append,
            recipe_dir=recipe,
            python=sys.executable,
        )
    assert "rebuilding the cached layer with bytecode" in messages[0]


@pytest.mark.parametrize("status", ["compiled", "not-importable", "probe-failed"])
def test_other_cached_layers_are_used_as_they_are(tmp_path, status):
    recipe = copy_recipe(tmp_path)
    zip_path = _seed_cache(tmp_path / "cache", recipe, HOST_PYTHON, bytecode_status=status)
    artifact = build_runtime_layer(
        "x86_64", HOST_PYTHON, tmp_path / "cache", recipe_dir=recipe, python=sys.executable
    )
    assert artifact.zip_path == zip_path


# --- The real build -------------------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
# "≤ 90 MB unzipped" read strictly: 90,000,000 bytes (90 MiB would allow 94.4 MB).
RUNTIME_LAYER_BUDGET_BYTES = 90_000_000
ELF_AARCH64 = 183

# Runs inside the isolated interpreter: only the layer folders are importable, as on Lambda.
CHECK_SCRIPT = r"""
import json, sys
opt, task, request_path = sys.argv[1:4]
sys.path[:0] = [opt + "/python", task]
import numpy as np
import onnxruntime as ort
from sls_inference.loader import load_model
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

model = load_model(opt + "/model", memory_mb=1769)
with open(request_path, encoding="utf-8") as fh:
    request = json.load(fh)["inputs"][0]
rows = np.asarray(request["data"], dtype=np.float32).reshape(request["shape"])
label = model.session.run(["label"], {"input": rows})[0]

Logger(service="digits").info("predicted", extra={"label": int(label[0])})
metrics = Metrics(namespace="SlsDeploy", service="digits")
metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=1)
metrics.flush_metrics()
modules = {name: sys.modules[name].__file__ for name in ("numpy", "onnxruntime", "aws_lambda_powertools",
                                                           "jmespath", "sls_inference")}
layer_files = sorted({m.__file__[len(opt) + 1:] for m in list(sys.modules.values())
                      if (getattr(m, "__file__", None) or "").startswith(opt + "/python/")})
print("RESULT " + json.dumps({"label": label.tolist(), "modules": modules, "ort": ort.__version__,
                              "layer_files": layer_files, "cache_tag": sys.implementation.cache_tag}))
"""

# Prints the interpreter's .pyc magic number and cache tag.
MAGIC_SCRIPT = (
    "import importlib.util, sys; print(importlib.util.MAGIC_NUMBER.hex(), sys.implementation.cache_tag)"
)
UNCHECKED_HASH_FLAGS = 0b01  # PEP 552: hash-based .pyc whose source is not checked


@pytest.fixture(scope="module")
def digits_layer(tmp_path_factory) -> Path:
    info = inspect_model(EXAMPLES / "digits.onnx")
    out = tmp_path_factory.mktemp("digits-layer")
    return build_model_layer(
        EXAMPLES / "digits.onnx",
        "digits",
        out,
        inputs=info.inputs,
        outputs=info.outputs,
        opset=info.opset,
        sha256=info.sha256,
    ).zip_path


@pytest.fixture(scope="module")
def function_code(tmp_path_factory) -> Path:
    return build_function_code(tmp_path_factory.mktemp("code")).zip_path


def _interpreter(version: str) -> Path:
    found = find_interpreter(version)
    if found is None:
        pytest.skip(
            f"no python{version} interpreter on this machine (install it with pyenv to run this test)"
        )
    return found


def _run_layers(interpreter: Path, runtime_zip: Path, model_zip: Path, code_zip: Path, root: Path):
    opt, task = root / "opt", root / "task"
    extract_zip(runtime_zip, opt)
    extract_zip(model_zip, opt)
    extract_zip(code_zip, task)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TZ": ":UTC"}
    # -I: no PYTHON* variables, no user site, no script dir; -S: not even the interpreter's site-packages.
    # -B: nothing is written next to the sources (Lambda's /opt is read-only).
    proc = subprocess.run(
        [
            str(interpreter),
            "-I",
            "-S",
            "-B",
            "-W",
            "error",
            "-c",
            CHECK_SCRIPT,
            str(opt),
            str(task),
            str(EXAMPLES / "digits-request.json"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    result = json.loads(next(line for line in lines if line.startswith("RESULT "))[len("RESULT ") :])
    return result, lines, opt, task


@pytest.mark.slow
@pytest.mark.parametrize("python_version", ["3.12", "3.13"])
def test_the_x86_64_layer_fits_the_budget_and_runs_the_model_alone(
    python_version, layer_cache_dir, digits_layer, function_code, tmp_path
):
    interpreter = _interpreter(python_version)
    runtime = build_runtime_layer("x86_64", python_version, layer_cache_dir)
    assert runtime.unzipped_bytes <= RUNTIME_LAYER_BUDGET_BYTES, runtime_layer_sizes(runtime).to_json()
    with zipfile.ZipFile(runtime.zip_path) as zf:
        names = zf.namelist()
    assert names and all(name.startswith("python/") for name in names)
    assert not any(name.startswith("python/onnxruntime/capi/libonnxruntime.so") for name in names)

    result, lines, opt, task = _run_layers(
        interpreter, runtime.zip_path, digits_layer, function_code, tmp_path
    )

    assert result["label"] == [7]
    assert result["ort"] == "1.32.0"
    for name in ("numpy", "onnxruntime", "aws_lambda_powertools", "jmespath"):
        assert Path(result["modules"][name]).is_relative_to(opt / "python"), result["modules"]
    assert Path(result["modules"]["sls_inference"]).is_relative_to(task)
    emf = [json.loads(line) for line in lines if line.startswith('{"_aws"')]
    assert (
        emf and emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SlsDeploy" and emf[0]["Predictions"]
    )
    log = [json.loads(line) for line in lines if '"level":"INFO"' in line]
    assert log and log[0]["message"] == "predicted" and log[0]["label"] == 7
    # Every layer module this cold start loaded came with bytecode for this interpreter.
    tag = result["cache_tag"]
    assert tag == f"cpython-{python_version.replace('.', '')}"
    loaded = [name for name in result["layer_files"] if name.endswith(".py")]
    assert len(loaded) > 100, loaded
    shipped = set(names)
    without = [name for name in loaded if _pyc_name(name, tag) not in shipped]
    assert not without, without


def _pyc_name(source: str, cache_tag: str) -> str:
    folder, _, file = source.rpartition("/")
    return f"{folder}/__pycache__/{file[: -len('.py')]}.{cache_tag}.pyc"


@pytest.mark.slow
@pytest.mark.parametrize("python_version", ["3.12", "3.13"])
def test_the_layer_ships_unchecked_hash_bytecode_for_its_version_which_the_interpreter_uses(
    python_version, layer_cache_dir, tmp_path
):
    interpreter = _interpreter(python_version)
    runtime = build_runtime_layer("x86_64", python_version, layer_cache_dir)
    bytecode = runtime_layer_sizes(runtime).bytecode
    assert bytecode is not None and bytecode.compiled, bytecode
    magic, tag = subprocess.run(
        [str(interpreter), "-I", "-c", MAGIC_SCRIPT], capture_output=True, text=True, check=True
    ).stdout.split()
    with zipfile.ZipFile(runtime.zip_path) as zf:
        pycs = {name: zf.read(name)[:8] for name in zf.namelist() if name.endswith(".pyc")}
    for module in (
        "numpy/__init__.py",
        "numpy/_core/numeric.py",
        "onnxruntime/__init__.py",
        "onnxruntime/capi/onnxruntime_inference_collection.py",
        "aws_lambda_powertools/logging/logger.py",
    ):
        assert _pyc_name("python/" + module, tag) in pycs, module
    assert all(f".{tag}.pyc" in name and "/__pycache__/" in name for name in pycs)
    assert {header[:4].hex() for header in pycs.values()} == {magic}
    assert {int.from_bytes(header[4:8], "little") for header in pycs.values()} == {UNCHECKED_HASH_FLAGS}
    assert len(pycs) == bytecode.files and bytecode.cache_tag == tag
    # Unchecked: the interpreter runs the bytecode without reading the source (Lambda's /opt never changes).
    extract_zip(runtime.zip_path, tmp_path)
    (tmp_path / "python" / "numpy" / "__init__.py").write_text("raise ImportError('the source was read')\n")
    script = f"import sys; sys.path.insert(0, {str(tmp_path / 'python')!r}); import numpy; print(numpy.__version__)"
    proc = subprocess.run(
        [str(interpreter), "-I", "-S", "-B", "-c", script], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "2.4.6", proc.stderr[-2000:]


@pytest.mark.slow
def test_building_the_layer_again_from_scratch_gives_the_same_bytes(tmp_path):
    _interpreter("3.12")  # without it there is no bytecode, whose reproducibility this test is about
    first = build_runtime_layer("x86_64", "3.12", tmp_path / "one")
    second = build_runtime_layer("x86_64", "3.12", tmp_path / "two")
    assert runtime_layer_sizes(first).bytecode.compiled
    assert first.zip_path != second.zip_path
    assert (first.sha256, first.zipped_bytes) == (second.sha256, second.zipped_bytes)


@pytest.mark.slow
def test_the_second_build_comes_from_the_cache_with_the_same_hash(layer_cache_dir):
    first = build_runtime_layer("x86_64", "3.12", layer_cache_dir)
    started = time.perf_counter()
    messages: list[str] = []
    second = build_runtime_layer("x86_64", "3.12", layer_cache_dir, progress=messages.append)
    assert time.perf_counter() - started < 1.0
    assert second == first
    assert any("cached" in message for message in messages)


@pytest.mark.slow
def test_the_sizes_record_shows_what_slimming_saved(layer_cache_dir):
    sizes = runtime_layer_sizes(build_runtime_layer("x86_64", "3.12", layer_cache_dir))
    assert sizes.packages["onnxruntime"] == "1.32.0" and sizes.packages["aws_lambda_powertools"] == "3.37.0"
    bytecode = sizes.bytecode
    assert bytecode is not None
    assert sizes.naive_unzipped_bytes - sizes.unzipped_bytes + bytecode.unzipped_bytes == sum(
        r.unzipped_bytes for r in sizes.rules
    )
    assert sizes.naive_zipped_bytes - sizes.zipped_bytes + bytecode.zipped_bytes == sum(
        r.zipped_bytes for r in sizes.rules
    )
    assert sizes.naive_unzipped_bytes > 1.4 * sizes.unzipped_bytes


@pytest.mark.slow
def test_the_arm64_layer_holds_aarch64_binaries_and_fits_the_budget(layer_cache_dir, tmp_path):
    runtime = build_runtime_layer("arm64", "3.12", layer_cache_dir)
    assert runtime.unzipped_bytes <= RUNTIME_LAYER_BUDGET_BYTES
    if find_interpreter("3.12") is not None:  # the cold-start modules are found on this machine's arch
        with zipfile.ZipFile(runtime.zip_path) as zf:
            assert "python/numpy/__pycache__/__init__.cpython-312.pyc" in zf.namelist()
    with zipfile.ZipFile(runtime.zip_path) as zf:
        shared = [name for name in zf.namelist() if ".so" in name.rsplit("/", 1)[-1]]
        for name in shared:
            (tmp_path / "so").write_bytes(zf.read(name))
            info = elf_info(tmp_path / "so")
            assert info is not None and info.machine == ELF_AARCH64, name
    assert any("onnxruntime_pybind11_state" in name for name in shared)
    assert any("_multiarray_umath.cpython-312-aarch64" in name for name in shared)

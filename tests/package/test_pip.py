"""pip invocations: Lambda's platform tags per architecture, and failures turned into PackagingError with hints."""

from __future__ import annotations

import sys

import pytest

from sls_deploy.core.errors import PackagingError
from sls_deploy.package.pip import manylinux_platforms, pip_failure_hint, pip_install_for_platform, run_pip


def test_x86_64_accepts_manylinux2014_up_to_glibc_2_28_newest_first():
    tags = manylinux_platforms("x86_64")
    assert tags[0] == "manylinux_2_28_x86_64"
    assert {"manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_27_x86_64"} <= set(tags)
    assert not any("aarch64" in tag or "_2_29_" in tag for tag in tags)


def test_arm64_maps_to_aarch64_wheels():
    tags = manylinux_platforms("arm64")
    assert tags[0] == "manylinux_2_28_aarch64" and "manylinux2014_aarch64" in tags
    assert all(tag.endswith("_aarch64") for tag in tags)


def test_an_unknown_architecture_is_refused():
    with pytest.raises(PackagingError, match="unknown architecture"):
        manylinux_platforms("riscv64")


def test_a_failing_pip_raises_with_its_last_lines_and_a_hint():
    script = (
        "import sys; print('\\n'.join(f'line {i}' for i in range(40))); "
        "print('ERROR: No matching distribution found for onnxruntime==9.9'); sys.exit(1)"
    )
    with pytest.raises(PackagingError) as caught:
        run_pip([sys.executable, "-c", script], "installing things")
    message = caught.value.message
    assert message.startswith("installing things: pip failed (exit status 1)")
    assert "No matching distribution found for onnxruntime==9.9" in message
    assert "line 39" in message and "line 5\n" not in message  # only the tail
    assert "no binary wheel" in caught.value.hint


def test_a_successful_run_returns_the_output_and_command():
    result = run_pip([sys.executable, "-c", "print('Successfully installed x-1')"], "installing")
    assert "Successfully installed" in result.output
    assert result.command[0] == sys.executable and result.seconds >= 0


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("Could not find a version that satisfies the requirement numpy==0.1", "no binary wheel"),
        ("NewConnectionError: Failed to establish a new connection", "could not reach the package index"),
        ("ResolutionImpossible: for help visit", "pinned versions conflict"),
    ],
)
def test_hints_follow_the_kind_of_failure(output, expected):
    assert expected in pip_failure_hint(output)


def test_an_unknown_failure_hints_at_the_command_to_rerun():
    assert "pip install --target /x" in pip_failure_hint("boom", ["pip", "install", "--target", "/x"])


def test_a_missing_requirements_file_is_reported_before_pip_runs(tmp_path):
    with pytest.raises(PackagingError, match="does not exist"):
        pip_install_for_platform(
            tmp_path / "requirements.txt", tmp_path / "t", arch="x86_64", python_version="3.12"
        )

"""The options several commands share (target, compression gate, build settings, measurement, --since)
and the project configuration a command runs with."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..core import limits
from ..core.config import ProjectConfig, load_config
from ..core.errors import SlsDeployError
from ..core.timespec import parse_since

if TYPE_CHECKING:
    pass

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")


def _remember_target_flag(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None and param.name is not None:
        ctx.ensure_object(dict).setdefault("target_flags", {})[param.name] = value


def target_option(func: Any) -> Any:
    """--target and the AWS target's --region/--profile/--stack-name; they reach the command's
    configuration through project_config, not as parameters."""
    options: list[tuple[str, dict[str, Any]]] = [
        (
            "--target",
            {
                "type": click.Choice(["local", "aws"]),
                "help": "Where the functions live [default: local, or `target` in the config].",
            },
        ),
        ("--region", {"help": "AWS region (aws target) [default: the AWS configuration's region]."}),
        ("--profile", {"help": "AWS named profile (aws target) [default: boto3's credential chain]."}),
        ("--stack-name", {"help": "CloudFormation stack (aws target) [default: sls-deploy-<project>]."}),
    ]
    for flag, settings in reversed(options):
        func = click.option(
            flag, default=None, expose_value=False, callback=_remember_target_flag, **settings
        )(func)
    return func


def compress_options(func: Any) -> Any:
    """--compress and the gate's settings, and --trust-pickle for models that are not ONNX yet."""
    options = [
        click.option(
            "--compress",
            default=None,
            help="none (default for build/push), auto, or a method: int8-weight, int4-weight, int8-dynamic, "
            "int8-static, int4-block (onnxruntime's 4-bit MatMulNBits), fp16, prune:0.5, fused (transformer "
            "kernel fusion, fp32), combined with + (prune:0.5+int8-weight, fused+int8-dynamic); "
            "':tensor'/':channel' pick the scale granularity, '-mixed' (int8-dynamic:channel-mixed) keeps the "
            "most sensitive nodes fp32. Every candidate is measured against the original on validation rows "
            "it was not calibrated on. auto builds and measures 10 candidates: ~3 s for a small MLP, "
            "~2.5 minutes for a 90 MB transformer encoder on 2 cores.",
        ),
        click.option(
            "--metric",
            type=click.Choice(["auto", "top1", "cosine"]),
            default=None,
            help="Agreement metric [default: top1 for label/probability outputs, else cosine].",
        ),
        click.option(
            "--min-agreement",
            type=float,
            default=None,
            help="Lowest agreement a candidate may have, 0-1 [default: 0.995 for top1 and cosine].",
        ),
        click.option(
            "--max-slowdown",
            type=float,
            default=None,
            help="Highest p50 latency allowed, relative to the original [default: 1.05].",
        ),
        click.option(
            "--validation",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="Held-out inputs (as --sample) the gate judges candidates on; all samples then calibrate "
            "[default: 30 % of the samples (validation_fraction) are held out].",
        ),
        click.option(
            "--finetune-steps",
            type=click.IntRange(0),
            default=None,
            metavar="N",
            help="prune:S on a PyTorch model (.pt/.pth): fine-tune the pruned model N steps, the mask held, "
            "distilling the original's outputs on the calibration rows [default: 200; 0: prune only].",
        ),
        click.option("--force", is_flag=True, help="Use the method asked for even if it fails the gate."),
        click.option(
            "--trust-pickle",
            is_flag=True,
            help="Allow loading a pickled model (.pkl/.joblib, torch.save): unpickling runs code stored in "
            "the file, so only for files you made or trust.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def with_policy(ctx: click.Context, settings: dict[str, Any], default_spec: str | None = None) -> Any:
    """(config, compression policy, trust_pickle) from a command's flags; the gate's per-command flags
    (--metric, --force, --validation, --finetune-steps, --trust-pickle) are not configuration settings."""
    from ..compress import CompressionPolicy

    metric, force, trust = settings.pop("metric"), settings.pop("force"), settings.pop("trust_pickle")
    held_out, steps = settings.pop("validation"), settings.pop("finetune_steps")
    config = project_config(ctx, **settings)
    if default_spec is not None and settings.get("compress") is None and config.compress == "none":
        config = replace(config, compress=default_spec)
    policy = CompressionPolicy.from_config(
        config, metric=metric, force=force, validation=held_out, finetune_steps=steps
    )
    return config, policy, trust


def _numbers(kind: type, count: int | None = None) -> Any:
    """A click callback reading "a,b,c" into a tuple of `kind` (exactly `count` of them when given)."""

    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple | None:
        if value is None:
            return None
        try:
            numbers = tuple(kind(part) for part in value.replace("x", ",").split(",") if part.strip())
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a comma-separated list of numbers") from None
        if not numbers or (count is not None and len(numbers) != count):
            raise click.BadParameter(f"give {count or 'one or more'} comma-separated numbers, e.g. 224,224")
        return numbers

    return convert


PROCESSING_FLAGS = (
    "labels", "top_k", "tokenizer", "max_length", "truncation", "pooling", "no_normalize",
    "image", "image_size", "mean", "std", "handler", "requirements",
)  # fmt: skip


def processing_options(func: Any) -> Any:
    """How requests become the model's inputs and its outputs answers: labels, text, images, custom code."""
    path = click.Path(exists=True, path_type=Path)
    options = [
        click.option(
            "--labels",
            type=path,
            default=None,
            help="Class names (one per line, or a JSON list/map): "
            "answers carry label, score and --top-k alternatives beside the raw outputs.",
        ),
        click.option(
            "--top-k",
            type=click.IntRange(1),
            default=1,
            show_default=True,
            help="With --labels: how many best classes each answer lists.",
        ),
        click.option(
            "--tokenizer",
            type=path,
            default=None,
            help="A Hugging Face tokenizer.json: requests "
            'carry text ({"text": ...}, {"instances": [...]}, OIP BYTES), tokenized in the function.',
        ),
        click.option(
            "--max-length",
            type=click.IntRange(1),
            default=None,
            help="Tokens per text [default: the input's fixed length, else the tokenizer's, else 512].",
        ),
        click.option(
            "--truncation",
            type=click.Choice(["truncate", "error"]),
            default="truncate",
            show_default=True,
            help="A text over --max-length is cut, or refused with a 400.",
        ),
        click.option(
            "--pooling",
            type=click.Choice(["mean", "cls", "none"]),
            default="none",
            show_default=True,
            help="Token vectors → one embedding: the mask-weighted mean, the first token's, or none.",
        ),
        click.option(
            "--no-normalize",
            is_flag=True,
            help="Keep the pooled embedding's length (default: L2-normalized).",
        ),
        click.option(
            "--image",
            is_flag=True,
            help="Requests carry images (raw image/* bodies, base64 in JSON, OIP "
            "BYTES), decoded and resized to the input's size; implied by --image-size/--mean/--std.",
        ),
        click.option(
            "--image-size",
            callback=_numbers(int, 2),
            default=None,
            metavar="H,W",
            help="Height and width to resize to when the input's are symbolic.",
        ),
        click.option(
            "--mean",
            callback=_numbers(float),
            default=None,
            metavar="M[,M,M]",
            help="Per-channel mean subtracted after scaling pixels to 0-1 [default: 0].",
        ),
        click.option(
            "--std",
            callback=_numbers(float),
            default=None,
            metavar="S[,S,S]",
            help="Per-channel std divided by after the mean [default: 1].",
        ),
        click.option(
            "--handler",
            type=path,
            default=None,
            help="Your own load/preprocess/postprocess module "
            "(a .py file or a folder with handler.py), shipped with the model; see the README.",
        ),
        click.option(
            "--requirements",
            type=path,
            default=None,
            help="With --handler: its third-party requirements, installed into the processing layer.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def pop_processing(settings: dict[str, Any]) -> Any:
    """The ProcessingOptions of a command's flags (taken out of `settings`), None when none was given."""
    from ..model.processing import ProcessingOptions

    given = {key: settings.pop(key) for key in PROCESSING_FLAGS}
    no_normalize = given.pop("no_normalize")
    options = ProcessingOptions(**given, normalize=given["pooling"] != "none" and not no_normalize)
    asked = (options.labels, options.tokenizer, options.handler, options.requirements)
    return options if any(v is not None for v in asked) or options.wants_image else None


def measurement_options(payload_help: str, count_help: str) -> Any:
    """--payload and -n/--count of the commands that invoke a function to measure it (cost, tune)."""
    options = [
        click.option(
            "--payload",
            type=click.Path(path_type=Path, allow_dash=True),
            default=None,
            help=f"{payload_help} [default: one generated row of the model's inputs].",
        ),
        click.option(
            "-n", "--count", type=click.IntRange(1, 1000), default=20, show_default=True, help=count_help
        ),
    ]

    def decorate(func: Any) -> Any:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def build_options(func: Any) -> Any:
    options: list[Any] = [
        click.argument("model", type=click.Path(path_type=Path)),
        click.option("--name", "-n", default=None, help="Function/model name [default: the file's stem]."),
        click.option(
            "--sample",
            "-s",
            type=click.Path(path_type=Path),
            default=None,
            help="Sample inputs (.npz, .npy or a .json request) used to check the model; with --tokenizer, "
            'texts (.txt one per line, .jsonl {"text": ...} per line, .json list, .npz of strings).',
        ),
        click.option("--memory", type=int, default=None, help="Memory in MB, 128-10240 [default: 1024]."),
        click.option("--timeout", type=int, default=None, help="Timeout in seconds, 1-900 [default: 30]."),
        click.option(
            "--arch",
            type=click.Choice(["x86_64", "arm64"]),
            default=None,
            help="Lambda architecture [default: x86_64].",
        ),
        click.option(
            "--runtime",
            type=click.Choice(["python3.12", "python3.13"]),
            default=None,
            help="Lambda runtime [default: python3.12].",
        ),
        click.option(
            "--public",
            is_flag=True,
            default=None,
            help="Function URL without authentication (AuthType NONE). Default: AWS_IAM.",
        ),
        click.option(
            "--snapstart",
            is_flag=True,
            default=None,
            help="SnapStart on published versions (aws): restores a snapshot instead of running init. "
            "`sls-deploy cost` shows what it costs.",
        ),
        click.option(
            "--provisioned",
            type=click.IntRange(0),
            default=None,
            metavar="N",
            help="Keep N execution environments initialized on `live` (aws provisioned concurrency, billed "
            "while idle). 0: none.",
        ),
        processing_options,
        compress_options,
        target_option,
        json_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


class SinceType(click.ParamType):
    """--since: a span back from now (10m, 1h, 2d) or an ISO 8601 time; converted to epoch seconds."""

    name = "since"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        try:
            return parse_since(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def since_option(default: str) -> Any:
    return click.option(
        "--since",
        type=SinceType(),
        default=default,
        show_default=True,
        help="From when: a span back from now (30s, 10m, 1h, 2d) or an ISO time (2026-11-29T08:00:00Z, UTC).",
    )


def project_config(ctx: click.Context, **overrides: Any) -> ProjectConfig:
    """The project's configuration with this command's flags (and its target flags) on top."""
    return load_config(ctx.obj["project_dir"], {**ctx.obj.get("target_flags", {}), **overrides})


def read_payload(data: str | None, file: Path | None) -> bytes:
    if (data is None) == (file is None):
        raise click.UsageError(
            "give the request with exactly one of --data JSON or --file PATH ('-' for stdin)"
        )
    if data is not None:
        raw = data.encode("utf-8")
    elif str(file) == "-":
        raw = sys.stdin.buffer.read()
    else:
        assert file is not None
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise SlsDeployError(
                f"cannot read request file {file}: {exc.strerror}", "check the path"
            ) from exc
    try:
        json.loads(raw)
    except ValueError as exc:
        raise SlsDeployError(
            f"the request is not valid JSON: {exc}",
            "pass a JSON document, e.g. --data '{\"instances\": [[0, 1, 2]]}'",
        ) from exc
    return raw


def int_list(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a list of MB such as 128,512,1024") from None


def arch_list(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    archs = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [a for a in archs if a not in limits.SUPPORTED_ARCHITECTURES]
    if unknown or not archs:
        raise click.BadParameter(f"use {', '.join(limits.SUPPORTED_ARCHITECTURES)} (comma-separated)")
    return archs

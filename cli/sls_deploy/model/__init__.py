"""Model intake: load and check an ONNX file, read its signature, opset, size and sha256."""

from .onnx_model import ModelInfo, inspect_model

__all__ = ["ModelInfo", "inspect_model"]

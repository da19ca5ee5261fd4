"""Compression that chooses: candidates (compress/<method>.py) → the gate (gate.py) → a report (report.py).

Public API: CompressionPolicy, compress_model → CompressedModel (the chosen file, its session config entries
and the report), METHODS/AUTO (the method table), read_compressed_dir (a folder written by
`sls-deploy compress`).
"""

from __future__ import annotations

from .compressor import CompressedModel, compress_model
from .plans import AUTO, METHODS
from .policy import METRIC_CHOICES, CompressionPolicy
from .prepared import PreparedModel, read_compressed_dir
from .report import CandidateReport, CompressionReport

__all__ = [
    "AUTO",
    "METHODS",
    "METRIC_CHOICES",
    "CandidateReport",
    "CompressedModel",
    "CompressionPolicy",
    "CompressionReport",
    "PreparedModel",
    "compress_model",
    "read_compressed_dir",
]

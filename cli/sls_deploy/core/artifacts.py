"""The Artifact record every packaging step returns: one zip, its hash and its sizes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sls_inference.integrity import sha256_file

from .zips import unzipped_size

ArtifactKind = Literal["runtime-layer", "processing-layer", "model-layer", "function-code"]


@dataclass(frozen=True)
class Artifact:
    kind: ArtifactKind
    name: str
    zip_path: Path
    sha256: str
    zipped_bytes: int
    unzipped_bytes: int

    @classmethod
    def from_zip(cls, kind: ArtifactKind, name: str, zip_path: Path) -> Artifact:
        return cls(
            kind=kind,
            name=name,
            zip_path=zip_path,
            sha256=sha256_file(zip_path),
            zipped_bytes=zip_path.stat().st_size,
            unzipped_bytes=unzipped_size(zip_path),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "path": str(self.zip_path),
            "sha256": self.sha256,
            "zipped_bytes": self.zipped_bytes,
            "unzipped_bytes": self.unzipped_bytes,
        }

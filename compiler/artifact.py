"""Artifact: one generated file, a relative path inside the output folder and its exact bytes."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

_SAFE_PART = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9._-]*$")  # .github is fine; . and .. are not


@dataclass(frozen=True)
class Artifact:
    """One generated file: a relative path and its exact bytes."""

    path: str
    content: bytes
    target: str = ""

    def __post_init__(self) -> None:
        parts = self.path.split("/")
        if not parts or any(not _SAFE_PART.match(p) or p in (".", "..") for p in parts):
            raise ValueError(f"unsafe output path {self.path!r}")

    @functools.cached_property
    def sha256(self) -> str:
        """The content's sha256, computed once (a build asks for it several times)."""
        return hashlib.sha256(self.content).hexdigest()

"""`alliance therapists` (placeholder until implemented)."""

from __future__ import annotations


def register(subparsers) -> None:  # pragma: no cover - replaced by the real module
    pass

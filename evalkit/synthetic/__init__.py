"""Synthetic, deterministic benchmarks (videos + QA) for testing evalkit end to end.

``evalkit.synthetic.shapes`` is the coloured-moving-square video-QA benchmark; its names
are re-exported lazily here (so ``python -m evalkit.synthetic.shapes`` runs cleanly).
"""

from __future__ import annotations

_EXPORTS = (
    "QUESTIONS",
    "QUESTION_TYPES",
    "decode_clip",
    "load_split",
    "make_specs",
    "videos_only",
    "write_shapes_split",
)

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        from evalkit.synthetic import shapes

        return getattr(shapes, name)
    raise AttributeError(f"module 'evalkit.synthetic' has no attribute {name!r}")

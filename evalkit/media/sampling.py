"""Frame-index samplers and frame-order transforms.

Samplers map ``(total_frames, num_frames)`` to a list of ``num_frames``
frame indices in ``[0, total_frames)``.  When ``total_frames < num_frames``
both samplers return repeated indices (e.g. total 5, 8 frames ->
``[0, 0, 1, 1, 2, 2, 3, 4]`` for ``uniform_linspace``): the clip is
stretched, never padded, so the model always receives ``num_frames`` frames.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from evalkit.registry import Registry

__all__ = [
    "SAMPLERS",
    "sample_indices",
    "FRAME_ORDERS",
    "apply_frame_order",
    "frame_order_permutation",
]


def _uniform_linspace(total_frames: int, num_frames: int) -> list[int]:
    """Original Video-LLaVA eval: ``np.linspace(0, total-1, num, dtype=int)``.

    The float positions are truncated towards zero (numpy's ``dtype=int``
    cast), not rounded; first and last frame are always included.
    """
    return np.linspace(0, total_frames - 1, num_frames, dtype=int).tolist()


def _uniform_arange(total_frames: int, num_frames: int) -> list[int]:
    """transformers docs example: ``np.arange(0, total, total / num).astype(int)``.

    Floating-point accumulation in ``np.arange`` sometimes yields one extra
    element (e.g. total 17, num 7 gives 8 values); the result is cut to the
    first ``num_frames`` values, which leaves all other values unchanged.
    """
    return np.arange(0, total_frames, total_frames / num_frames).astype(int)[:num_frames].tolist()


SAMPLERS: Registry[Callable[[int, int], list[int]]] = Registry("frame sampler")
SAMPLERS.register("uniform_linspace", _uniform_linspace)
SAMPLERS.register("uniform_arange", _uniform_arange)


def sample_indices(total_frames: int, num_frames: int, method: str = "uniform_linspace") -> list[int]:
    """Return ``num_frames`` frame indices for a video of ``total_frames`` frames.

    Indices are non-decreasing and lie in ``[0, total_frames)``; they repeat
    when ``total_frames < num_frames``.

    Raises:
        ValueError: unknown ``method`` (the message lists valid names),
            ``total_frames < 1`` or ``num_frames < 1``.
    """
    if method not in SAMPLERS:
        raise ValueError(f"unknown sampler {method!r}; valid: {', '.join(SAMPLERS.names())}")
    sampler = SAMPLERS.get(method)
    total_frames, num_frames = int(total_frames), int(num_frames)
    if total_frames < 1:
        raise ValueError(f"total_frames must be >= 1, got {total_frames}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    return [int(i) for i in sampler(total_frames, num_frames)]


FRAME_ORDERS: tuple[str, ...] = ("original", "reversed", "shuffled")


def frame_order_permutation(n: int, order: str, seed: int = 0) -> np.ndarray:
    """Return the permutation (int64 array of length ``n``) that ``order`` applies.

    ``frames[perm]`` is what :func:`apply_frame_order` returns; apply the same
    permutation to the sampled indices to keep them aligned with the frames.
    ``'shuffled'`` uses ``np.random.default_rng(seed).permutation(n)``.
    """
    if order == "original":
        return np.arange(n)
    if order == "reversed":
        return np.arange(n)[::-1].copy()
    if order == "shuffled":
        return np.random.default_rng(seed).permutation(n)
    raise ValueError(f"unknown frame order {order!r}; valid: {', '.join(FRAME_ORDERS)}")


def apply_frame_order(frames: np.ndarray, order: str, seed: int = 0) -> np.ndarray:
    """Reorder ``frames`` along axis 0 (an ablation applied after decoding).

    ``'original'`` returns ``frames`` itself; ``'reversed'`` and
    ``'shuffled'`` return new arrays.  Shuffling is deterministic for a seed.
    """
    perm = frame_order_permutation(len(frames), order, seed)
    if order == "original":
        return frames
    return frames[perm]

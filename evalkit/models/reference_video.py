"""Video-LLaVA's own video preprocessing, as ``model.video_preprocess=reference`` (or ``reference_noflip``).

The paper's numbers were produced by the original repository's LanguageBind video processor, not
by transformers' ``VideoLlavaVideoProcessor`` (evalkit's default, ``hf``).  Its inference transform
(``get_video_transform`` in ``videollava/model/multimodal_encoder/languagebind/video/processing_video.py``,
the same for every decoding backend) is, on a ``(C, T, H, W)`` clip of 0-255 values:

1. divide by 255 (float32);
2. normalise per channel with the OpenAI CLIP mean and std;
3. ``ShortSideScale(224)`` (pytorchvideo): the short side to 224 and the long side to
   ``floor(long / short * 224)``, by ``torch.nn.functional.interpolate(mode="bilinear",
   align_corners=False)`` with no antialiasing (the clip's C is the batch, T the channels);
4. ``CenterCropVideo(224)`` (torchvision): offsets ``int(round((h - 224) / 2))`` -- Python's
   round, half to even -- and the same for the width;
5. ``RandomHorizontalFlipVideo(p=0.5)``: **at inference too**, each clip is mirrored left-right
   when ``random.random() < 0.5`` (Python's global generator, never seeded by the eval scripts).

transformers' processor instead resizes with antialiased bicubic interpolation and never flips:
pixel values differ slightly, and half of the reference's clips were seen mirrored (which
matters for left/right questions).  Frame indices are the same in both (``np.linspace(0, n - 1,
8, dtype=int)``: evalkit's ``uniform_linspace`` sampler).

``reference`` draws the flip once per clip from ``run.seed`` and the clip's decoded pixels, so a
run is reproducible, every question on a video sees the same clip (shared-video inference keeps
working) and batching or sharding changes nothing.  The reference drew it per question from an
unseeded generator: no run can replay its flips, only their distribution.  ``reference_noflip``
is the same transform without step 5.  The output is ``(T, C, size, size)`` per clip, the layout
``VideoLlavaForConditionalGeneration`` takes as ``pixel_values_videos``.

Pure functions over numpy/torch; nothing is imported from the original repository.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Sequence

#: CLIP's normalisation constants (OpenAI), as the LanguageBind processor uses them.
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)

#: ``model.video_preprocess`` choices.
VIDEO_PREPROCESS = ("hf", "reference", "reference_noflip")


def short_side_size(h: int, w: int, size: int) -> tuple[int, int]:
    """(new_h, new_w) of pytorchvideo's ``short_side_scale``: the short side becomes ``size``."""
    if w < h:
        return int(math.floor((float(h) / w) * size)), size
    return size, int(math.floor((float(w) / h) * size))


def flip_for(frames: Any, seed: int) -> bool:
    """The seeded coin of step 5 for one clip: a function of ``seed`` and the clip's pixels only."""
    import numpy as np

    arr = np.ascontiguousarray(frames)
    digest = hashlib.sha256(f"{int(seed)}|{arr.shape}|".encode() + arr.tobytes()).digest()
    return digest[0] < 128  # probability 1/2


def reference_clip(frames: Any, size: int = 224, flip: bool = False):
    """One clip, ``(T, H, W, 3)`` uint8 frames, through steps 1-4 (and 5 when ``flip``): a float32
    tensor ``(T, 3, size, size)``."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    clip = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float() / 255.0  # (C, T, H, W)
    mean = torch.tensor(OPENAI_MEAN, dtype=clip.dtype).view(3, 1, 1, 1)
    std = torch.tensor(OPENAI_STD, dtype=clip.dtype).view(3, 1, 1, 1)
    clip = (clip - mean) / std
    h, w = clip.shape[-2:]
    new_h, new_w = short_side_size(h, w, size)
    clip = F.interpolate(clip, size=(new_h, new_w), mode="bilinear", align_corners=False)
    i, j = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    clip = clip[..., i:i + size, j:j + size]
    if flip:
        clip = clip.flip(-1)
    return clip.permute(1, 0, 2, 3).contiguous()  # (T, C, size, size)


class ReferenceVideoProcessor:
    """Stands in for the processor's ``video_processor``: ``pixel_values_videos`` by the reference
    transform.  ``seed`` is read when called (the job sets ``run.seed`` on the adapter)."""

    def __init__(self, mode: str, size: int, seed_of) -> None:
        if mode not in VIDEO_PREPROCESS[1:]:
            raise ValueError(f"reference video preprocessing: unknown mode {mode!r}")
        self.mode, self.size, self.seed_of = mode, int(size), seed_of

    @property
    def crop_size(self) -> dict[str, int]:
        """As transformers' video processors name it (a second ``attach`` reads the size from here)."""
        return {"height": self.size, "width": self.size}

    def __call__(self, videos: Sequence[Any], **kwargs: Any) -> dict[str, Any]:
        import torch

        clips = []
        for frames in videos:
            flip = self.mode == "reference" and flip_for(frames, self.seed_of())
            clips.append(reference_clip(frames, self.size, flip))
        return {"pixel_values_videos": torch.stack(clips)}

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "size": self.size, "mean": list(OPENAI_MEAN), "std": list(OPENAI_STD),
                "resize": "short side, bilinear, align_corners=False, no antialias", "crop": "centre",
                "flip": ("left-right with probability 1/2, once per clip from run.seed and its pixels"
                         if self.mode == "reference" else "none")}

"""``model.video_preprocess=reference`` against the original LanguageBind video transform.

The reference (Video-LLaVA ``languagebind/video/processing_video.py``, ``get_video_transform``)
composes: ``x / 255``, torchvision's ``NormalizeVideo`` (OpenAI CLIP mean/std), pytorchvideo's
``ShortSideScale(224)``, torchvision's ``CenterCropVideo(224)`` and ``RandomHorizontalFlipVideo(p=0.5)``.
The torchvision classes are used here as they are (``torchvision.transforms._transforms_video``);
pytorchvideo is not installable in CI, so its ``short_side_scale`` is restated literally below (from
pytorchvideo 0.1.5 ``transforms/functional.py``; checked once against the installed package: every
element equal on the sizes below).
"""

from __future__ import annotations

import math
import random
import warnings

import numpy as np
import pytest
import torch

from evalkit.models.reference_video import (OPENAI_MEAN, OPENAI_STD, ReferenceVideoProcessor, flip_for,
                                            reference_clip, short_side_size)

SIZES = [(240, 320), (320, 240), (360, 640), (227, 301), (224, 224), (100, 150), (481, 853), (250, 251)]


def _pytorchvideo_short_side_scale(x: torch.Tensor, size: int) -> torch.Tensor:
    """pytorchvideo.transforms.functional.short_side_scale, backend "pytorch", as published."""
    assert len(x.shape) == 4 and x.dtype == torch.float32
    c, t, h, w = x.shape
    if w < h:
        new_h = int(math.floor((float(h) / w) * size))
        new_w = size
    else:
        new_h = size
        new_w = int(math.floor((float(w) / h) * size))
    return torch.nn.functional.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False)


def _reference_transform():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the module is deprecated in torchvision, still shipped
        from torchvision.transforms import Compose, Lambda
        from torchvision.transforms._transforms_video import (CenterCropVideo, NormalizeVideo,
                                                              RandomHorizontalFlipVideo)
    return Compose([Lambda(lambda x: x / 255.0), NormalizeVideo(mean=OPENAI_MEAN, std=OPENAI_STD),
                    Lambda(lambda x: _pytorchvideo_short_side_scale(x, 224)), CenterCropVideo(224),
                    RandomHorizontalFlipVideo(p=0.5)])


@pytest.mark.parametrize("h, w", SIZES)
def test_reference_clip_equals_the_original_transform(h, w, monkeypatch):
    transform = _reference_transform()
    frames = np.random.default_rng(h * 1000 + w).integers(0, 256, size=(8, h, w, 3), dtype=np.uint8)
    clip = torch.from_numpy(frames).permute(3, 0, 1, 2)  # (C, T, H, W), as the decord path builds it
    for flip, coin in ((False, 0.75), (True, 0.25)):  # the reference flips when random.random() < 0.5
        monkeypatch.setattr(random, "random", lambda coin=coin: coin)
        want = transform(clip).permute(1, 0, 2, 3)  # (T, C, 224, 224): pixel_values_videos' layout
        got = reference_clip(frames, 224, flip)
        assert got.shape == want.shape == (8, 3, 224, 224)
        assert torch.equal(got, want)


def test_short_side_sizes():
    assert short_side_size(240, 320, 224) == (224, 298) and short_side_size(320, 240, 224) == (298, 224)
    assert short_side_size(224, 224, 224) == (224, 224)
    # 227 x 301 -> 224 x 297: the crop offset (297 - 224) / 2 = 36.5 is a half, rounded to even as
    # CenterCropVideo's round() does (covered by the (227, 301) case above)
    assert short_side_size(227, 301, 224) == (224, 297)


def test_the_flip_is_a_seeded_coin_per_clip():
    rng = np.random.default_rng(1)
    clips = [rng.integers(0, 256, size=(2, 8, 8, 3), dtype=np.uint8) for _ in range(400)]
    flips = [flip_for(c, 0) for c in clips]
    assert 150 < sum(flips) < 250  # about half, as p=0.5
    assert flips == [flip_for(c.copy(), 0) for c in clips]  # the pixels decide, not the object
    assert flips != [flip_for(c, 1) for c in clips]  # another run.seed, other flips
    seed = [0]
    proc = ReferenceVideoProcessor("reference", 8, lambda: seed[0])
    out = proc(clips[:6])["pixel_values_videos"]
    assert out.shape == (6, 2, 3, 8, 8) and proc.crop_size == {"height": 8, "width": 8}
    for clip, got in zip(clips[:6], out):
        assert torch.equal(got, reference_clip(clip, 8, flip_for(clip, 0)))
    noflip = ReferenceVideoProcessor("reference_noflip", 8, lambda: seed[0])(clips[:6])["pixel_values_videos"]
    assert all(torch.equal(n, reference_clip(c, 8)) for n, c in zip(noflip, clips[:6]))
    with pytest.raises(ValueError, match="unknown mode"):
        ReferenceVideoProcessor("hf", 8, lambda: 0)

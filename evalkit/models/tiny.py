"""Build tiny, offline Video-LLaVA checkpoints.

Everything here runs without a network: the tokenizer is a word-level vocabulary built
in-process, the vision tower is a small CLIP, the language model a small Llama, and the
result is written with ``save_pretrained`` so that it loads back through exactly the same
``from_pretrained`` path a real checkpoint takes.  Tests, the embedded demo and the
``tasks/demo/train.py`` script all build their models with :func:`build_tiny_videollava`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from evalkit.word_tokenizer import BASE_WORDS, SPECIAL_TOKENS, build_word_tokenizer  # noqa: F401 (re-export)


@dataclass(frozen=True)
class TinySpec:
    """Shape of a tiny Video-LLaVA.  Defaults give about 0.26 M parameters."""

    hidden_size: int = 64
    intermediate_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    image_size: int = 32
    patch_size: int = 8
    max_position_embeddings: int = 1024
    # Standard deviation to redraw every weight matrix with (None: transformers' own init).  A large
    # value (e.g. 0.2) makes a random model's greedy output depend strongly on its input, which
    # exactness tests need (with the default init most prompts give the same few tokens).
    init_std: float | None = None


def build_tiny_processor(corpus: Iterable[str] = (), spec: TinySpec = TinySpec()):
    """A ``VideoLlavaProcessor`` with small frame size and a word-level tokenizer."""
    from transformers import (
        VideoLlavaImageProcessor,
        VideoLlavaProcessor,
        VideoLlavaVideoProcessor,
    )

    size = {"shortest_edge": spec.image_size}
    crop = {"height": spec.image_size, "width": spec.image_size}
    return VideoLlavaProcessor(
        image_processor=VideoLlavaImageProcessor(size=size, crop_size=crop),
        video_processor=VideoLlavaVideoProcessor(size=size, crop_size=crop),
        tokenizer=build_word_tokenizer(corpus),
        patch_size=spec.patch_size,
        vision_feature_select_strategy="default",
    )


def build_tiny_model(tokenizer, spec: TinySpec = TinySpec(), seed: int = 0):
    """A randomly initialised ``VideoLlavaForConditionalGeneration`` matching ``tokenizer``."""
    import torch
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        VideoLlavaConfig,
        VideoLlavaForConditionalGeneration,
    )

    vision = CLIPVisionConfig(
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        image_size=spec.image_size,
        patch_size=spec.patch_size,
        projection_dim=spec.hidden_size,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_heads,
        max_position_embeddings=spec.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    config = VideoLlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    config.pad_token_id = tokenizer.pad_token_id
    torch.manual_seed(seed)
    model = VideoLlavaForConditionalGeneration(config)
    if spec.init_std is not None:
        with torch.no_grad():
            for param in model.parameters():
                if param.ndim >= 2:
                    param.normal_(0.0, spec.init_std)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.eval()
    return model


def build_tiny_videollava(
    out_dir: str | Path, *, corpus: Iterable[str] = (), spec: TinySpec = TinySpec(), seed: int = 0
) -> Path:
    """Write a random tiny Video-LLaVA (model + processor) to ``out_dir`` and return it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    processor = build_tiny_processor(corpus, spec)
    model = build_tiny_model(processor.tokenizer, spec, seed)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out

"""Build random-initialised checkpoints of the chat-template families, offline.

The same builder makes a toy checkpoint (tests: :data:`TINY_ARCHITECTURES`, a few hundred
thousand parameters) and a real-size one (``bench/gpu_check.py --family``: the architecture JSON
files written in ``bench/``).  Each is a word-level tokenizer (:func:`evalkit.word_tokenizer.build_word_tokenizer`)
with the family's media tokens, the family's processor (image + video processor, a chat template
of evalkit's own saved beside it: a real checkpoint carries its authors' template, which evalkit
records by hash), and the family's ``...ForConditionalGeneration`` built from a config dict --
then ``save_pretrained``, so it loads back exactly as a downloaded checkpoint does.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evalkit.models.tiny import SPECIAL_TOKENS, build_word_tokenizer

# evalkit's own chat templates for the toy checkpoints (one user turn, media before the text).
LLAVA_STYLE_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] | upper }}: "
    "{% for c in m['content'] %}{% if c['type'] == 'video' %}<video>\n{% elif c['type'] == 'image' %}<image>\n"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %} {% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
QWEN_STYLE_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% for c in m['content'] %}{% if c['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN_TOKENS = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")

_TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 4, "max_position_embeddings": 2048}

#: toy architectures: the ``config`` dict of each family's model config, plus the processor's sizes
TINY_ARCHITECTURES: dict[str, dict[str, Any]] = {
    "llava_next_video": {
        "config": {"vision_config": {"model_type": "clip_vision_model", "hidden_size": 64, "intermediate_size": 128,
                                     "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": 32,
                                     "patch_size": 8, "projection_dim": 64},
                   "text_config": {"model_type": "llama", **_TEXT},
                   "vision_feature_select_strategy": "default", "vision_feature_layer": -2,
                   "image_grid_pinpoints": [[32, 32]], "spatial_pool_stride": 2},
        "processor": {"image_size": 32, "patch_size": 8},
    },
    "llava_onevision": {
        "config": {"vision_config": {"model_type": "siglip_vision_model", "hidden_size": 64, "intermediate_size": 128,
                                     "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": 32,
                                     "patch_size": 8},
                   "text_config": {"model_type": "qwen2", **_TEXT},
                   "vision_feature_select_strategy": "full", "vision_feature_layer": -1,
                   "image_grid_pinpoints": [[32, 32], [32, 64], [64, 32]], "vision_aspect_ratio": "anyres_max_9"},
        "processor": {"image_size": 32, "patch_size": 8},
    },
    "qwen2_5_vl": {
        "config": {"vision_config": {"depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 4,
                                     "out_hidden_size": 64, "patch_size": 14, "spatial_merge_size": 2,
                                     "temporal_patch_size": 2, "window_size": 56, "fullatt_block_indexes": [1]},
                   "text_config": {**_TEXT, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                                                "mrope_section": [2, 3, 3]}}},
        "processor": {"min_pixels": 56 * 56, "max_pixels": 56 * 56, "patch_size": 14, "merge_size": 2,
                      "temporal_patch_size": 2},
    },
}

FAMILIES = tuple(TINY_ARCHITECTURES)


def build_family_tokenizer(family: str, corpus: Iterable[str] = (), chat_template: str | None = None):
    """A word-level tokenizer with ``family``'s media tokens (and chat markers), template attached."""
    if family == "qwen2_5_vl":
        tok = build_word_tokenizer(corpus, special=SPECIAL_TOKENS + QWEN_TOKENS,
                                   media_tokens={"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"})
        tok.chat_template = chat_template or QWEN_STYLE_TEMPLATE
    else:
        tok = build_word_tokenizer(corpus)
        tok.chat_template = chat_template or LLAVA_STYLE_TEMPLATE
    return tok


def build_family_processor(family: str, architecture: dict[str, Any], tokenizer: Any):
    """The family's processor at the architecture's sizes, with the tokenizer's chat template."""
    import transformers as tf

    p = architecture["processor"]
    template = tokenizer.chat_template
    if family == "llava_next_video":
        size, crop = {"shortest_edge": p["image_size"]}, {"height": p["image_size"], "width": p["image_size"]}
        return tf.LlavaNextVideoProcessor(
            video_processor=tf.LlavaNextVideoVideoProcessor(size=size, crop_size=crop),
            image_processor=tf.LlavaNextImageProcessor(
                size=size, crop_size=crop, image_grid_pinpoints=architecture["config"]["image_grid_pinpoints"]),
            tokenizer=tokenizer, patch_size=p["patch_size"], chat_template=template, num_additional_image_tokens=1,
            vision_feature_select_strategy=architecture["config"]["vision_feature_select_strategy"])
    if family == "llava_onevision":
        size = {"height": p["image_size"], "width": p["image_size"]}
        return tf.LlavaOnevisionProcessor(
            image_processor=tf.LlavaOnevisionImageProcessor(
                size=size, image_grid_pinpoints=architecture["config"]["image_grid_pinpoints"]),
            video_processor=tf.LlavaOnevisionVideoProcessor(size=size), tokenizer=tokenizer,
            num_image_tokens=(p["image_size"] // p["patch_size"]) ** 2, chat_template=template,
            vision_feature_select_strategy=architecture["config"]["vision_feature_select_strategy"],
            vision_aspect_ratio=architecture["config"].get("vision_aspect_ratio", "anyres_max_9"))
    if family == "qwen2_5_vl":
        kw = {k: p[k] for k in ("min_pixels", "max_pixels", "patch_size", "merge_size", "temporal_patch_size")}
        return tf.Qwen2_5_VLProcessor(image_processor=tf.Qwen2VLImageProcessor(**kw),
                                      video_processor=tf.Qwen2VLVideoProcessor(**kw),
                                      tokenizer=tokenizer, chat_template=template)
    raise ValueError(f"unknown family {family!r} (known: {', '.join(FAMILIES)})")


def family_config(family: str, architecture: dict[str, Any], tokenizer: Any):
    """The model config: the architecture's ``config`` with the tokenizer's vocabulary and ids."""
    import transformers as tf

    cfg = copy.deepcopy(architecture["config"])
    ids = {k: tokenizer.convert_tokens_to_ids(t) for k, t in
           (("image", tokenizer.image_token), ("video", tokenizer.video_token))}
    # a real-size architecture keeps its vocabulary rows (the word tokenizer uses the first ones)
    vocab = max(len(tokenizer), int(cfg["text_config"].get("vocab_size", 0)))
    cfg["text_config"].update(vocab_size=vocab, bos_token_id=tokenizer.bos_token_id,
                              eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    if family == "qwen2_5_vl":
        return tf.Qwen2_5_VLConfig(**cfg, image_token_id=ids["image"], video_token_id=ids["video"],
                                   vision_start_token_id=tokenizer.convert_tokens_to_ids("<|vision_start|>"),
                                   vision_end_token_id=tokenizer.convert_tokens_to_ids("<|vision_end|>"))
    cls = tf.LlavaNextVideoConfig if family == "llava_next_video" else tf.LlavaOnevisionConfig
    return cls(**cfg, image_token_index=ids["image"], video_token_index=ids["video"])


MODEL_CLASSES = {"llava_next_video": "LlavaNextVideoForConditionalGeneration",
                 "llava_onevision": "LlavaOnevisionForConditionalGeneration",
                 "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration"}


def build_family_model(family: str, architecture: dict[str, Any], tokenizer: Any, *, seed: int = 0,
                       init_std: float | None = None, dtype: Any = None, device: Any = "cpu"):
    """A randomly initialised model of ``family`` (``init_std``: redraw weight matrices with it),
    built directly on ``device`` in ``dtype`` (a 7B model initialised on the CPU takes minutes)."""
    import torch
    import transformers as tf

    config = family_config(family, architecture, tokenizer)
    torch.manual_seed(seed)
    with torch.device(device):
        model = getattr(tf, MODEL_CLASSES[family])._from_config(config, dtype=dtype or torch.float32)
    if init_std is not None:
        with torch.no_grad():
            for param in model.parameters():
                if param.ndim >= 2:
                    param.normal_(0.0, init_std)
    gen = model.generation_config
    gen.pad_token_id, gen.eos_token_id, gen.bos_token_id = (tokenizer.pad_token_id, tokenizer.eos_token_id,
                                                            tokenizer.bos_token_id)
    return model.eval()


def build_tiny_family(family: str, out_dir: str | Path, *, corpus: Iterable[str] = (), seed: int = 0,
                      init_std: float | None = 0.2) -> Path:
    """Write a toy random checkpoint of ``family`` (model + processor with its chat template)."""
    if family not in TINY_ARCHITECTURES:
        raise ValueError(f"unknown family {family!r} (known: {', '.join(FAMILIES)})")
    architecture = TINY_ARCHITECTURES[family]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_family_tokenizer(family, corpus)
    processor = build_family_processor(family, architecture, tokenizer)
    model = build_family_model(family, architecture, tokenizer, seed=seed, init_std=init_std)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out

"""Prompts the model cannot read: counted exactly as the processor does, flagged as that sample's
error (never truncated), warned once per run."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from evalkit.config import build_model
from evalkit.models.base import GenerationInput
from evalkit.pipeline.run_warnings import flag_prompts
from evalkit.samples import Sample


@pytest.fixture(scope="module")
def adapter(tiny_ckpt):
    from hydra import compose, initialize_config_dir

    from evalkit.config import register_configs
    from evalkit.paths import CONFIG_DIR

    register_configs()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["model=tiny_demo_trained", f"model.pretrained={tiny_ckpt}"])
    model = build_model(cfg.model)
    model.load()
    return model


@pytest.mark.parametrize("modality", ["video", "image"])
def test_prompt_tokens_equal_what_the_processor_feeds_the_model(adapter, modality):
    rng = np.random.default_rng(0)
    media = (rng.integers(0, 255, (8, 40, 56, 3), dtype=np.uint8) if modality == "video"
             else Image.fromarray(rng.integers(0, 255, (30, 50, 3), dtype=np.uint8)))
    for text in ("what?", "is the shape moving left or right or up or down in this video and what colour is it?"):
        prompt = adapter.prompt_for(GenerationInput("x", text, modality, media))
        fed = adapter.processor(text=[prompt], **{f"{modality}s": [media]})["input_ids"].shape[1]
        assert adapter.prompt_tokens(text, modality, num_frames=8) == fed
    assert adapter.context_length() == 1024


def test_over_long_and_unreadable_prompts_are_flagged_not_truncated(adapter):
    samples = [Sample(id="ok", task="t", question="what?", answers=("x",)),
               Sample(id="long", task="t", question="word " * 4000, answers=("x",)),
               Sample(id="bad", task="t", question="lone \udcff", answers=("x",)),
               Sample(id="known", task="t", question="word " * 4000, answers=("x",), problem="earlier problem")]
    out, warnings = flag_prompts(adapter, samples, num_frames=8)
    by_id = {s.id: s for s in out}
    assert by_id["ok"].problem is None and by_id["known"].problem == "earlier problem"
    assert by_id["long"].problem.startswith("prompt_too_long: the prompt is ")
    assert "model's context of 1024 (max_position_embeddings); not truncated" in by_id["long"].problem
    assert by_id["bad"].problem.startswith("unprocessable_text: the model's tokenizer cannot read this prompt")
    assert by_id["long"].question == "word " * 4000  # the sample itself is not cut
    counts = {k: v["count"] for k, v in warnings.as_dict().items()}
    assert counts == {"prompt_over_context": 1, "unprocessable_text": 1}
    said: list[str] = []
    warnings.log("t", said.append)
    assert len(said) == 2 and "(e.g. long)" in said[0]

"""A quiet console (issue 24): no per-request lines, no backend warning, no judge name for the demo."""

from __future__ import annotations

import logging


def test_request_lines_are_debug_only_unless_asked_for(monkeypatch):
    from evalkit.cli.run import CHATTY_LOGGERS, quiet_request_logs

    for name in CHATTY_LOGGERS:
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    monkeypatch.setattr(logging.getLogger("httpcore"), "level", logging.DEBUG)  # hydra.verbose=httpcore
    quiet_request_logs()
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)  # "HTTP Request: POST ..." is INFO
    assert logging.getLogger("httpcore").level == logging.DEBUG


def test_video_llava_loads_without_the_backend_fallback(tiny_ckpt, monkeypatch):
    """The "Requested torchvision backend is not available" warning came from loading Video-LLaVA's
    (PIL-only) image processor through the auto class; the adapter loads it by its own class."""
    from transformers.models.auto import image_processing_auto

    from evalkit.models.videollava import VideoLlavaAdapter, VideoLlavaConfig

    said = []
    monkeypatch.setattr(image_processing_auto.logger, "warning_once", lambda msg, *a, **k: said.append(msg))
    m = VideoLlavaAdapter(VideoLlavaConfig(pretrained=str(tiny_ckpt), device="cpu", dtype="float32"))
    m.load()
    try:
        assert type(m.processor.image_processor).__name__ == "VideoLlavaImageProcessor"
        assert type(m.processor.video_processor).__name__ == "VideoLlavaVideoProcessor"
    finally:
        m.close()
    assert not [s for s in said if "backend" in s]


def test_the_demo_is_not_said_to_be_judged_by_a_named_judge():
    from evalkit.catalog import catalog

    by_name = {e.name: e for e in catalog()}
    assert "gpt35" not in by_name["demo_shapes"].scoring and "judge=none" in by_name["demo_shapes"].scoring
    assert "the paper's: judge=gpt35" in by_name["msvd_qa"].scoring

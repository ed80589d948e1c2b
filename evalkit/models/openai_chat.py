"""A served model behind any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, a hosted
API).  Frames and images travel as base64 data URLs in one user message, after the task's prompt
text; the server applies its own chat template.  Greedy (temperature 0) by default.

The runner treats it like any other adapter: it hands over decoded media and gets text back, so
sharding, resume, error records and scoring are unchanged.
"""

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Optional

from evalkit.models.base import MODELS, GenerationInput, ModelAdapter, ModelConfig


@dataclass
class OpenAIChatConfig(ModelConfig):
    name: str = "openai_chat"
    pretrained: str = "???"  # the served model's name, as the endpoint knows it
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key_env: Optional[str] = None  # NAME of the env var with the key; None for a local server
    max_new_tokens: Optional[int] = None  # null = the task's paper value
    temperature: float = 0.0
    concurrency: int = 8  # requests in flight per batch
    timeout_s: float = 120.0
    max_retries: int = 3  # the SDK's own retries (429/5xx/connection)
    image_format: str = "png"  # png (lossless) | jpeg
    jpeg_quality: int = 95
    image_detail: Optional[str] = None  # OpenAI's "low" | "high" | "auto"; None = not sent


@MODELS.register("openai_chat")
class OpenAIChatAdapter(ModelAdapter):
    config_cls = OpenAIChatConfig
    cfg: OpenAIChatConfig

    def __init__(self, cfg: OpenAIChatConfig) -> None:
        super().__init__(cfg)
        if cfg.image_format not in ("png", "jpeg"):
            raise ValueError(f"model.image_format must be png or jpeg, got {cfg.image_format!r}")
        self._client = None

    def load(self) -> None:
        import os

        from openai import OpenAI

        key = os.environ.get(self.cfg.api_key_env) if self.cfg.api_key_env else None
        if self.cfg.api_key_env and not key:
            raise RuntimeError(f"model endpoint {self.cfg.base_url}: environment variable {self.cfg.api_key_env} is empty")
        self._client = OpenAI(base_url=self.cfg.base_url, api_key=key or "EMPTY", timeout=self.cfg.timeout_s,
                              max_retries=self.cfg.max_retries)

    def _data_url(self, image: Any) -> str:
        from PIL import Image

        img = image if isinstance(image, Image.Image) else Image.fromarray(image)
        buf = io.BytesIO()
        if self.cfg.image_format == "png":
            img.save(buf, format="PNG")
        else:
            img.convert("RGB").save(buf, format="JPEG", quality=self.cfg.jpeg_quality)
        return f"data:image/{self.cfg.image_format};base64," + base64.b64encode(buf.getvalue()).decode()

    def messages_for(self, item: GenerationInput) -> list[dict[str, Any]]:
        images: list[Any] = []
        if item.modality == "video" and item.media is not None:
            images = list(item.media)  # (frames, H, W, 3) -> one image per frame, in order
        elif item.modality == "image" and item.media is not None:
            images = [item.media]
        content: list[dict[str, Any]] = [{"type": "text", "text": item.text}]
        for im in images:
            part: dict[str, Any] = {"url": self._data_url(im)}
            if self.cfg.image_detail:
                part["detail"] = self.cfg.image_detail
            content.append({"type": "image_url", "image_url": part})
        return [{"role": "user", "content": content}]

    def _one(self, item: GenerationInput) -> str:
        assert self._client is not None
        resp = self._client.chat.completions.create(
            model=self.cfg.pretrained, messages=self.messages_for(item),
            max_tokens=self.cfg.max_new_tokens, temperature=self.cfg.temperature)
        return (resp.choices[0].message.content or "").strip()

    def generate(self, batch: list[GenerationInput]) -> list[str]:
        if self._client is None:
            raise RuntimeError("model adapter used before load()")
        # A failed request raises; the runner then retries the batch one sample at a time and
        # records the sample that still fails as an error, so one bad request sinks no other.
        with ThreadPoolExecutor(max_workers=max(1, min(self.cfg.concurrency, len(batch)))) as pool:
            return list(pool.map(self._one, batch))

    def prompt_for(self, item: GenerationInput) -> str:
        n = len(item.media) if item.modality == "video" and item.media is not None else int(item.modality == "image")
        return f"{item.text} [+{n} image(s) as {self.cfg.image_format}]"

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(endpoint=self.cfg.base_url, temperature=self.cfg.temperature,
                 max_new_tokens=self.cfg.max_new_tokens, image_format=self.cfg.image_format,
                 prompt_template="server chat template (text first, then one image per frame)")
        return d

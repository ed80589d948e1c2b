"""Model adapters: turn prepared inputs (prompt text + decoded media) into generated text.

The runner never sees a tokenizer or a processor; a served-model backend (an
OpenAI-compatible endpoint, vLLM) implements the same two methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from evalkit.registry import Registry


@dataclass
class ModelConfig:
    """Fields every model adapter has; subclasses add their own."""

    adapter: str = "???"  # the registered ModelAdapter class
    name: str = "???"
    pretrained: str = "???"


@dataclass
class GenerationInput:
    """One prepared sample: the task's prompt text and its decoded media.

    ``media`` is a uint8 array (frames, H, W, 3) for video, a PIL image for image, None for text.
    """

    sample_id: str
    text: str
    modality: str
    media: Any = None
    # Inputs with equal share_key carry the same medium (set by the runner with runner.share_prefix);
    # an adapter may compute their common prompt prefix once.  None: nothing shared.
    share_key: Optional[str] = None


class ModelAdapter(ABC):
    config_cls: ClassVar[type[ModelConfig]] = ModelConfig
    registry_name: ClassVar[str]

    def __init__(self, cfg: ModelConfig) -> None:
        self.cfg = cfg

    @abstractmethod
    def load(self) -> None:
        """Load weights (called once, before the first batch)."""

    @abstractmethod
    def generate(self, batch: list[GenerationInput]) -> list[str]:
        """Generated text for each input, in order."""

    def weights_identity(self) -> Optional[dict[str, Any]]:
        """Something that changes when the weights behind ``pretrained`` change (part of the run's
        protocol, so predictions of a re-trained checkpoint at the same path are never mixed)."""
        return None

    def describe(self) -> dict[str, Any]:
        """What to record in the manifest about the model and its decoding protocol."""
        return {"adapter": self.registry_name, "pretrained": self.cfg.pretrained}

    def runs_on_local_cpu(self) -> bool:
        """Does generation compute on this machine's CPU (so decoding competes with it for cores)?"""
        return False

    def cpu_threads(self) -> Optional[int]:
        """Intra-op threads the model computes with on this CPU (None: it does not compute here)."""
        return None

    def set_cpu_threads(self, n: int) -> None:
        """Let the model compute with ``n`` threads on this CPU (the runner fits them to the host);
        an adapter keeps a count its user configured."""

    def sharing_stats(self) -> Optional[dict[str, Any]]:
        """Counters of shared-prefix generation (None when the adapter does not share prefixes)."""
        return None

    def prompt_for(self, item: GenerationInput) -> Optional[str]:
        """The full prompt string sent to the model (recorded per prediction), if known."""
        return None


MODELS: Registry[ModelAdapter] = Registry("model")

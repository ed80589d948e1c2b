"""Model adapters: turn prepared inputs (prompt text + decoded media) into generated text.

The runner never sees a tokenizer or a processor; a served-model backend (an
OpenAI-compatible endpoint, vLLM) implements the same two methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from evalkit.errors import EvalkitError
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
    # A video's decoded frame indices, and the fps of the file they came from (None: unknown or
    # not a video): timestamps are index / fps.  Models with temporal positions (Qwen2.5-VL) need them.
    frame_indices: Optional[list[int]] = None
    video_fps: Optional[float] = None

    def timestamps(self) -> Optional[list[float]]:
        """Seconds into the video of each frame, when the indices and the file's fps are known."""
        if self.frame_indices is None or not self.video_fps:
            return None
        return [i / self.video_fps for i in self.frame_indices]


class ModelUnavailableError(EvalkitError, RuntimeError):
    """The model cannot be used at all (a served endpoint refuses the key or stays down): the run
    stops with this message; predictions finished so far are kept and a rerun resumes."""


@dataclass(frozen=True)
class GenerationFailed:
    """Returned by :meth:`ModelAdapter.generate` in place of a text for one input that failed on
    its own (e.g. a request the server rejected); the runner records it as that sample's error."""

    message: str


class ModelAdapter(ABC):
    config_cls: ClassVar[type[ModelConfig]] = ModelConfig
    registry_name: ClassVar[str]
    #: ``model.pretrained`` names weights this adapter loads (a folder or hub id): checked at start-up
    loads_checkpoint: ClassVar[bool] = False

    def __init__(self, cfg: ModelConfig) -> None:
        self.cfg = cfg
        self.answer_setup: Any = None  # evalkit.prompts.answer.AnswerSetup, set by the job
        self.seed = 0  # run.seed, set by the job (sent with sampled requests of served models)

    def set_answer_setup(self, setup: Any) -> None:
        """The task's answer template and generation settings, resolved for this run."""
        self.answer_setup = setup

    def answer_template(self, paper: Any, store: Any) -> Any:
        """Which answer prompt runs for a task whose paper protocol is ``paper``
        (:class:`evalkit.samples.PaperAnswer` or None): an :class:`evalkit.prompts.answer.TemplateChoice`.
        The default is a served model's: its server applies a chat template evalkit does not see."""
        from evalkit.prompts.answer import server_choice

        return server_choice(paper)

    def pads_images(self, paper_pad: bool) -> tuple[bool, Optional[str]]:
        """Does this adapter pad images to a square (centred, CLIP-mean fill) when the task's paper
        protocol asks for it (``paper_pad``)?  Returns (pads, why not or None).  Default: as the
        paper says; an adapter whose processor owns the aspect ratio declines, saying so."""
        return paper_pad, None

    def image_for_model(self, image: Any) -> Any:
        """The image as this adapter feeds it: padded to a square when the run's answer setup says
        so (recorded as ``generation.image_pad``), else unchanged."""
        if image is None or self.answer_setup is None or not self.answer_setup.generation.get("image_pad"):
            return image
        from evalkit.media.image import pad_to_square

        return pad_to_square(image)

    @abstractmethod
    def load(self) -> None:
        """Load weights (called once, before the first batch)."""

    @abstractmethod
    def generate(self, batch: list[GenerationInput]) -> list[str | GenerationFailed]:
        """Generated text for each input, in order (or :class:`GenerationFailed` for an input that
        failed alone).  Raising fails the batch: the runner retries it one input at a time, except
        :class:`ModelUnavailableError`, which stops the run."""

    def close(self) -> None:
        """Release connections or threads (called once predicting is over)."""

    def preferred_batch_size(self) -> int:
        """``runner.batch_size`` when the configuration leaves it unset (null)."""
        return 4

    def memory_probe(self, batch: list[GenerationInput]) -> bool:
        """For ``runner.batch_size=auto`` on a device with its own memory: run the most memory-hungry
        step of generating ``batch`` together (prompt and all ``max_new_tokens``), raising
        ``torch.OutOfMemoryError`` when it does not fit.  False: no device memory to probe."""
        return False

    def refill_engine(self) -> Any:
        """An engine for in-flight refill (:class:`evalkit.models.refill.RefillEngine`), or raise
        :class:`evalkit.models.refill.RefillUnavailable` saying why this adapter cannot refill exactly."""
        from evalkit.models.refill import RefillUnavailable

        raise RefillUnavailable(f"the {self.registry_name} adapter has no step-wise decoding")

    def samples(self) -> bool:
        """Does generation draw random numbers (sampling)?  Then run.seed is part of the protocol."""
        return False

    def weights_identity(self) -> Optional[dict[str, Any]]:
        """Something that changes when the weights behind ``pretrained`` change (part of the run's
        protocol, so predictions of a re-trained checkpoint at the same path are never mixed)."""
        return None

    def describe(self) -> dict[str, Any]:
        """What to record in the manifest about the model and its decoding protocol."""
        return {"adapter": self.registry_name, "pretrained": self.cfg.pretrained,
                "shared_prefix": self.prefix_sharing().as_dict()}

    def runs_on_local_cpu(self) -> bool:
        """Does generation compute on this machine's CPU (so decoding competes with it for cores)?"""
        return False

    def cpu_threads(self) -> Optional[int]:
        """Intra-op threads the model computes with on this CPU (None: it does not compute here)."""
        return None

    def set_cpu_threads(self, n: int) -> None:
        """Let the model compute with ``n`` threads on this CPU (the runner fits them to the host);
        an adapter keeps a count its user configured."""

    def prefix_sharing(self) -> Any:
        """Whether and how this adapter shares the prompt prefix of questions about one medium
        (an :class:`evalkit.models.shared_prefix.PrefixSharing`, recorded as ``shared_prefix``)."""
        from evalkit.models.shared_prefix import PrefixSharing

        return PrefixSharing(False, fallback="this adapter sends every question on its own")

    def sharing_stats(self) -> Optional[dict[str, Any]]:
        """Counters of shared-prefix generation (None when the adapter does not share prefixes)."""
        return None

    def prompt_for(self, item: GenerationInput) -> Optional[str]:
        """The full prompt string sent to the model (recorded per prediction), if known."""
        return None

    def context_length(self) -> Optional[int]:
        """The most tokens the loaded model reads (e.g. ``max_position_embeddings``); None when
        unknown (prompt lengths are then not checked)."""
        return None

    def prompt_tokens(self, text: str, modality: str, num_frames: int = 1) -> Optional[int]:
        """How many tokens the model reads for ``text`` with its media (conversation template and
        media tokens included), if the adapter can tell (after :meth:`load`).  Raises when the
        text cannot be processed (e.g. the tokenizer refuses it)."""
        return None


MODELS: Registry[type[ModelAdapter]] = Registry("model", plugins="evalkit.models", builtins=(
    "evalkit.models.videollava",
    "evalkit.models.hf_chat",
    "evalkit.models.openai_chat",
))

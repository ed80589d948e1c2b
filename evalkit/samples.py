"""The records every task produces and the runner consumes: :class:`Sample` (one evaluation item),
:class:`MediaSpec` (how a task's media are read) and :class:`PaperAnswer` (how the benchmark's
paper got the model's answer)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Modality = Literal["video", "image", "text"]


@dataclass(frozen=True)
class Sample:
    """One evaluation item.

    ``question`` is the benchmark's own question text (what the reference scripts write to
    their prediction files); ``prompt`` is the text the model actually receives, i.e. the
    question plus any task instruction suffix, before the model's conversation template.
    ``answers`` holds every reference answer (ten for VQAv2, one for the video QA sets).
    ``problem``, when set, says why the sample cannot be evaluated as the data give it (media outside
    the data folders, an image value holding no image, a prompt longer than the model's context): the
    job records it as the sample's error record; its media are never read, the model never called.
    """

    id: str
    task: str
    question: str
    answers: tuple[str, ...]
    modality: Modality = "video"
    media: tuple[str, ...] = ()
    prompt: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"sample id must be a non-empty string, got {self.id!r}")
        if self.modality not in ("video", "image", "text"):
            raise ValueError(f"sample {self.id}: unknown modality {self.modality!r}")

    @property
    def answer(self) -> str:
        """The primary reference answer (the ``answer`` field of prediction lines)."""
        return self.answers[0] if self.answers else ""

    @property
    def text_for_model(self) -> str:
        return self.prompt if self.prompt is not None else self.question


@dataclass(frozen=True)
class MediaSpec:
    """How the runner reads a task's media (recorded in the manifest)."""

    num_frames: int = 8
    sampler: str = "uniform_linspace"
    frame_order: str = "original"
    seed: int = 0
    # Images: pad to a square with the CLIP processor's mean colour before the processor (LLaVA's
    # process_images with image_aspect_ratio 'pad'), as the paper's code did for this benchmark.
    image_pad: bool = False


@dataclass(frozen=True)
class PaperAnswer:
    """What a benchmark's paper code used to get the model's answer (facts, recorded per run)."""

    template: str                  # conversation template name in the reference conversation.py
    max_new_tokens: int
    temperature: float = 0.0       # 0: greedy
    image_pad: bool = False        # image padded to a square (processor-mean colour) before the processor
    where: str = ""                # which reference script says so

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

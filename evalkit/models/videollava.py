"""Video-LLaVA through transformers (``VideoLlavaForConditionalGeneration``): a small
:class:`~evalkit.models.hf_base.HFAdapter` subclass.  What is Video-LLaVA's own: the paper's
conversation templates (imported, :mod:`evalkit.prompts.conversation`), the reference video
transform option; it declares exact shared-prefix generation (run by the base)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from evalkit.errors import ConfigError
from evalkit.models.base import MODELS, GenerationInput
from evalkit.models.hf_base import HFAdapter, HFConfig, local_checkpoint_fingerprint  # noqa: F401 (re-export)
from evalkit.models.reference_video import VIDEO_PREPROCESS, ReferenceVideoProcessor
from evalkit.models.shared_prefix import PrefixSharing
from evalkit.prompts.conversation import TRANSFORMERS_DOC, ChatTemplate, builtin_template, check_template_name


@dataclass
class VideoLlavaConfig(HFConfig):
    name: str = "video_llava"
    pretrained: str = "LanguageBind/Video-LLaVA-7B-hf"
    # Conversation template (evalkit.prompts.conversation): null = the task's paper template when imported
    # (evalkit-prompts import), else the transformers-doc format; or videollava | llava_v1 |
    # vicuna_v1 | custom:<name>/<template> to override.
    prompt_template: Optional[str] = None
    # Video frames to pixel values: hf (transformers' VideoLlavaVideoProcessor) | reference (the
    # original repository's LanguageBind transform the paper's numbers came from: bilinear short-side
    # scale, centre crop, a left-right flip of half the clips, seeded by run.seed) | reference_noflip
    # (the same without the flip).  See evalkit.models.reference_video.
    video_preprocess: str = "hf"


@MODELS.register("video_llava")
class VideoLlavaAdapter(HFAdapter):
    config_cls = VideoLlavaConfig
    cfg: VideoLlavaConfig
    model_class = "VideoLlavaForConditionalGeneration"
    processor_class = "VideoLlavaProcessor"  # not in AutoProcessor's mapping
    refill_exact = True  # 1-D positions; refill equals the per-question path (tests/runner/test_refill.py)

    def __init__(self, cfg: VideoLlavaConfig) -> None:
        super().__init__(cfg)
        check_template_name(cfg.prompt_template)  # fail fast on an unknown template
        if cfg.video_preprocess not in VIDEO_PREPROCESS:
            raise ConfigError(f"model.video_preprocess must be one of {', '.join(VIDEO_PREPROCESS)}, "
                             f"got {cfg.video_preprocess!r}")

    def attach(self, model: Any, processor: Any, device: Any, dtype: Any) -> None:
        if self.cfg.video_preprocess != "hf":  # the original repository's transform, at the checkpoint's crop size
            crop = getattr(getattr(processor, "video_processor", None), "crop_size", None)
            size = crop["height"] if crop is not None and crop["height"] else 224
            processor.video_processor = ReferenceVideoProcessor(self.cfg.video_preprocess, size, lambda: self.seed)
        super().attach(model, processor, device, dtype)

    def load_processor(self) -> Any:
        """Video-LLaVA's image processor exists only as a PIL class; the processor's auto loading asks
        for the torchvision backend first (installed, for the video processor) and warns "Requested
        torchvision backend is not available" on every run.  Its own class loads the same config."""
        from transformers import VideoLlavaImageProcessor, VideoLlavaProcessor

        kw = self._hub_kwargs()
        image_processor = VideoLlavaImageProcessor.from_pretrained(self.cfg.pretrained, **kw)
        return VideoLlavaProcessor.from_pretrained(self.cfg.pretrained, image_processor=image_processor, **kw)

    def prefix_sharing(self) -> PrefixSharing:
        return PrefixSharing(True, mechanism="prefix (through the last media token) prefilled once per medium, "
                             "cache repeated per question, padding between prefix and question")

    # -- the answer prompt: the paper's conversations ---------------------------------------------
    def answer_template(self, paper: Any, store: Any) -> Any:
        from evalkit.prompts.answer import conversation_choice

        return conversation_choice(self.cfg.prompt_template, paper, store)

    def chat_template(self) -> ChatTemplate:
        """The template resolved for this run (the job sets it), else the built-in one named."""
        if self.answer_setup is not None and self.answer_setup.template is not None:
            return self.answer_setup.template
        return builtin_template(self.cfg.prompt_template or TRANSFORMERS_DOC)

    def prompt_for(self, item: GenerationInput) -> str:
        token = {"video": "<video>", "image": "<image>"}.get(item.modality, "")
        return self.chat_template().render(item.text, token)

    # -- generation ------------------------------------------------------------------------------
    def processor_inputs(self, batch: list[GenerationInput]) -> dict[str, Any]:
        videos = [x.media for x in batch if x.modality == "video"]
        images = [x.media for x in batch if x.modality == "image"]
        kwargs: dict[str, Any] = {"text": [self.prompt_for(x) for x in batch], "padding": True,
                                  "return_tensors": "pt"}
        if videos:
            kwargs["videos"] = videos
        if images:
            kwargs["images"] = images
        return self.processor(**kwargs)

    def prompt_tokens(self, text: str, modality: str, num_frames: int = 1) -> Optional[int]:
        """Tokens of the rendered prompt (as the processor tokenizes it) plus the tokens its
        ``<video>``/``<image>`` placeholder expands into (measured once per modality and frame count
        by running the processor on a blank frame: the processor crops to a fixed size)."""
        if self.processor is None:
            return None
        prompt = self.prompt_for(GenerationInput("", text, modality))
        n = len(self.processor.tokenizer(prompt)["input_ids"])
        if modality in ("video", "image"):
            n += self._media_tokens(modality, num_frames)
        return n

    def _media_tokens(self, modality: str, num_frames: int) -> int:
        cache = self.__dict__.setdefault("_media_token_counts", {})
        key = (modality, num_frames if modality == "video" else 1)
        if key not in cache:
            import numpy as np

            token = {"video": "<video>", "image": "<image>"}[modality]
            frame = np.zeros((64, 64, 3), dtype=np.uint8)
            media = {"videos": [np.stack([frame] * key[1])]} if modality == "video" else {"images": [frame]}
            expanded = self.processor(text=[token], **media)["input_ids"][0]
            cache[key] = len(expanded) - len(self.processor.tokenizer(token)["input_ids"])
        return cache[key]

    def samples(self) -> bool:
        # the reference transform's flip is drawn from run.seed: then the seed is part of the protocol
        return bool(self.cfg.do_sample) or self.cfg.video_preprocess == "reference"

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(
            prompt_template=self.chat_template().name,
            prompt_template_hash=self.chat_template().sha256,
            prompt_example=self.chat_template().render("{question}", "<video>"),
            generation={"do_sample": self.cfg.do_sample, "num_beams": self.cfg.num_beams,
                        "max_new_tokens": self.cfg.max_new_tokens, "temperature": 0.0 if not self.cfg.do_sample else None},
            padding_side="left",
            video_preprocess=(self.processor.video_processor.describe()
                              if isinstance(getattr(self.processor, "video_processor", None), ReferenceVideoProcessor)
                              else {"mode": "hf", "processor": "transformers VideoLlavaVideoProcessor"}),
        )
        return self.describe_checkpoint(d)

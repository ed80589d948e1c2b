"""Video LLMs driven through their checkpoint's own chat template: LLaVA-NeXT-Video,
LLaVA-OneVision, Qwen2.5-VL (``transformers`` 5.x).

Each is an :class:`~evalkit.models.hf_base.HFAdapter` whose prompt is
``processor.apply_chat_template`` over one user turn ``[{"type": "video"|"image"}, {"type": "text"}]``
with the generation prompt opened.  What the run records about each:

* the answer prompt: the checkpoint's chat template, by sha256 of its text
  (:func:`evalkit.prompts.answer.checkpoint_choice`) -- never the Video-LLaVA paper's conversation;
* frames per video: ``model.num_frames`` (the preset's value, the model card's recommendation,
  cited in ``configs/model/<family>.yaml``), which replaces the task's frame count for the run
  (:func:`apply_model_frames`), or the task's when null;
* image preprocessing: the family's processor owns the aspect ratio (any-resolution tiling or
  dynamic resolution), so images are not padded to a square even where the task's paper padded
  them for LLaVA-1.5 (``generation.image_pad`` false, with the reason);
* Qwen2.5-VL's temporal positions: the frames' rate, from the decoded frame indices and the
  file's fps (``video_metadata``), as its processor would otherwise assume 24 fps;
* shared-prefix generation: exact for the videos of LLaVA-NeXT-Video and LLaVA-OneVision (1-D
  positions: the same path as Video-LLaVA's); their any-resolution images, and every Qwen2.5-VL
  batch (3-D M-RoPE positions), run the per-question path, each fallback counted with its reason
  in the run's sharing statistics (``shared_prefix`` in the manifest says so up front).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from evalkit.errors import ConfigError
from evalkit.models.base import MODELS, GenerationInput
from evalkit.models.hf_base import HFAdapter, HFConfig
from evalkit.models.shared_prefix import PrefixSharing

NO_SHARING = ("exact prefix sharing is not implemented for this family yet: every question runs its own "
              "prefill (per-question path)")
# Qwen2.5-VL's M-RoPE gives every media token a 3-D position; the shared path continues 1-D positions.
NO_SHARING_MROPE = ("not shared: Qwen2.5-VL's 3-D (M-RoPE) positions are not continued by the shared path; "
                    "every question runs its own prefill (per-question path)")


@dataclass
class HFChatConfig(HFConfig):
    # Frames per video for this model (null = the task's num_frames).  Presets set the model card's value.
    num_frames: Optional[int] = None
    # Where the preset's settings come from (recorded in the manifest).
    settings_source: Optional[str] = None


class ChatTemplateAdapter(HFAdapter):
    """A family whose prompt is its processor's chat template (see the module docstring)."""

    config_cls = HFChatConfig
    cfg: HFChatConfig
    # how the processor treats image aspect ratio (the reason images are not padded to a square)
    image_handling: ClassVar[str] = "the processor resizes images itself"
    # whether and how it shares a prefix (evalkit.models.shared_prefix); a family with 1-D positions may declare it
    declared_sharing: ClassVar[PrefixSharing] = PrefixSharing(False, fallback=NO_SHARING)

    def __init__(self, cfg: HFChatConfig) -> None:
        super().__init__(cfg)
        if cfg.num_frames is not None and int(cfg.num_frames) < 1:
            raise ConfigError(f"model.num_frames must be >= 1 or null (the task's), got {cfg.num_frames}")

    # -- the answer prompt: the checkpoint's chat template ------------------------------------------
    def answer_template(self, paper: Any, store: Any) -> Any:
        from evalkit.prompts.answer import checkpoint_choice

        if self.processor is None:
            self.processor = self.load_processor()
        template = getattr(self.processor, "chat_template", None)
        if not template:
            raise ConfigError(f"model {self.cfg.pretrained}: its processor has no chat template "
                              "(chat_template.jinja beside processor_config.json); the "
                              f"{self.registry_name} adapter prompts through it")
        return checkpoint_choice(f"{self.registry_name} chat template", template, paper)

    def pads_images(self, paper_pad: bool) -> tuple[bool, Optional[str]]:
        if not paper_pad:
            return False, None
        return False, f"not padded to a square: {self.image_handling}"

    def prompt_for(self, item: GenerationInput) -> Optional[str]:
        if self.processor is None:
            return None
        content: list[dict[str, Any]] = []
        if item.modality in ("video", "image"):
            content.append({"type": item.modality})
        content.append({"type": "text", "text": item.text})
        return self.processor.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                                  add_generation_prompt=True)

    # -- generation ----------------------------------------------------------------------------------
    def video_kwargs(self, videos: list[GenerationInput]) -> dict[str, Any]:
        """Extra processor arguments for the batch's videos (Qwen2.5-VL: their frame rate)."""
        return {}

    def processor_inputs(self, batch: list[GenerationInput]) -> dict[str, Any]:
        videos = [x for x in batch if x.modality == "video"]
        images = [x.media for x in batch if x.modality == "image"]
        kwargs: dict[str, Any] = {"text": [self.prompt_for(x) for x in batch], "padding": True,
                                  "return_tensors": "pt"}
        if videos:
            kwargs["videos"] = [x.media for x in videos]
            kwargs.update(self.video_kwargs(videos))
        if images:
            kwargs["images"] = images
        return self.processor(**kwargs)

    def prefix_sharing(self) -> PrefixSharing:
        return self.declared_sharing

    # -- record --------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        d = super().describe()
        setup = self.answer_setup
        d.update(
            prompt_template=setup.answer_prompt["template"] if setup else f"{self.registry_name} chat template",
            prompt_template_hash=setup.answer_prompt["hash"] if setup else None,
            prompt_example=self.prompt_for(GenerationInput("", "{question}", "video")),
            generation={"do_sample": self.cfg.do_sample, "num_beams": self.cfg.num_beams,
                        "max_new_tokens": self.cfg.max_new_tokens,
                        "temperature": 0.0 if not self.cfg.do_sample else None},
            padding_side="left",
            media_preprocess={"processor": type(self.processor).__name__ if self.processor is not None else None,
                              "num_frames": self.cfg.num_frames, "settings_source": self.cfg.settings_source,
                              "images": self.image_handling},
        )
        return self.describe_checkpoint(d)


#: LLaVA-NeXT-Video and LLaVA-OneVision place tokens with 1-D positions: the shared path is exact for videos
SHARED_VIDEO = PrefixSharing(True, mechanism="video prompts: prefix (through the last media token) prefilled once "
                             "per video, cache repeated per question, padding between prefix and question; images "
                             "(any-resolution tiles) run per question, counted as fallbacks")


@MODELS.register("llava_next_video")
class LlavaNextVideoAdapter(ChatTemplateAdapter):
    model_class = "LlavaNextVideoForConditionalGeneration"
    image_handling = "LLaVA-NeXT's any-resolution tiling (image_grid_pinpoints) keeps the aspect ratio"

    declared_sharing = SHARED_VIDEO


@MODELS.register("llava_onevision")
class LlavaOnevisionAdapter(ChatTemplateAdapter):
    model_class = "LlavaOnevisionForConditionalGeneration"
    image_handling = "LLaVA-OneVision's any-resolution tiling (anyres_max_9) keeps the aspect ratio"
    declared_sharing = SHARED_VIDEO


@MODELS.register("qwen2_5_vl")
class Qwen25VLAdapter(ChatTemplateAdapter):
    model_class = "Qwen2_5_VLForConditionalGeneration"
    image_handling = "Qwen2.5-VL's dynamic resolution (multiples of 28 within min/max pixels) keeps the aspect ratio"
    declared_sharing = PrefixSharing(False, fallback=NO_SHARING_MROPE)

    def video_kwargs(self, videos: list[GenerationInput]) -> dict[str, Any]:
        """``video_metadata`` per video: the rate of the frames handed over (frames / the seconds
        they span, from the decoded indices and the file's fps), so M-RoPE's temporal positions
        follow real time.  A video whose fps is unknown raises (never the processor's silent 24)."""
        meta = []
        for x in videos:
            fps = sampled_fps(x)
            if fps is None:
                raise ValueError(f"sample {x.sample_id}: the video's frame rate is unknown, and Qwen2.5-VL's "
                                 "temporal positions need it (re-encode the file with a frame rate)")
            meta.append({"total_num_frames": len(x.media), "fps": fps})
        return {"video_metadata": meta}

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["media_preprocess"]["video_metadata"] = ("fps of the frames handed over = (frames - 1) / (seconds "
                                                   "between first and last frame), from frame indices and the "
                                                   "file's fps")
        return d


def sampled_fps(item: GenerationInput) -> Optional[float]:
    """Frames per second of the frames handed to the model (None when unknown)."""
    stamps = item.timestamps()
    if stamps is None:
        return None
    if len(stamps) < 2 or stamps[-1] <= stamps[0]:
        return float(item.video_fps)  # one frame (or all the same): the file's own rate
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def apply_model_frames(task: Any, model: Any) -> Optional[str]:
    """A model preset's frame count (``model.num_frames``) replaces a video task's for this run
    (recorded in the task's protocol); returns the line that says so on the console (None: unchanged)."""
    frames = getattr(model.cfg, "num_frames", None)
    task_cfg = getattr(task, "cfg", None)
    if frames is None or getattr(task, "media_kind", None) != "video" or not hasattr(task_cfg, "num_frames"):
        return None
    if int(task_cfg.num_frames) == int(frames):
        return None
    note = (f"frames per video: {frames} (model.num_frames, the model's recommended setting; the task's default "
            f"is {task_cfg.num_frames}; set model.num_frames=null to use the task's)")
    task_cfg.num_frames = int(frames)
    return note

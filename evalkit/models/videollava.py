"""Video-LLaVA through transformers (``VideoLlavaForConditionalGeneration``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from evalkit.errors import ConfigError
from evalkit.models.base import MODELS, GenerationInput, ModelAdapter, ModelConfig
from evalkit.models.prompts import TRANSFORMERS_DOC, ChatTemplate, builtin_template, check_template_name
from evalkit.models.reference_video import VIDEO_PREPROCESS, ReferenceVideoProcessor
from evalkit.models.shared_prefix import NotShareable, SharedPrefixGenerator, _cache_kwarg, rows_from

_DTYPES = ("auto", "float32", "float16", "bfloat16")


@dataclass
class VideoLlavaConfig(ModelConfig):
    name: str = "video_llava"
    pretrained: str = "LanguageBind/Video-LLaVA-7B-hf"
    revision: Optional[str] = None
    dtype: str = "auto"  # auto = float16 on CUDA, float32 on CPU
    device: str = "auto"  # auto = cuda if available else cpu; or "cpu", "cuda:1", ...
    attn_implementation: Optional[str] = None  # e.g. "sdpa", "flash_attention_2"
    # Conversation template (evalkit.models.prompts): null = the task's paper template when imported
    # (evalkit-prompts import), else the transformers-doc format; or videollava | llava_v1 |
    # vicuna_v1 | custom:<name>/<template> to override.
    prompt_template: Optional[str] = None
    # Decoding: greedy (temperature 0), as in the paper's evaluation.  null = the task's paper value.
    max_new_tokens: Optional[int] = None
    do_sample: bool = False
    num_beams: int = 1
    # Torch CPU threads (None = torch's default).
    cpu_threads: Optional[int] = None
    # Video frames to pixel values: hf (transformers' VideoLlavaVideoProcessor) | reference (the
    # original repository's LanguageBind transform the paper's numbers came from: bilinear short-side
    # scale, centre crop, a left-right flip of half the clips, seeded by run.seed) | reference_noflip
    # (the same without the flip).  See evalkit.models.reference_video.
    video_preprocess: str = "hf"


def local_checkpoint_fingerprint(path: str) -> Optional[dict[str, Any]]:
    """For a checkpoint folder on disk: sha256 over each file's name, size, first and last MiB
    (cheap even for a 7B model), so a re-trained checkpoint saved to the same path is told apart
    in the manifest.  None for a hub id."""
    import hashlib
    from pathlib import Path

    root = Path(path)
    if not root.is_dir():
        return None
    h = hashlib.sha256()
    files = sorted(p for p in root.iterdir() if p.is_file())
    for p in files:
        h.update(p.name.encode())
        size = p.stat().st_size
        h.update(str(size).encode())
        with open(p, "rb") as f:  # whole small files; head and tail of large weight shards
            h.update(f.read(1 << 20))
            if size > 2 << 20:
                f.seek(-(1 << 20), 2)
                h.update(f.read())
    return {"files": len(files), "fingerprint": h.hexdigest()[:16]}


@MODELS.register("video_llava")
class VideoLlavaAdapter(ModelAdapter):
    config_cls = VideoLlavaConfig
    cfg: VideoLlavaConfig
    uses_chat_template = True

    def __init__(self, cfg: VideoLlavaConfig) -> None:
        super().__init__(cfg)
        if cfg.dtype not in _DTYPES:
            raise ConfigError(f"model.dtype must be one of {', '.join(_DTYPES)}, got {cfg.dtype!r}")
        check_template_name(cfg.prompt_template)  # fail fast on an unknown template
        if cfg.video_preprocess not in VIDEO_PREPROCESS:
            raise ConfigError(f"model.video_preprocess must be one of {', '.join(VIDEO_PREPROCESS)}, "
                             f"got {cfg.video_preprocess!r}")
        self.model = None
        self.processor = None
        self.device = None
        self.dtype = None
        self.sharing: Optional[SharedPrefixGenerator] = None

    def load(self) -> None:
        import torch
        from transformers import VideoLlavaForConditionalGeneration, VideoLlavaImageProcessor, VideoLlavaProcessor

        if self.cfg.cpu_threads:
            torch.set_num_threads(self.cfg.cpu_threads)
        device = self.cfg.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype_name = self.cfg.dtype
        if dtype_name == "auto":
            dtype_name = "float16" if device.startswith("cuda") else "float32"
        device, dtype = torch.device(device), getattr(torch, dtype_name)
        kw: dict[str, Any] = {"revision": self.cfg.revision} if self.cfg.revision else {}
        # Video-LLaVA's image processor exists only as a PIL class; the processor's auto loading asks for
        # the torchvision backend first (installed, for the video processor) and warns "Requested
        # torchvision backend is not available" on every run. Its own class loads the same config.
        image_processor = VideoLlavaImageProcessor.from_pretrained(self.cfg.pretrained, **kw)
        processor = VideoLlavaProcessor.from_pretrained(self.cfg.pretrained, image_processor=image_processor, **kw)
        if self.cfg.attn_implementation:
            kw["attn_implementation"] = self.cfg.attn_implementation
        model = VideoLlavaForConditionalGeneration.from_pretrained(self.cfg.pretrained, dtype=dtype, **kw)
        self.attach(model, processor, device, dtype)

    def attach(self, model: Any, processor: Any, device: Any, dtype: Any) -> None:
        """Use an already built model and processor (``load`` reads them from ``pretrained``)."""
        # Generation needs left padding so every prompt ends where its new tokens begin.
        processor.tokenizer.padding_side = "left"
        if processor.tokenizer.pad_token is None:
            processor.tokenizer.pad_token = processor.tokenizer.unk_token or processor.tokenizer.eos_token
        if self.cfg.video_preprocess != "hf":  # the original repository's transform, at the checkpoint's crop size
            crop = getattr(getattr(processor, "video_processor", None), "crop_size", None)
            size = crop["height"] if crop is not None and crop["height"] else 224
            processor.video_processor = ReferenceVideoProcessor(self.cfg.video_preprocess, size, lambda: self.seed)
        self.processor, self.device, self.dtype = processor, device, dtype
        self.model = model.to(device).eval()
        self.sharing = SharedPrefixGenerator(self.model, self.processor, self.device, self.dtype)

    def runs_on_local_cpu(self) -> bool:
        if self.device is not None:
            return self.device.type == "cpu"
        if self.cfg.device != "auto":
            return self.cfg.device.startswith("cpu")
        import torch

        return not torch.cuda.is_available()

    def cpu_threads(self) -> Optional[int]:
        if not self.runs_on_local_cpu():
            return None
        import torch

        return int(torch.get_num_threads())

    def set_cpu_threads(self, n: int) -> None:
        if self.cfg.cpu_threads or not self.runs_on_local_cpu():
            return  # the user's model.cpu_threads wins
        import torch

        torch.set_num_threads(max(1, int(n)))

    def sharing_stats(self) -> Optional[dict[str, Any]]:
        return self.sharing.stats.as_dict() if self.sharing is not None else None

    def chat_template(self) -> ChatTemplate:
        """The template resolved for this run (the job sets it), else the built-in one named."""
        if self.answer_setup is not None and self.answer_setup.template is not None:
            return self.answer_setup.template
        return builtin_template(self.cfg.prompt_template or TRANSFORMERS_DOC)

    def prompt_for(self, item: GenerationInput) -> str:
        token = {"video": "<video>", "image": "<image>"}.get(item.modality, "")
        return self.chat_template().render(item.text, token)

    def _gen_kwargs(self) -> dict[str, Any]:
        gen: dict[str, Any] = {"max_new_tokens": self.cfg.max_new_tokens, "do_sample": self.cfg.do_sample,
                               "num_beams": self.cfg.num_beams,
                               "pad_token_id": self.processor.tokenizer.pad_token_id}
        if not self.cfg.do_sample:
            gen.update(temperature=None, top_p=None, top_k=None)
        return gen

    def _decode(self, new_tokens: Any) -> list[str]:
        texts = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        return [t.strip() for t in texts]

    def generate(self, batch: list[GenerationInput]) -> list[str]:
        if self.model is None or self.processor is None:
            raise RuntimeError("model adapter used before load()")
        # Inputs the runner marked as sharing a medium: prefill each prompt prefix once (greedy,
        # one beam; exact by construction, see evalkit.models.shared_prefix).
        rows = rows_from(batch, self.prompt_for)
        if rows is not None and self.sharing is not None:
            if self.cfg.do_sample or self.cfg.num_beams != 1:
                self.sharing.note_fallback("sampling or beam search")
            else:
                try:
                    return self._decode(self.sharing.generate(rows, self._gen_kwargs()))
                except NotShareable as e:
                    self.sharing.note_fallback(str(e))
        return self.generate_per_question(batch)

    def generate_per_question(self, batch: list[GenerationInput]) -> list[str]:
        """Each input on its own: full prompt, media and prefill per row (left-padded batch)."""
        import torch

        inputs = self._model_inputs(batch)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **self._gen_kwargs())
        return self._decode(out[:, inputs["input_ids"].shape[1]:])

    def refill_engine(self) -> Any:
        """Greedy decoding with in-flight refill (evalkit.models.refill); shared-medium rows continue
        from their cached prefix, the others are prefilled per question."""
        from evalkit.models.refill import RefillDecoder, RefillEngine, RefillUnavailable, greedy_refusal

        if self.model is None or self.processor is None:
            raise RuntimeError("model adapter used before load()")
        reason = greedy_refusal(self.model.generation_config, self._gen_kwargs())
        if reason is not None:
            raise RefillUnavailable(reason)
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, (list, tuple)) else [] if eos is None else [eos])
        decoder = RefillDecoder(self.model, eos_ids, _cache_kwarg(self.model), self.refill_limits)
        return RefillEngine(decoder, self._refill_prefill, lambda tokens: self._decode([tokens])[0])

    def refill_limits(self, item: GenerationInput) -> tuple[int, int]:
        """(min_new_tokens, max_new_tokens) of one row in the refill loop."""
        gen = self._gen_kwargs()
        return int(gen.get("min_new_tokens") or 0), int(gen["max_new_tokens"])

    def _refill_prefill(self, batch: list[GenerationInput]) -> Any:
        """Prompt states of new rows: after their medium's cached prefix when they share one (no
        prefix recomputed), else the whole prompt with its pixels."""
        import torch

        from evalkit.models.refill import Prefilled

        rows = rows_from(batch, self.prompt_for)
        cache = None
        if rows is not None and self.sharing is not None:
            try:
                ids, mask, cache, _ = self.sharing.prepare(rows, room_after=0)
                self.sharing.stats.rows += len(rows)
            except NotShareable as e:
                self.sharing.note_fallback(str(e))
        if cache is not None:
            kw: dict[str, Any] = {}
            done = cache.layers[0].keys.shape[2]
            ids, mask = ids.to(self.device), mask.to(self.device)
            pos = (mask.cumsum(-1) - 1).clamp(min=0)[:, done:]
            ids = ids[:, done:]
        else:
            kw = self._model_inputs(batch)
            ids, mask = kw.pop("input_ids"), kw.pop("attention_mask")
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1,
                             **({_cache_kwarg(self.model): cache} if cache is not None else {}), **kw)
        states = getattr(out, "cache", None)
        states = out.past_key_values if states is None else states
        layers = [(layer.keys, layer.values) for layer in states.layers]
        return Prefilled(layers, mask, out.logits[:, -1, :])

    def memory_probe(self, batch: list[GenerationInput]) -> bool:
        """One forward over each prompt followed by ``max_new_tokens`` more positions, with the cache on:
        the whole generation's key/value states plus prefill activations over all of it (more than
        any decode step holds), so a batch that passes fits the real generation."""
        import torch

        if self.runs_on_local_cpu():
            return False
        inputs = self._model_inputs(batch)
        extra = int(self.cfg.max_new_tokens or 1024)
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        filler = ids.new_full((ids.shape[0], extra), self.processor.tokenizer.pad_token_id)
        inputs["input_ids"] = torch.cat([ids, filler], dim=1)
        inputs["attention_mask"] = torch.cat([mask, torch.ones_like(filler)], dim=1)
        with torch.inference_mode():
            out = self.model(**inputs, use_cache=True, logits_to_keep=1)
        del out, inputs
        return True

    def _model_inputs(self, batch: list[GenerationInput]) -> dict[str, Any]:
        """The processor's tensors for ``batch`` (left-padded), on the model's device and dtype."""
        prompts = [self.prompt_for(x) for x in batch]
        videos = [x.media for x in batch if x.modality == "video"]
        images = [x.media for x in batch if x.modality == "image"]
        kwargs: dict[str, Any] = {"text": prompts, "padding": True, "return_tensors": "pt"}
        if videos:
            kwargs["videos"] = videos
        if images:
            kwargs["images"] = images
        inputs = self.processor(**kwargs)
        return {k: (v.to(self.device, dtype=self.dtype) if v.is_floating_point() else v.to(self.device))
                for k, v in inputs.items()}

    def context_length(self) -> Optional[int]:
        if self.model is None:
            return None
        text_cfg = getattr(self.model.config, "text_config", None) or self.model.config
        return getattr(text_cfg, "max_position_embeddings", None)

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

    def weights_identity(self) -> Optional[dict[str, Any]]:
        return local_checkpoint_fingerprint(self.cfg.pretrained)

    def samples(self) -> bool:
        # the reference transform's flip is drawn from run.seed: then the seed is part of the protocol
        return bool(self.cfg.do_sample) or self.cfg.video_preprocess == "reference"

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(
            revision=self.cfg.revision,
            dtype=str(self.dtype).replace("torch.", "") if self.dtype is not None else self.cfg.dtype,
            device=str(self.device) if self.device is not None else self.cfg.device,
            prompt_template=self.chat_template().name,
            prompt_template_hash=self.chat_template().sha256,
            prompt_example=self.chat_template().render("{question}", "<video>"),
            generation={"do_sample": self.cfg.do_sample, "num_beams": self.cfg.num_beams,
                        "max_new_tokens": self.cfg.max_new_tokens, "temperature": 0.0 if not self.cfg.do_sample else None},
            padding_side="left",
            video_preprocess=(self.processor.video_processor.describe()
                              if isinstance(getattr(self.processor, "video_processor", None), ReferenceVideoProcessor)
                              else {"mode": "hf", "processor": "transformers VideoLlavaVideoProcessor"}),
            shared_prefix={"supported": True, "mechanism": "prefix (through the last media token) prefilled once "
                           "per medium, cache repeated per question, padding between prefix and question",
                           "greedy_only": True},
        )
        local = self.weights_identity()
        if local:
            d["local_checkpoint"] = local
        if self.model is not None:
            d["commit_hash"] = getattr(self.model.config, "_commit_hash", None)
            d["num_parameters"] = sum(p.numel() for p in self.model.parameters())
        return d

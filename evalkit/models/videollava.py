"""Video-LLaVA through transformers (``VideoLlavaForConditionalGeneration``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from evalkit.models.base import MODELS, GenerationInput, ModelAdapter, ModelConfig
from evalkit.models.prompts import TRANSFORMERS_DOC, ChatTemplate, builtin_template, check_template_name

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

    def __init__(self, cfg: VideoLlavaConfig) -> None:
        super().__init__(cfg)
        if cfg.dtype not in _DTYPES:
            raise ValueError(f"model.dtype must be one of {', '.join(_DTYPES)}, got {cfg.dtype!r}")
        check_template_name(cfg.prompt_template)  # fail fast on an unknown template
        self.model = None
        self.processor = None
        self.device = None
        self.dtype = None

    def load(self) -> None:
        import torch
        from transformers import VideoLlavaForConditionalGeneration, VideoLlavaProcessor

        if self.cfg.cpu_threads:
            torch.set_num_threads(self.cfg.cpu_threads)
        device = self.cfg.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype_name = self.cfg.dtype
        if dtype_name == "auto":
            dtype_name = "float16" if device.startswith("cuda") else "float32"
        self.device, self.dtype = torch.device(device), getattr(torch, dtype_name)
        kw: dict[str, Any] = {"revision": self.cfg.revision} if self.cfg.revision else {}
        self.processor = VideoLlavaProcessor.from_pretrained(self.cfg.pretrained, **kw)
        # Generation needs left padding so every prompt ends where its new tokens begin.
        self.processor.tokenizer.padding_side = "left"
        if self.processor.tokenizer.pad_token is None:
            self.processor.tokenizer.pad_token = self.processor.tokenizer.unk_token or self.processor.tokenizer.eos_token
        if self.cfg.attn_implementation:
            kw["attn_implementation"] = self.cfg.attn_implementation
        model = VideoLlavaForConditionalGeneration.from_pretrained(self.cfg.pretrained, dtype=self.dtype, **kw)
        self.model = model.to(self.device).eval()

    uses_chat_template = True

    def chat_template(self) -> ChatTemplate:
        """The template resolved for this run (the job sets it), else the built-in one named."""
        if self.answer_setup is not None and self.answer_setup.template is not None:
            return self.answer_setup.template
        return builtin_template(self.cfg.prompt_template or TRANSFORMERS_DOC)

    def prompt_for(self, item: GenerationInput) -> str:
        token = {"video": "<video>", "image": "<image>"}.get(item.modality, "")
        return self.chat_template().render(item.text, token)

    def generate(self, batch: list[GenerationInput]) -> list[str]:
        import torch

        if self.model is None or self.processor is None:
            raise RuntimeError("model adapter used before load()")
        prompts = [self.prompt_for(x) for x in batch]
        videos = [x.media for x in batch if x.modality == "video"]
        images = [x.media for x in batch if x.modality == "image"]
        kwargs: dict[str, Any] = {"text": prompts, "padding": True, "return_tensors": "pt"}
        if videos:
            kwargs["videos"] = videos
        if images:
            kwargs["images"] = images
        inputs = self.processor(**kwargs)
        inputs = {k: (v.to(self.device, dtype=self.dtype) if v.is_floating_point() else v.to(self.device))
                  for k, v in inputs.items()}
        gen: dict[str, Any] = {"max_new_tokens": self.cfg.max_new_tokens, "do_sample": self.cfg.do_sample,
                               "num_beams": self.cfg.num_beams,
                               "pad_token_id": self.processor.tokenizer.pad_token_id}
        if not self.cfg.do_sample:
            gen.update(temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **gen)
        new_tokens = out[:, inputs["input_ids"].shape[1]:]
        texts = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        return [t.strip() for t in texts]

    def weights_identity(self) -> Optional[dict[str, Any]]:
        return local_checkpoint_fingerprint(self.cfg.pretrained)

    def samples(self) -> bool:
        return bool(self.cfg.do_sample)

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
        )
        local = self.weights_identity()
        if local:
            d["local_checkpoint"] = local
        if self.model is not None:
            d["commit_hash"] = getattr(self.model.config, "_commit_hash", None)
            d["num_parameters"] = sum(p.numel() for p in self.model.parameters())
        return d

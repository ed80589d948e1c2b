"""The generic plumbing of every Hugging Face ``transformers`` adapter, held once.

:class:`HFAdapter` loads a checkpoint by path or hub id (+ revision) with the configured dtype and
device, sets left padding (generation needs every prompt to end where its new tokens begin),
generates greedily by default, decodes the new tokens, fingerprints a local checkpoint folder,
fits the CPU threads, and records all of it.  A family subclass says only what differs:

* ``model_class`` / ``processor_class`` -- the ``transformers`` class names to load;
* :meth:`HFAdapter.prompt_for` -- the prompt string of one input;
* :meth:`HFAdapter.processor_inputs` -- the processor call for a batch;
* :meth:`HFAdapter.answer_template` -- which answer prompt runs (see :mod:`evalkit.prompts.answer`);
* :meth:`HFAdapter.prefix_sharing` -- whether it shares the prompt prefix of questions about one
  medium (:mod:`evalkit.models.shared_prefix`); the base then runs the shared path for batches the
  runner marked, and the per-question path for the rest, counting every fallback with its reason.

Video-LLaVA (:mod:`evalkit.models.videollava`) and the chat-template families
(:mod:`evalkit.models.hf_chat`) are such subclasses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from evalkit.errors import ConfigError
from evalkit.models.base import GenerationInput, ModelAdapter, ModelConfig
from evalkit.models.shared_prefix import NotShareable, SharedPrefixGenerator, SharingStats, _cache_kwarg, rows_from

DTYPES = ("auto", "float32", "float16", "bfloat16")


@dataclass
class HFConfig(ModelConfig):
    """Fields every transformers adapter has."""

    revision: Optional[str] = None
    dtype: str = "auto"  # auto = float16 on CUDA, float32 on CPU
    device: str = "auto"  # auto = cuda if available else cpu; or "cpu", "cuda:1", ...
    attn_implementation: Optional[str] = None  # e.g. "sdpa", "flash_attention_2"
    # Decoding: greedy (temperature 0), as in the papers' evaluations.  null = the task's paper value.
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


class HFAdapter(ModelAdapter):
    """A ``transformers`` model + processor pair (see the module docstring for what subclasses add)."""

    config_cls: ClassVar[type[ModelConfig]] = HFConfig
    cfg: HFConfig
    model_class: ClassVar[str]
    processor_class: ClassVar[str] = "AutoProcessor"
    #: in-flight refill (runner.refill) proven equal to the per-question path for this family
    #: (tests/runner/test_refill.py); other families refuse it with this reason, recorded
    refill_exact: ClassVar[bool] = False
    loads_checkpoint = True

    def __init__(self, cfg: HFConfig) -> None:
        super().__init__(cfg)
        if cfg.dtype not in DTYPES:
            raise ConfigError(f"model.dtype must be one of {', '.join(DTYPES)}, got {cfg.dtype!r}")
        self.model: Any = None
        self.processor: Any = None
        self.device: Any = None
        self.dtype: Any = None
        self.sharing: Optional[SharedPrefixGenerator] = None
        self.unshared = SharingStats()  # fallbacks of an adapter that declares no shared path

    # -- loading ---------------------------------------------------------------------------------
    def _hub_kwargs(self) -> dict[str, Any]:
        return {"revision": self.cfg.revision} if self.cfg.revision else {}

    def load_processor(self) -> Any:
        """The checkpoint's processor (cheap: no weights)."""
        import transformers

        return getattr(transformers, self.processor_class).from_pretrained(self.cfg.pretrained, **self._hub_kwargs())

    def load(self) -> None:
        import torch
        import transformers

        if self.cfg.cpu_threads:
            torch.set_num_threads(self.cfg.cpu_threads)
        device = self.cfg.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype_name = self.cfg.dtype
        if dtype_name == "auto":
            dtype_name = "float16" if device.startswith("cuda") else "float32"
        device, dtype = torch.device(device), getattr(torch, dtype_name)
        processor = self.processor if self.processor is not None else self.load_processor()
        kw = self._hub_kwargs()
        if self.cfg.attn_implementation:
            kw["attn_implementation"] = self.cfg.attn_implementation
        model = getattr(transformers, self.model_class).from_pretrained(self.cfg.pretrained, dtype=dtype, **kw)
        self.attach(model, processor, device, dtype)

    def attach(self, model: Any, processor: Any, device: Any, dtype: Any) -> None:
        """Use an already built model and processor (``load`` reads them from ``pretrained``)."""
        tokenizer = processor.tokenizer
        tokenizer.padding_side = "left"  # every prompt ends where its new tokens begin
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
        self.processor, self.device, self.dtype = processor, device, dtype
        self.model = model.to(device).eval()
        if self.prefix_sharing().supported:
            self.sharing = SharedPrefixGenerator(self.model, self.processor, self.device, self.dtype)

    # -- CPU -------------------------------------------------------------------------------------
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

    # -- generation ------------------------------------------------------------------------------
    def processor_inputs(self, batch: list[GenerationInput]) -> dict[str, Any]:
        """The processor's output (``return_tensors="pt"``, left-padded) for ``batch``."""
        raise NotImplementedError

    def gen_kwargs(self) -> dict[str, Any]:
        gen: dict[str, Any] = {"max_new_tokens": self.cfg.max_new_tokens, "do_sample": self.cfg.do_sample,
                               "num_beams": self.cfg.num_beams,
                               "pad_token_id": self.processor.tokenizer.pad_token_id}
        if not self.cfg.do_sample:
            gen.update(temperature=None, top_p=None, top_k=None)
        return gen

    def decode(self, new_tokens: Any) -> list[str]:
        texts = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        return [t.strip() for t in texts]

    def prepared(self, batch: list[GenerationInput]) -> list[GenerationInput]:
        """Inputs with the adapter's media preprocessing applied (images padded when the run's
        answer setup says so: :meth:`ModelAdapter.image_for_model`)."""
        return [dataclasses.replace(x, media=self.image_for_model(x.media)) if x.modality == "image" else x
                for x in batch]

    def generate(self, batch: list[GenerationInput]) -> list[str]:
        if self.model is None or self.processor is None:
            raise RuntimeError("model adapter used before load()")
        batch = self.prepared(batch)
        # Inputs the runner marked as sharing a medium: prefill each prompt prefix once (greedy,
        # one beam; exact by construction, see evalkit.models.shared_prefix).
        rows = rows_from(batch, self.prompt_for)
        if rows is not None:
            shared = self.generate_shared(rows)
            if shared is not None:
                return shared
        return self.generate_per_question(batch)

    def generate_shared(self, rows: list[Any]) -> Optional[list[str]]:
        """The shared path's texts, or None (the fallback counted with its reason)."""
        if self.sharing is None:
            reason = str(self.prefix_sharing().fallback)
            self.unshared.fallback_batches += 1
            self.unshared.fallback_reasons[reason] = self.unshared.fallback_reasons.get(reason, 0) + 1
            return None
        if self.cfg.do_sample or self.cfg.num_beams != 1:
            self.sharing.note_fallback("sampling or beam search")
            return None
        try:
            return self.decode(self.sharing.generate(rows, self.gen_kwargs()))
        except NotShareable as e:
            self.sharing.note_fallback(str(e))
            return None

    def sharing_stats(self) -> Optional[dict[str, Any]]:
        return (self.sharing.stats if self.sharing is not None else self.unshared).as_dict()

    def generate_per_question(self, batch: list[GenerationInput]) -> list[str]:
        """Each input on its own: full prompt, media and prefill per row (left-padded batch)."""
        import torch

        inputs = self.model_inputs(batch)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **self.gen_kwargs())
        return self.decode(out[:, inputs["input_ids"].shape[1]:])

    def model_inputs(self, batch: list[GenerationInput]) -> dict[str, Any]:
        """The processor's tensors for ``batch`` (left-padded), on the model's device and dtype."""
        inputs = self.processor_inputs(batch)
        return {k: (v.to(self.device, dtype=self.dtype) if v.is_floating_point() else v.to(self.device))
                for k, v in inputs.items()}

    # -- in-flight refill and the memory probe (runner.refill, runner.batch_size=auto) -------------
    def refill_engine(self) -> Any:
        """Greedy decoding with in-flight refill (evalkit.models.refill); shared-medium rows continue
        from their cached prefix, the others are prefilled per question."""
        from evalkit.models.refill import RefillDecoder, RefillEngine, RefillUnavailable, greedy_refusal

        if self.model is None or self.processor is None:
            raise RuntimeError("model adapter used before load()")
        if not self.refill_exact:
            raise RefillUnavailable(f"in-flight refill is not proven exact for the {self.registry_name} adapter")
        reason = greedy_refusal(self.model.generation_config, self.gen_kwargs())
        if reason is not None:
            raise RefillUnavailable(reason)
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, (list, tuple)) else [] if eos is None else [eos])
        decoder = RefillDecoder(self.model, eos_ids, _cache_kwarg(self.model), self.refill_limits)
        return RefillEngine(decoder, self._refill_prefill, lambda tokens: self.decode([tokens])[0])

    def refill_limits(self, item: GenerationInput) -> tuple[int, int]:
        """(min_new_tokens, max_new_tokens) of one row in the refill loop."""
        gen = self.gen_kwargs()
        return int(gen.get("min_new_tokens") or 0), int(gen["max_new_tokens"])

    def _refill_prefill(self, batch: list[GenerationInput]) -> Any:
        """Prompt states of new rows: after their medium's cached prefix when they share one (no
        prefix recomputed), else the whole prompt with its pixels."""
        import torch

        from evalkit.models.refill import Prefilled

        batch = self.prepared(batch)
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
            kw = self.model_inputs(batch)
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
        inputs = self.model_inputs(self.prepared(batch))
        extra = int(self.cfg.max_new_tokens or 1024)
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        filler = ids.new_full((ids.shape[0], extra), self.processor.tokenizer.pad_token_id)
        inputs["input_ids"] = torch.cat([ids, filler], dim=1)
        inputs["attention_mask"] = torch.cat([mask, torch.ones_like(filler)], dim=1)
        with torch.inference_mode():
            out = self.model(**inputs, use_cache=True, logits_to_keep=1)
        del out, inputs
        return True

    def context_length(self) -> Optional[int]:
        if self.model is None:
            return None
        text_cfg = getattr(self.model.config, "text_config", None) or self.model.config
        return getattr(text_cfg, "max_position_embeddings", None)

    # -- identity and record ---------------------------------------------------------------------
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
        )
        return d

    def describe_checkpoint(self, d: dict[str, Any]) -> dict[str, Any]:
        """Add the local fingerprint, hub commit and parameter count to ``d`` (the record's tail)."""
        local = self.weights_identity()
        if local:
            d["local_checkpoint"] = local
        if self.model is not None:
            d["commit_hash"] = getattr(self.model.config, "_commit_hash", None)
            d["num_parameters"] = sum(p.numel() for p in self.model.parameters())
        return d

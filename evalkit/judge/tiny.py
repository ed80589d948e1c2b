"""Build tiny, offline chat LMs that can sit in the judge's seat (the demo judge, tests).

A small Llama (``LlamaForCausalLM``) with the word-level tokenizer of :mod:`evalkit.word_tokenizer`, a chat
template of its own (``<|system|>`` / ``<|user|>`` / ``<|assistant|>`` turns closed by ``<|end|>``), and the
Video-ChatGPT verdicts as whole tokens (``{'pred': 'yes', 'score': 5}`` ...), so a trained one answers a
verdict in one token and ``</s>``.  Saved with ``save_pretrained``: it loads through exactly the
``AutoTokenizer`` / ``AutoModelForCausalLM`` path of a real judge (:mod:`evalkit.judge.local_client`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
#: every verdict of the Video-ChatGPT protocol, each one token
VERDICTS = tuple(f"{{'pred': '{p}', 'score': {s}}}" for p in ("yes", "no") for s in range(6))


@dataclass(frozen=True)
class TinyJudgeSpec:
    """Shape of a tiny judge LM (defaults: about 0.1 M parameters plus the embeddings)."""

    hidden_size: int = 64
    intermediate_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    max_position_embeddings: int = 512


def build_judge_tokenizer(corpus: Iterable[str] = ()):
    """Word-level tokenizer over ``corpus`` (+ the base words), the role tokens, the verdict tokens and the
    chat template."""
    from evalkit.word_tokenizer import build_word_tokenizer

    tok = build_word_tokenizer(corpus)
    tok.add_special_tokens({"additional_special_tokens": list(ROLE_TOKENS)})
    tok.add_tokens(list(VERDICTS))
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "left"
    return tok


def build_judge_model(tokenizer, spec: TinyJudgeSpec = TinyJudgeSpec(), seed: int = 0):
    """A randomly initialised ``LlamaForCausalLM`` sized for ``tokenizer``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=spec.hidden_size,
                         intermediate_size=spec.intermediate_size, num_hidden_layers=spec.num_layers,
                         num_attention_heads=spec.num_heads, num_key_value_heads=spec.num_heads,
                         max_position_embeddings=spec.max_position_embeddings,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval()


def save_judge(model, tokenizer, out: Path) -> Path:
    """Write ``model`` and ``tokenizer`` to ``out`` (float32 safetensors)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_tiny_judge(out: Path, corpus: Iterable[str] = (), spec: TinyJudgeSpec = TinyJudgeSpec(),
                     seed: int = 0) -> Path:
    """A random tiny judge saved to ``out`` (tests: the in-process path, identities)."""
    tok = build_judge_tokenizer(corpus)
    return save_judge(build_judge_model(tok, spec, seed), tok, out)

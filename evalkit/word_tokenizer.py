"""The word-level tokenizer of every tiny offline checkpoint (the tiny Video-LLaVA and its families in
:mod:`evalkit.models.tiny` / :mod:`evalkit.models.tiny_families`, the tiny judge in :mod:`evalkit.judge.tiny`):
a vocabulary built in-process from a bag of base words and a caller's corpus, so nothing is downloaded.
Kept at the bottom of the package so the model and judge builders both use it without either
importing the other."""

from __future__ import annotations

import re
from collections.abc import Iterable

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<pad>", "<image>", "<video>")

# Words a tiny model should know besides whatever corpus a caller passes: the prompt
# scaffolding and common English question words, so that test prompts are not all <unk>.  A bag of
# words, not a sentence (the "," keeps it from spelling one; token ids are unchanged: "," is known).
BASE_WORDS = (
    "USER ASSISTANT : ? . , ' A chat between a curious , user and an artificial intelligence assistant "
    "The gives helpful detailed polite answers to the user's questions what which who where when why "
    "how is are was were does do did the of in on to it this that video image shape colour color "
    "direction move moves moving left right up down red green blue yellow white black yes no one two "
    "three four five many man woman person dog cat playing doing answer question using single word phrase"
)

_WORD_RE = re.compile(r"\w+|[^\w\s]+")


def build_word_tokenizer(corpus: Iterable[str] = (), special: tuple[str, ...] = SPECIAL_TOKENS,
                         media_tokens: dict[str, str] | None = None):
    """A word-level fast tokenizer whose vocabulary covers ``BASE_WORDS`` and ``corpus``.
    ``special``: the special tokens (ids first, in order); ``media_tokens``: the tokenizer's
    ``image_token``/``video_token`` (default ``<image>``/``<video>``); every special token beyond
    the four of every tokenizer is kept whole and skipped on decode."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words: dict[str, int] = {}
    for tok in special:
        words.setdefault(tok, len(words))
    for text in (BASE_WORDS, *corpus):
        for w in _WORD_RE.findall(text):
            words.setdefault(w, len(words))

    core = Tokenizer(models.WordLevel(vocab=words, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    # Join words with single spaces on decode; cleanup glues punctuation back ("shape ?" -> "shape?").
    core.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    bos = words["<s>"]
    core.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        extra_special_tokens=media_tokens or {"image_token": "<image>", "video_token": "<video>"},
        padding_side="left",
    )
    others = [t for t in special if t not in ("<unk>", "<s>", "</s>", "<pad>") and t not in tok.all_special_tokens]
    if others:
        tok.add_special_tokens({"additional_special_tokens": others}, replace_extra_special_tokens=False)
    return tok

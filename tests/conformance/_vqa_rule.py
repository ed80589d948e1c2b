"""The answer normalisation of the VQA evaluation code, written out literally (``processPunctuation``,
``processDigitArticle`` of ``vqaEval.py``), shared by the VQAv2 (GT-Vision-Lab/VQA a013f00) and
VizWiz-VQA API conformance tests: the two scripts differ only in their contraction table."""

from __future__ import annotations

import re

from evalkit.metrics import vqa

ARTICLES = ["a", "an", "the"]
PUNCT = list(vqa.PUNCTUATION)


class ReferenceRule:
    """One script's normalisation; ``contractions``: its contraction table."""

    def __init__(self, contractions: dict[str, str]) -> None:
        self.contractions = contractions
        self.manual_map = dict(vqa.NUMBER_WORDS)  # a copy: the reference's setdefault grows it

    def process_punctuation(self, in_text: str) -> str:
        out_text = in_text
        for p in PUNCT:
            if (p + " " in in_text or " " + p in in_text) or (re.search(r"(\d)(\,)(\d)", in_text) is not None):
                out_text = out_text.replace(p, "")
            else:
                out_text = out_text.replace(p, " ")
        # the reference passes re.UNICODE where re.sub takes its count argument
        return re.compile(r"(?!<=\d)(\.)(?!\d)").sub("", out_text, re.UNICODE)

    def process_digit_article(self, in_text: str) -> str:
        out_text = []
        for word in in_text.lower().split():
            word = self.manual_map.setdefault(word, word)
            if word not in ARTICLES:
                out_text.append(word)
        for word_id, word in enumerate(out_text):
            if word in self.contractions:
                out_text[word_id] = self.contractions[word]
        return " ".join(out_text)

"""Seeded generators of awkward inputs for the conformance tests (no reference rule lives here)."""

from __future__ import annotations

import random

BASES = ["yes", "no", "2", "two", "1,000", "1000", "red", "t-shirt", "New York", "new york", "it's a cat",
         "its a cat", "cat", "a dog", "the dog", "dog", "dont know", "don't know", "I dont know", "3.5",
         "e.g. red", "red/white", "left (top)", "10", "ten", "none", "0", "an apple", "Im here", "ow's'at",
         "somebodyd", "yes!", "No.", "blue & green", "50%", "$3", "3:00", "oclock", "she's", "cafe", "café",
         "twas", "whats up", "hes", "a", "the", "", "1,2,3", "red,white", "U.S.A.", "mr. smith", "x-ray"]


def vary(rng: random.Random, text: str) -> str:
    """One random surface variation: casing, punctuation, articles, number words, whitespace."""
    ops = rng.sample(range(9), rng.randint(0, 3))
    for op in ops:
        if op == 0:
            text = text.upper()
        elif op == 1:
            text = text.title()
        elif op == 2:
            text = text + rng.choice([".", "!", "?", ",", "...", " .", "'s"])
        elif op == 3:
            text = rng.choice(["a ", "the ", "an ", "The "]) + text
        elif op == 4:
            text = rng.choice([" ", "  ", "\n", "\t", " \n"]) + text + rng.choice(["", " ", "\n", "\t\t", "\r"])
        elif op == 5:
            text = text.replace(" ", rng.choice(["  ", "\t", "\n", "-", "/"]))
        elif op == 6:
            text = rng.choice(['"', "(", "[", "`"]) + text + rng.choice(['"', ")", "]", "`"])
        elif op == 7:
            text = text.replace("two", "2").replace("2", "two") if rng.random() < 0.5 else text.replace("ten", "10")
        else:
            text = text.replace("'", "") if rng.random() < 0.5 else text.replace("nt ", "n't ")
    return text


def answer_set(rng: random.Random, n: int = 10) -> list[str]:
    """Ten human answers: unanimous (identical strings), unanimous up to whitespace, or mixed."""
    kind = rng.random()
    base = rng.choice(BASES)
    if kind < 0.3:
        a = vary(rng, base) if rng.random() < 0.5 else base
        return [a] * n
    if kind < 0.4:
        return [rng.choice(["", " ", "\n", "\t"]) + base + rng.choice(["", " ", "\t"]) for _ in range(n)]
    pool = [base, vary(rng, base), rng.choice(BASES), vary(rng, rng.choice(BASES))]
    weights = [rng.randint(0, 6) for _ in pool]
    if not any(weights):
        weights[0] = 1
    return rng.choices(pool, weights=weights, k=n)


def prediction(rng: random.Random, answers: list[str]) -> str:
    r = rng.random()
    if r < 0.45:
        return rng.choice(answers)
    if r < 0.85:
        return vary(rng, rng.choice(answers).strip() or rng.choice(BASES))
    return vary(rng, rng.choice(BASES))

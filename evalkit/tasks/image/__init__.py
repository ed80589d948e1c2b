"""Image benchmark adapters: a shared base (:mod:`.base`, :mod:`.images`), the LLaVA-1.5 question-file
family (:mod:`.vqa_common`: VQAv2, GQA, VizWiz, TextVQA, POPE) and ScienceQA, MMBench, LLaVA-Bench,
MM-Vet."""

"""Image benchmark adapters.  Importing the package registers the judge protocols its judged
tasks name (LLaVA-Bench, MM-Vet, MMBench's optional choice matcher) with the shared judge."""

from evalkit.tasks.image import judge_protocols  # noqa: F401  (registration only)

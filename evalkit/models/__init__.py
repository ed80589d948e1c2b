"""Model adapters (Video-LLaVA via transformers; any OpenAI-compatible served model) and their
registry, :data:`evalkit.models.base.MODELS`."""

"""Model adapters and their registry."""

from evalkit.models.base import MODELS, GenerationInput, ModelAdapter, ModelConfig

_BUILTIN_MODULES = ("evalkit.models.videollava", "evalkit.models.openai_chat")


def load_builtin_models() -> None:
    import importlib

    for mod in _BUILTIN_MODULES:
        importlib.import_module(mod)


__all__ = ["MODELS", "GenerationInput", "ModelAdapter", "ModelConfig", "load_builtin_models"]

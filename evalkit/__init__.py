"""evalkit: faithful, resumable evaluation of video and image multimodal LLMs."""

__version__ = "0.1.0"

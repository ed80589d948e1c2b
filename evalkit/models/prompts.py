"""Conversation templates, by name (:data:`PROMPT_TEMPLATES`).  The name that ran is recorded in
every manifest."""

from __future__ import annotations

from evalkit.registry import Registry

VICUNA_V1_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)

# {media} is "<video>" or "<image>" (or "" for text-only); {text} is the task's prompt text.
PROMPT_TEMPLATES: Registry[str] = Registry("prompt template")
# The transformers port's documented format for Video-LLaVA.
PROMPT_TEMPLATES.register("videollava", "USER: {media}\n{text} ASSISTANT:")
# The original evaluation code: Vicuna v1 conversation with its system sentence in front.
PROMPT_TEMPLATES.register("videollava_vicuna_v1", VICUNA_V1_SYSTEM + " USER: {media}\n{text} ASSISTANT:")


def render_prompt(template: str, text: str, media_token: str) -> str:
    out = PROMPT_TEMPLATES.get(template).format(media=media_token, text=text)
    return out if media_token else out.replace("USER: \n", "USER: ")

"""Conversation templates, by name: how a task's prompt text and the media token become the
string the model reads.  The template that ran (name and hash) is recorded in every manifest.

evalkit holds no other project's prompt text.  Its one built-in template is the transformers
port's documented format; the reference code's conversations (``llava_v1``, ``vicuna_v1``) are
imported from the user's copy of Video-LLaVA's ``conversation.py`` (``evalkit-prompts import``)
and rendered here exactly as that conversation's ``get_prompt()`` renders one user turn and an
open assistant turn.
"""

from __future__ import annotations

from evalkit.errors import ConfigError

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from evalkit.prompts.templates import document_hash
from evalkit.registry import Registry

#: the transformers port's documented Video-LLaVA format (``USER: <video>\n{question} ASSISTANT:``)
TRANSFORMERS_DOC = "videollava"
#: conversation templates of the reference code (imported, never shipped)
REFERENCE_TEMPLATES = ("llava_v1", "vicuna_v1")
#: old names still accepted
ALIASES = {"videollava_vicuna_v1": "vicuna_v1"}
#: styles of the reference ``SeparatorStyle`` whose single-turn rendering evalkit implements
SUPPORTED_STYLES = ("SINGLE", "TWO")


class TemplateChoiceError(ConfigError):
    """An unknown template name, or a reference template that has not been imported."""


@dataclass(frozen=True)
class ChatTemplate:
    """One user turn + an open assistant turn: ``prefix + message + suffix``.

    The message is ``"<media>\\n<text>"`` (``<text>`` alone without media), as the reference
    scripts put the image/video token(s) before the question.  ``empty`` is what a falsy message
    renders to (the reference's ``get_prompt`` writes the bare role then).
    """

    name: str
    prefix: str
    suffix: str
    sha256: str
    source: str                                   # evalkit | reference | custom
    reference: Optional[Mapping[str, str]] = None
    empty: Optional[str] = None

    def render(self, text: str, media_token: str) -> str:
        message = f"{media_token}\n{text}" if media_token else text
        if not message and self.empty is not None:
            return self.empty
        return self.prefix + message + self.suffix


def _builtin(name: str, prefix: str, suffix: str) -> ChatTemplate:
    doc = {"kind": "builtin_template", "name": name, "prefix": prefix, "suffix": suffix}
    return ChatTemplate(name, prefix, suffix, document_hash(doc), "evalkit")


#: evalkit's own templates (today: the transformers-doc format); reference ones are imported
PROMPT_TEMPLATES: Registry[ChatTemplate] = Registry("prompt template")
PROMPT_TEMPLATES.register(TRANSFORMERS_DOC, _builtin(TRANSFORMERS_DOC, "USER: ", " ASSISTANT:"))


def builtin_template(name: str = TRANSFORMERS_DOC) -> ChatTemplate:
    """One of evalkit's own templates, by name."""
    if name not in PROMPT_TEMPLATES:
        raise TemplateChoiceError(f"no built-in template {name!r} (built-in: {', '.join(PROMPT_TEMPLATES.names())})")
    return PROMPT_TEMPLATES.get(name)


def from_conversation(document: Mapping[str, Any], sha256: str, source: str,
                      reference: Optional[Mapping[str, str]] = None) -> ChatTemplate:
    """The template of an imported ``conversation.py`` entry: what its ``get_prompt()`` gives for
    ``[(roles[0], message), (roles[1], None)]`` -- ``system + sep + roles[0] + ": " + message +
    sep + roles[1] + ":"`` for the SINGLE and TWO separator styles (TWO's second separator
    only follows an assistant message, and there is none)."""
    style = document.get("sep_style")
    if style not in SUPPORTED_STYLES:
        raise TemplateChoiceError(f"conversation {document.get('name')!r}: separator style {style} is not "
                                  f"supported (only {', '.join(SUPPORTED_STYLES)})")
    system, sep = str(document["system"]), str(document["sep"])
    user, assistant = (str(r) for r in document["roles"])
    return ChatTemplate(str(document["name"]), system + sep + user + ": ", sep + assistant + ":", sha256, source,
                        dict(reference) if reference else None, empty=system + sep + user + ":" + assistant + ":")


def check_template_name(name: Optional[str]) -> None:
    """Fail fast on a ``model.prompt_template`` that can never resolve."""
    if name in (None, "auto") or name in PROMPT_TEMPLATES or name in REFERENCE_TEMPLATES or name in ALIASES:
        return
    if isinstance(name, str) and name.startswith("custom:") and "/" in name[len("custom:"):]:
        return
    raise TemplateChoiceError(
        f"unknown prompt template {name!r}; valid choices: null (the task's paper template), "
        f"{TRANSFORMERS_DOC} (transformers doc format), {', '.join(REFERENCE_TEMPLATES)} (imported from "
        "Video-LLaVA's conversation.py), custom:<name>/<template> (an imported variant)")


def render_prompt(template: str, text: str, media_token: str) -> str:
    """Render with a built-in template by name (reference templates need the store: see
    :func:`evalkit.prompts.answer.resolve_template`)."""
    return builtin_template(template).render(text, media_token)

"""The answer prompt and generation settings a run uses: the task's paper protocol, unless the
user overrides it.

Each benchmark says what its paper's code used (:class:`PaperAnswer`: conversation template,
``max_new_tokens``, temperature, image preprocessing).  :func:`configure_answer` resolves, for
one task and model adapter:

* the template, by asking the adapter (``model.answer_template(paper, store)``), which answers
  with one of the three choices built here: :func:`conversation_choice` (Video-LLaVA: the
  ``model.prompt_template`` override, else the task's paper conversation if imported with
  ``evalkit-prompts import``, else the transformers-doc format -- then the run is labelled
  "answer prompt: not the paper's" and one line says how to import), :func:`checkpoint_choice`
  (a chat-template model: the checkpoint's own chat template, recorded by sha256) or
  :func:`server_choice` (a served model: the server's chat template, unseen here);
* ``max_new_tokens``: ``model.max_new_tokens`` when set, else the paper's;
* image padding: the paper's, unless the adapter's processor owns the aspect ratio
  (``model.pads_images(paper_pad)``).

This module is the one home of answer prompts: it imports nothing from ``evalkit.models``
(adapters import it).

The result is recorded in the manifest (``answer_prompt``, ``generation``) and in metrics.json.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Optional

from evalkit.prompts.conversation import (ALIASES, REFERENCE_TEMPLATES, TRANSFORMERS_DOC, ChatTemplate,
                                    TemplateChoiceError, builtin_template, check_template_name,
                                    from_conversation)
from evalkit.prompts.store import PromptStore
from evalkit.samples import PaperAnswer

IMPORT_HINT = "evalkit-prompts import /path/to/Video-LLaVA"
NOT_PAPER = "answer prompt: not the paper's"


def resolve_template(requested: Optional[str], paper: Optional[PaperAnswer],
                     store: PromptStore) -> tuple[ChatTemplate, Optional[str]]:
    """(template, hint line or None) for ``model.prompt_template`` = ``requested``."""
    check_template_name(requested)
    name = ALIASES.get(requested or "", requested)
    if name in (None, "auto"):
        if paper is None:
            return builtin_template(), None
        entry = store.get(f"conv_{paper.template}")
        if entry is None:
            return builtin_template(), (f"{NOT_PAPER}: {paper.template} is not imported, the transformers-doc "
                                        f"format runs; to use the paper's: {IMPORT_HINT}")
        return from_conversation(entry.document, entry.sha256, "reference", entry.reference), None
    if name == TRANSFORMERS_DOC:
        return builtin_template(), None
    if name in REFERENCE_TEMPLATES:
        entry = store.get(f"conv_{name}")
        if entry is None:
            raise TemplateChoiceError(f"model.prompt_template={requested}: the {name} conversation comes from "
                                      f"Video-LLaVA's conversation.py and is not imported into {store.root}; "
                                      f"run `{IMPORT_HINT}`")
        return from_conversation(entry.document, entry.sha256, "reference", entry.reference), None
    custom, conv = str(name)[len("custom:"):].split("/", 1)
    entry = store.get(f"conv_{conv}", custom)
    if entry is None:
        raise TemplateChoiceError(f"model.prompt_template={requested}: no custom conversation {conv!r} named "
                                  f"{custom!r} in {store.root} (see `evalkit-prompts list`)")
    return from_conversation(entry.document, entry.sha256, entry.status, entry.reference), None


@dataclass
class AnswerSetup:
    """What :func:`configure_answer` decided (recorded as ``answer_prompt`` and ``generation``)."""

    template: Optional[ChatTemplate]          # None: the adapter applies no template (served models)
    answer_prompt: dict[str, Any]
    generation: dict[str, Any]
    hint: Optional[str] = None


@dataclass(frozen=True)
class TemplateChoice:
    """An adapter's answer to "which answer prompt runs?": the template evalkit renders (None when
    the model applies its own), the manifest record, and a hint line for the console (or None)."""

    template: Optional[ChatTemplate]
    record: dict[str, Any]
    hint: Optional[str] = None


def _paper_fields(paper: Optional[PaperAnswer]) -> dict[str, Any]:
    return {"paper_template": paper.template if paper else None}


def conversation_choice(requested: Optional[str], paper: Optional[PaperAnswer],
                        store: PromptStore) -> TemplateChoice:
    """Video-LLaVA's conversations: the paper's (imported) unless ``requested`` overrides it."""
    template, hint = resolve_template(requested, paper, store)
    is_paper = paper is not None and template.source == "reference" and template.name == paper.template
    record: dict[str, Any] = {
        "template": template.name, "hash": template.sha256, "source": template.source,
        "reference": dict(template.reference) if template.reference else None,
        "requested": requested, **_paper_fields(paper), "paper": is_paper,
        "label": "paper" if is_paper else NOT_PAPER}
    return TemplateChoice(template, record, hint)


def checkpoint_choice(name: str, chat_template: str, paper: Optional[PaperAnswer]) -> TemplateChoice:
    """A chat-template model's own template (``processor.chat_template``), recorded by sha256 of
    its text.  Never the paper's: the paper's conversation belongs to Video-LLaVA."""
    digest = hashlib.sha256(chat_template.encode("utf-8")).hexdigest()
    record = {"template": name, "hash": digest, "source": "checkpoint", "reference": None, "requested": None,
              **_paper_fields(paper), "paper": False, "label": NOT_PAPER}
    return TemplateChoice(None, record, None)


def server_choice(paper: Optional[PaperAnswer]) -> TemplateChoice:
    """A served model: its server applies a chat template evalkit cannot see."""
    record = {"template": "server chat template", "hash": None, "source": "server", "reference": None,
              "requested": None, **_paper_fields(paper), "paper": False, "label": NOT_PAPER}
    return TemplateChoice(None, record, None)


def configure_answer(model: Any, paper: Optional[PaperAnswer], store: PromptStore) -> AnswerSetup:
    """Resolve the template (asking the adapter), ``max_new_tokens`` and image padding for
    ``model`` on a task with ``paper`` and hand them to the adapter (``model.set_answer_setup``)."""
    choice: TemplateChoice = model.answer_template(paper, store)
    generation = _generation(model, paper)
    setup = AnswerSetup(choice.template, choice.record, generation, choice.hint)
    model.set_answer_setup(setup)
    return setup


def _generation(model: Any, paper: Optional[PaperAnswer]) -> dict[str, Any]:
    cfg = model.cfg
    requested = getattr(cfg, "max_new_tokens", None)
    if requested is None:
        value, source = (paper.max_new_tokens, "paper") if paper else (1024, "default")
        cfg.max_new_tokens = value
    else:
        value, source = int(requested), "override"
    sampling = bool(getattr(cfg, "do_sample", False))
    temperature = None if sampling else float(getattr(cfg, "temperature", 0.0) or 0.0)
    out: dict[str, Any] = {"max_new_tokens": value, "max_new_tokens_source": source,
                           "temperature": temperature, "greedy": not sampling,
                           **_image_pad(model, paper),
                           "paper": paper.as_dict() if paper else None}
    devs = []
    if paper is not None:
        if value != paper.max_new_tokens:
            devs.append(f"max_new_tokens {value}, the paper's code uses {paper.max_new_tokens}")
        if temperature != paper.temperature:
            devs.append(f"temperature {'sampling' if sampling else temperature}, the paper's code uses "
                        f"{paper.temperature}")
    out["deviations"] = devs
    return out


def _image_pad(model: Any, paper: Optional[PaperAnswer]) -> dict[str, Any]:
    """``image_pad``: does the adapter pad images to a square (the paper's protocol asks for it),
    and, when it declines, ``image_pad_note`` says why."""
    wanted = bool(paper.image_pad) if paper else False
    pads, note = model.pads_images(wanted)
    return {"image_pad": bool(pads), **({"image_pad_note": note} if note else {})}


def spec_as_run(spec: Any, setup: AnswerSetup) -> Any:
    """The task's :class:`~evalkit.samples.MediaSpec` with ``image_pad`` as the adapter decided
    (what the report's thumbnails show: the image as the model saw it)."""
    import dataclasses

    return dataclasses.replace(spec, image_pad=bool(setup.generation.get("image_pad")))

"""The normalised template form every imported prompt is stored and hashed in.

A *template* is a ``str.format`` string: a named placeholder is ``{name}``, a literal brace is
doubled (``{{`` / ``}}``), and every other character is the literal text, byte for byte (real
newlines, no escapes).  ``render(template, question=..., ...)`` therefore gives exactly the string
the reference code builds for the same values: its string literals, implicitly concatenated
literals and f-strings all reduce to this one form.

A *document* is the JSON object holding one protocol's templates and request facts (see
:mod:`evalkit.prompts.extract` for each kind's fields).  Its hash is::

    sha256( json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            .encode("utf-8") )

as lowercase hex.  That hash is what :mod:`evalkit.prompts.known` records for each public
reference version and what manifests name as the prompt's hash.
"""

from __future__ import annotations

import hashlib
import json
import string
from typing import Any, Mapping


class TemplateError(ValueError):
    """A template that is not in the normalised form, or values that do not fit it."""


def escape(literal: str) -> str:
    """Literal text as template text (braces doubled)."""
    return literal.replace("{", "{{").replace("}", "}}")


def placeholder(name: str) -> str:
    """The template text of placeholder ``name``."""
    if not name.isidentifier():
        raise TemplateError(f"placeholder name {name!r} is not an identifier")
    return "{" + name + "}"


def fields(template: str) -> list[str]:
    """Placeholder names of ``template``, in order of first use."""
    out: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise TemplateError(f"not a normalised template ({e}): {template[:80]!r}") from None
    for _literal, name, spec, conv in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conv:
            raise TemplateError(f"placeholder {{{name}}} is not a plain name: {template[:80]!r}")
        if name not in out:
            out.append(name)
    return out


def render(template: str, **values: Any) -> str:
    """``template`` with each placeholder replaced by ``str(value)`` (as an f-string field would
    be); every placeholder must be given.  Values the template does not use are ignored."""
    names = fields(template)
    missing = [n for n in names if n not in values]
    if missing:
        raise TemplateError(f"template placeholders {names}; no value for {missing}")
    return template.format(**{k: str(values[k]) for k in names})


def canonical_json(document: Any) -> str:
    """The one JSON text a document is hashed in."""
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def document_hash(document: Mapping[str, Any]) -> str:
    """sha256 (hex) of a normalised document."""
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()

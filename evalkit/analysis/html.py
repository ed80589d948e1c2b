"""HTML pages from Jinja2 templates (``evalkit/analysis/templates``) with autoescaping on: every
value a template prints is HTML-escaped unless the code marks it safe (only markup evalkit built
itself, such as a data URI or its own CSS)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(loader=PackageLoader("evalkit.analysis", "templates"),
                       autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
                       undefined=StrictUndefined, keep_trailing_newline=False)


def render(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` with ``context`` (autoescaped)."""
    return _environment().get_template(template).render(**context)

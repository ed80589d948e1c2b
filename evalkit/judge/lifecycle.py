"""Is the hosted judge model still served?  Checked at start-up, before any data is read or a model loaded.

Two sources, both about the model the job asks for (``judge.model``):

* the data file shipped with evalkit, ``evalkit/judge/data/model_lifecycles.yaml`` (model id -> shutdown date
  and the page it was read from), consulted when the judge endpoint is the provider's own API
  (``api.openai.com``): a proxy or a local server may serve a model long after the provider shut it down;
* the endpoint itself: ``GET <base_url>/models/<id>``, whose model object carries ``shutdown_date`` where the
  endpoint provides it (OpenAI's does).  The live value wins over the file.  An endpoint that answers this
  read with HTTP 404 ``model_not_found`` does not serve the model at all.  Any other answer (no such route,
  a timeout, an unreachable host) says nothing: the date stays what the file says, or unknown.

A date in the past stops the job with one line naming the model, the date, its source and the choices (an
open-weight judge, or ``judge.model=<a current model>``); a date within :data:`WARN_DAYS` days is a
warning; an unknown date is fine.  ``stage=predict`` needs no judge and never reaches this check.
Nothing here runs at import time.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional
from urllib.parse import quote, urlsplit

from evalkit.errors import ConfigError

log = logging.getLogger(__name__)

#: a shutdown this close (days) is a warning
WARN_DAYS = 30
#: seconds the live read may take before its answer is treated as unknown
LIVE_TIMEOUT_S = 5.0
DATA_FILE = Path(__file__).resolve().parent / "data" / "model_lifecycles.yaml"
#: what to do instead, in every message about a judge that is gone
CHOICES = ("an open-weight judge whose weights are pinned (judge=hf_local judge.model=<hub id or path> "
           "judge.revision=<commit>; or a served one: judge=openai_compatible judge.weights_repo=... "
           "judge.weights_revision=...; see docs/judges.md), or a current hosted model (judge.model=<a current "
           "model>); stage=predict runs without a judge")


@dataclass(frozen=True)
class Lifecycle:
    """What is known about one model's end: ``shutdown_date`` (None: not announced) and where it was read."""

    model: str
    shutdown_date: Optional[date]
    source: str

    def as_dict(self) -> Dict[str, Any]:
        return {"model": self.model, "source": self.source,
                "shutdown_date": self.shutdown_date.isoformat() if self.shutdown_date else None}


class ModelNotServed(ConfigError):
    """The endpoint says it does not serve the model (HTTP 404 ``model_not_found``)."""


@lru_cache(maxsize=1)
def _table() -> Dict[str, Any]:
    import yaml

    with open(DATA_FILE, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def known_lifecycle(model: str) -> Optional[Lifecycle]:
    """The data file's entry for ``model`` (None: not listed)."""
    entry = (_table().get("models") or {}).get(model)
    if not entry:
        return None
    return Lifecycle(model, _as_date(entry.get("shutdown_date")), f"evalkit's lifecycle file: {entry.get('source')}")


def provider_hosts() -> tuple[str, ...]:
    """Hosts whose served models the data file describes."""
    return tuple(str(h).lower() for h in _table().get("hosts") or ())


def _as_date(value: Any) -> Optional[date]:
    """A ``shutdown_date`` as the file or an API gives it: YYYY-MM-DD, a date, a unix time, or null."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=timezone.utc).date()
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def fetch_model_object(base_url: str, model: str, api_key: Optional[str],
                       timeout_s: float = LIVE_TIMEOUT_S) -> tuple[Optional[int], Optional[Mapping[str, Any]]]:
    """``GET <base_url>/models/<model>``: (HTTP status, JSON body), or (None, None) when no answer came."""
    url = f"{base_url.rstrip('/')}/models/{quote(model, safe='')}"
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    req = urllib.request.Request(url, headers=headers, method="GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 - the configured endpoint
            status, raw = resp.status, resp.read(1 << 20)
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read(1 << 20) if e.fp is not None else b""
    except (OSError, ValueError) as e:  # unreachable, timeout, a malformed URL: the date stays unknown
        log.debug("live model read failed: %s", type(e).__name__)
        return None, None
    try:
        body = json.loads(raw.decode("utf-8")) if raw else None
    except ValueError:
        body = None
    return status, body if isinstance(body, dict) else None


def live_lifecycle(base_url: str, model: str, api_key: Optional[str], *, display: str,
                   fetch: Callable[..., tuple] = fetch_model_object) -> Optional[Lifecycle]:
    """The endpoint's own word on ``model``: its ``shutdown_date`` (None when it does not give one).

    Raises :class:`ModelNotServed` when the endpoint answers HTTP 404 ``model_not_found``."""
    status, body = fetch(base_url, model, api_key)
    if status == 404 and isinstance(body, dict):
        err = body.get("error") if isinstance(body.get("error"), dict) else {}
        if err.get("code") == "model_not_found":
            msg = str(err.get("message") or "")[:200]
            raise ModelNotServed(f"judge model {model!r} is not served by {display} (shut down / not available"
                                 f"{': ' + msg if msg else ''}); choose {CHOICES}")
    if status == 200 and isinstance(body, dict) and "shutdown_date" in body:
        return Lifecycle(model, _as_date(body.get("shutdown_date")), f"{display}/models/{model} (shutdown_date)")
    return None


def judge_lifecycle(model: str, base_url: str, api_key: Optional[str], *, display: str,
                    fetch: Callable[..., tuple] = fetch_model_object) -> Optional[Lifecycle]:
    """What is known about ``model`` at this endpoint: the live read's date, else the data file's (provider
    hosts only), else the live read's null (not announced), else None."""
    live = live_lifecycle(base_url, model, api_key, display=display, fetch=fetch)
    if live is not None and live.shutdown_date is not None:
        return live
    host = (urlsplit(base_url).hostname or "").lower()
    known = known_lifecycle(model) if host in provider_hosts() else None
    return known or live


def check_lifecycle(info: Optional[Lifecycle], *, display: str, today: Optional[date] = None,
                    warn: Callable[[str], None] = print) -> None:
    """Stop (ConfigError) when ``info`` says the model is shut down; warn when it shuts down within
    :data:`WARN_DAYS` days; say nothing when the date is unknown."""
    if info is None or info.shutdown_date is None:
        return
    today = today or datetime.now(timezone.utc).date()
    when = info.shutdown_date.isoformat()
    if info.shutdown_date <= today:
        raise ConfigError(f"judge model {info.model!r} was shut down on {when} (source: {info.source}) and is not "
                          f"served by {display}; choose {CHOICES}")
    days = (info.shutdown_date - today).days
    if days <= WARN_DAYS:
        warn(f"warning: judge model {info.model!r} shuts down on {when}, in {days} day(s) (source: {info.source}); "
             f"verdicts cached before then stay usable; after it, choose {CHOICES}")


def check_hosted_judge(cfg: Any, *, today: Optional[date] = None, warn: Callable[[str], None] = print,
                       fetch: Callable[..., tuple] = fetch_model_object) -> Optional[Lifecycle]:
    """The start-up check of an HTTP judge (``judge.backend=http``): resolves the endpoint (a missing key
    fails first), reads what is known about ``judge.model`` and stops or warns (see the module docs).
    Returns what was known (None: nothing)."""
    from evalkit.judge.endpoint import resolve_endpoint

    endpoint = resolve_endpoint(cfg)
    info = judge_lifecycle(str(cfg.model), endpoint.base_url, endpoint.api_key if endpoint.key_from_env else None,
                           display=endpoint.display, fetch=fetch)
    check_lifecycle(info, display=endpoint.display, today=today, warn=warn)
    return info

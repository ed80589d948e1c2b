"""Checks a job makes before it reads any data, loads a model or creates its run folder.

Each mistake a newcomer makes ends here in one line naming the fix, instead of a traceback after
minutes (or an empty run folder):

* :func:`check_checkpoint` -- ``model.pretrained`` is neither a folder nor a reachable hub id: a
  typo'd local path, a hub id on a machine that is offline (``HF_HUB_OFFLINE``, no route to the
  hub) and not in the local cache -- said at once, not after two minutes of download retries;
* :func:`check_data_layout` -- ``task.data_root`` missing, or one folder above the set's files
  (names the subfolder that holds them);
* :func:`judge_missing_note` -- a judged task run with ``judge=none``: said at start; its figure
  is reported as ``exact_match`` (never as the task's accuracy, see the task's ``score``).
"""

from __future__ import annotations

import difflib
import os
import socket
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import urlparse

from evalkit.errors import ConfigError, DataError

DEFAULT_HUB = "https://huggingface.co"
PROBE_TIMEOUT_S = 3.0
_TRUE = ("1", "true", "yes", "on")


def check_before_start(task: Any, model: Any, *, judged: bool, stage: str) -> Optional[str]:
    """All start-up checks of one job (see the module's docstring), in the order a user fixes them;
    returns the note to show when a judged task runs without its judge (None otherwise)."""
    check_data_layout(task)
    if stage in ("all", "predict") and model.loads_checkpoint:
        check_checkpoint(model.cfg)
    return judge_missing_note(task, judged)


# ---- the checkpoint ----------------------------------------------------------------------------

def check_checkpoint(model_cfg: Any, *, environ: Optional[dict[str, str]] = None,
                     probe: Optional[Callable[[str, int], Optional[str]]] = None) -> None:
    """ConfigError when ``model.pretrained`` cannot be loaded: not a folder, and not a hub id this
    machine can fetch (or already has in its hub cache).  A served model (a config with
    ``base_url``) names a model on its server: not checked here."""
    if hasattr(model_cfg, "base_url"):
        return
    env = os.environ if environ is None else environ
    ref = str(model_cfg.pretrained)
    path = Path(ref).expanduser()
    if path.is_dir():
        return
    if path.exists():
        raise ConfigError(f"model.pretrained={ref} is a file, not a checkpoint folder (the folder that holds "
                          "config.json and the weights)")
    if _looks_like_path(ref):
        raise ConfigError(f"model.pretrained={ref}: no such folder{_closest_sibling(path)}")
    if not _valid_hub_id(ref):
        raise ConfigError(f"model.pretrained={ref} is neither a folder here nor a valid hub id (namespace/name)"
                          f"{_closest_sibling(path)}")
    if _in_hub_cache(ref, getattr(model_cfg, "revision", None)):
        return
    not_here = f"model.pretrained={ref}: no such folder here, and hub id {ref} is not in the local hub cache"
    offline = [v for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if env.get(v, "").lower() in _TRUE]
    if offline:
        raise ConfigError(f"{not_here}, and {offline[0]}={env[offline[0]]} (offline): download it on a machine "
                          f"with network (`hf download {ref}`), copy the folder and pass its path")
    if any(env.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return  # through a proxy: the hub client knows the route
    endpoint = env.get("HF_ENDPOINT") or DEFAULT_HUB
    url = urlparse(endpoint)
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    why = (probe or _probe)(host, port)
    if why is not None:
        raise ConfigError(f"{not_here}, and {endpoint} cannot be reached ({why}): this machine looks offline. "
                          "Pass a local checkpoint folder, or download it first (`hf download "
                          f"{ref}`) where there is network")


def _looks_like_path(ref: str) -> bool:
    """A hub id is ``name`` or ``namespace/name``; anything else with a separator is a path."""
    return (ref.startswith(("/", "./", "../", "~", "\\")) or ref.count("/") > 1 or "\\" in ref
            or (len(ref) > 1 and ref[1] == ":"))


def _valid_hub_id(ref: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(ref)
    except HFValidationError:
        return False
    return True


def _in_hub_cache(ref: str, revision: Optional[str]) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(ref, "config.json", revision=revision)
    except Exception:  # noqa: BLE001 - an unreadable cache is "not cached"
        return False
    return isinstance(found, str)


def _closest_sibling(path: Path) -> str:
    """`` (did you mean /ckpts/ckpt_224px?)`` when the parent folder holds a close name."""
    parent = path.parent
    try:
        names = [p.name for p in parent.iterdir() if p.is_dir()] if parent.is_dir() else []
    except OSError:
        return ""
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
    return f" (did you mean {parent / close[0]}?)" if close else ""


def _probe(host: str, port: int) -> Optional[str]:
    """None when a TCP connection to ``host:port`` opens within a few seconds, else why not."""
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return None
    except socket.gaierror:
        return f"cannot resolve {host}"
    except OSError as e:
        return f"no route to {host}:{port}: {e.strerror or type(e).__name__}"


# ---- the data folder ---------------------------------------------------------------------------

def check_data_layout(task: Any) -> None:
    """DataError when ``task.data_root`` lacks the set's files but a subfolder (one or two levels
    down) holds them: the usual slip of pointing at the folder above the set's."""
    if getattr(task.cfg, "form", "official") != "official":
        return
    from evalkit.paths import data_card

    root = Path(task.cfg.data_root)
    wanted = [f for f in task.source_files() if _inside(f, root)]
    if not wanted:
        return  # the files are configured elsewhere (absolute paths): the task's reading names them
    if not root.is_dir():
        raise DataError(f"task.data_root={root}: no such folder (the files expected there: {data_card(task.name)})")
    missing = [f for f in wanted if not f.exists()]
    if not missing:
        return
    rels = [f.relative_to(root) for f in missing]
    for sub in _subfolders(root, depth=2):
        if all((sub / rel).exists() for rel in rels):
            raise DataError(f"task.data_root={root} holds no {rels[0]}, but {sub / rels[0]} exists: "
                            f"set task.data_root={sub} (the folder holding the set's files; layout: "
                            f"{data_card(task.name)})")


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _subfolders(root: Path, depth: int) -> list[Path]:
    out: list[Path] = []
    level = [root]
    for _ in range(depth):
        nxt = []
        for d in level:
            try:
                nxt += sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))
            except OSError:
                continue
        out += nxt
        level = nxt[:200]  # a huge media folder is not where the set's files are
    return out


# ---- the judge ---------------------------------------------------------------------------------

def judge_missing_note(task: Any, judged: bool) -> Optional[str]:
    """The start-up line of a judged task run without its judge (None otherwise)."""
    if not getattr(task, "judged", False) or judged:
        return None
    offline = ("it gets exact match only, reported as exact_match, not as the task's accuracy"
               if "exact_match" in getattr(task, "headline_metrics", ()) else
               "it is not scored here (predictions and the task's output files only)")
    return (f"note: {task.name} is scored by an LLM judge in its protocol; with judge=none {offline} (add "
            "judge=gpt35, judge=gpt4 or judge=openai_compatible; judge.dry_run=true prints the cost first)")

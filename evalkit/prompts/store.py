"""The per-user prompt store: imported reference prompts, outside any repository.

Location (read when a store is opened, never at import): ``--store`` / the ``prompt_store``
config field if given, else ``$EVALKIT_PROMPT_STORE``, else ``$XDG_CONFIG_HOME/evalkit/prompts``,
else ``~/.config/evalkit/prompts``.  Layout::

    <store>/reference/<kind>.json        a document whose hash is a known reference version
    <store>/custom/<name>/<kind>.json    a document with an unknown hash (a named custom protocol)

Each file holds ``kind``, ``sha256``, ``status`` (reference | custom), ``name``, ``reference``
({repo, commit, path} of the known version, or null), ``source_path`` and ``source_sha256`` (the
file it was read from), ``imported`` (UTC time), ``facts`` (e.g. the judge model the file names)
and ``document`` (the normalised prompt).  Opening an entry recomputes the document's hash: an
entry edited by hand is refused, never used.
"""

from __future__ import annotations

from evalkit.errors import ConfigError

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from evalkit.prompts import known
from evalkit.prompts.templates import document_hash

ENV_VAR = "EVALKIT_PROMPT_STORE"
REFERENCE, CUSTOM = "reference", "custom"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class PromptStoreError(ConfigError):
    """A store entry that is missing, unreadable or fails its hash check (message names the file)."""


def default_store_dir(environ: Optional[Mapping[str, str]] = None) -> Path:
    """The store folder when none is configured (see module docs)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base).expanduser() / "evalkit" / "prompts"


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise PromptStoreError(f"custom prompt name {name!r}: use letters, digits, '_', '-', '.' (max 64)")
    return name


@dataclass
class StoredPrompt:
    kind: str
    sha256: str
    status: str                       # reference | custom
    document: dict[str, Any]
    name: Optional[str] = None        # custom name
    reference: Optional[dict[str, str]] = None
    source_path: str = ""
    source_sha256: str = ""
    imported: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    path: str = ""                    # the store file (not written)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("path")
        return {"evalkit_prompt_store": 1, **d}


class PromptStore:
    """Read and write one store folder."""

    def __init__(self, root: Optional[str | os.PathLike[str]] = None) -> None:
        self.root = Path(root).expanduser() if root else default_store_dir()

    def _file(self, kind: str, name: Optional[str]) -> Path:
        return (self.root / REFERENCE / f"{kind}.json" if name is None
                else self.root / CUSTOM / check_name(name) / f"{kind}.json")

    def put(self, entry: StoredPrompt) -> Path:
        path = self._file(entry.kind, entry.name if entry.status == CUSTOM else None)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(entry.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        entry.path = str(path)
        return path

    def get(self, kind: str, name: Optional[str] = None) -> Optional[StoredPrompt]:
        """The reference entry of ``kind`` (``name`` None) or custom ``name``'s; None if absent."""
        path = self._file(kind, name)
        return self._load(path) if path.is_file() else None

    def _load(self, path: Path) -> StoredPrompt:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            data.pop("evalkit_prompt_store", None)
            entry = StoredPrompt(**data)
        except (OSError, ValueError, TypeError) as e:
            raise PromptStoreError(f"prompt store entry {path} is unreadable ({e}); import the file again") from None
        entry.path = str(path)
        if document_hash(entry.document) != entry.sha256:
            raise PromptStoreError(f"prompt store entry {path} does not match its hash (edited?); "
                                   "import the reference file again")
        if entry.status == REFERENCE and known.lookup(entry.kind, entry.sha256) is None:
            raise PromptStoreError(f"prompt store entry {path} claims a reference hash evalkit does not know")
        return entry

    def entries(self) -> list[StoredPrompt]:
        """Every entry (reference first, then custom by name); unreadable ones raise."""
        files = sorted((self.root / REFERENCE).glob("*.json")) + sorted((self.root / CUSTOM).glob("*/*.json"))
        return [self._load(p) for p in files]

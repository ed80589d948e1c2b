"""Image values of benchmark files -> image files on disk (shared by every image adapter).

A benchmark row names its image as a file name/path, raw bytes, base64 text (MMBench's tsv), a PIL
image or a ``datasets`` image dict (``{"bytes", "path"}``).  :func:`materialize_image` returns a
file path for any of them; embedded bytes are written once (atomically) to a cache folder, as
they are (never re-encoded), PIL images as PNG.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
from pathlib import Path
from typing import Any, Optional

from evalkit.store.files import write_bytes

_MAGIC = ((b"\x89PNG", ".png"), (b"\xff\xd8", ".jpg"), (b"GIF87a", ".gif"), (b"GIF89a", ".gif"), (b"BM", ".bmp"))


def image_cache_root(configured: Optional[str], task: str, fingerprint: str) -> Path:
    """Where embedded images are written: ``configured`` as is, else ``$EVALKIT_CACHE`` (default
    ``~/.cache/evalkit``) ``/images/<task>/<fingerprint>``."""
    if configured:
        return Path(configured).expanduser()
    base = Path(os.environ.get("EVALKIT_CACHE") or "~/.cache/evalkit").expanduser()
    return base / "images" / task / fingerprint


def source_fingerprint(hf_path: Optional[str], split: str) -> str:
    """Cache-folder key of a ``datasets`` source: its path, split and (for local files) mtime, so an
    updated copy does not reuse images decoded from an older one."""
    mtime = ""
    if hf_path and Path(hf_path).exists():
        mtime = str(Path(hf_path).stat().st_mtime_ns)
    return hashlib.sha256(f"{hf_path}|{split}|{mtime}".encode()).hexdigest()


def safe_stem(stem: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in str(stem)) or "img"


def sniff_ext(data: bytes, name: Optional[str] = None) -> str:
    """File extension for image bytes: from ``name`` when it has one, else from the magic number."""
    if name and Path(name).suffix:
        return Path(name).suffix.lower()
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return ".img"


def _write_cached(path: Path, data: bytes) -> Path:
    """``path`` holding ``data``: written (atomically) unless it already holds exactly these bytes."""
    if not (path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data):
        write_bytes(path, data)
    return path


def looks_base64(text: str) -> bool:
    """Text that is base64 rather than a file name: long text of base64 characters only (a file
    path has '/' but also '.' or is short), or short text that is valid padded base64 (ends with
    '=', which no file name of a benchmark does)."""
    if len(text) >= 64:
        return all(c.isalnum() or c in "+/=\n\r" for c in text[:512])
    if not text.endswith("=") or len(text) % 4:
        return False
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def materialize_image(value: Any, cache_dir: Path, stem: str, base_dir: Optional[Path] = None,
                      name_format: str = "{}") -> Path:
    """A file path for an image value (see the module docstring).  A file name is formatted with
    ``name_format`` and taken relative to ``base_dir``; ValueError when the value holds no image."""
    stem = safe_stem(stem)
    if value is None:
        raise ValueError("no image")
    if hasattr(value, "save") and hasattr(value, "mode"):  # PIL image
        path = cache_dir / f"{stem}.png"
        if not path.is_file():
            buf = io.BytesIO()
            img = value if value.mode in ("RGB", "RGBA", "L", "P") else value.convert("RGB")
            img.save(buf, format="PNG")
            write_bytes(path, buf.getvalue())
        return path
    if isinstance(value, dict):
        if value.get("bytes"):
            data = bytes(value["bytes"])
            return _write_cached(cache_dir / f"{stem}{sniff_ext(data, value.get('path'))}", data)
        if value.get("path"):
            return materialize_image(str(value["path"]), cache_dir, stem, base_dir, name_format)
        raise ValueError("image dict holds neither bytes nor path")
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
        return _write_cached(cache_dir / f"{stem}{sniff_ext(data)}", data)
    if isinstance(value, str):
        text = value.strip()
        if len(text) < 1024 and not looks_base64(text):
            p = Path(name_format.format(text))
            return p if p.is_absolute() or base_dir is None else base_dir / p
        try:
            data = base64.b64decode(text, validate=False)
        except (binascii.Error, ValueError) as e:
            raise ValueError(f"not a path and not base64 image data: {e}") from None
        if not data:
            raise ValueError("empty base64 image data")
        return _write_cached(cache_dir / f"{stem}{sniff_ext(data)}", data)
    raise ValueError(f"unsupported image value of type {type(value).__name__}")

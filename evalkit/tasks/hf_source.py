"""Read benchmark rows through Hugging Face ``datasets``: a ``save_to_disk`` folder, local
parquet/JSON/JSONL/CSV files (a path or glob), or a hub id (for users with network)."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any, Optional

from evalkit.errors import DataError

_FILE_BUILDERS = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".csv": "csv"}


def open_hf_dataset(path: str, split: str, *, name: Optional[str] = None, revision: Optional[str] = None):
    """The ``split`` of a save_to_disk folder, data files or hub id (a hub id with its configuration
    ``name`` and ``revision`` when given); a DataError naming ``path`` for anything unreadable
    (undecodable text included), never a traceback."""
    try:
        return _open_hf_dataset(path, split, name, revision)
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - datasets' errors vary by builder; one readable line
        raise DataError(f"cannot read dataset {path!r} (split {split!r}): {type(e).__name__}: "
                        f"{' '.join(str(e).split())[:300]}") from None


def _open_hf_dataset(path: str, split: str, name: Optional[str], revision: Optional[str]):
    import datasets

    p = Path(path)
    hub_only = [f"task.{k}={v}" for k, v in (("hf_name", name), ("hf_revision", revision)) if v is not None]
    if hub_only and (p.exists() or Path(path).suffix.lower() in _FILE_BUILDERS):
        raise DataError(f"{path}: {' and '.join(hub_only)} name a hub dataset's configuration/revision; "
                        "a local copy is read as it is (remove them, or point hf_path at the hub id)")
    if p.is_dir() and ((p / "dataset_info.json").exists() or (p / "state.json").exists()
                       or (p / "dataset_dict.json").exists()):
        ds = datasets.load_from_disk(str(p))
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise DataError(f"{p}: no split {split!r}; splits: {', '.join(ds)}")
            ds = ds[split]
        return ds
    suffix = Path(path).suffix.lower()
    if suffix in _FILE_BUILDERS:
        data_files = sorted(glob.glob(path))
        if not data_files:
            raise DataError(f"data file(s) not found: {path}")
        return datasets.load_dataset(_FILE_BUILDERS[suffix], data_files=data_files, split="train")
    if p.exists():
        raise DataError(f"{p}: neither a save_to_disk folder nor a parquet/json/jsonl/csv file")
    what = f"{path!r}" + (f" (configuration {name!r})" if name else "") + (f" at revision {revision!r}" if revision else "")
    try:
        return datasets.load_dataset(path, name, split=split, revision=revision)
    except Exception as e:  # noqa: BLE001 - network or hub errors: one readable line
        raise DataError(f"could not load dataset {what} split {split!r} from the hub: {type(e).__name__}: "
                        f"{' '.join(str(e).split())[:300]}") from None


def _top(column: str) -> str:
    return column.split(".", 1)[0]


def _lookup(rec: dict[str, Any], column: str) -> Any:
    """``rec[column]``; ``a.b`` reads key ``b`` of a struct/dict column ``a`` (e.g. GQA ``types.structural``)."""
    value: Any = rec
    for part in column.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def load_hf_rows(path: str, split: str, fields: dict[str, str], required: tuple[str, ...],
                 image_field: Optional[str] = None, *, name: Optional[str] = None,
                 revision: Optional[str] = None) -> list[dict[str, Any]]:
    """Rows with our field names (``fields`` maps ours -> the dataset's columns, ``a.b`` reaching
    into a struct column).  ``id``, ``question``, ``answer`` and ``video`` values become strings.
    With ``image_field``, a decoding ``datasets.Image`` column mapped to it is read undecoded
    (``{"bytes", "path"}``), so the original file bytes are kept."""
    ds = open_hf_dataset(path, split, name=name, revision=revision)
    cols = set(ds.column_names)
    missing = [f"{k} (not mapped in task.fields)" for k in required if k not in fields]
    missing += [f"{ours} (column {theirs!r})" for ours, theirs in fields.items()
                if ours in required and _top(theirs) not in cols]
    if missing:
        raise DataError(f"{path}: missing fields {', '.join(missing)}; columns are {', '.join(sorted(cols))}")
    image_col = fields.get(image_field) if image_field else None
    if image_col in cols:
        import datasets

        feature = ds.features.get(image_col)
        if isinstance(feature, datasets.Image) and feature.decode:
            ds = ds.cast_column(image_col, datasets.Image(decode=False))
    rows = []
    for rec in ds:
        row = {ours: _lookup(rec, theirs) for ours, theirs in fields.items() if _top(theirs) in cols}
        for k in ("id", "question", "answer", "video"):
            if k in row and row[k] is not None:
                row[k] = str(row[k])
        rows.append(row)
    return rows

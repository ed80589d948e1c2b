"""The base of every image benchmark adapter: image folder, image values of the hf form, and the
image cache.  Each adapter keeps only its benchmark's file format, prompt and scoring.

The official/hf data-form switch, ``hf_path``/``hf_split``/``fields`` and the data fingerprint are
the :class:`evalkit.tasks.base.Task` base's; here the hf form's ``image`` field is turned into a file
path (:func:`evalkit.tasks.image.images.materialize_image`): a file name under ``image_dir``
(after ``image_name_format``), or embedded bytes / base64 / a PIL image written once under the
image cache (``image_cache_dir``, default ``~/.cache/evalkit/images/<task>/<source fingerprint>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from evalkit.samples import MediaSpec
from evalkit.tasks.base import Task, TaskConfig
from evalkit.tasks.image.images import (
    image_cache_root,
    materialize_image,
    source_fingerprint,
)


@dataclass
class ImageTaskConfig(TaskConfig):
    image_dir: str = "images"  # relative to data_root (or absolute)
    image_name_format: str = "{}"  # applied to image names given as text, e.g. "{}.jpg" for GQA's imageId
    # Where embedded images (hf bytes, base64 cells, PIL images) are written once; runtime only.
    image_cache_dir: Optional[str] = None


class ImageTask(Task):
    """Image folder, image cache and the hf form's image column for image benchmarks."""

    cfg: ImageTaskConfig
    media_kind = "image"

    @property
    def image_root(self) -> Path:
        return self.path(self.cfg.image_dir)

    def image_path(self, name: str) -> str:
        return str(self.image_root / name)

    def image_cache(self) -> Path:
        return image_cache_root(self.cfg.image_cache_dir, self.name, self.cache_key()[:16])

    def cache_key(self) -> str:
        """What the image cache folder is keyed by (the data source; adapters may refine it)."""
        if self.cfg.form != "hf":
            return source_fingerprint(str(self.root), self.cfg.hf_split)
        hub = "".join(f"|{k}={v}" for k, v in self.hf_identity().items() if k in ("hf_name", "hf_revision"))
        return source_fingerprint(self.cfg.hf_path, self.cfg.hf_split + hub)

    def media_roots(self) -> list[Path]:
        """``data_root``, the image folder and the cache embedded images are written to."""
        return [*super().media_roots(), self.image_root, self.image_cache()]

    def image_from(self, value: Any, stem: str, where: str) -> str:
        """A file path for one row's image value.  A value that holds no image (not a path, bad
        base64, ...) is that row's samples' error (:meth:`Task.unusable_media`), naming ``where``."""
        try:
            return str(materialize_image(value, self.image_cache(), stem, self.image_root,
                                         self.cfg.image_name_format))
        except ValueError as e:
            return self.unusable_media(stem, f"{where}: unusable_image: cannot read its image: {e}")

    def _hf_rows(self) -> list[dict[str, Any]]:
        """hf rows with ``id`` (``<hf_split>_<row>`` when the dataset has none) and ``image`` a file path
        (None when the row has no image)."""
        source = self.hf_source()
        rows = self.load_hf_rows(image_field="image")
        for i, row in enumerate(rows):
            if row.get("id") is None:
                row["id"] = f"{self.cfg.hf_split}_{i}"
            if row.get("image") is not None:
                row["image"] = self.image_from(row["image"], row["id"], f"{source}: row {i}")
        return rows

    def media_spec(self) -> MediaSpec:
        return MediaSpec(num_frames=1, sampler="image", image_pad=self.image_pad())

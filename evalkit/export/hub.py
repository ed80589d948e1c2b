"""``--push-to-hub REPO``: upload an export folder as a Hugging Face dataset repository.

Uses ``huggingface_hub`` (installed with ``datasets``).  The token is the Hub client's business
(``HF_TOKEN`` or ``huggingface-cli login``): evalkit never reads, prints or stores it.  Not exercised
by the tests (no network here).
"""

from __future__ import annotations

from pathlib import Path

from evalkit.export.dataset import ExportError
from evalkit.redaction import redact_text


def push_to_hub(folder: Path, repo_id: str, *, private: bool = True) -> str:
    """Create (if needed) the dataset repo ``repo_id`` and upload ``folder``; return its URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset",
                                 commit_message="evalkit-export")
    except Exception as e:  # noqa: BLE001 - offline, refused, no token: one line, the export stays on disk
        first = (str(e).strip().splitlines() or [""])[0]
        raise ExportError(f"push to the Hub dataset {repo_id} failed: {type(e).__name__}: {redact_text(first)} "
                          f"(the export is complete in {folder}; push it again later)") from None
    return str(getattr(info, "repo_url", None) or f"https://huggingface.co/datasets/{repo_id}")

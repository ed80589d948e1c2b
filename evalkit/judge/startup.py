"""What a job checks and settles about its judge at start-up, before any data is read or a model loaded.

* an HTTP judge (``judge.backend=http``) of a stage that asks it (``all``, ``judge``): the API key, then the
  model's lifecycle (:mod:`evalkit.judge.lifecycle`: shut down stops the job, a shutdown within 30 days warns);
* an in-process judge (``judge.backend=transformers``) of any stage that reads verdicts: its weights are found
  and hashed (:mod:`evalkit.judge.weights`), which fills ``judge.weights_repo`` / ``weights_revision`` /
  ``weights_sha256`` -- the judge's identity (:func:`evalkit.judge.identity.judge_id`) and its verdict keys.
  A stated ``judge.weights_sha256`` that the files do not match stops the job.  (The engine, called directly,
  hashes only weights whose sha256 is not set yet: it trusts a set one, as the job verified it here.)

``stage=predict`` needs no judge: nothing here runs for it.
"""

from __future__ import annotations

from typing import Any, Callable

from evalkit.errors import ConfigError


def fill_weights(cfg: Any) -> None:
    """Resolve and hash an in-process judge's weights into ``cfg`` (see the module docs)."""
    from evalkit.judge.weights import resolve_weights

    w = resolve_weights(str(cfg.model), cfg.revision, repo=cfg.weights_repo, repo_revision=cfg.weights_revision)
    if cfg.weights_sha256 and cfg.weights_sha256 != w.sha256:
        raise ConfigError(f"judge.weights_sha256={cfg.weights_sha256} is stated, but the weight files of "
                          f"judge.model={cfg.model} hash to {w.sha256}: other weights than the ones pinned")
    cfg.weights_repo, cfg.weights_revision, cfg.weights_sha256 = w.repo, w.revision, w.sha256


def prepare_judge(cfg: Any, *, stage: str, log: Callable[[str], None] = print) -> None:
    """The start-up checks of a job's judge (see the module docs)."""
    if stage == "predict":
        return
    if cfg.backend == "transformers":
        from evalkit.judge.identity import judge_id

        fill_weights(cfg)
        log(f"judge: {judge_id(cfg)} (open weights in-process; weights sha256 {cfg.weights_sha256})")
    elif stage in ("all", "judge") and not cfg.dry_run:
        from evalkit.judge.lifecycle import check_hosted_judge

        check_hosted_judge(cfg, warn=log)

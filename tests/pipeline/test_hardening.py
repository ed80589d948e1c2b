"""Start-up writability checks (evalkit.pipeline.preflight): every place a job writes, judge cache
included, refused in one line naming the file and the fix."""

from __future__ import annotations

import pytest

from evalkit.errors import StoreError
from evalkit.pipeline.preflight import PROBE_PREFIX, check_job_files
from evalkit.store import TaskFolder
from tests._mounts import tmpfs


def test_each_written_place_is_checked_and_named(tmp_path):
    folder = TaskFolder(tmp_path / "out" / "r" / "t")
    check_job_files("all", folder, tmp_path / "out", tmp_path / "out" / ".judge_cache.sqlite")
    assert not (tmp_path / "out").exists()  # nothing made, not even the folder
    folder.path.mkdir(parents=True)
    check_job_files("all", folder, tmp_path / "out", tmp_path / "out" / ".judge_cache.sqlite")
    assert list(folder.path.iterdir()) == [] and not list(tmp_path.glob(PROBE_PREFIX + "*"))  # the probes are gone
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as ro:
        with pytest.raises(StoreError) as e:
            check_job_files("all", folder, tmp_path / "out", ro / "cache.sqlite")
        assert f"the judge's verdict cache at {ro}" in str(e.value) and "judge.cache_path=" in str(e.value)
        assert "Read-only file system" in str(e.value)
        check_job_files("predict", folder, tmp_path / "out", ro / "cache.sqlite")  # predicting writes no cache
        with pytest.raises(StoreError, match="the run's results at .*choose a writable output_dir="):
            check_job_files("predict", TaskFolder(ro / "r" / "t"), ro, None)


def test_predictions_keep_their_protocol_when_the_manifest_is_lost(tmp_path):
    """The protocol is stored with the predictions: a lost or replaced manifest cannot relabel them."""
    from evalkit.errors import ConfigError
    from evalkit.pipeline.run_manifest import RunManifest
    from evalkit.store import append_jsonl, read_json

    folder = TaskFolder(tmp_path / "r" / "t")
    linspace = {"task_protocol": {"media": {"sampler": "uniform_linspace"}}}
    arange = {"task_protocol": {"media": {"sampler": "uniform_arange"}}}
    RunManifest(folder, linspace).open(overwrite=False)
    assert read_json(folder.predictions_protocol)["protocol"] == linspace  # before any prediction
    append_jsonl(folder.predictions, [{"id": "a", "pred": "x"}])
    folder.manifest.unlink()
    with pytest.raises(ConfigError, match="different protocol .*sampler: 'uniform_linspace' -> 'uniform_arange'"):
        RunManifest(folder, arange).open(overwrite=False)
    folder.manifest.write_text('{"protocol": {"task_protocol": {"media": {"sampler": "uniform_arange"}}}}')
    with pytest.raises(ConfigError, match="different protocol"):
        RunManifest(folder, arange).open(overwrite=False)
    RunManifest(folder, linspace).open(overwrite=False)  # the same protocol resumes, and the manifest says so
    assert read_json(folder.manifest)["protocol"] == linspace
    RunManifest(folder, arange).open(overwrite=True)  # discarded on request, recorded anew
    assert not folder.predictions.exists() and read_json(folder.predictions_protocol)["protocol"] == arange


def test_a_full_disk_met_outside_evalkits_writers_is_one_line_too(compose, monkeypatch, caplog, tmp_path):
    import errno
    import logging

    import evalkit.api
    from evalkit.cli import run as cli_run

    def full(cfg, log=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "weights.bin"))

    monkeypatch.setattr(evalkit.api, "run", full)
    with caplog.at_level(logging.ERROR, logger="evalkit"):
        msg = cli_run._job(compose([]))
    assert msg.startswith(f"DiskFullError: no space left in {tmp_path}: weights.bin could not be written")
    assert "Traceback" not in "\n".join(r.getMessage() for r in caplog.records)

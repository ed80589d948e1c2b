"""Start-up checks (evalkit.pipeline.startup_checks, evalkit.override_checks), in-process."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from evalkit.override_checks import check_overrides
from evalkit.errors import ConfigError, DataError
from evalkit.paths import CONFIG_DIR
from evalkit.pipeline.startup_checks import check_checkpoint, check_data_layout, judge_missing_note


def _cfg(pretrained, **kw):
    return SimpleNamespace(pretrained=str(pretrained), revision=None, **kw)


def test_a_checkpoint_that_is_no_folder_and_no_reachable_hub_id_is_one_line(tmp_path):
    (tmp_path / "ckpt_224px").mkdir()
    check_checkpoint(_cfg(tmp_path / "ckpt_224px"))  # a folder: fine
    with pytest.raises(ConfigError, match=r"no such folder \(did you mean .*ckpt_224px\?\)"):
        check_checkpoint(_cfg(tmp_path / "ckpt_224"))
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ConfigError, match="is a file, not a checkpoint folder"):
        check_checkpoint(_cfg(tmp_path / "weights.bin"))
    with pytest.raises(ConfigError, match="neither a folder here nor a valid hub id"):
        check_checkpoint(_cfg("bad id with spaces"))
    # a hub id, not cached: offline by setting, or no route (the probe is not called when offline)
    calls = []

    def probe(host, port):
        calls.append((host, port))
        return "cannot resolve hub.example"

    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE=1 \\(offline\\)"):
        check_checkpoint(_cfg("org/not-cached-model"), environ={"HF_HUB_OFFLINE": "1"}, probe=probe)
    assert not calls
    with pytest.raises(ConfigError, match=r"https://hub.example:8443 cannot be reached .* looks offline"):
        check_checkpoint(_cfg("org/not-cached-model"), environ={"HF_ENDPOINT": "https://hub.example:8443"},
                         probe=probe)
    assert calls == [("hub.example", 8443)]
    check_checkpoint(_cfg("org/not-cached-model"), environ={}, probe=lambda h, p: None)  # reachable: fine
    check_checkpoint(_cfg("served-name", base_url="http://x/v1"))  # a served model: its server's name


def test_data_root_one_level_above_the_set_names_the_subfolder(tmp_path, compose):
    from evalkit.config import build_task
    from tests._data import write_video_qa

    write_video_qa(tmp_path / "eval" / "msvd_qa", n=1, frames=[6])
    task = build_task(compose(["task=msvd_qa", f"task.data_root={tmp_path / 'eval'}"], "config").task)
    with pytest.raises(DataError, match=r"holds no test_q.json, but .*msvd_qa/test_q.json exists: "
                                        r"set task.data_root=.*eval/msvd_qa "):
        check_data_layout(task)
    check_data_layout(build_task(compose(["task=msvd_qa", f"task.data_root={tmp_path / 'eval' / 'msvd_qa'}"],
                                         "config").task))
    with pytest.raises(DataError, match=r"task.data_root=.*none: no such folder \(the files expected there: "):
        check_data_layout(build_task(compose(["task=msvd_qa", f"task.data_root={tmp_path / 'none'}"],
                                             "config").task))
    assert "exact_match, not as the task's accuracy" in judge_missing_note(task, judged=False)
    assert judge_missing_note(task, judged=True) is None
    mm_vet = SimpleNamespace(name="mm_vet", judged=True, headline_metrics=("total",))
    assert "with judge=none it is not scored here" in judge_missing_note(mm_vet, judged=False)
    assert judge_missing_note(SimpleNamespace(name="pope", judged=False), judged=False) is None


@pytest.mark.parametrize("overrides, message", [
    (["runner.batchsize=2"], "runner.batchsize (did you mean runner.batch_size?)"),
    (["task=msvd_qa", "task.data_rot=/x"], "task.data_rot (did you mean task.data_root?)"),
    (["model.max_new_token=3"], "model.max_new_tokens?"),
    (["outptu_dir=/x"], "outptu_dir (did you mean output_dir?)"),
    (["task=msvdqa"], "unknown task 'msvdqa' (did you mean task=msvd_qa?)"),
    (["judge=gpt3"], "unknown judge 'gpt3' (did you mean judge=gpt35?)"),
    (["task=msvd_qa,msrvtt_qa", "task.data_root=/d"], "task.data_root is set once for 2 tasks"),
])
def test_overrides_are_checked_before_hydra(overrides, message):
    with pytest.raises(ConfigError) as e:
        check_overrides(overrides, CONFIG_DIR)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_good_overrides_pass():
    check_overrides(["task=msvd_qa,msrvtt_qa", "data_dir=/d", "runner.batch_size=2", "+x.y=1",
                     "hydra/launcher=local", "model.pretrained=/a,/b", "judge.model=gpt-4o"], CONFIG_DIR)
    check_overrides(["model.max_new_tokens=3", "runner.progress=false"], CONFIG_DIR, "demo")

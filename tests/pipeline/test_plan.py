"""The job's plan: resolved once from the composed config, frozen, nothing the user set overwritten."""

import dataclasses

import pytest

from evalkit.config import Stage
from evalkit.errors import ConfigError
from evalkit.pipeline import build_plan


def test_plan_is_frozen_and_decides_the_batch_size_once(compose, tmp_path):
    plan = build_plan(compose([f"output_dir={tmp_path}", "stage=predict", "runner.batch_size=null"]))
    assert plan.stage is Stage.PREDICT and plan.stage.predicts and not plan.stage.scores
    assert plan.runner.batch_size == plan.model.preferred_batch_size()  # unset: the adapter's
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.stage = Stage.ALL  # type: ignore[misc]
    assert build_plan(compose([f"output_dir={tmp_path}", "runner.batch_size=3"])).runner.batch_size == 3
    assert not plan.judged and plan.folder.path == tmp_path / plan.run_name / plan.task.name


def test_a_judge_protocol_the_task_does_not_use_is_an_error_naming_both(compose, tmp_path):
    base = [f"output_dir={tmp_path}", "judge=openai_compatible", "judge.model=m", "judge.dry_run=true"]
    plan = build_plan(compose(base))
    assert plan.judged and plan.judge.protocol == plan.judge_choice.key
    assert plan.judge_choice.protocol.name == "video_chatgpt_qa"  # the task's family, as an object
    with pytest.raises(ConfigError, match=r"judge.protocol=mm_vet_grade.*video_chatgpt_qa"):
        build_plan(compose([*base, "judge.protocol=mm_vet_grade"]))


def test_a_bad_model_dtype_is_a_config_error(compose, tmp_path):
    with pytest.raises(ConfigError, match="model.dtype must be one of .*got 'fp8'"):
        build_plan(compose([f"output_dir={tmp_path}", "model.dtype=fp8"]))

"""The Hydra app's user-facing contract: overrides as spelled, and clear errors on bad config."""

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf.errors import ValidationError

from evalkit.config import build_model, build_task
from evalkit.errors import ConfigError


def test_contract_overrides_compose(compose, tmp_path):
    cfg = compose([
        "task=demo_shapes", f"task.data_root={tmp_path}", "model=video_llava_7b",
        "model.pretrained=/ckpts/my-finetune", "runner.batch_size=8", "run.limit=5",
        f"output_dir={tmp_path}/out", "judge=gpt35",
    ])
    assert cfg.task.data_root == str(tmp_path)
    assert cfg.runner.batch_size == 8 and cfg.run.limit == 5
    assert cfg.judge.name == "gpt35" and cfg.judge.model == "gpt-3.5-turbo"
    task, model = build_task(cfg.task), build_model(cfg.model)
    assert task.name == "demo_shapes" and model.cfg.pretrained == "/ckpts/my-finetune"


def test_root_config_defaults_to_the_paper_setting(compose):
    from evalkit.prompts.answer import configure_answer
    from evalkit.prompts.store import PromptStore
    from evalkit.tasks.video_qa import VideoQATask

    cfg = compose([], config_name="config")
    model = build_model(cfg.model)
    assert model.cfg.pretrained == "LanguageBind/Video-LLaVA-7B-hf"
    # max_new_tokens is the task's: null in the model config, the paper's 1024 for the video QA sets
    assert cfg.model.dtype == "auto" and cfg.model.max_new_tokens is None and cfg.judge.name == "none"
    configure_answer(model, VideoQATask.paper_answer, PromptStore())
    assert model.cfg.max_new_tokens == 1024
    assert cfg.task.name == "msvd_qa" and cfg.task.num_frames == 8 and cfg.task.sampler == "uniform_linspace"
    with pytest.raises(ConfigError, match="data_root"):  # no data given: named, before any model loads
        build_task(cfg.task)


def test_unknown_task_lists_choices(compose):
    with pytest.raises(MissingConfigException) as e:
        compose(["task=no_such_task"])
    assert "demo_shapes" in str(e.value.options) or "demo_shapes" in str(e.value)


def test_unknown_field_rejected_by_hydra(compose):
    with pytest.raises(ConfigCompositionException) as e:
        compose(["runner.bacth_size=2"])
    assert "bacth_size" in str(e.value.__cause__ or e.value)


def test_wrong_type_rejected(compose):
    with pytest.raises((ConfigCompositionException, ValidationError)):
        compose(["runner.num_workers=many"])
    # batch_size takes an integer or "auto": checked when the runner section is resolved, named
    from evalkit.pipeline.launch import resolve_runner

    def resolve(value):  # as the plan does: the section's batch size when set
        section = compose([f"runner.batch_size={value}"]).runner
        return resolve_runner(section, batch_size=section.batch_size)

    with pytest.raises(ConfigError, match="runner.batch_size must be a positive integer or 'auto', got 'many'"):
        resolve("many")
    assert resolve("auto")[0].batch_size == "auto"


def test_task_fields_are_typed_by_hydra(compose):
    with pytest.raises(ConfigCompositionException) as e:
        compose(["task.num_frame=4"])
    assert "num_frame" in str(e.value.__cause__ or e.value)
    with pytest.raises(ConfigCompositionException):
        compose(["model.max_new_tokens=lots"])
    cfg = compose(["task.num_frames=4"])
    assert cfg.task.num_frames == 4 and isinstance(cfg.task.num_frames, int)


def test_validation_outside_hydra_lists_valid_fields():
    with pytest.raises(ConfigError) as e:
        build_task({"adapter": "video_qa", "name": "x", "data_root": "/d", "num_frame": 4})
    msg = str(e.value)
    assert "num_frame" in msg and "num_frames" in msg and "valid fields" in msg
    with pytest.raises(ConfigError, match="max_new_tokens"):
        build_model({"adapter": "video_llava", "name": "m", "pretrained": "p", "max_new_tokens": "lots"})
    with pytest.raises(ConfigError, match="data_root"):
        build_task({"adapter": "video_qa", "name": "x"})


def test_unknown_adapter_lists_registered(compose):
    cfg = compose(["task.adapter=nope"])
    with pytest.raises(KeyError) as e:
        build_task(cfg.task)
    assert "video_qa" in str(e.value)


def test_bad_stage_rejected(compose):
    from evalkit.pipeline import build_plan

    with pytest.raises(ConfigError, match="stage"):
        build_plan(compose(["stage=predcit"]))


def test_secrets_scrubbed_from_dumped_config():
    from evalkit.manifest import scrub

    out = scrub({"judge": {"api_key_env": "OPENAI_API_KEY", "api_key": "sk-123",
                           "base_url": "https://user:sk-999@host/v1"}})
    assert out["judge"]["api_key_env"] == "OPENAI_API_KEY"
    assert "sk-123" not in str(out) and "sk-999" not in str(out)


@pytest.mark.parametrize("task", ["msvd_qa", "vqav2", "mmbench", "llava_bench"])
def test_unknown_data_form_rejected_for_every_task(compose, task, tmp_path):
    cfg = compose([f"task={task}", f"task.data_root={tmp_path}", "task.form=xml"])
    with pytest.raises(ConfigError, match="form must be one of official, hf"):
        build_task(cfg.task)


@pytest.mark.parametrize("override, field", [("task.sampler=uniform", "sampler"), ("task.frame_order=backwards", "frame_order"),
                                             ("task.num_frames=0", "num_frames")])
def test_video_protocol_options_checked_at_startup(compose, override, field):
    with pytest.raises(ConfigError, match=field):
        build_task(compose([override]).task)


@pytest.mark.parametrize("task, override", [("scienceqa_img", "task.extraction=fuzzy"), ("mmbench", "task.circular=maybe"),
                                            ("vqav2", "task.answer_mode=loose"), ("gqa", "task.answer_mode=loose")])
def test_image_named_options_checked_at_startup(compose, task, override, tmp_path):
    with pytest.raises(ConfigError, match="must be one of"):
        build_task(compose([f"task={task}", f"task.data_root={tmp_path}", override]).task)

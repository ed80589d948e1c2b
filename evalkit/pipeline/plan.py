"""The plan of one job: everything a job does, resolved once from the composed config and frozen.

:func:`build_plan` decides every default a job depends on, in one place:

* the task and the model adapter (built from their sections, seeded with ``run.seed``);
* the runner: ``runner.batch_size`` when set, else the model adapter's preferred batch size
  (:meth:`~evalkit.models.base.ModelAdapter.preferred_batch_size`; the only place a job's batch size
  is decided), and this process's shard and device (:mod:`.launch`);
* the answer prompt and generation settings (:func:`evalkit.prompts.answer.configure_answer`);
* the judge: enabled or not, its protocol (the task's family; the reference prompt when imported,
  :func:`evalkit.prompts.judge.choose_judge_protocol`) and its settings;
* the run folder and the protocol its predictions are made under.

Nothing the user set is overwritten: a value the plan would have to change (``judge.protocol``
naming another family than the task's, ``judge.parse_retries`` other than the reference script's
own limit under ``judge.sampling=reference``) is a :class:`~evalkit.errors.ConfigError` naming
both values.  A judge setting counts as set when it differs from :class:`JudgeConfig`'s default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from omegaconf import DictConfig, OmegaConf

from evalkit.config import RunConfig, Stage, build_model, build_task, check_known_fields, check_stage
from evalkit.errors import ConfigError
from evalkit.judge.config import JudgeConfig
from evalkit.manifest import scrub
from evalkit.models.base import ModelAdapter
from evalkit.models.hf_chat import apply_model_frames
from evalkit.pipeline.imported import ImportedRun
from evalkit.pipeline.launch import Launch, place_model, resolve_runner
from evalkit.pipeline.run_manifest import protocol_of
from evalkit.pipeline.startup_checks import check_before_start
from evalkit.prompts.answer import AnswerSetup, configure_answer
from evalkit.prompts.judge import JudgeChoice, choose_judge_protocol
from evalkit.prompts.store import PromptStore
from evalkit.runner.runner import RunnerConfig
from evalkit.store import OutputFolder, TaskFolder, default_run_name
from evalkit.tasks.base import Task


@dataclass(frozen=True)
class Plan:
    """One job, resolved.  ``judge`` is the judge configuration the job runs with (the user's, with
    the task's protocol key and the reference's re-ask limit filled in); ``judge_choice`` is the
    protocol object, None when the job judges nothing (``judge=none``, or a task scored without a
    judge).  ``notes``: lines to show the user (where the shard came from, prompts not imported)."""

    stage: Stage
    task: Task
    model: ModelAdapter
    runner: RunnerConfig
    launch: Launch
    judge: JudgeConfig
    judge_choice: Optional[JudgeChoice]
    run: RunConfig
    output: OutputFolder
    run_name: str
    folder: TaskFolder
    answer: AnswerSetup
    resolved_config: dict[str, Any]
    protocol: dict[str, Any]
    notes: tuple[str, ...] = ()
    imported: Optional[ImportedRun] = None  # predictions imported from a reference script's file

    @property
    def judged(self) -> bool:
        """Does this job use a judge (a judged task with a judge configured)?"""
        return self.judge_choice is not None

    @property
    def sharded(self) -> bool:
        return self.runner.num_shards > 1

    def cache_path(self) -> Path:
        """The judge's verdict cache for this job's output folder (or ``judge.cache_path``)."""
        from evalkit.judge.config import resolve_cache_path

        return resolve_cache_path(self.judge, self.output.path)


def build_plan(cfg: DictConfig) -> Plan:
    """The :class:`Plan` of the composed job configuration ``cfg`` (ConfigError on a mistake)."""
    check_known_fields(cfg)  # a misspelt `+section.field=` fails here, before anything loads
    stage = check_stage(cfg.stage)
    task: Task = build_task(cfg.task)
    model = build_model(cfg.model)
    run: RunConfig = OmegaConf.to_object(cfg.run)
    task.seed = model.seed = run.seed
    notes: list[str] = []
    frames_note = apply_model_frames(task, model)  # a model preset's frame count (recorded in the protocol)
    if frames_note:
        notes.append(frames_note)
    # data folder, checkpoint, judge: one line each, before anything is read or loaded
    judge_note = check_before_start(task, model, judged=cfg.judge.name != "none" and task.judged, stage=stage)
    if judge_note:
        notes.append(judge_note)
    section = OmegaConf.to_object(cfg.runner)
    batch_size = section.batch_size if section.batch_size is not None else model.preferred_batch_size()
    # this process's shard (and device) from the overrides, else from torchrun/accelerate's RANK/WORLD_SIZE
    runner, launch = resolve_runner(section, batch_size=batch_size)
    launch = place_model(model.cfg, launch)
    if launch.source == "launcher":
        notes.append(launch.describe())
    prompt_store = PromptStore(cfg.get("prompt_store"))
    # the task's paper answer protocol (template, max_new_tokens), resolved for this model
    answer = configure_answer(model, task.paper_answer, prompt_store)
    if answer.hint:
        notes.append(answer.hint)
    judge, choice = resolve_judge(OmegaConf.to_object(cfg.judge), task, stage, prompt_store, log=notes.append)
    if choice is not None and choice.hint:
        notes.append(choice.hint)
    output = OutputFolder(Path(cfg.output_dir))
    run_name = run.name or default_run_name(model.cfg.pretrained)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    # the judge settings the plan filled in (recorded as run, not as composed)
    resolved["judge"].update(protocol=judge.protocol, parse_retries=judge.parse_retries)
    folder = output.task_folder(run_name, task.name)
    protocol = protocol_of(task, model, run.seed)
    imported = ImportedRun.of(folder)
    if imported is not None:  # judged and scored under the file's own (mostly unknown) protocol
        imported.check(stage, task.name, folder)
        protocol, answer = imported.protocol, imported.answer
    return Plan(stage=stage, task=task, model=model, runner=runner, launch=launch, judge=judge,
                judge_choice=choice, run=run, output=output, run_name=run_name, folder=folder, answer=answer,
                resolved_config=scrub(resolved), protocol=protocol, notes=tuple(notes), imported=imported)


def resolve_judge(user: JudgeConfig, task: Task, stage: Stage, store: PromptStore,
                  log: Callable[[str], None] = lambda line: None) -> tuple[JudgeConfig, Optional[JudgeChoice]]:
    """The judge configuration the job runs with and its protocol (None: nothing is judged).
    The task fixes the protocol family (prompt + parser); the judge config fixes endpoint and model."""
    default = JudgeConfig()
    family = task.judge_protocol
    if user.name == "none" or not task.judged:
        return dataclasses.replace(user, protocol=family), None
    if user.protocol not in (default.protocol, family):
        raise ConfigError(f"judge.protocol={user.protocol}, but task {task.name} is judged with the {family} "
                          f"protocol; leave judge.protocol out (the task sets it)")
    from evalkit.judge.config import validate_config

    try:
        validate_config(user)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    choice = choose_judge_protocol(family, user.prompt, user.sampling, store)
    parse_retries = user.parse_retries
    limit = getattr(choice.protocol, "reference_parse_retries", None)
    if limit is not None and user.sampling == "reference":  # the reference script's own number of replies read
        if user.parse_retries not in (default.parse_retries, limit):
            raise ConfigError(f"judge.parse_retries={user.parse_retries}, but the reference {family} prompt with "
                              f"judge.sampling=reference re-asks {limit} times (its script's limit); set "
                              f"judge.parse_retries={limit}, or judge.sampling=config to send your own settings")
        parse_retries = limit
    judge = dataclasses.replace(user, protocol=choice.key, parse_retries=parse_retries)
    # Fail before reading the data and hours of inference: a judge without its key, or shut down, cannot
    # work; open weights are hashed here (their identity keys the verdicts).  Not for stage=predict.
    from evalkit.judge.startup import prepare_judge

    prepare_judge(judge, stage=stage, log=log)
    return judge, choice

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Decoded-image caches go to a temporary folder, never the user's ~/.cache/evalkit."""
    old = os.environ.get("EVALKIT_CACHE")
    os.environ["EVALKIT_CACHE"] = str(tmp_path_factory.mktemp("evalkit_cache"))
    yield
    if old is None:
        os.environ.pop("EVALKIT_CACHE", None)
    else:
        os.environ["EVALKIT_CACHE"] = old

from tests._data import QUESTIONS  # noqa: E402


@pytest.fixture(autouse=True)
def _empty_prompt_store(tmp_path_factory, monkeypatch):
    """Every test starts with an empty prompt store of its own: the user's imported reference
    prompts (~/.config/evalkit/prompts) never change a test's outcome."""
    monkeypatch.setenv("EVALKIT_PROMPT_STORE", str(tmp_path_factory.mktemp("prompt_store")))


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    """A random tiny Video-LLaVA saved with save_pretrained (built once per test session)."""
    from evalkit.models.tiny import build_tiny_videollava

    return build_tiny_videollava(tmp_path_factory.mktemp("tiny_ckpt"), corpus=QUESTIONS, seed=0)


@pytest.fixture()
def compose():
    """compose(overrides) -> the config exactly as the CLI builds it.  Default: the demo config
    (demo task, tiny trained model; ``judge=none`` unless a ``judge=`` override is given), so tests name
    only what they change; config_name="config" gives the root config real users start from."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from evalkit.paths import CONFIG_DIR
    from evalkit.config import register_configs

    register_configs()

    def _compose(overrides: list[str], config_name: str = "demo"):
        if config_name == "demo" and not any(str(o).startswith("judge=") for o in overrides):
            # the demo judges with its tiny in-process judge; tests judge only when they say so
            overrides = ["judge=none", *overrides]
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return hydra_compose(config_name=config_name, overrides=overrides, return_hydra_config=False)

    yield _compose
    GlobalHydra.instance().clear()

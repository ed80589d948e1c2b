"""Judge configs (YAML vs. the structured config), endpoint resolution, costs, backoff."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from evalkit.judge import JudgeConfig, MissingAPIKeyError, coerce_config, is_enabled
from evalkit.chat_client import full_jitter_delay, parse_retry_after
from evalkit.judge.config import resolve_cache_path, validate_config
from evalkit.judge.cost import cost_usd, lookup_price, total_cost_usd
from evalkit.judge.endpoint import display_url, resolve_endpoint

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "judge"


@pytest.mark.parametrize("name", ["none", "gpt35", "openai_compatible"])
def test_yaml_configs_fit_the_structured_config(name):
    schema = OmegaConf.structured(JudgeConfig)
    merged = OmegaConf.merge(schema, OmegaConf.load(CONFIG_DIR / f"{name}.yaml"))
    if name == "openai_compatible":
        with pytest.raises(ValueError, match="judge.model"):  # the user must name the model
            validate_config(coerce_config(merged))
        merged.model = "my-local-model"
    cfg = coerce_config(merged)
    assert isinstance(cfg, JudgeConfig) and cfg.name == name
    assert is_enabled(cfg) == (name != "none")
    if name == "gpt35":
        assert cfg.model == "gpt-3.5-turbo" and cfg.temperature == 0.0
    if name == "openai_compatible":
        assert cfg.base_url == "http://127.0.0.1:8000/v1"


def test_coerce_rejects_unknown_fields():
    with pytest.raises(ValueError, match="bogus"):
        coerce_config({"name": "x", "bogus": 1})


def test_cache_path_default(tmp_path):
    assert resolve_cache_path(JudgeConfig(), tmp_path) == tmp_path / ".judge_cache.sqlite"
    assert resolve_cache_path(JudgeConfig(cache_path=str(tmp_path / "x.db")), tmp_path) == tmp_path / "x.db"


def test_missing_key_for_openai_fails_clearly():
    cfg = JudgeConfig(name="gpt35", api_key_env="SOME_UNSET_VAR")
    with pytest.raises(MissingAPIKeyError, match="set SOME_UNSET_VAR or judge.api_key_env"):
        resolve_endpoint(cfg, environ={})
    with pytest.raises(MissingAPIKeyError, match="api.openai.com"):
        resolve_endpoint(JudgeConfig(name="gpt35"), environ={})


def test_local_endpoint_needs_no_key_and_env_base_url():
    ep = resolve_endpoint(JudgeConfig(name="x", base_url="http://127.0.0.1:8000/v1/"), environ={})
    assert ep.base_url == "http://127.0.0.1:8000/v1" and ep.api_key == "EMPTY"
    ep = resolve_endpoint(JudgeConfig(name="x"), environ={"OPENAI_BASE_URL": "http://h:1/v1",
                                                          "OPENAI_API_KEY": "sk-secret"})
    assert ep.base_url == "http://h:1/v1" and "sk-secret" not in repr(ep)
    assert display_url("https://user:pw@h.example:8443/v1?x=1") == "https://h.example:8443/v1"


def test_price_lookup_and_cost():
    prices = JudgeConfig().prices
    assert lookup_price("gpt-4o-mini-2024-07-18", prices)["input_per_1m"] == 0.15
    assert lookup_price("gpt-4o-2024-08-06", prices)["input_per_1m"] == 2.50
    assert lookup_price("gpt-3.5-turbo-0613", prices)["output_per_1m"] == 2.00
    assert lookup_price("gpt-4x", prices) is None and lookup_price("llama", prices) is None
    assert cost_usd("gpt-3.5-turbo", 1_000_000, 1_000_000, prices) == pytest.approx(2.0)
    assert total_cost_usd({"local-model": {"prompt": 1000, "completion": 0}}, prices,
                          fallback_model="gpt-4o-mini") == pytest.approx(0.00015)
    assert total_cost_usd({"local-model": {"prompt": 10, "completion": 1}}, prices) is None


def test_retry_after_parsing():
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after({"retry-after": "-3"}) == 0.0


def test_full_jitter_bounds():
    rng = random.Random(0)
    for i in range(10):
        d = full_jitter_delay(i, 0.5, 4.0, rng)
        assert 0.0 <= d <= min(4.0, 0.5 * 2 ** i)

"""docker-compose.yml against the Compose Specification's JSON schema, plus what the schema cannot know."""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.deploy.checks import (
    ROOT,
    InterpolationError,
    compose_problems,
    compose_schema_errors,
    compose_settings_problems,
    interpolate,
    load_compose,
)

ENV = {
    "POSTGRES_PASSWORD": "pw",
    "SERVICE_SECRET": "s" * 32,
    "SECRETS_KEY": "k" * 44,
    "CHANNELS_PUBLIC_BASE_URL": "https://atende.example.com",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose(ROOT / "docker-compose.yml")


def test_compose_file_matches_the_compose_specification(compose) -> None:
    assert compose_schema_errors(compose) == []
    # And once compose has filled in the variables from `.env`.
    assert compose_schema_errors(interpolate(compose, ENV)) == []


def test_compose_structure(compose) -> None:
    assert compose_problems(compose) == []


def test_every_setting_reaches_the_containers_that_read_it(compose) -> None:
    assert compose_settings_problems(compose) == []


@pytest.mark.parametrize("missing", sorted(ENV))
def test_compose_refuses_to_start_without_a_required_secret(compose, missing) -> None:
    env = {k: v for k, v in ENV.items() if k != missing}
    with pytest.raises(InterpolationError, match=missing):
        interpolate(compose, env)


def test_interpolation_follows_compose_rules() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d}/${UNSET:-d}/${EMPTY:-d}/${EMPTY-d}/$$HOME/${UNSET}", env) == "x/d/d//$HOME/"
    with pytest.raises(InterpolationError):
        interpolate("${EMPTY:?need it}", env)


def test_schema_catches_a_wrong_field(compose) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["chat"]["depends_on"]["migrate"]["condition"] = "service_finished"
    broken["services"]["auth"]["restart_policy"] = "always"  # not a Compose field
    errors = compose_schema_errors(broken)
    assert any("service_finished" in e for e in errors)
    assert any("restart_policy" in e for e in errors)


def test_structure_check_catches_mistakes(compose) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["chat"]["ports"] = ["8002:8002"]
    broken["services"]["auth"]["healthcheck"]["test"][-1] = "8002"
    broken["services"]["search-worker"]["command"] = ["python", "-m", "services.search.workers"]
    del broken["services"]["gateway"]["depends_on"]["transcription"]
    problems = "\n".join(compose_problems(broken))
    assert "chat publishes ports" in problems
    assert "auth: healthcheck must GET /health on port 8001" in problems
    assert "search-worker: command must be" in problems
    assert "services.search.workers does not exist" in problems
    assert "gateway must wait for transcription" in problems


def test_a_missing_env_var_is_caught(compose, tmp_path) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    mutated = tmp_path / "docker-compose.yml"
    mutated.write_text(text.replace("  CHAT_LLM_MODEL:\n", "", 1))
    problems = compose_settings_problems(yaml.safe_load(mutated.read_text()))
    assert any(p.startswith("CHAT_LLM_MODEL") and "chat-worker" in p for p in problems)
    assert compose_schema_errors(yaml.safe_load(mutated.read_text())) == []  # the schema alone would not see it


def test_a_secret_written_in_clear_is_caught(compose) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["chat"]["environment"]["CHAT_LLM_API_KEY"] = "sk-live-123"
    assert any("CHAT_LLM_API_KEY is a secret" in p for p in compose_settings_problems(broken))


def test_only_the_data_network_holds_postgres_and_redis(compose) -> None:
    assert compose["networks"]["data"]["internal"] is True
    assert compose["services"]["postgres"]["networks"] == ["data"]
    assert compose["services"]["redis"]["networks"] == ["data"]
    gateway_ip = compose["services"]["gateway"]["networks"]["apps"]["ipv4_address"]
    trusted = compose["services"]["auth"]["environment"]["AUTH_TRUSTED_PROXIES"]
    assert yaml.safe_load(trusted) == [gateway_ip]


def test_workers_have_a_lower_cpu_weight_than_the_apis(compose) -> None:
    """As `make run` (DEV_WORKER_NICE): under contention the APIs (webhook acks) get the CPU first; the workers drain
    the durable stream backlog afterwards."""
    services = compose["services"]
    workers = [name for name in services if name.endswith("-worker")]
    assert len(workers) == 5, workers
    for name in workers:
        api = services[name.removesuffix("-worker")]
        assert services[name].get("cpu_shares", 1024) < api.get("cpu_shares", 1024), name

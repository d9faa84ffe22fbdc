"""What a real target or a stop condition must not slip through: credentials in a URL (printed in plans,
errors, journals and reports), a secret too short to be masked, a target kind written otherwise than
`production` and then read as not production."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from drillkit.errors import InvalidInput
from drillkit.model.stop import HttpStop
from drillkit.model.target import MetricsOut, PrometheusSettings, load_target

SANDBOX = Path(__file__).parents[2] / "drills" / "targets" / "sandbox.yaml"
PASSWORD = "hunter22"


def _target_with(tmp_path: Path, **fields) -> Path:
    data = yaml.safe_load(SANDBOX.read_text()) | fields
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_prometheus_url_with_credentials_is_refused_without_repeating_them(tmp_path):
    path = _target_with(tmp_path, prometheus={"url": f"https://ops:{PASSWORD}@prom.example:9090"})
    with pytest.raises(InvalidInput, match=r"prometheus\.url: .*must not carry credentials") as refused:
        load_target(path)
    assert PASSWORD not in str(refused.value)
    assert str(path) in str(refused.value)


@pytest.mark.parametrize("url", [f"https://ops:{PASSWORD}@push.example", f"https://{PASSWORD}@push.example"])
def test_a_pushgateway_url_with_credentials_is_refused(url):
    with pytest.raises(ValidationError, match="must not carry credentials"):
        MetricsOut(pushgateway=url)


def test_an_endpoint_with_credentials_is_refused(tmp_path):
    with pytest.raises(InvalidInput, match=r"endpoint: .*must not carry credentials"):
        load_target(_target_with(tmp_path, endpoint=f"http://u:{PASSWORD}@127.0.0.1:8080"))


def test_an_http_stop_condition_with_credentials_is_refused():
    with pytest.raises(ValidationError, match="must not carry credentials"):
        HttpStop.model_validate({"name": "health", "kind": "http", "url": f"https://u:{PASSWORD}@x.example/h"})


def test_a_plain_url_still_validates():
    assert str(PrometheusSettings(url="http://127.0.0.1:9090").url) == "http://127.0.0.1:9090/"


def test_a_secret_too_short_to_be_masked_is_refused_rather_than_left_in_the_files(monkeypatch):
    from drillkit.model.secrets import SecretRef

    monkeypatch.setenv("DRILLKIT_TEST_SHORT", "abc")
    with pytest.raises(InvalidInput, match=r"\$DRILLKIT_TEST_SHORT: the secret is shorter than 4") as refused:
        SecretRef(env="DRILLKIT_TEST_SHORT").reveal()
    assert "abc" not in str(refused.value)


@pytest.mark.parametrize("kind", ["Production", "PRODUCTION", "prod"])
def test_a_target_kind_written_otherwise_is_refused_rather_than_read_as_not_production(tmp_path, kind):
    with pytest.raises(InvalidInput, match=r"kind: Input should be 'sandbox', 'staging' or 'production'"):
        load_target(_target_with(tmp_path, kind=kind))


def test_a_target_handed_to_an_activity_that_does_not_validate_is_refused_without_quoting_its_values():
    import json

    from chaoslib.exceptions import ActivityFailed

    from drillkit.faults.environment import TARGET_SPEC_KEY, environment

    spec = json.dumps({"name": "x", "secrets": {"token": f"inline-{PASSWORD}"}})
    with pytest.raises(ActivityFailed, match="cannot load the target") as refused:
        environment({TARGET_SPEC_KEY: spec})
    assert PASSWORD not in str(refused.value) and "input_value" not in str(refused.value)

"""The shapes a guarded drill is declared in: secrets named, never written; stop conditions by kind."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from drillkit.errors import InvalidInput
from drillkit.model.drill import Drill
from drillkit.model.secrets import SecretRef
from drillkit.model.stop import PrometheusStop, SliStop, extension_of


def test_a_secret_written_into_the_file_is_refused_with_the_way_to_name_it():
    with pytest.raises(ValidationError, match=r"never the value itself"):
        SecretRef.model_validate("hunter2")


def test_a_secret_names_exactly_one_source():
    with pytest.raises(ValidationError, match="exactly one"):
        SecretRef.model_validate({"env": "A", "file": "/x"})
    with pytest.raises(ValidationError, match="exactly one"):
        SecretRef.model_validate({})


def test_a_secret_is_revealed_from_the_environment_or_a_file(monkeypatch, tmp_path):
    monkeypatch.setenv("DRILLKIT_TEST_TOKEN", "s3cr3t")
    assert SecretRef(env="DRILLKIT_TEST_TOKEN").reveal() == "s3cr3t"
    (tmp_path / "token").write_text("from-a-file\nignored\n")
    assert SecretRef(file=tmp_path / "token").reveal() == "from-a-file"


def test_a_missing_secret_names_its_source_and_never_a_value(monkeypatch, tmp_path):
    monkeypatch.delenv("DRILLKIT_TEST_TOKEN", raising=False)
    with pytest.raises(InvalidInput, match=r"\$DRILLKIT_TEST_TOKEN is not set"):
        SecretRef(env="DRILLKIT_TEST_TOKEN").reveal()
    (tmp_path / "empty").write_text("")
    with pytest.raises(InvalidInput, match="empty"):
        SecretRef(file=tmp_path / "empty").reveal()
    assert SecretRef(env="X").describe() == "$X"


def test_a_drill_declares_stop_conditions_by_kind():
    drill = Drill.model_validate({
        "name": "q", "experiments": [{"path": "experiments/x.yaml"}],
        "stop_conditions": [
            {"name": "users-served", "kind": "sli", "sli": "availability", "below": 0.5},
            {"name": "five-hundreds", "kind": "prometheus", "query": "rate(x[1m]) > 1"},
        ],
    })
    first, second = drill.stop_conditions
    assert isinstance(first, SliStop) and first.window_s == 30 and first.on_error == "stop"
    assert isinstance(second, PrometheusStop)


def test_an_unknown_stop_condition_kind_is_refused():
    with pytest.raises(ValidationError, match="stop_conditions.0"):
        Drill.model_validate({"name": "q", "experiments": [{"path": "x.yaml"}],
                              "stop_conditions": [{"name": "n", "kind": "vibes"}]})


def test_an_experiment_carries_its_own_stop_conditions_in_its_drillkit_extension():
    experiment = {"extensions": [{"name": "other"}, {"name": "drillkit", "stop_conditions": []}]}
    assert extension_of(experiment) == {"name": "drillkit", "stop_conditions": []}
    assert extension_of({}) is None

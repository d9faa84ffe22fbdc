"""The target model: binding logical parts to a real environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from drillkit.model.target import KubernetesDriver, NotInTarget, ProcessDriver, Target, load_target

ROOT = Path(__file__).resolve().parents[2]


def _regions() -> dict:
    return {
        name: {"address": address, "app": {"component": f"app-{s}", "url": f"http://{address}:8000"},
               "database": {"component": f"pg-{s}", "patroni_api": f"http://{address}:8008"}}
        for name, address, s in (("region-a", "127.0.10.1", "a"), ("region-b", "127.0.20.1", "b"))
    }


def test_the_sandbox_target_binds_both_regions_to_the_process_driver():
    target = load_target(ROOT / "drills" / "targets" / "sandbox.yaml")
    assert isinstance(target.driver, ProcessDriver)
    assert set(target.regions) == {"region-a", "region-b"}
    assert target.region("region-b").database.component == "pg-b"
    assert target.fault_log == Path(".drillkit/sandbox/faults.jsonl")


def test_a_kubernetes_target_is_a_valid_model_with_its_own_fault_log():
    target = Target(name="staging", kind="staging", endpoint="https://staging.example.internal",
                    driver=_kubernetes_driver(), regions=_regions())
    assert isinstance(target.driver, KubernetesDriver)
    assert target.fault_log == Path(".drillkit/targets/staging/faults.jsonl")


def _kubernetes_driver() -> dict:
    pods = {name: {"namespace": "feedhub", "selector": f"app={name}", "workload": f"deployment/{name}"}
            for name in ("app-a", "app-b", "pg-a", "pg-b")}
    regions = {name: {"namespace": "feedhub", "selector": f"region={name}"} for name in ("region-a", "region-b")}
    return {"type": "kubernetes", "context": "staging", "components": pods, "regions": regions}


def test_a_component_cannot_live_in_two_regions():
    regions = _regions()
    regions["region-b"]["app"]["component"] = "app-a"
    with pytest.raises(ValidationError, match="one region only"):
        Target(name="x", kind="sandbox", endpoint="http://127.0.0.1:8080",
               driver={"type": "process"}, regions=regions)


def test_asking_for_an_unknown_region_says_which_exist():
    target = load_target(ROOT / "drills" / "targets" / "sandbox.yaml")
    with pytest.raises(KeyError, match="region-a, region-b"):
        target.region("region-c")


@pytest.mark.parametrize("lookup, kind", [("region", "region"), ("component", "component"),
                                          ("member", "database member"), ("patroni_api", "database member")])
def test_a_lookup_of_a_name_the_target_lacks_names_the_target_its_file_and_what_it_has(lookup, kind):
    path = ROOT / "drills" / "targets" / "sandbox.yaml"
    with pytest.raises(NotInTarget) as lacking:
        getattr(load_target(path), lookup)("nowhere")
    assert str(lacking.value).startswith(f"target 'sandbox' ({path}) has no {kind} 'nowhere' (it has: ")
    assert lacking.value.exit_code == 2  # invalid input, like every name a file gets wrong


def test_lookups_find_what_the_target_has():
    target = load_target(ROOT / "drills" / "targets" / "sandbox.yaml")
    assert target.component("app-b") == "app-b"
    assert target.member("pg-a").component == "pg-a"
    assert target.patroni_api("pg-b") == "http://127.0.20.1:8008/"


def test_the_published_json_schemas_match_the_models():
    from drillkit.model.schemas import SCHEMAS, render

    for name, model in SCHEMAS.items():
        published = ROOT / "docs" / "schemas" / f"{name}.schema.json"
        assert published.read_text() == render(model), f"run `drillkit schemas` to refresh {published}"

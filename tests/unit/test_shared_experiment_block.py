"""The block every experiment shares is declared once (experiments/shared/common.yaml) and written into
each experiment as it stands, so that plain `chaos run experiments/x.yaml` sees what `drillkit run` sees."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
SHARED = ROOT / "experiments" / "shared" / "common.yaml"


def renderer():
    spec = importlib.util.spec_from_file_location("render_experiments", ROOT / "experiments" / "shared" / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=lambda path: path.stem)
def test_every_experiment_carries_the_shared_block_as_declared(experiment):
    render = renderer()
    text = experiment.read_text()
    assert render.BEGIN in text, f"{experiment.name} does not carry the shared block"
    assert render.rendered(text, render.block(SHARED.read_text())) == text, \
        "run `make experiments` after changing experiments/shared/common.yaml (and never edit a copy)"


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=lambda path: path.stem)
def test_an_experiment_is_the_shared_block_plus_its_own_keys(experiment):
    shared = yaml.safe_load(SHARED.read_text())
    loaded = yaml.safe_load(experiment.read_text())
    assert loaded["controls"] == shared["controls"]
    assert loaded["steady-state-hypothesis"] == shared["steady-state-hypothesis"]
    assert loaded["configuration"] | shared["configuration"] == loaded["configuration"]


def test_a_copy_edited_by_hand_is_caught_and_rendering_restores_it():
    render = renderer()
    block = render.block(SHARED.read_text())
    original = EXPERIMENTS[0].read_text()
    edited = original.replace("default: 120", "default: 300", 1)
    assert edited != original and render.rendered(edited, block) == original


def test_an_experiment_with_a_broken_pair_of_markers_is_refused():
    render = renderer()
    with pytest.raises(ValueError, match="one pair"):
        render.rendered(f"{render.END}\n{render.BEGIN}\n", "x: 1\n")

"""Load profiles: the four shipped ones, scaling, and the errors a broken one gets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from drillkit.model.profile import load_profile
from drillkit.validation import validate_files

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "loadtests" / "profiles"


def test_the_four_profiles_ship_and_are_valid():
    assert {p.stem for p in PROFILES.glob("*.yaml")} == {"steady", "spike", "soak", "ramp"}
    assert validate_files(sorted(PROFILES.glob("*.yaml"))) == []


def test_the_spike_jumps_five_to_ten_times_and_drops_back():
    stages = load_profile(PROFILES / "spike.yaml").stages
    assert 5 <= stages[1].users / stages[0].users <= 10
    assert stages[-1].users == stages[0].users


def test_duration_scales_the_shape_not_its_users():
    profile = load_profile(PROFILES / "spike.yaml")
    short = profile.scaled_to(12)
    assert short.duration_s == pytest.approx(12)
    assert [s.users for s in short.stages] == [s.users for s in profile.stages]
    assert short.stages[1].duration_s / short.duration_s == pytest.approx(
        profile.stages[1].duration_s / profile.duration_s)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drillkit", "loadtest", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=False)


def test_a_malformed_profile_exits_2_and_names_the_field(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nstages:\n  - {duration_s: 10, users: -5, spawn_rate: 1}\n")
    result = run(str(broken), "--host", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert f"{broken}: stages.0.users: Input should be greater than or equal to 0" in result.stderr


def test_a_host_outside_loopback_is_refused_unless_allowed(tmp_path):
    result = run(str(PROFILES / "steady.yaml"), "--host", "http://10.1.2.3:8080", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "not a loopback address" in result.stderr and "--allow-remote" in result.stderr
    assert not list(tmp_path.iterdir()), "nothing may start for a refused host"

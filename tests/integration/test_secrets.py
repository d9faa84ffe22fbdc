"""Secrets stay secret on the real sandbox: a staging drill whose app-fault token comes from an environment
variable holding the sandbox's real admin token injects its fault with it, and leaves no copy of the token
in any file it wrote: its run folder, the history, the fault log, and every file of the sandbox's state
that changed meanwhile (but the credentials file the sandbox keeps it in, which the run leaves alone)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from drillkit.sandbox.topology import Credentials, Paths

from .conftest import drillkit

TOKEN_ENV = "DRILLKIT_TEST_APP_ADMIN_TOKEN"
DRILL = {
    "name": "secret-keeping",
    "baseline": {"duration_s": 5},
    "experiments": [{"path": "experiments/app-latency.yaml", "expected_seconds": 20,
                     "variables": {"fault_duration": 2, "stable_window": 3, "recovery_timeout": 30}}],
}


@pytest.fixture(scope="module")
def staging_target(target_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session sandbox as a staging target whose admin token is named, never written."""
    spec = yaml.safe_load(target_file.read_text())
    spec.update(name="test-staging", kind="staging", secrets={"app_admin_token": {"env": TOKEN_ENV}})
    path = tmp_path_factory.mktemp("staging") / "staging.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def files_holding(secret: str, roots: list[Path], since: float, spared: set[Path]) -> list[str]:
    """Every regular file under ROOTS changed at or after SINCE (but SPARED) whose bytes hold SECRET."""
    found = []
    for root in roots:
        candidates = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
        for path in candidates:
            try:
                if path in spared or path.stat().st_mtime < since:
                    continue
                if secret.encode() in path.read_bytes():
                    found.append(str(path))
            except FileNotFoundError:
                continue  # a running server's lock or temporary file, gone between the listing and the read
    return found


def test_a_drill_with_a_secret_in_its_target_leaves_no_copy_of_it_in_any_file_it_wrote(
        sandbox, staging_target, tmp_path):
    credentials = Paths(sandbox.state_dir).credentials
    token = Credentials.load_or_create(credentials).admin
    kept_since = credentials.stat().st_mtime
    manifest, run_dir, history = tmp_path / "drill.yaml", tmp_path / "run", tmp_path / "history.jsonl"
    manifest.write_text(yaml.safe_dump(DRILL))
    started = time.time() - 1  # file times are coarser than the clock
    result = drillkit("drill", str(manifest), "--target", str(staging_target), "--out", str(run_dir),
                      "--history", str(history), "--yes", check=False, timeout=300, env={TOKEN_ENV: token})
    assert result.returncode in (0, 1), result.stdout + result.stderr

    journal = json.loads(next(run_dir.glob("experiments/*/journal.json")).read_text())
    injected = [run for run in journal["run"] if run["activity"]["name"] == "slow-down-region-a"]
    assert injected and injected[0]["status"] == "succeeded", "the app took the fault with the token from the env"
    written = [run_dir, history, sandbox.state_dir]
    assert sum(1 for root in written[:2] for _ in ([root] if root.is_file() else root.rglob("*"))) > 10
    assert files_holding(token, written, started, spared={credentials}) == []
    assert token not in result.stdout + result.stderr
    assert credentials.stat().st_mtime == kept_since, "the run never wrote the sandbox's own credentials"


def test_a_wrong_token_from_the_environment_is_refused_by_the_app_and_stored_nowhere(
        sandbox, staging_target, target_file, tmp_path):
    wrong = "not-the-admin-token-4c1d"
    started = time.time() - 1
    result = drillkit("run", "experiments/app-latency.yaml", "--target", str(staging_target), "--yes",
                      "--out", str(tmp_path / "run"), "--var", "fault_duration=1", "--var", "stable_window=3",
                      check=False, timeout=300, env={TOKEN_ENV: wrong})
    # the app refuses the fault and its heal alike: the fault stays open in the log, so the run is aborted
    assert result.returncode == 3, result.stdout + result.stderr
    journal = json.loads((tmp_path / "run" / "journal.json").read_text())
    failed = next(run for run in journal["run"] if run["activity"]["name"] == "slow-down-region-a")
    assert failed["status"] == "failed" and "404 Not Found" in json.dumps(failed), "the target's token was sent"
    assert files_holding(wrong, [tmp_path / "run", sandbox.state_dir], started, spared=set()) == []
    drillkit("recover", "--target", str(target_file))  # the sandbox's own token closes what was left open

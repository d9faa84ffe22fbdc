"""`drillkit backup check` through the real command line: 0 held, 1 not held, 2 invalid input (naming the
file and the field), 3 when the backup server cannot be reached; JSON to a file or to stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

from tests.unit.targets import unreachable_target_spec

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
POLICY = "full_every: 24h\nincremental_every: 1h\nretention: 7d\nmax_wal_lag: 5m\nrpo: 1h\nencrypted: true\n"
# Runs the command with check_policy replaced by one that returns a fixed verdict.
FAKE = """
import sys
import drillkit.backup.check as check, drillkit.cli as cli
from drillkit.model.backup import CheckItem, PolicyCheck
def fake(target, policy_path=None, progress=lambda line: None):
    progress("asking barman")
    held = {held}
    return PolicyCheck(checked_utc="2026-11-26T12:00:00+00:00", policy_file=str(policy_path), time_scale=60,
                       server=target.backups.server, items=[
        CheckItem(name="newest full", ok=True, observed="F1 ended 10.0 s ago"),
        CheckItem(name="WAL stream", ok=held, observed="not connected",
                  reason="" if held else "the WAL stream is stopped: 12.0 s")])
check.check_policy = fake
sys.argv = ["drillkit", "backup", "check", *{argv!r}]
cli.main()
"""


def target_file(tmp_path: Path, backups: bool = True, barman: str = "/nonexistent/barman") -> Path:
    spec = unreachable_target_spec(tmp_path)
    if backups:
        spec["backups"] = {"policy": str(policy_file(tmp_path)), "time_scale": 60, "barman": barman,
                           "barman_config": str(tmp_path / "barman.conf"), "server": "feedhub",
                           "database": {"env": "NO_SUCH_DSN_VARIABLE"}}
    path = tmp_path / "target.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def policy_file(tmp_path: Path, text: str = POLICY) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def drillkit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drillkit", "backup", "check", *args], capture_output=True,
                          text=True, cwd=cwd, env=ENV, timeout=120, check=False)


def faked(tmp_path: Path, held: bool, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", FAKE.format(held=held, argv=list(argv))], capture_output=True,
                          text=True, cwd=tmp_path, env=ENV, timeout=120, check=False)


def test_a_held_policy_exits_0_and_prints_its_items_on_stderr_and_json_on_stdout(tmp_path):
    result = faked(tmp_path, True, "--target", str(target_file(tmp_path)), "--policy",
                   str(policy_file(tmp_path)), "--json", "-")
    assert result.returncode == 0, result.stderr
    assert "✓ newest full: F1 ended 10.0 s ago" in result.stderr and "asking barman" in result.stderr
    document = json.loads(result.stdout)
    assert document["schema"] == "drillkit.backup-check/1" and document["time_scale"] == 60


def test_a_policy_not_held_exits_1_naming_the_reason_and_writes_the_json_file(tmp_path):
    out = tmp_path / "check.json"
    result = faked(tmp_path, False, "--target", str(target_file(tmp_path)), "--json", str(out))
    assert result.returncode == 1, result.stderr
    assert "✗ WAL stream: not connected — the WAL stream is stopped" in result.stderr
    assert [item["ok"] for item in json.loads(out.read_text())["items"]] == [True, False]
    assert result.stdout == ""


def test_a_target_without_backups_exits_2_naming_the_file_and_the_field(tmp_path):
    target = target_file(tmp_path, backups=False)
    result = drillkit("--target", str(target), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{target}: backups:" in result.stderr


def test_a_bad_policy_file_exits_2_naming_the_file_and_the_field(tmp_path):
    target = target_file(tmp_path)
    bad = tmp_path / "bad-policy.yaml"
    bad.write_text(POLICY.replace("rpo: 1h", "rpo: soon"))
    result = drillkit("--target", str(target), "--policy", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{bad}: rpo:" in " ".join(result.stderr.split())


def test_a_bad_target_file_exits_2(tmp_path):
    bad = tmp_path / "target.yaml"
    bad.write_text("name: t\n")
    assert drillkit("--target", str(bad), cwd=tmp_path).returncode == 2


def test_an_unreachable_backup_server_exits_3(tmp_path):
    result = drillkit("--target", str(target_file(tmp_path)), cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "the backup server cannot be reached" in " ".join(result.stderr.split())


def test_the_policy_schema_accepts_the_shipped_policy_and_refuses_a_bad_duration():
    schema = json.loads((ROOT / "docs" / "schemas" / "backup-policy.schema.json").read_text())
    jsonschema.validate(yaml.safe_load((ROOT / "drills" / "backup-policy.yaml").read_text()), schema)
    bad = {**yaml.safe_load(POLICY), "rpo": "soon"}
    try:
        jsonschema.validate(bad, schema)
    except jsonschema.ValidationError:
        return
    raise AssertionError("the schema accepted rpo: soon")

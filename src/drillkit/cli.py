"""The drillkit command line."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from drillkit import __version__, redaction
from drillkit.errors import EXIT_ABORTED, EXIT_INVALID, Aborted, DrillkitError, InvalidInput
from drillkit.model import paths
from drillkit.model.needs import needs_of
from drillkit.model.sandbox import DEFAULT_STATE_DIR, load_config
from drillkit.sandbox.supervisor import Sandbox, SandboxStatus

if TYPE_CHECKING:
    from drillkit.lock import Running

DEFAULT_TARGET = paths.TARGET

app = typer.Typer(
    help="Chaos and disaster-recovery drills for InteliFeed Hub, measured from the user's side.\n\n"
    "Exit codes: 0 pass, 1 objective breached (or unhealthy), 2 invalid input, 3 aborted.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
sandbox_app = typer.Typer(
    help="The embedded staging sandbox: etcd, two Patroni/PostgreSQL members, two Feed Hub apps "
    "and a Caddy load balancer, all real servers on loopback.",
    no_args_is_help=True,
)
app.add_typer(sandbox_app, name="sandbox")
backup_app = typer.Typer(
    help="The target's backup server (Barman): its catalogue, its newest restorable point, its checks.",
    no_args_is_help=True,
)
app.add_typer(backup_app, name="backup")
staging_app = typer.Typer(
    help="The Docker staging: the sandbox's topology in containers (feedhub-staging) on a private Docker "
    "engine, its image built locally.",
    no_args_is_help=True,
)
app.add_typer(staging_app, name="staging")

out = Console()
err = Console(stderr=True)

StateDir = Annotated[
    Path,
    typer.Option(
        "--state-dir", envvar="DRILLKIT_SANDBOX_DIR",
        help="Where the sandbox keeps its data, logs, pid files and settings.",
    ),
]


def _progress() -> Callable[[str], None]:
    started = time.monotonic()

    def report(message: str) -> None:
        err.print(f"[dim]{time.monotonic() - started:6.1f}s[/] {message}")

    return report


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        out.print(f"drillkit {__version__}")
        raise typer.Exit(0)


@sandbox_app.command("up")
def sandbox_up(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="YAML file with sandbox settings (ports, timings …)."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds each part may take to get healthy.")] = 60.0,
    with_backups: Annotated[bool, typer.Option(
        "--with-backups", help="Also run the backup server (Barman on the witness address, its policy "
        "time-scaled); remembered with the sandbox's settings.")] = False,
) -> None:
    """Start every part that does not run and wait until all are healthy (idempotent)."""
    settings = load_config(state_dir.absolute(), config)
    settings = settings.with_backups() if with_backups else settings
    started = time.monotonic()
    status = Sandbox(config=settings, report=_progress(), start_timeout_s=timeout).up()
    _print_status(status)
    err.print(f"sandbox up in {time.monotonic() - started:.1f} s; endpoint {status.endpoint}")


ForceStop = Annotated[bool, typer.Option(
    "--force", help="A drill is running on it: stop that drill first (as `drillkit abort` does: its rollbacks "
    "play, its measurements are kept), then go on.")]
ABORT_TIMEOUT_S = 60.0


def _clear_of_runs(runs: list[Running], what: str, force: bool) -> None:
    """Refuse WHAT while RUNS hold the platform, or with FORCE stop them first."""
    from drillkit import lock

    if not force:
        lock.refuse_if_running(runs, what)
    left = lock.stop_runs(runs, ABORT_TIMEOUT_S, _progress())
    if left:
        raise Aborted(f"{what}: still running after {ABORT_TIMEOUT_S:.0f} s: "
                      + "; ".join(run.describe() for run in left))


@sandbox_app.command("down")
def sandbox_down(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    purge: Annotated[bool, typer.Option(help="Also delete data and logs.")] = False,
    force: ForceStop = False,
) -> None:
    """Stop every process of the sandbox, tracked or not, and say what was stopped; nothing keeps running.

    Refused (exit 3) while a drill runs on the sandbox, naming it, unless --force."""
    from drillkit import lock

    _clear_of_runs(lock.running(lock.on_sandbox(state_dir)), f"sandbox down ({state_dir})", force)
    settings = load_config(state_dir.absolute())
    stopped = Sandbox(config=settings, report=_progress()).down(purge=purge)
    for line in stopped:
        out.print(f"stopped {line}", markup=False, highlight=False, soft_wrap=True)
    err.print(f"sandbox down ({len(stopped)} process(es) stopped)" if stopped else "sandbox down (nothing was running)")


@sandbox_app.command("status")
def sandbox_status(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Show each part as its live process and its server say: pid, address, role and health.
    Exit 0 only when all are healthy."""
    status = Sandbox(config=load_config(state_dir.absolute())).status()
    if as_json:
        out.print_json(json.dumps(status.to_dict()))
    else:
        _print_status(status)
    raise typer.Exit(0 if status.healthy else 1)


StagingDir = Annotated[
    Path,
    typer.Option("--state-dir", envvar="DRILLKIT_STAGING_DIR",
                 help="Where the staging keeps its secrets, settings and the host-network snapshot."),
]
EngineRoot = Annotated[
    Path | None,
    typer.Option("--engine-root", help="The private Docker engine's root (data, images, volumes); by default "
                 "the one `staging up` used, else /var/lib/drillkit/docker."),
]


@staging_app.command("up")
def staging_up(
    state_dir: StagingDir = Path(".drillkit/docker"),
    engine_root: EngineRoot = None,
    timeout: Annotated[float, typer.Option(help="Seconds each wait (leader, replica, apps, LB) may take.")] = 300.0,
) -> None:
    """Start the engine, build the image (cached), start the Compose project and wait until it is healthy
    (idempotent)."""
    from drillkit.staging.stack import Staging

    started = time.monotonic()
    staging = Staging(state_dir=state_dir, engine_root=engine_root, report=_progress(), timeout_s=timeout)
    status = staging.up()
    _print_staging(status)
    err.print(f"staging up in {time.monotonic() - started:.1f} s; endpoint {status.endpoint}")


@staging_app.command("drill-image")
def staging_drill_image(
    engine_root: EngineRoot = None,
    save: Annotated[Path | None, typer.Option(
        "--save", help="Also write the image as a tar archive, for a cluster's runtime to import (no registry).")
    ] = None,
) -> None:
    """Build drillkit:<hash> for Kubernetes (deploy/kubernetes/drill/Dockerfile: the drill's CronJob and the
    Locust Jobs) on the staging's private engine, from the same base and wheelhouse as the staging's image, and
    tag it drillkit:latest. The engine is stopped again if this command started it."""
    from drillkit.staging.engine import DEFAULT_ROOT, Engine
    from drillkit.staging.images import drill_image_builder, repo_root

    engine = Engine(engine_root or DEFAULT_ROOT)
    started = not engine.running()
    engine.start()
    try:
        builder = drill_image_builder(engine, repo_root(), _progress())
        tag = builder.image()
        latest = builder.tag_latest(tag)
        if save is not None:
            builder.save(tag, save)
    finally:
        if started:
            engine.stop()
    out.print(f"{tag} (also {latest}){f'; saved to {save}' if save else ''}", highlight=False)


@staging_app.command("down")
def staging_down(
    state_dir: StagingDir = Path(".drillkit/docker"),
    engine_root: EngineRoot = None,
    purge: Annotated[bool, typer.Option(help="Also delete the volumes (databases) and the secrets.")] = False,
    force: ForceStop = False,
) -> None:
    """Remove the Compose project, stop the engine, and fail naming anything left on the host's network
    (idempotent). Refused (exit 3) while a drill runs on the staging, naming it, unless --force."""
    from drillkit import lock
    from drillkit.staging import topology
    from drillkit.staging.stack import Staging

    _clear_of_runs(lock.running(lock.on_compose_project(topology.PROJECT)), "staging down", force)
    done = Staging(state_dir=state_dir, engine_root=engine_root, report=_progress()).down(purge=purge)
    for line in done:
        out.print(line, markup=False, highlight=False, soft_wrap=True)
    err.print("staging down; the host's network is as it was")


@staging_app.command("status")
def staging_status(
    state_dir: StagingDir = Path(".drillkit/docker"),
    engine_root: EngineRoot = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Each container's state and health, each database member's role, whether the endpoint answers.
    Exit 0 only when all are healthy."""
    from drillkit.staging.stack import Staging

    status = Staging(state_dir=state_dir, engine_root=engine_root).status()
    if as_json:
        out.print_json(json.dumps(status.to_dict()))
    else:
        _print_staging(status)
    raise typer.Exit(0 if status.healthy else 1)


def _print_staging(status: object) -> None:
    from drillkit.staging.stack import StagingStatus

    assert isinstance(status, StagingStatus)
    table = Table("service", "state", "health", "role")
    roles = {member.name: f"{member.role or '?'} ({member.state or '?'})" for member in status.members}
    for container in status.containers:
        table.add_row(container.service, container.state, container.health or "", roles.get(container.service, ""))
    out.print(table)
    engine = "running" if status.engine_running else "stopped"
    answers = "answers" if status.endpoint_answers else "does not answer"
    out.print(f"engine {status.engine} {engine}; endpoint {status.endpoint} {answers}; "
              f"{'healthy' if status.healthy else 'NOT healthy'}", highlight=False)


@backup_app.command("status")
def backup_status_command(
    target: Annotated[Path, typer.Option(help="The target whose backups to show.")] = DEFAULT_TARGET,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """The catalogue (id, kind, status, end, size, parent), the newest restorable point, barman check, and
    whether the policy's quick rules hold (backup ages, WAL continuity, restorable point, WAL stream,
    retention; `drillkit backup check` also verifies every backup and the encryption at rest).
    Exit 0 when every barman check passed and those rules hold, 1 otherwise."""
    from drillkit.backup.check import check_policy
    from drillkit.backup.status import backup_status
    from drillkit.model.target import load_target

    loaded = load_target(target)
    settings = loaded.backups
    if settings is None:
        raise InvalidInput(f"{target}: the target has no `backups:` block, so no backup server to ask")
    from drillkit.backup.barman import Barman

    status = backup_status(Barman.of(settings))
    status = status.model_copy(update={"policy": check_policy(loaded, thorough=False)})
    if as_json:
        out.print_json(status.model_dump_json(by_alias=True))
    else:
        _print_backup_status(status)
    held = status.policy is None or status.policy.held
    raise typer.Exit(0 if held and all(value is True for value in status.check.values()) else 1)


@app.command("validate")
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Experiment and target files (YAML).")],
    target: Annotated[
        Path | None, typer.Option(help="Also check that experiments name regions this target has.")
    ] = None,
) -> None:
    """Check experiments and targets. Exit 0 when all are valid, 2 with `file: field: reason` lines."""
    from drillkit.validation import plan_target, target_problems, validate_files

    checked = plan_target(target).target if target else None
    problems = [f"{target}: {problem}" for problem in target_problems(checked)] if checked else []
    problems += validate_files(paths, checked)
    for problem in problems:
        print(problem, file=sys.stderr)  # one unwrapped line each, for people and for scripts
    if problems:
        raise typer.Exit(EXIT_INVALID)
    out.print(f"{len(paths)} file(s) valid")


TargetOption = Annotated[
    Path,
    typer.Option("--target", envvar="DRILLKIT_TARGET", help="The environment to run against "
                 "(default: DRILLKIT_TARGET, else the sandbox)."),
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Write into a run folder that holds an earlier run (never any other).")]
ConfirmOption = Annotated[str | None, typer.Option(
    "--confirm-target", metavar="NAME", help="The target's name, typed in full: a production target runs only "
    "with it (and only the faults its allowed_faults lists); a staging target then asks nothing.")]
YesOption = Annotated[bool, typer.Option(
    "--yes", help="Run against a staging target without asking (pipelines); production still needs "
    "--confirm-target.")]


@app.command("run")
def run(
    experiment: Annotated[Path, typer.Argument(help="A Chaos Toolkit experiment (YAML or JSON).")],
    target: TargetOption = DEFAULT_TARGET,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Where journal.json goes: a new or empty folder "
                                  "(default reports/runs/…).")
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option("--var", help="Override a configuration value: NAME=VALUE (e.g. fault_duration=5)."),
    ] = None,
    measure: Annotated[bool, typer.Option(
        "--measure", help="Add drillkit's measure control (RTO, RPO, SLIs) without editing the file.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and the preflight; inject nothing.")
                       ] = False,
    force: ForceOption = False,
    confirm_target: ConfirmOption = None,
    yes: YesOption = False,
    settings: Annotated[Path | None, typer.Option(
        "--settings", help="Chaos Toolkit settings file (default: CHAOSTOOLKIT_SETTINGS, else "
        "~/.chaostoolkit/settings.yaml); its rollback strategy is replaced by `always`.")] = None,
) -> None:
    """Validate, check the preflight, then run one experiment with its rollbacks always played (also on
    Ctrl-C and SIGTERM). Any Chaos Toolkit experiment runs as under `chaos run`.

    A production target runs only with --confirm-target NAME and only its allowed faults; a staging
    target shows the plan and asks on a terminal (--yes: never ask).

    Exit 0 when the steady state held, 1 when it deviated or an activity failed, 2 on invalid
    input or a refused guard (nothing was injected), 3 when the preflight found the environment not ready, when
    interrupted, or when the safety net had to heal a fault."""
    from drillkit import preflight
    from drillkit.drill.runner import chaos_settings, outline, run_experiment
    from drillkit.faults.environment import new_run_id
    from drillkit.lock import target_lock
    from drillkit.validation import guard_problems, plan_run

    _log_to_console()
    plan = plan_run(experiment, target, _parse_vars(var or []), measure)
    guard = guard_problems(plan, confirm_target)  # a production slip stops here, before anything is touched
    if guard and not dry_run:
        raise InvalidInput("\n".join(guard))
    user_settings = chaos_settings(settings)
    out_dir = out_dir or paths.RUNS / f"{time.strftime('%Y%m%dT%H%M%S')}-{experiment.stem}"
    report = _preflight(plan, out_dir, force, live=dry_run)
    lines = outline(plan.experiments[0], plan.target)
    if dry_run:
        _print_dry_run(lines, report, guard)
    preflight.require(report)
    _confirm(plan.target, lines, confirmed=yes or confirm_target == plan.target.name)
    run_id = new_run_id()
    with target_lock(plan.target, run_id, target_file=plan.target_file):  # a dead holder's faults are healed first
        if preflight.uses_target(plan.documents()):
            preflight.require(preflight.live_checks(plan.target, needs_of(plan.documents())))
        result = run_experiment(plan, out_dir, settings=user_settings, run_id=run_id)
    if result.stopped_by is not None:
        out.print(result.stopped_by.describe(), markup=False, highlight=False, soft_wrap=True)
    out.print(f"{experiment.name}: {result.status}; journal {result.journal_path}")
    raise typer.Exit(result.exit_code)


def _print_dry_run(lines: list[str], report, guard: list[str]) -> None:
    """The plan, the preflight and what the guard refuses; exit 2 when it refuses, else the preflight's code."""
    _print_lines(lines)
    _print_preflight(report)
    for problem in guard:
        err.print(f"[bold red]refused:[/] {escape(problem)}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_INVALID if guard else report.exit_code)


def _confirm(target, plan_lines: list[str], confirmed: bool) -> None:
    """A staging target runs once someone typed its name on a terminal (or said --yes / --confirm-target)."""
    if target.kind != "staging" or confirmed:
        return
    if not _is_terminal():
        raise InvalidInput(f"{target.name!r} is a staging target and there is no terminal to confirm on: "
                           "pass --yes (or --confirm-target NAME) to run it (nothing was injected)")
    _print_lines(plan_lines)
    answer = typer.prompt(f"type the target's name ({target.name}) to go on", default="", show_default=False)
    if answer.strip() != target.name:
        raise Aborted(f"not confirmed ({answer.strip()!r} is not {target.name!r}): nothing was injected")


def _is_terminal() -> bool:
    return sys.stdin.isatty()


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        out.print(line, highlight=False, markup=False, soft_wrap=True)


@app.command("preflight")
def preflight_command(
    plan_file: Annotated[Path | None, typer.Argument(
        metavar="[DRILL|EXPERIMENT]", help="A drill manifest or an experiment; none: the target alone.")] = None,
    target: Annotated[Path | None, typer.Option(
        "--target", envvar="DRILLKIT_TARGET", help="The environment (default: DRILLKIT_TARGET, else "
        "the drill's, else the sandbox).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Also check this run folder.")] = None,
    force: ForceOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Check everything a drill or an experiment needs, touching nothing: privileges and binaries for
    each fault kind, a shipped driver, every component answering, a database leader, the load
    balancer serving, the run folder, free disk, no other run holding the target.

    Exit 0 all checks passed, 2 the input asks for something unsupported, 3 the environment is not ready."""
    from drillkit import validation

    plan = (validation.plan_target(target or DEFAULT_TARGET) if plan_file is None
            else validation.plan_file(plan_file, target, DEFAULT_TARGET))
    report = _preflight(plan, out_dir, force, whole_target=plan_file is None)
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
    else:
        _print_preflight(report)
    raise typer.Exit(report.exit_code)


def _preflight(plan, run_dir: Path | None, force: bool, live: bool = True, whole_target: bool = False):
    """Every check for the PLAN's experiments against its target; the target is asked only when they use it."""
    from drillkit import preflight

    experiments = _runnable(plan)
    needs = needs_of(experiments)
    report = preflight.static_checks(plan.target, needs, run_dir, force)
    busy = any(check.name == preflight.LOCK_CHECK for check in report.failures)  # its faults are in place
    if live and not busy and (whole_target or preflight.uses_target(experiments)):
        report += preflight.live_checks(plan.target, needs)
    return report


def _runnable(plan) -> list[dict]:
    """The plan's experiments, less those a drill records as not run because its target lacks what they
    need (a single `drillkit run` keeps them all: its preflight says what is missing)."""
    from drillkit.model.needs import lacking
    from drillkit.model.plan import DrillPlan

    documents = plan.documents()
    if not isinstance(plan, DrillPlan):
        return documents
    return [document for document in documents if lacking(plan.target, document) is None]


def _print_preflight(report) -> None:
    table = Table(title="preflight", title_justify="left")
    for column in ("check", "subject", "result", "detail", "what to do"):
        table.add_column(column, overflow="fold")
    marks = {"ok": "[green]ok[/]", "FAILED": "[red]FAILED[/]", "skipped": "[yellow]skipped[/]"}
    for check in report.checks:
        table.add_row(check.name, escape(check.subject), marks[check.result], escape(check.detail),
                      escape(check.remedy))
    out.print(table)
    verdict = "all checks passed" if report.ok else f"{len(report.failures)} check(s) failed"
    out.print(f"preflight: {verdict} (exit {report.exit_code})", highlight=False)


@app.command("abort")
def abort(
    target: Annotated[Path | None, typer.Option(help="Stop the drill running on this target.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Stop every drill running on this machine.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the drills to end.")] = ABORT_TIMEOUT_S,
) -> None:
    """The kill switch, for the moment a real incident starts: stop running drills as Ctrl-C would. Each
    plays its rollbacks, keeps what it measured (`drillkit report` scores it), and exits 3.

    Exit 0 when every drill it stopped has ended (or none was running), 3 when one still runs after --timeout."""
    from drillkit import lock
    from drillkit.model.target import load_target

    if (target is None) == (not every):
        raise InvalidInput("abort: name the drills to stop: --target FILE, or --all")
    runs = lock.running(lock.on_target(load_target(target)) if target is not None else lambda run: True)
    if not runs:
        out.print(f"no drill is running{f' on {target}' if target else ' on this machine'}")
        return
    left = lock.stop_runs(runs, timeout, _progress())
    for run in left:
        out.print(f"still running after {timeout:.0f} s: {run.describe()}; SIGKILL it (pid {run.holder.pid}), "
                  f"then `drillkit recover --run {run.holder.run_id}`", markup=False, highlight=False, soft_wrap=True)
    out.print(f"{len(runs) - len(left)} drill(s) stopped, {len(left)} still running")
    raise typer.Exit(EXIT_ABORTED if left else 0)


@app.command("recover")
def recover(
    target: Annotated[Path, typer.Option(help="The environment whose open faults to heal.")] = DEFAULT_TARGET,
    run_id: Annotated[
        str | None, typer.Option("--run", help="Heal only this run's open faults (a drill's include its experiments').")
    ] = None,
) -> None:
    """Heal every fault still open in the target's fault log, or one run's (after a run was killed, say).

    Refused (exit 3) while a live run holds the target. Exit 0 when nothing is left open, 3 when a
    fault could not be healed."""
    from drillkit.faultlog import FaultLog
    from drillkit.faults.environment import new_run_id
    from drillkit.faults.recovery import recover as heal_open_faults
    from drillkit.lock import target_lock
    from drillkit.validation import plan_target

    _log_to_console()
    plan = plan_target(target)
    failures = 0
    with target_lock(plan.target, f"recover-{new_run_id()}"):  # never heal under a live run's feet
        outcomes = list(heal_open_faults(target, FaultLog(plan.target.fault_log), run_id, plan.target))
    for outcome in outcomes:
        fault = outcome.fault
        verdict = "healed" if outcome.healed else f"NOT healed: {outcome.error}"
        out.print(f"{fault.fault} (run {fault.run_id or 'unknown'}, opened {fault.opened_at}): {verdict}",
                  markup=False, highlight=False, soft_wrap=True)
        failures += not outcome.healed
    scope = f" of run {run_id}" if run_id else ""
    out.print(f"{len(outcomes) - failures} fault(s){scope} healed, {failures} left open")
    raise typer.Exit(EXIT_ABORTED if failures else 0)


@app.command("drill")
def drill(
    manifest: Annotated[Path, typer.Argument(help="A drill manifest (drills/quarterly.yaml).")],
    target: Annotated[Path | None, typer.Option(
        "--target", envvar="DRILLKIT_TARGET",
        help="Run against this target instead of the drill's (default: DRILLKIT_TARGET, else the drill's).")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run folder: new or empty (default reports/<YYYY>-Q<n>-<timestamp>/).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and the preflight; touch nothing.")
                       ] = False,
    force: ForceOption = False,
    confirm_target: ConfirmOption = None,
    yes: YesOption = False,
    history_file: Annotated[Path, typer.Option("--history", help="The trend file to read and append.")] = paths.HISTORY,
    manage_sandbox: Annotated[bool, typer.Option(
        help="Bring the sandbox up if the target is the sandbox and it is down, and down again after.")] = False,
) -> None:
    """Run a whole drill: validate everything, check the preflight, measure a baseline, run each
    experiment with measurement, score, and write report.html, report.md, report.json and junit.xml
    into the run folder.

    A production target runs only with --confirm-target NAME and only its allowed faults; a staging
    target shows the plan and asks on a terminal (--yes: never ask).

    Exit 0 every objective met, 1 an objective breached, 2 invalid input or a refused guard, 3 aborted (the environment
    not ready, an interrupt, a failed rollback or a baseline that already breached an SLO: never a pass)."""
    from drillkit import preflight
    from drillkit.drill.drill import default_run_dir, expected_seconds, outline, run_drill
    from drillkit.drill.progress import DrillProgress
    from drillkit.drill.runner import chaos_settings
    from drillkit.faults.environment import new_run_id
    from drillkit.lock import target_lock
    from drillkit.validation import guard_problems, plan_drill

    plan = plan_drill(manifest, target)
    guard = guard_problems(plan, confirm_target)  # a production slip stops here, before anything is touched
    if guard and not dry_run:
        raise InvalidInput("\n".join(guard))
    chaos_settings()  # an unreadable settings file stops the drill now, not at its first experiment
    run_dir = out_dir or default_run_dir(paths.REPORTS)
    sandbox_managed = manage_sandbox and _is_sandbox(plan.target)
    report = _preflight(plan, run_dir, force, live=dry_run and not sandbox_managed)
    lines = outline(plan)
    if dry_run:
        _print_dry_run(lines, report, guard)
    preflight.require(report)
    _confirm(plan.target, lines, confirmed=yes or confirm_target == plan.target.name)
    run_id = new_run_id()
    with _sandbox_for(plan.target, manage_sandbox), target_lock(plan.target, run_id, target_file=plan.target_file):
        needs = needs_of(_runnable(plan))
        preflight.require(preflight.live_checks(plan.target, needs))  # under the lock: a dead run is healed
        _log_to_file(run_dir / "drill.log")
        result = run_drill(plan, run_dir, DrillProgress(err, expected_seconds(plan)), run_id=run_id)
    raise typer.Exit(_publish(result, history_file, append=True, metrics=plan.target.metrics))


def _is_sandbox(target) -> bool:
    from drillkit.model.target import ProcessDriver

    return isinstance(target.driver, ProcessDriver)


@app.command("report")
def report(
    run_dir: Annotated[Path, typer.Argument(help="A drill's run folder (holds results.json).")],
    history_file: Annotated[Path, typer.Option("--history", help="The trend file to read.")] = paths.HISTORY,
    from_results: Annotated[bool, typer.Option(
        "--from-results", help="Score the figures saved in results.json; do not analyse the raw files again.")] = False,
) -> None:
    """Score and render a drill's reports again, without running anything: every measurement is
    analysed again from the raw samples and ledger kept in the run folder (--from-results: take the
    figures saved in results.json instead). metrics.prom in the run folder is rendered again too; the
    target's metrics textfile and Pushgateway are left alone (they hold the latest drill, not this one).

    Exit 0 passed, 1 an objective breached, 3 aborted or invalid."""
    from drillkit.drill.drill import reanalyzed
    from drillkit.model.result import DrillRun

    run = DrillRun.load(run_dir)
    if not from_results:
        run, again = reanalyzed(run, run_dir)
        err.print(f"analysed {again} measurement folder(s) again from their raw samples", highlight=False)
    raise typer.Exit(_publish(run, history_file, append=False))


def _publish(result, history_file: Path, append: bool, metrics=None) -> int:
    """Score, write the reports (an aborted run's too, marked ABORTED), export the metrics to where the
    target's METRICS settings say (a failure there is a warning) and print the verdict."""
    from drillkit.report.build import publish
    from drillkit.report.export import export

    scored = publish(result, history_file, append=append)
    for warning in export(scored, metrics):
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    from drillkit.report.render import evidence_line, platform_line

    style = "green" if scored.status == "passed" else "red"
    out.print(f"[bold {style}]{scored.status.upper()}[/]", highlight=False)
    out.print(platform_line(scored), markup=False, highlight=False, soft_wrap=True)
    out.print(evidence_line(scored), markup=False, highlight=False, soft_wrap=True)
    if scored.scope_note:
        out.print(scored.scope_note, highlight=False)
    for finding in scored.findings:
        cause = f": {finding.cause}" if finding.cause else ""
        out.print(f"  - {finding.text}{cause}", markup=False, highlight=False, soft_wrap=True)
    out.print(f"report: {Path(result.run_dir) / 'report.html'}")
    return scored.exit_code()


@contextlib.contextmanager
def _sandbox_for(target, manage: bool):
    """Bring the sandbox up for the drill when asked to, and down again if this call started it."""
    from drillkit.model.target import ProcessDriver

    if not manage or not isinstance(target.driver, ProcessDriver):
        yield
        return
    config = load_config(target.driver.state_dir.absolute())
    if target.backups is not None:  # the drill's restores and policy check need the backup server
        b = target.backups
        config = config.with_backups(policy=b.policy, time_scale=b.time_scale, barman=b.barman, server=b.server)
    sandbox = Sandbox(config=config, report=_progress())
    started = not sandbox.status().healthy
    if started:
        sandbox.up()
    try:
        yield
    finally:
        if started:
            sandbox.down()


def _log_to_file(path: Path) -> None:
    """During a drill the progress lines speak; the detailed log goes to the run folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    _route_logs(handler)


@app.command("loadtest")
def loadtest(
    profile: Annotated[Path, typer.Argument(help="A load profile (loadtests/profiles/steady.yaml).")],
    host: Annotated[str, typer.Option(help="The URL to load, e.g. http://127.0.0.1:8080.")],
    duration: Annotated[
        float | None, typer.Option(help="Squeeze the profile's shape into this many seconds.")] = None,
    workers: Annotated[int, typer.Option(
        min=0, max=64, help="Run Locust distributed: one master and N worker processes (with --kubernetes: N worker "
        "pods, 4 by default).")] = 0,
    expect_workers: Annotated[int, typer.Option(
        min=0, max=256, help="Be a master for N workers that connect from elsewhere (Kubernetes pods): listen on every "
        "interface, port 5557, and start no local worker.")] = 0,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Where the results go.")] = None,
    slo: Annotated[Path, typer.Option(help="The objectives to judge against.")] = paths.OBJECTIVES,
    locustfile: Annotated[Path, typer.Option(help="The user journeys.")] = paths.LOCUSTFILE,
    plugin_dir: Annotated[Path | None, typer.Option(
        help="Take locust_shape.py and locust_plugin.py from this folder, not from the installed drillkit.")] = None,
    allow_remote: Annotated[bool, typer.Option(help="Allow a host that is not a loopback address.")] = False,
    kubernetes: Annotated[str | None, typer.Option(
        "--kubernetes", metavar="NAMESPACE", help="Run on a cluster: render deploy/kubernetes/locust (master and "
        "worker Jobs), apply it in NAMESPACE, wait for the master's verdict and exit with it.")] = None,
    kubeconfig: Annotated[Path | None, typer.Option(
        help="With --kubernetes: the kubeconfig (default KUBECONFIG, ~/.kube/config, else the pod's account).")] = None,
    context: Annotated[str | None, typer.Option(help="With --kubernetes: the kubeconfig context.")] = None,
    image: Annotated[str | None, typer.Option(
        help="With --kubernetes: the drillkit image for both Jobs (default: the kustomization's).")] = None,
    timeout: Annotated[float | None, typer.Option(
        help="With --kubernetes: seconds to wait for the master Job (default: the profile's duration + "
        "7.5 min).")] = None,
) -> None:
    """Run a Locust load profile headless and judge availability, error rate and the latency SLI.

    Writes loadtest.json, junit.xml and loadtest.html (with --kubernetes: on the volume locust-results).
    Exit 0 every SLO met, 1 an SLO breached, 2 invalid input (the message names the file and the field),
    3 aborted (with --kubernetes also: the API refused a request, 403 included, or the Job did not finish)."""
    from drillkit.loadtest.run import Workers, check_host, run_loadtest
    from drillkit.model.objectives import load_objectives
    from drillkit.model.profile import load_profile
    from drillkit.report.loadtest import sli_lines, write_all

    spec = load_profile(profile)
    if duration is not None:
        if duration <= 0:
            raise InvalidInput("--duration: must be a positive number of seconds")
        spec = spec.scaled_to(duration)
    if kubernetes is not None:
        raise typer.Exit(_loadtest_on_kubernetes(
            namespace=kubernetes, profile=profile, spec=spec, host=host, workers=workers or 4, slo=slo,
            locustfile=locustfile, duration=duration, image=image, timeout=timeout, kubeconfig=kubeconfig,
            context=context))
    spread = Workers(local=workers, external=expect_workers)
    check_host(host, allow_remote)
    objectives = load_objectives(slo)
    out_dir = out_dir or paths.LOADTESTS / f"{time.strftime('%Y%m%dT%H%M%S')}-{spec.name}"
    err.print(f"load profile {spec.name}: {spec.duration_s:.0f} s against {host}"
              f"{f' with {spread.count} workers' if spread.count else ''}", highlight=False)
    result = run_loadtest(profile=spec, host=host, locustfile=locustfile, out_dir=out_dir, workers=spread,
                          objectives=objectives, plugin_dir=plugin_dir,
                          say=lambda line: err.print(line, highlight=False))
    write_all(result, out_dir)
    for line in sli_lines(result):
        out.print(line, highlight=False)
    out.print(f"{result['requests']} requests, p95 {result['p95_ms']} ms; results in {out_dir}")
    raise typer.Exit(0 if result["passed"] else 1)


def _loadtest_on_kubernetes(*, namespace: str, profile: Path, spec, host: str, workers: int, slo: Path,
                            locustfile: Path, duration: float | None, image: str | None, timeout: float | None,
                            kubeconfig: Path | None, context: str | None) -> int:
    """Render, apply, wait: the master pod's exit code is the verdict."""
    from drillkit.loadtest import kubernetes as k8s
    from drillkit.loadtest.run import check_host
    from drillkit.model.objectives import load_objectives

    k8s.check_namespace(namespace)
    check_host(host, allow_remote=True)  # a cluster's Service is never loopback: only the URL's form is checked
    if timeout is not None and timeout <= 0:
        raise InvalidInput("--timeout: must be a positive number of seconds")
    run = k8s.LocustRun(namespace=namespace, profile_file=profile, profile=spec, host=host, workers=workers,
                        objectives_file=slo, objectives=load_objectives(slo), locustfile=locustfile,
                        duration_s=duration, image=image, timeout_s=timeout)
    objects = k8s.render(run, paths.LOCUST_MANIFESTS)
    cluster = k8s.connect(kubeconfig, context)
    say = _progress()
    err.print(f"load profile {spec.name}: {spec.duration_s:.0f} s against {host} with {workers} worker pods in "
              f"namespace {namespace} ({cluster.where})", highlight=False)
    k8s.apply(cluster, objects, say)
    code = k8s.wait(cluster, run, say)
    for line in k8s.report_lines(cluster, namespace):
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    verdict = {0: "every SLO met", 1: "an SLO breached", 2: "invalid input", 3: "aborted"}[code]
    out.print(f"master exited {code}: {verdict}", highlight=False)
    return code


@app.command("kustomize")
def kustomize_command(
    directory: Annotated[Path, typer.Argument(help="A folder holding kustomization.yaml (deploy/kubernetes/drill).")],
) -> None:
    """Print the objects a kustomization renders, as YAML documents for `kubectl apply -f -`: what drillkit's
    kustomizations use, without kubectl or kustomize (their ConfigMaps come from files outside the folder,
    which kustomize's default load restrictor refuses)."""
    import yaml

    from drillkit.kustomize import render

    out.print(yaml.safe_dump_all(render(directory), sort_keys=False), end="", markup=False, highlight=False,
              soft_wrap=True)


@backup_app.command("check")
def backup_check(
    policy: Annotated[Path | None, typer.Option(
        "--policy", help="The backup policy (YAML, real units); the target's backups.policy by default.")] = None,
    target: Annotated[Path, typer.Option(help="The target whose backup server to check.")] = DEFAULT_TARGET,
    json_out: Annotated[str | None, typer.Option(
        "--json", metavar="FILE", help="Write the result (PolicyCheck JSON) to FILE; '-' prints it on stdout.")] = None,
) -> None:
    """Measure the backup policy against the backup server as it is now; each item holds (✓) or not (✗).

    newest full: the newest finished full backup is younger than full_every.

    newest incremental: the newest finished backup of any kind is younger than incremental_every.

    WAL continuity: no segment is missing from the oldest kept backup's first WAL to the newest archived
    one, across timeline switches; the first missing segment is named.

    backups verified: every kept backup passes pg_verifybackup (barman verify-backup; an encrypted one is
    decrypted and extracted into a temporary folder and verified there).

    restorable point: the newest point a restore reaches (end of the continuous archive, else the newest
    backup's end) is younger than the rpo.

    WAL stream: barman's receiver streams from the leader within max_wal_lag; a stream stopped longer
    than that fails.

    encryption at rest (when encrypted): a fresh marker written into the database and archived is found
    nowhere in the storage, raw or inside gzip, and every backup and archived WAL file is OpenPGP.

    retention: the catalogue reaches back the retention window ("not yet filled" while the server is
    younger than the window).

    The policy is in real units, scaled by the target's backups.time_scale; every figure is real seconds.
    Items and progress go to stderr. Exit 0 held, 1 not held, 2 invalid input, 3 the backup server cannot
    be reached."""
    from drillkit.backup.check import check_policy
    from drillkit.durable import write_json
    from drillkit.model.target import load_target

    result = check_policy(load_target(target), policy, progress=_progress())
    _print_policy_check(result)
    document = result.model_dump(mode="json", by_alias=True)
    if json_out == "-":
        print(json.dumps(document, indent=2))
    elif json_out:
        write_json(Path(json_out), document)
        err.print(f"wrote {json_out}", highlight=False)
    raise typer.Exit(0 if result.held else 1)


def _print_policy_check(result) -> None:
    for item in result.items:
        mark = "[green]✓[/]" if item.ok else "[red]✗[/]"
        reason = f" — {escape(item.reason)}" if item.reason else ""
        err.print(f"{mark} {escape(item.name)}: {escape(item.observed)}{reason}", highlight=False, soft_wrap=True)
    verdict = "held" if result.held else "NOT held"
    err.print(f"policy {result.policy_file} (time scale {result.time_scale:g}): {verdict}", highlight=False)


@app.command("schemas")
def schemas(
    out_dir: Annotated[Path, typer.Option("--out", help="Where the schema files go.")] = Path("docs/schemas"),
) -> None:
    """Write the JSON Schema of every drillkit file format (for editors and CI linters)."""
    from drillkit.model.schemas import write_all

    for path in write_all(out_dir):
        out.print(f"wrote {path}")


def _parse_vars(pairs: list[str]) -> dict[str, object]:
    import yaml

    parsed = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidInput(f"--var {pair!r}: expected NAME=VALUE")
        parsed[name] = yaml.safe_load(value)  # 5 -> int, 0.5 -> float, text stays text
    return parsed


def _log_to_console() -> None:
    from rich.logging import RichHandler

    _route_logs(RichHandler(console=err, show_path=False, markup=False))


def _route_logs(handler: logging.Handler) -> None:
    """chaoslib's and drillkit's INFO logs go to HANDLER only, with every secret masked."""
    handler.addFilter(redaction.LogFilter())
    for name in ("chaostoolkit", "drillkit"):
        log = logging.getLogger(name)
        log.setLevel(logging.INFO)
        log.addHandler(handler)
        log.propagate = False


def _print_status(status: SandboxStatus) -> None:
    table = Table(title=f"sandbox {status.endpoint}  ({status.state_dir})", title_justify="left")
    for column in ("part", "region", "address", "pid", "role", "health", "detail"):
        table.add_column(column)
    for part in status.parts:
        health = "[green]healthy[/]" if part.healthy else "[red]down[/]"
        where = f"{part.address}:{part.port}" if part.port else part.address  # the backup server listens on none
        table.add_row(part.name, part.region, where,
                      str(part.pid or "-"), part.role or "", health, part.detail)
    out.print(table)
    timings = ", ".join(f"{key} {value}s" for key, value in status.patroni.items())
    out.print(f"Patroni timings: {timings}")


def _print_backup_status(status) -> None:
    table = Table(title=f"backups of {status.server}", title_justify="left")
    for column in ("id", "kind", "status", "end (UTC)", "size", "parent"):
        table.add_column(column)
    for info in status.backups:
        size = f"{info.size_bytes / 2**20:.1f} MiB" if info.size_bytes is not None else "-"
        table.add_row(info.id, info.kind, info.status, info.end_utc or "-", size, info.parent or "")
    out.print(table)
    out.print(f"newest restorable point: {status.newest_restorable_utc or 'none'} "
              f"({status.newest_restorable_source}); {status.wal_files} WAL files archived"
              + (f", gaps: {'; '.join(status.wal_gaps)}" if status.wal_gaps else ", no gap"))
    for name, value in status.check.items():
        out.print(f"  barman check {name}: {'OK' if value is True else value}", markup=False, highlight=False)
    if status.policy is not None:
        out.print(f"policy {status.policy.policy_file}, quick rules (time scale {status.policy.time_scale:g}): "
                  f"{'held' if status.policy.held else 'NOT HELD'}")
        for item in status.policy.items:
            out.print(f"  {'✓' if item.ok else '✗'} {item.name}: {item.observed}"
                      + (f" — {item.reason}" if item.reason else ""), markup=False, highlight=False)


def main() -> None:
    """Every command ends with 0 pass, 1 objective breached, 2 invalid input, or 3 aborted: an
    interrupt (Ctrl-C, SIGTERM) and any crash included."""
    previous = signal.signal(signal.SIGTERM, _interrupt)  # chaoslib installs its own during a run
    try:
        code = app(standalone_mode=False)
    except DrillkitError as exc:
        err.print(f"[bold red]error:[/] {escape(redaction.redact(str(exc)))}", highlight=False, soft_wrap=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        code = _interrupted()
    except Exception as exc:  # noqa: BLE001 - a crash is an abort, never "objective breached"
        code = _usage_error(exc) or _crashed(exc)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code == TYPER_INTERRUPTED:  # typer turns a KeyboardInterrupt inside a command into Exit(130)
        code = _interrupted()
    raise SystemExit(code if isinstance(code, int) else 0)


TYPER_INTERRUPTED = 130


def _usage_error(exc: Exception) -> int | None:
    """A bad flag or argument (click's UsageError, exit 2, as typer vendors it): click's own message.
    Click's Abort (end of input at a prompt) is an interrupt."""
    kinds = {cls.__name__ for cls in type(exc).__mro__}
    if "Abort" in kinds:
        return _interrupted()
    if "ClickException" in kinds:
        error = cast(_ClickException, exc)
        error.show()
        return error.exit_code
    return None


class _ClickException(Protocol):
    """What a click exception offers, whichever copy of click typer brings."""

    exit_code: int

    def show(self) -> None: ...


def _crashed(exc: Exception) -> int:
    err.print(f"[bold red]error:[/] drillkit crashed: {escape(redaction.redact(_one_line(exc)))} "
              f"({_keep_traceback(exc)})",
              highlight=False, soft_wrap=True)
    return EXIT_ABORTED


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM behaves as Ctrl-C: whatever runs unwinds through its rollbacks."""
    raise KeyboardInterrupt


def _interrupted() -> int:
    err.print("interrupted: rollbacks of anything running were played", highlight=False)
    return EXIT_ABORTED


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _keep_traceback(exc: BaseException) -> str:
    """Put the traceback where it can be read later: stderr with DRILLKIT_DEBUG=1, else the run's
    log file when one is open, else a file of its own in the temporary directory."""
    trace = redaction.redact("".join(traceback.format_exception(exc)))
    if os.environ.get("DRILLKIT_DEBUG") == "1":
        sys.stderr.write(trace)
        return "traceback above"
    logs = [h for h in logging.getLogger("drillkit").handlers if isinstance(h, logging.FileHandler)]
    if logs:
        logging.getLogger("drillkit").error("drillkit crashed:\n%s", trace)
        return f"traceback in {logs[0].baseFilename}"
    descriptor, path = tempfile.mkstemp(prefix="drillkit-crash-", suffix=".log")
    with os.fdopen(descriptor, "w") as handle:
        handle.write(trace)
    return f"traceback in {path}; DRILLKIT_DEBUG=1 prints it"


if __name__ == "__main__":
    main()

"""The sandbox's settings: addresses, ports, Patroni timings and the state dir.

The settings a sandbox was brought up with are saved in its state dir, so that `status` and `down`
find the same ports later without being told again.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drillkit.model.files import read_mapping, validate_mapping

DEFAULT_STATE_DIR = Path(".drillkit/sandbox")
SAVED_CONFIG = "sandbox.json"
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ports(_Strict):
    """TCP ports. Each region has an address of its own, so regions share port numbers."""

    etcd_client: int = Field(2379, ge=1, le=65535)
    etcd_peer: int = Field(2380, ge=1, le=65535)
    postgres: int = Field(5432, ge=1, le=65535)
    patroni_api: int = Field(8008, ge=1, le=65535)
    app: int = Field(8000, ge=1, le=65535)
    lb: int = Field(8080, ge=1, le=65535)
    lb_admin: int = Field(2019, ge=1, le=65535)


class PatroniTimings(_Strict):
    """Failover timings: short enough for a quick drill, long enough to be honest."""

    ttl: int = Field(20, ge=10, description="leader lock lifetime, seconds")
    loop_wait: int = Field(1, ge=1, description="seconds between HA loop runs")
    retry_timeout: int = Field(5, ge=1, description="DCS and PostgreSQL operation retry, seconds")
    maximum_lag_on_failover: int = Field(1_048_576, ge=0, description="bytes")

    @model_validator(mode="after")
    def _patroni_rule(self) -> PatroniTimings:
        # Patroni's own constraint; it silently rewrites values that break it.
        if self.loop_wait + 2 * self.retry_timeout > self.ttl:
            raise ValueError("loop_wait + 2 * retry_timeout must not exceed ttl")
        return self


class LoadBalancerChecks(_Strict):
    """Caddy's active and passive health checks."""

    interval_ms: int = Field(500, ge=100, le=1000)
    timeout_ms: int = Field(800, ge=100)
    fail_duration_s: int = Field(3, ge=1, description="passive: how long a failure is remembered")
    max_fails: int = Field(1, ge=1, description="passive: failures within fail_duration that take an upstream out")


class SandboxBackups(_Strict):
    """The sandbox's backup server (Barman on the witness address), when `sandbox up --with-backups`
    asked for it. Its policy is in the platform's real units, run TIME_SCALE times faster."""

    policy: Path = Field(Path("drills/backup-policy.yaml"), description="the backup policy file")
    time_scale: float = Field(60.0, gt=0, description="policy seconds per real second")
    cron_interval_s: float = Field(5.0, gt=0, le=60, description="seconds between two `barman cron` runs (each "
                                   "costs about 0.2 s of CPU: the drill's probers need the cores)")
    barman: Path = Field(Path(".venv/barman/bin/barman"), description="the barman executable (make barman)")
    server: str = Field("feedhub", pattern=r"^[a-z0-9][a-z0-9_-]*$", description="the database's name in barman")
    heartbeat_stale_s: float = Field(30.0, gt=0, description="the backup server counts as down when its loop "
                                     "has not beaten for this long (a backup in progress beats too)")


class SandboxConfig(_Strict):
    state_dir: Path = DEFAULT_STATE_DIR
    regions: dict[str, str] = Field(
        default_factory=lambda: {"region-a": "127.0.10.1", "region-b": "127.0.20.1"}
    )
    witness: str = "127.0.30.1"
    lb_address: str = "127.0.0.1"
    ports: Ports = Ports()
    patroni: PatroniTimings = PatroniTimings()
    lb_checks: LoadBalancerChecks = LoadBalancerChecks()
    scope: str = Field("feedhub", pattern=r"^[a-z][a-z0-9-]*$", description="Patroni cluster name")
    service_user: str = Field(
        "drillkit", pattern=r"^[a-z_][a-z0-9_-]{0,20}$",
        description="prefix of the unprivileged users (drillkit-pg-a …) that run the database "
        "members and apps when drillkit runs as root",
    )
    backups: SandboxBackups | None = Field(None, description="the backup server; none unless asked for")

    @field_validator("witness", "lb_address")
    @classmethod
    def _loopback_only(cls, address: str) -> str:
        return _require_loopback(address)

    @field_validator("regions")
    @classmethod
    def _two_loopback_regions(cls, regions: dict[str, str]) -> dict[str, str]:
        if len(regions) != 2:
            raise ValueError("the sandbox has exactly two regions")
        if len(set(regions.values())) != 2:
            raise ValueError("each region needs an address of its own")
        return {name: _require_loopback(address) for name, address in regions.items()}

    def with_backups(self, **settings: Any) -> SandboxConfig:
        """These settings with a backup server (the defaults, or SETTINGS of SandboxBackups), its files
        found from here and now: the saved settings must name the same files whatever folder a later
        command runs in. A sandbox that has one keeps it."""
        if self.backups is not None:
            return self
        chosen = SandboxBackups(**settings)
        backups = chosen.model_copy(update={"policy": chosen.policy.absolute(), "barman": chosen.barman.absolute()})
        return self.model_copy(update={"backups": backups})

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / SAVED_CONFIG).write_text(self.model_dump_json(indent=2))


def _require_loopback(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError as exc:
        raise ValueError(f"{address!r} is not an IP address") from exc
    if ip not in LOOPBACK:
        raise ValueError(f"{address} is outside 127.0.0.0/8: the sandbox lives on loopback only")
    return address


def load_config(state_dir: Path | None = None, config_file: Path | None = None) -> SandboxConfig:
    """The settings from CONFIG_FILE, else those saved in the state dir, else the defaults."""
    state_dir = state_dir or DEFAULT_STATE_DIR
    saved = state_dir / SAVED_CONFIG
    source = config_file or (saved if saved.exists() else None)
    if source is None:
        return SandboxConfig(state_dir=state_dir)
    data = read_mapping(source)
    data.setdefault("state_dir", str(state_dir))
    return validate_mapping(SandboxConfig, data, source)


"""A target binds the logical parts that experiments name (a region, the database, the app tier,
the load balancer) to one real environment, and says which driver controls them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from drillkit.errors import InvalidInput
from drillkit.model.files import describe_errors, read_mapping, validate_mapping
from drillkit.model.sandbox import DEFAULT_STATE_DIR
from drillkit.model.secrets import PlainUrl, SecretRef


class NotInTarget(InvalidInput, KeyError):
    """A region, component or database member the target does not have (a KeyError too, for lookups)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProcessDriver(_Strict):
    """Local processes of the embedded sandbox, found through its state dir."""

    type: Literal["process"]
    state_dir: Path = Field(DEFAULT_STATE_DIR, description="the sandbox's state dir")


class DockerDriver(_Strict):
    """Containers on a Docker engine. Components name Compose services of `compose_project` (found by
    the labels com.docker.compose.project and com.docker.compose.service), or containers by name when no
    project is given."""

    type: Literal["docker"]
    base_url: str | None = Field(None, description="the Docker engine's URL (unix:///run/docker.sock, "
                                 "tcp://…); DOCKER_HOST when unset")
    compose_project: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]*$", description="the Compose "
                                        "project whose services the components name; unset: container names")
    witness: list[str] = Field(default_factory=list, description="components outside every region that a "
                               "region cut separates from it too (the DCS: etcd)")
    superuser: str = Field("database_superuser", description="the name, in the target's `secrets`, of a libpq "
                           "DSN without host and port (user, password, dbname) of a database superuser; the "
                           "driver adds each member's host and port from Patroni")


_LABEL_SELECTOR = r"^[A-Za-z0-9._/-]+(=|==|!=)[A-Za-z0-9._-]*(,[A-Za-z0-9._/-]+(=|==|!=)[A-Za-z0-9._-]*)*$"
_NAMESPACE = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


class KubePods(_Strict):
    """Pods found by a label selector in one namespace."""

    namespace: str = Field(pattern=_NAMESPACE)
    selector: str = Field(pattern=_LABEL_SELECTOR, description="an equality-based label selector, "
                          "app=feedhub,region=a")


class KubeComponent(KubePods):
    """A component's pods, and the workload that runs them: what kill, stop and pause scale to zero."""

    workload: str = Field(pattern=r"^(deployment|statefulset)/[a-z0-9]([a-z0-9.-]*[a-z0-9])?$",
                          description="deployment/NAME or statefulset/NAME, in the same namespace")


class KubernetesDriver(_Strict):
    """Pods on a Kubernetes cluster. Each component the regions name is bound to its pods (a label
    selector in a namespace) and the workload that runs them; each region to the pods a region cut
    isolates with a NetworkPolicy."""

    type: Literal["kubernetes"]
    context: str | None = Field(None, description="the kubeconfig context; unset: the in-cluster service "
                                "account when there is one, else the kubeconfig's current context")
    kubeconfig: Path | None = Field(None, description="the kubeconfig file; unset: KUBECONFIG or ~/.kube/config")
    components: dict[str, KubeComponent] = Field(description="every component the regions name (and the "
                                                 "witness), by name")
    regions: dict[str, KubePods] = Field(description="every region's pods, by region name")
    witness: list[str] = Field(default_factory=list, description="components outside every region (the DCS)")
    superuser: str = Field("database_superuser", description="the name, in the target's `secrets`, of a libpq "
                           "DSN without host and port of a database superuser; the driver adds each member's "
                           "host and port from Patroni")
    request_timeout_s: float = Field(10.0, gt=0, le=120, description="each API request's limit")
    settle_timeout_s: float = Field(180.0, gt=0, le=1800, description="how long a fault or heal waits for "
                                    "pods to go or to be ready")

    @model_validator(mode="after")
    def _witness_bound(self) -> KubernetesDriver:
        unbound = [name for name in self.witness if name not in self.components]
        if unbound:
            raise ValueError(f"witness {', '.join(unbound)} is not among driver.components")
        return self


Driver = Annotated[ProcessDriver | DockerDriver | KubernetesDriver, Field(discriminator="type")]


class AppComponent(_Strict):
    component: str = Field(description="the driver's name for it (sandbox part, container, selector)")
    url: PlainUrl = Field(description="the app reached directly, bypassing the load balancer")


class DatabaseMember(_Strict):
    component: str
    patroni_api: PlainUrl = Field(description="Patroni's REST API of this member")


class Region(_Strict):
    address: str = Field(description="the region's network address (partitions drop its packets)")
    app: AppComponent
    database: DatabaseMember


class PrometheusSettings(_Strict):
    """The Prometheus that `prometheus` stop conditions query (its HTTP API, /api/v1/query)."""

    url: PlainUrl
    token: SecretRef | None = Field(None, description="a bearer token")
    username: str | None = Field(None, description="for basic authentication, with `password`")
    password: SecretRef | None = None


class MetricsOut(_Strict):
    """Where a drill's results go as OpenMetrics, besides its report."""

    textfile: Path | None = Field(None, description="a .prom file for node_exporter's textfile collector")
    pushgateway: PlainUrl | None = Field(None, description="a Prometheus Pushgateway to push them to")

    @field_validator("textfile")
    @classmethod
    def _read_by_the_collector(cls, path: Path | None) -> Path | None:
        if path is not None and path.suffix != ".prom":
            raise ValueError("node_exporter's textfile collector reads only files named *.prom")
        return path


class Notify(_Strict):
    """A webhook told when a run starts, aborts and ends (a Slack or Teams incoming webhook)."""

    webhook: SecretRef = Field(description="the webhook's URL, which carries its own credential")


class BackupSettings(_Strict):
    """The backup server (Barman) that backs up the target's database, and where restore drills may run
    the copies they restore."""

    policy: Path = Field(Path("drills/backup-policy.yaml"), description="the backup policy file")
    time_scale: float = Field(1.0, gt=0, description="policy seconds per real second: 60 runs a policy hour "
                              "in one real minute (a sandbox); 1 for a real staging")
    barman: Path = Field(description="the barman executable")
    barman_config: Path = Field(description="barman's configuration file (barman -c)")
    server: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="the database's name in barman")
    run_as: str | None = Field(None, description="the system user barman runs as (root runs it through su)")
    database: SecretRef = Field(description="a libpq DSN, naming every member (target_session_attrs=read-write), "
                                "of a role that may write the ledger table")
    restore_address: str = Field("127.0.30.1", description="where a restored copy listens: a host outside "
                                 "the database's regions")
    restore_port: int = Field(5440, ge=1, le=65535)


class ProbePaths(_Strict):
    """What the probers ask of the app, relative to each endpoint: a team points them at its own app.
    The read-back path holds `{id}`, replaced by the `id` field of the write's JSON answer."""

    read: str = Field("/api/feed?limit=5", pattern=r"^/", description="a read a user makes")
    live: str = Field("/livez", pattern=r"^/", description="liveness only (no database)")
    write: str | None = Field("/api/items", pattern=r"^/", description="a write a user makes (POST, 201 "
                              "with an `id`); unset: the probers only read")
    write_body: dict[str, str] = Field(default_factory=lambda: {"tenant": "drillkit-probe", "title": "probe"})
    read_back: str = Field("/api/items/{id}", pattern=r"^/.*\{id\}", description="the write read back")
    headers: dict[str, str] = Field(default_factory=dict, description="sent with every probe and HTTP "
                                    "ledger request (never a credential: use `token`)")
    token: SecretRef | None = Field(None, description="sent as `Authorization: Bearer …`")


class Ledger(_Strict):
    """Where the RPO's sequenced writes go: through the app's ledger endpoint (`http`), or straight into
    the database (`dsn`), into a table `drillkit_ledger` that drillkit creates and drops."""

    mode: Literal["http", "dsn"] = "http"
    path: str = Field("/api/ledger", pattern=r"^/", description="http: POST {writer, seq} here through the "
                      "global endpoint; GET PATH/WRITER answers {seqs: […]}")
    dsn: SecretRef | None = Field(None, description="dsn: a libpq DSN naming every member "
                                  "(target_session_attrs=read-write) of a role that may create a table")

    @model_validator(mode="after")
    def _dsn_named(self) -> Ledger:
        if self.mode == "dsn" and self.dsn is None:
            raise ValueError("mode dsn needs `dsn`: the secret that holds the database's DSN")
        return self


class Target(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    kind: Literal["sandbox", "staging", "production"]
    driver: Driver
    endpoint: PlainUrl = Field(description="the global, user-facing endpoint (the load balancer)")
    regions: dict[str, Region] = Field(min_length=2)
    state_dir: Path | None = Field(
        None, description="where the fault log lives; the process driver's state dir by default"
    )
    allowed_faults: list[str] = Field(
        default_factory=list, description="the fault actions (activity names) a production target allows; "
        "a production run refuses every other")
    prometheus: PrometheusSettings | None = None
    metrics: MetricsOut | None = None
    notify: Notify | None = None
    backups: BackupSettings | None = None
    probes: ProbePaths = Field(default_factory=ProbePaths)
    ledger: Ledger = Field(default_factory=Ledger)
    secrets: dict[str, SecretRef] = Field(
        default_factory=dict, description="named secrets the activities use (app_admin_token, …), each "
        "from the environment or a file")
    _source: Path | None = PrivateAttr(None)  # the file it was read from, for errors that name it

    @field_validator("regions")
    @classmethod
    def _distinct_components(cls, regions: dict[str, Region]) -> dict[str, Region]:
        names = [r.app.component for r in regions.values()] + [r.database.component for r in regions.values()]
        if len(names) != len(set(names)):
            raise ValueError("each component belongs to one region only")
        return regions

    @property
    def fault_log(self) -> Path:
        if self.state_dir is not None:
            return self.state_dir / "faults.jsonl"
        if isinstance(self.driver, ProcessDriver):
            return self.driver.state_dir / "faults.jsonl"
        return Path(".drillkit") / "targets" / self.name / "faults.jsonl"

    def region(self, name: str) -> Region:
        if name not in self.regions:
            raise self._lacks("region", name, self.regions)
        return self.regions[name]

    def component(self, name: str) -> str:
        """NAME, when a region's app or database member is that component."""
        if name not in self.components().values():
            raise self._lacks("component", name, sorted(self.components().values()))
        return name

    def components(self) -> dict[str, str]:
        """Every component the target names, by its field path (regions.region-a.app.component)."""
        return {
            f"regions.{name}.{role}.component": getattr(region, role).component
            for name, region in self.regions.items() for role in ("app", "database")
        }

    def members(self) -> dict[str, DatabaseMember]:
        return {region.database.component: region.database for region in self.regions.values()}

    def patroni_apis(self) -> list[str]:
        """Every member's Patroni REST API, to ask whichever answers."""
        return [str(member.patroni_api) for member in self.members().values()]

    def member(self, name: str) -> DatabaseMember:
        members = self.members()
        if name not in members:
            raise self._lacks("database member", name, members)
        return members[name]

    def patroni_api(self, member: str) -> str:
        return str(self.member(member).patroni_api)

    def secret_refs(self, backups: bool = False) -> dict[str, SecretRef]:
        """Every secret the target names, by its field path (secrets.app_admin_token, prometheus.token …);
        the backup server's database DSN only with BACKUPS (it exists once the backups run)."""
        refs = {f"secrets.{name}": ref for name, ref in self.secrets.items()}
        if self.prometheus is not None:
            refs |= {f"prometheus.{field}": ref for field, ref in
                     (("token", self.prometheus.token), ("password", self.prometheus.password)) if ref is not None}
        if self.notify is not None:
            refs["notify.webhook"] = self.notify.webhook
        if self.probes.token is not None:
            refs["probes.token"] = self.probes.token
        if self.ledger.dsn is not None:
            refs["ledger.dsn"] = self.ledger.dsn
        if backups and self.backups is not None:
            refs["backups.database"] = self.backups.database
        return refs

    def _lacks(self, kind: str, name: str, known: Iterable[str]) -> NotInTarget:
        source = f" ({self._source})" if self._source is not None else ""
        return NotInTarget(f"target {self.name!r}{source} has no {kind} {name!r} (it has: {', '.join(known)})")


def load_target(path: Path) -> Target:
    return _read_from(validate_mapping(Target, read_mapping(path), path), path)


def target_from_json(spec: str, path: Path) -> Target:
    """A target validated once already, handed over as JSON: no file is read, yet errors name PATH (and,
    as for a file, never quote the input: pydantic's own message would repeat every value in it)."""
    try:
        return _read_from(Target.model_validate_json(spec), path)
    except ValidationError as exc:
        raise InvalidInput(describe_errors(path, exc)) from None


def _read_from(target: Target, path: Path) -> Target:
    target._source = path
    return target

"""The Docker staging's parts and addresses; deploy/docker/compose.yaml says the same (a test holds them
together).

    region-a 10.230.1.0/24: app-a .10, pg-a .20
    region-b 10.230.2.0/24: app-b .10, pg-b .20
    wan      10.230.0.0/24: etcd .5, lb .80, app-a .11, app-b .12, pg-a .21, pg-b .22

The host is each network's gateway (.1) and reaches every container directly. Traffic between regions
goes over the wan; a member's connect address (what Patroni advertises, replicas stream from and the
other region's app dials) is its wan address.
"""

from __future__ import annotations

from dataclasses import dataclass

PROJECT = "feedhub-staging"
SUBNETS = {"wan": "10.230.0.0/24", "region-a": "10.230.1.0/24", "region-b": "10.230.2.0/24"}
STAGING_NET = "10.230.0.0/16"  # every network of the staging, gateways included (pg_hba)
BRIDGE_PREFIX = "dkstg-"       # the host's bridge of network N is dkstg-N
ETCD = "10.230.0.5"
LB = "10.230.0.80"
ETCD_PORT = 2379
POSTGRES_PORT = 5432
PATRONI_PORT = 8008
APP_PORT = 8000
LB_PORT = 8080


@dataclass(frozen=True)
class RegionParts:
    region: str
    member: str
    member_local: str  # the member's address in its region
    member_wan: str
    app: str
    app_local: str
    app_wan: str


REGIONS = (
    RegionParts("region-a", "pg-a", "10.230.1.20", "10.230.0.21", "app-a", "10.230.1.10", "10.230.0.11"),
    RegionParts("region-b", "pg-b", "10.230.2.20", "10.230.0.22", "app-b", "10.230.2.10", "10.230.0.12"),
)


def endpoint() -> str:
    return f"http://{LB}:{LB_PORT}"


def patroni_apis() -> list[str]:
    return [f"http://{region.member_wan}:{PATRONI_PORT}" for region in REGIONS]


def app_urls() -> dict[str, str]:
    return {region.app: f"http://{region.app_wan}:{APP_PORT}" for region in REGIONS}


def member_hosts(first_region: str | None = None) -> list[str]:
    """Every member's address as seen from FIRST_REGION's app: its own member first, at its region address;
    the others at their wan address. From outside every region (the host): every wan address."""
    ordered = sorted(REGIONS, key=lambda region: region.region != first_region)
    return [region.member_local if region.region == first_region else region.member_wan for region in ordered]

"""What a driver must do for the fault library. Components are named as the target names them."""

from __future__ import annotations

from typing import Protocol


class Driver(Protocol):
    def kill(self, component: str, *, graceful: bool) -> None:
        """Take the component down (a database member: Patroni and PostgreSQL); return once it is gone."""

    def kill_postgres(self, member: str) -> None:
        """SIGKILL the member's postmaster only; its Patroni stays up."""

    def pause(self, component: str) -> None:
        """Freeze the component (SIGSTOP): it holds its connections and answers nothing."""

    def resume(self, component: str) -> None: ...

    def restore(self) -> None:
        """Start every component that does not run and wait until the environment is healthy."""

    def cut(self, tag: str, region: str, others: list[str]) -> None:
        """Drop every packet between REGION and the OTHERS regions (and the witness), both ways."""

    def cut_replication(self, tag: str, replica: str, primary: str) -> None:
        """Drop the replica's traffic to the primary's PostgreSQL port; nothing else."""

    def mend(self, tag: str) -> int:
        """Remove the network fault tagged TAG; returns how many rules went."""

    def superuser_dsn(self, member: str) -> str: ...

    def admin_token(self) -> str:
        """The token of the apps' fault-injection endpoint."""

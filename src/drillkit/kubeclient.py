"""A Kubernetes API client from a kubeconfig file and context, or from the pod's service account inside a
cluster; and which of the client's errors are timeouts. The kubernetes driver and `drillkit loadtest
--kubernetes` both connect this way."""

from __future__ import annotations

from pathlib import Path

import urllib3
from kubernetes import client, config

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


def in_cluster(kubeconfig: Path | None, context: str | None) -> bool:
    """Neither a kubeconfig nor a context given, and a service account's token mounted: a pod's."""
    return kubeconfig is None and context is None and SERVICE_ACCOUNT_TOKEN.exists()


def api_client(kubeconfig: Path | None, context: str | None) -> client.ApiClient:
    """A client of its own (the process-wide default configuration is left alone) that makes each request
    once: a caller's request timeout is then the whole wait. Raises the client's ConfigException, OSError or
    ValueError when no configuration is usable."""
    configuration = client.Configuration()
    if in_cluster(kubeconfig, context):
        config.load_incluster_config(client_configuration=configuration)
    else:
        config.load_kube_config(config_file=str(kubeconfig) if kubeconfig else None, context=context,
                                client_configuration=configuration)
    configuration.retries = False
    return client.ApiClient(configuration)


def describe(kubeconfig: Path | None, context: str | None) -> str:
    """Which credentials api_client() uses, in words."""
    if in_cluster(kubeconfig, context):
        return "the pod's service account"
    return f"context {context or '(current)'} of {kubeconfig or '$KUBECONFIG or ~/.kube/config'}"


def timed_out(exc: BaseException) -> bool:
    """Whether EXC (or what it wraps) is a request that took longer than its timeout."""
    reason = getattr(exc, "reason", None)  # MaxRetryError wraps the timeout
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return False  # refused or unreachable: a ConnectTimeoutError only by inheritance
    return isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError)) or (
        isinstance(reason, BaseException) and reason is not exc and timed_out(reason))

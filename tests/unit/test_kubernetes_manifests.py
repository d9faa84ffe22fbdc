"""The kustomizations under deploy/kubernetes render valid Kubernetes objects (each deserializes into the
client's model): the drill's quarterly CronJob keeping its reports, history and fault log on its volume, and
Locust as a master Job and a worker Job that end with the profile, carrying the repository's own files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from kubernetes.client import ApiClient

from drillkit.kustomize import render
from drillkit.model.objectives import load_objectives
from drillkit.model.target import load_target

ROOT = Path(__file__).resolve().parents[2]
DRILL = ROOT / "deploy" / "kubernetes" / "drill"
LOCUST = ROOT / "deploy" / "kubernetes" / "locust"
EXAMPLE_TARGET = ROOT / "drills" / "targets" / "kubernetes.example.yaml"
MODELS = {"Namespace": "V1Namespace", "ServiceAccount": "V1ServiceAccount", "PersistentVolumeClaim":
          "V1PersistentVolumeClaim", "CronJob": "V1CronJob", "ConfigMap": "V1ConfigMap", "Job": "V1Job",
          "Service": "V1Service", "Role": "V1Role", "RoleBinding": "V1RoleBinding"}
RBAC_KINDS = {"Role", "RoleBinding"}  # rbac.yaml: the driver's least-privilege grants, checked by its own test


def objects(directory: Path) -> dict[tuple[str, str], dict]:
    return {(obj["kind"], obj["metadata"]["name"]): obj for obj in render(directory)}


def pod_spec(obj: dict) -> dict:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def container(obj: dict, name: str) -> dict:
    (found,) = [c for c in pod_spec(obj)["containers"] if c["name"] == name]
    return found


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def mount_of(obj: dict, container_name: str, path: str) -> tuple[str, str | None]:
    """The volume (its PVC or ConfigMap) and subPath under which PATH lies in the container."""
    volumes = {v["name"]: v for v in pod_spec(obj)["volumes"]}
    mounts = sorted(container(obj, container_name)["volumeMounts"], key=lambda m: -len(m["mountPath"]))
    for mount in mounts:
        if path == mount["mountPath"] or path.startswith(mount["mountPath"].rstrip("/") + "/"):
            volume = volumes[mount["name"]]
            source = volume.get("persistentVolumeClaim", {}).get("claimName") or volume["configMap"]["name"]
            return source, mount.get("subPath")
    raise AssertionError(f"{path} is on no volume")


@pytest.mark.parametrize("obj", render(DRILL) + render(LOCUST), ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
def test_each_rendered_object_deserializes_into_its_kubernetes_model(obj):
    model = ApiClient().deserialize(json.dumps(obj), MODELS[obj["kind"]], "application/json")
    assert type(model).__name__ == MODELS[obj["kind"]]
    assert model.metadata.name == obj["metadata"]["name"]


# -- the drill -------------------------------------------------------------------------------------


def test_the_drill_renders_its_own_objects_in_drillkit_and_its_roles_in_each_region_namespace():
    rendered = render(DRILL)
    ours = {(o["kind"], o["metadata"]["name"]): o for o in rendered if o["kind"] not in RBAC_KINDS}
    assert set(ours) == {("Namespace", "drillkit"), ("ServiceAccount", "drillkit"),
                         ("PersistentVolumeClaim", "drillkit-data"), ("ConfigMap", "drillkit-target"),
                         ("CronJob", "drillkit-quarterly")}
    assert {o["metadata"].get("namespace") for key, o in ours.items() if key[0] != "Namespace"} == {"drillkit"}
    region_namespaces = {pods.namespace for pods in load_target(EXAMPLE_TARGET).driver.regions.values()}
    rbac = [(o["kind"], o["metadata"]["namespace"]) for o in rendered if o["kind"] in RBAC_KINDS]
    assert sorted(rbac) == sorted((kind, ns) for kind in ("Role", "RoleBinding") for ns in region_namespaces), \
        "a namespace set over the whole kustomization would move the Roles out of the namespaces they guard"
    subjects = {(s["name"], s["namespace"]) for o in rendered if o["kind"] == "RoleBinding" for s in o["subjects"]}
    assert subjects == {("drillkit", "drillkit")}


def test_the_cronjob_runs_the_quarterly_drill_once_a_quarter_alone_never_retried_as_drillkit():
    cronjob = objects(DRILL)[("CronJob", "drillkit-quarterly")]
    assert cronjob["spec"]["schedule"] == "0 6 1 1,4,7,10 *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert cronjob["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0
    assert pod_spec(cronjob)["serviceAccountName"] == "drillkit"
    command = container(cronjob, "drill")["command"]
    assert command[:3] == ["drillkit", "drill", "drills/quarterly.yaml"]
    assert flag(command, "--target") == "/etc/drillkit/target.yaml" and "--yes" in command


def test_a_hung_drill_is_stopped_with_time_left_for_its_rollbacks():
    cronjob = objects(DRILL)[("CronJob", "drillkit-quarterly")]
    assert cronjob["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 6 * 3600
    assert pod_spec(cronjob)["terminationGracePeriodSeconds"] >= 300, "SIGTERM plays the rollbacks: give them time"


def test_the_drill_reads_its_target_from_the_configmap_generated_from_the_example_target():
    rendered = objects(DRILL)
    cronjob = rendered[("CronJob", "drillkit-quarterly")]
    assert mount_of(cronjob, "drill", "/etc/drillkit/target.yaml") == ("drillkit-target", None)
    example = (ROOT / "drills" / "targets" / "kubernetes.example.yaml").read_text()
    assert rendered[("ConfigMap", "drillkit-target")]["data"]["target.yaml"] == example


def test_reports_history_and_the_fault_log_land_on_the_volume():
    cronjob = objects(DRILL)[("CronJob", "drillkit-quarterly")]
    drill = container(cronjob, "drill")
    workdir = Path(drill["workingDir"])
    history = workdir / flag(drill["command"], "--history")
    run_folders = workdir / "reports"  # the drill's default run folder: reports/<YYYY>-Q<n>-…/ (model/paths.py)
    target = yaml.safe_load((ROOT / "drills" / "targets" / "kubernetes.example.yaml").read_text())
    fault_log = Path(target["state_dir"]) / "faults.jsonl"
    assert mount_of(cronjob, "drill", str(history)) == ("drillkit-data", "reports")
    assert mount_of(cronjob, "drill", str(run_folders / "2027-Q1-x")) == ("drillkit-data", "reports")
    assert mount_of(cronjob, "drill", str(fault_log)) == ("drillkit-data", "state")


def test_the_drill_gets_each_secret_the_example_target_names_from_the_teams_secret():
    cronjob = objects(DRILL)[("CronJob", "drillkit-quarterly")]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container(cronjob, "drill")["env"]}
    target = yaml.safe_load((ROOT / "drills" / "targets" / "kubernetes.example.yaml").read_text())
    named = {target["ledger"]["dsn"]["env"], *(secret["env"] for secret in target["secrets"].values())}
    assert set(env) == named == {"FEEDHUB_LEDGER_DSN", "FEEDHUB_ADMIN_TOKEN", "FEEDHUB_PG_SUPERUSER"}
    assert {ref["name"] for ref in env.values()} == {"drillkit-secrets"}
    assert not [key for key in objects(DRILL) if key[0] == "Secret"], "the Secret is the team's, never shipped"


# -- Locust ----------------------------------------------------------------------------------------


def test_locust_is_a_master_job_a_worker_job_a_headless_service_a_volume_and_the_scripts():
    rendered = objects(LOCUST)
    assert set(rendered) == {("Job", "locust-master"), ("Job", "locust-worker"), ("Service", "locust-master"),
                             ("PersistentVolumeClaim", "locust-results"), ("ConfigMap", "locust-scripts")}
    service = rendered[("Service", "locust-master")]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= pod_and_labels(rendered[("Job", "locust-master")]).items()
    assert {p["port"] for p in service["spec"]["ports"]} == {5557}


def pod_and_labels(job: dict) -> dict:
    return job["spec"]["template"]["metadata"]["labels"]


def test_both_jobs_end_never_restart_and_run_no_profile_forever():
    for job in (objects(LOCUST)[("Job", name)] for name in ("locust-master", "locust-worker")):
        assert pod_spec(job)["restartPolicy"] == "Never"
        assert job["spec"]["activeDeadlineSeconds"] > 0
        for each in pod_spec(job)["containers"]:
            assert "--run-time" not in each["command"]  # the profile's stages end the run
    assert objects(LOCUST)[("Job", "locust-master")]["spec"]["backoffLimit"] == 0


def test_the_worker_count_matches_what_the_master_expects():
    rendered = objects(LOCUST)
    expected = int(flag(container(rendered[("Job", "locust-master")], "master")["command"], "--expect-workers"))
    worker = rendered[("Job", "locust-worker")]
    assert worker["spec"]["parallelism"] == worker["spec"]["completions"] == expected


def test_the_master_judges_with_drillkit_from_the_mounted_files_and_leaves_its_results_on_the_volume():
    master = objects(LOCUST)[("Job", "locust-master")]
    command = container(master, "master")["command"]
    assert command[:2] == ["drillkit", "loadtest"] and "--allow-remote" in command
    for path in (command[2], flag(command, "--locustfile"), flag(command, "--slo"),
                 flag(command, "--plugin-dir") + "/locust_plugin.py"):
        assert mount_of(master, "master", path)[0] == "locust-scripts", path
    assert mount_of(master, "master", flag(command, "--out") + "/loadtest.json") == ("locust-results", None)


def test_workers_run_locust_with_the_mounted_locustfile_shape_and_plugin():
    worker = container(objects(LOCUST)[("Job", "locust-worker")], "worker")
    files = flag(worker["command"], "-f").split(",")
    assert [Path(f).name for f in files] == ["locustfile.py", "locust_shape.py", "locust_plugin.py"]
    assert {str(Path(f).parent) for f in files} == {m["mountPath"] for m in worker["volumeMounts"]}
    assert flag(worker["command"], "--master-host") == "locust-master" and "--worker" in worker["command"]


def test_workers_count_fast_requests_at_the_objectives_latency_threshold():
    worker = container(objects(LOCUST)[("Job", "locust-worker")], "worker")
    env = {e["name"]: e["value"] for e in worker["env"]}
    threshold = load_objectives(ROOT / "probes" / "objectives.yaml").latency_threshold_ms
    assert float(env["DRILLKIT_LATENCY_THRESHOLD_MS"]) == threshold


@pytest.mark.parametrize("key, source", [
    ("locustfile.py", "loadtests/locustfile.py"),
    ("locust_plugin.py", "src/drillkit/loadtest/locust_plugin.py"),
    ("locust_shape.py", "src/drillkit/loadtest/locust_shape.py"),
    ("profile.yaml", "loadtests/profiles/steady.yaml"),
    ("objectives.yaml", "probes/objectives.yaml"),
])
def test_the_scripts_configmap_carries_the_repositorys_current_file(key, source):
    configmap = objects(LOCUST)[("ConfigMap", "locust-scripts")]
    assert configmap["data"][key] == (ROOT / source).read_text()


def test_every_container_runs_the_drillkit_image_as_the_kustomization_names_it():
    for directory in (DRILL, LOCUST):
        for obj in render(directory):
            if obj["kind"] in ("Job", "CronJob"):
                pod = pod_spec(obj)
                for each in pod["containers"] + pod.get("initContainers", []):
                    assert each["image"] == "drillkit:latest" and each["imagePullPolicy"] == "IfNotPresent"

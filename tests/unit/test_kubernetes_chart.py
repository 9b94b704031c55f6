"""The Helm chart in deploy/kubernetes/chart, rendered and checked without a cluster.

- Rendering: ``deploy/kubernetes/render.py``, Helm's own engine (helm-python-sdk), in a
  process of its own, with the default values (as installed and as upgraded), the
  managed-services example and a few variants; `helm lint --strict` and the chart's
  values.schema.json (bad values are refused); yamllint on the values, the example and
  every rendered manifest.
- Schemas: the core kinds against Kubernetes' JSON schemas, strictly (kubernetes-validate,
  for the oldest version the chart supports and the newest the package knows). The custom
  resources (KEDA's ScaledObject and TriggerAuthentication, the RabbitMQ operator's
  RabbitmqCluster, CloudNativePG's Cluster and Pooler) have no schema to be had from a
  package registry: no PyPI or npm package found ships their CRDs' openAPIV3 schemas
  (npm's @kubernetes-models/keda has KEDA's only as compiled validator code). So
  ``CRD_SCHEMAS`` below holds partial ones, written here from the operators' API
  references: the fields the CRDs require and, with their types, every field the chart
  sets; a field not listed there fails. They are not the operators' own schemas.
- What the code says: health routes, ports, queue names (shared.bus.queue_name), the
  configuration's names (shared.config.Settings), the shutdown's length
  (shared.service), the startup parameters the pools send (shared.db), the CLI's commands.

Each check is a function returning what it finds wrong, and each is also run on a
manifest broken on purpose (``test_every_check_can_fail``), so none passes for lack of
anything to look at.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import re
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from adpilot.cli import build_parser
from shared import db as shared_db
from shared import service as shared_service
from shared.bus import queue_name
from shared.config import Settings
from shared.contracts import SERVICES, topology

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
CHART = KUBE / "chart"
RENDER = KUBE / "render.py"
EXAMPLE = KUBE / "examples" / "managed-services.yaml"
YAMLLINT = YamlLintConfig(file=str(KUBE / ".yamllint.yaml"))

Doc = dict[str, Any]

# --- rendering ----------------------------------------------------------------------------


def _run_render(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RENDER), *args], capture_output=True, text=True, check=False
    )


# Name -> (values, values files, an upgrade?, release name). Each renders in namespace "ads".
RENDERINGS: dict[str, tuple[dict[str, Any], tuple[Path, ...], bool, str]] = {
    "default": ({}, (), False, "adpilot"),
    "default-upgrade": ({}, (), True, "adpilot"),
    "managed-services": ({}, (EXAMPLE,), False, "acme"),
    "without-pooler": ({"postgresql": {"pooler": {"enabled": False}}}, (), False, "adpilot"),
}


@cache
def rendered_text(rendering: str) -> str:
    values, files, upgrade, release = RENDERINGS[rendering]
    args = [f"--values={f}" for f in files]
    args += [f"--values-json={json.dumps(values)}", "--release", release, "--namespace", "ads"]
    if upgrade:
        args.append("--upgrade")
    done = _run_render(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


@cache
def _parsed(rendering: str) -> list[Doc]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [d for d in yaml.load_all(rendered_text(rendering), Loader=loader) if d]


def rendered(rendering: str) -> list[Doc]:
    """A fresh copy each time: tests may change what they get."""
    return copy.deepcopy(_parsed(rendering))


@pytest.fixture(params=sorted(RENDERINGS))
def rendering(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def docs(rendering: str) -> list[Doc]:
    return rendered(rendering)


# --- reading the manifests ------------------------------------------------------------------


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[Doc], kind: str, name: str) -> Doc | None:
    return next((d for d in of_kind(docs, kind) if d["metadata"]["name"] == name), None)


def component(doc: Doc) -> str:
    return str(doc["metadata"]["labels"]["app.kubernetes.io/component"])


def deployments(docs: list[Doc]) -> dict[str, Doc]:
    return {component(d): d for d in of_kind(docs, "Deployment")}


def containers(pod_spec: Doc, *, init: bool = True) -> list[Doc]:
    return [*(pod_spec.get("initContainers", []) if init else []), *pod_spec["containers"]]


def config_map(docs: list[Doc]) -> dict[str, str]:
    """The services' ConfigMap's data."""
    [cm] = [d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-config")]
    return dict(cm["data"])


def prestop_seconds(container: Doc) -> float:
    command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
    if not command or command[0] != "sleep":
        return 0.0
    return float(command[1])


# --- the checks -----------------------------------------------------------------------------

# Readiness and liveness as the services serve them (shared/service.py); the sandbox has
# /healthz alone.
READINESS = {"service": "/readyz", "sandbox": "/healthz"}
LIVENESS = "/healthz"


def settings_of(docs: list[Doc]) -> Settings:
    """The settings the services' ConfigMap gives them."""
    config = config_map(docs)
    return Settings(
        _env_file=None, **{k.removeprefix("ADPILOT_").lower(): v for k, v in config.items()}
    )


def probe_problems(docs: list[Doc]) -> list[str]:
    problems = []
    # /readyz waits up to the status timeout for each server; the probe must wait longer.
    patience = settings_of(docs).status_timeout_seconds
    for name, deployment in deployments(docs).items():
        kind = "sandbox" if name == "sandbox" else "service"
        for c in containers(deployment["spec"]["template"]["spec"], init=False):
            ports = {p.get("name") for p in c.get("ports", [])} | {
                p["containerPort"] for p in c.get("ports", [])
            }
            for probe, path in (("readinessProbe", READINESS[kind]), ("livenessProbe", LIVENESS)):
                get = c.get(probe, {}).get("httpGet")
                if not get:
                    problems.append(f"{name}/{c['name']}: no {probe} over HTTP")
                elif get["path"] != path or get["port"] not in ports:
                    problems.append(f"{name}/{c['name']}: {probe} is {get}, not {path} on its port")
            if (
                kind == "service"
                and c.get("readinessProbe", {}).get("timeoutSeconds", 1) <= patience
            ):
                problems.append(f"{name}: its readiness probe gives up before /readyz answers")
    return problems


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti)?$")
_SCALE = {None: 1.0, "m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(value: str | float) -> float:
    m = _QUANTITY.match(str(value))
    assert m, f"not a quantity: {value!r}"
    return float(m.group(1)) * _SCALE[m.group(2)]


def resource_problems(docs: list[Doc]) -> list[str]:
    problems = []
    for kind in ("Deployment", "Job"):
        for workload in of_kind(docs, kind):
            for c in containers(workload["spec"]["template"]["spec"]):
                where = f"{workload['metadata']['name']}/{c['name']}"
                res = c.get("resources", {})
                for bound in ("requests", "limits"):
                    for what in ("cpu", "memory"):
                        if what not in res.get(bound, {}):
                            problems.append(f"{where}: no {what} in {bound}")
                for what in ("cpu", "memory"):
                    asked, cap = res.get("requests", {}).get(what), res.get("limits", {}).get(what)
                    if asked is not None and cap is not None and quantity(asked) > quantity(cap):
                        problems.append(f"{where}: {what} requested above its limit")
    return problems


def pdb_problems(docs: list[Doc]) -> list[str]:
    problems = []
    budgets = of_kind(docs, "PodDisruptionBudget")
    for name, deployment in deployments(docs).items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [
            b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        if len(covering) != 1:
            problems.append(f"{name}: {len(covering)} PodDisruptionBudgets cover its pods")
            continue
        spec = covering[0]["spec"]
        # A budget that allows no eviction blocks every node drain.
        if "maxUnavailable" in spec:
            if str(spec["maxUnavailable"]) in ("0", "0%"):
                problems.append(f"{name}: its PodDisruptionBudget allows no eviction")
        elif spec.get("minAvailable", 0) >= deployment["spec"].get("replicas", 1):
            problems.append(f"{name}: its PodDisruptionBudget allows no eviction")
    return problems


def service_shutdown_seconds() -> float:
    """How long shared/service.py may take to stop: requests in hand, messages in hand,
    the outbox relay's task, its last flush, and the database pool."""
    s = shared_service
    return s.REQUEST_GRACE + s.MESSAGE_GRACE + s.JOB_GRACE + s.FLUSH_GRACE + s.JOB_GRACE


def sandbox_shutdown_seconds() -> float:
    """sandbox/runner.py stops its AppRunner with aiohttp's default shutdown timeout."""
    import inspect

    from aiohttp.web_runner import BaseRunner

    runner = (ROOT / "sandbox" / "runner.py").read_text(encoding="utf-8")
    assert "shutdown_timeout" not in runner, "the sandbox sets its own shutdown timeout now"
    return float(inspect.signature(BaseRunner.__init__).parameters["shutdown_timeout"].default)


# The grace period covers the preStop pause and the shutdown, with at most this to spare.
GRACE_SLACK = 2.0


def grace_problems(docs: list[Doc]) -> list[str]:
    problems = []
    for name, deployment in deployments(docs).items():
        pod = deployment["spec"]["template"]["spec"]
        needed = sandbox_shutdown_seconds() if name == "sandbox" else service_shutdown_seconds()
        pause = max(prestop_seconds(c) for c in pod["containers"])
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if not pause + needed <= grace <= pause + needed + GRACE_SLACK:
            problems.append(
                f"{name}: terminationGracePeriodSeconds {grace} does not match a {pause:g} s "
                f"preStop pause and {needed:g} s of shutdown"
            )
    return problems


def exchange_of(docs: list[Doc]) -> str:
    return config_map(docs)["ADPILOT_EXCHANGE"]


def keda_problems(docs: list[Doc]) -> list[str]:
    problems = []
    exchange = exchange_of(docs)
    declared = {queue_name(exchange, service) for service in topology()}
    auths = {d["metadata"]["name"] for d in of_kind(docs, "TriggerAuthentication")}
    for scaled in of_kind(docs, "ScaledObject"):
        spec = scaled["spec"]
        target = named(docs, "Deployment", spec["scaleTargetRef"]["name"])
        if target is None:
            problems.append(f"{scaled['metadata']['name']}: scales no Deployment of the chart")
            continue
        if "replicas" in target["spec"]:
            problems.append(f"{component(target)}: replicas set beside its ScaledObject")
        if not 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]:
            problems.append(f"{component(target)}: replicas not within 1..max")
        for trigger in spec["triggers"]:
            queue = trigger["metadata"].get("queueName")
            if trigger["type"] != "rabbitmq":
                problems.append(f"{component(target)}: a {trigger['type']} trigger")
            elif queue != queue_name(exchange, component(target)) or queue not in declared:
                problems.append(f"{component(target)}: queue {queue!r} is not its own queue")
            if trigger.get("authenticationRef", {}).get("name") not in auths:
                problems.append(f"{component(target)}: no TriggerAuthentication of the chart")
    return problems


def hpa_problems(docs: list[Doc]) -> list[str]:
    problems = []
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        target = named(docs, "Deployment", hpa["spec"]["scaleTargetRef"]["name"])
        if hpa["apiVersion"] != "autoscaling/v2" or target is None:
            problems.append(f"{hpa['metadata']['name']}: not autoscaling/v2 on a chart Deployment")
            continue
        if "replicas" in target["spec"]:
            problems.append(f"{component(target)}: replicas set beside its autoscaler")
        metrics = hpa["spec"].get("metrics", [])
        if [m.get("resource", {}).get("name") for m in metrics] != ["cpu"]:
            problems.append(f"{component(target)}: does not scale on CPU alone")
    return problems


def secret_settings() -> set[str]:
    """The environment variables of the settings that hold secrets, and the URLs that
    carry a login."""
    names = {
        f"ADPILOT_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
    }
    return names | {"ADPILOT_AMQP_URL", "ADPILOT_DATABASE_URL", "PGPASSWORD", "ADPILOT_API_KEY"}


# A URL's login made only of variables Kubernetes fills in: $(USER):$(PASSWORD).
_LOGIN = re.compile(r"\$\(([A-Z_][A-Z0-9_]*)\):\$\(([A-Z_][A-Z0-9_]*)\)")


def secret_problems(docs: list[Doc]) -> list[str]:
    """No Secret in the chart, no secret setting in a ConfigMap, and every secret a
    container gets comes by secretKeyRef (the broker's URL may be made of such parts)."""
    problems = [f"a Secret: {d['metadata']['name']}" for d in of_kind(docs, "Secret")]
    secret = secret_settings()
    for cm in of_kind(docs, "ConfigMap"):
        for key, value in cm.get("data", {}).items():
            has_login = bool(urlsplit(value).password) if "://" in value else False
            if (key in secret and key != "ADPILOT_DATABASE_URL") or has_login:
                problems.append(f"{cm['metadata']['name']}: {key} in a ConfigMap")
    for kind in ("Deployment", "Job"):
        for workload in of_kind(docs, kind):
            for c in containers(workload["spec"]["template"]["spec"]):
                from_secrets: set[str] = set()
                for env in c.get("env", []):
                    where = f"{workload['metadata']['name']}/{c['name']}: {env['name']}"
                    if "secretKeyRef" in env.get("valueFrom", {}):
                        from_secrets.add(env["name"])
                    elif "value" in env:
                        login = _LOGIN.fullmatch(urlsplit(env["value"]).netloc.rpartition("@")[0])
                        composed = login and set(login.groups()) <= from_secrets
                        if env["name"] in secret and not composed:
                            problems.append(f"{where} is written in the manifest")
                        elif env["name"].startswith("ADPILOT_") and env["name"] not in secret:
                            problems.append(f"{where} belongs in the ConfigMap")
                    elif env["name"] in secret:
                        problems.append(f"{where} comes from elsewhere than a Secret")
    return problems


def config_problems(docs: list[Doc]) -> list[str]:
    """Every key of the ConfigMaps is a setting of shared/config.py, with a value it takes."""
    problems = []
    fields = {f"ADPILOT_{name.upper()}": name for name in Settings.model_fields}
    for cm in of_kind(docs, "ConfigMap"):
        data = cm.get("data", {})
        unknown = sorted(set(data) - set(fields))
        if unknown:
            problems.append(f"{cm['metadata']['name']}: not settings: {unknown}")
            continue
        try:
            Settings(_env_file=None, **{fields[k]: v for k, v in data.items()})
        except ValueError as exc:
            problems.append(f"{cm['metadata']['name']}: {exc}")
    return problems


def wiring_problems(docs: list[Doc]) -> list[str]:
    """Each service runs `adpilot serve <itself>` on the port its configuration names,
    behind a Service of that port at the URL the others are given; the sandbox runs
    `adpilot sandbox` pointed at the gateway's Service."""
    problems = []
    settings = settings_of(docs)
    services = {component(s): s for s in of_kind(docs, "Service")}
    found = deployments(docs)
    for name in SERVICES:
        if name not in found:
            problems.append(f"{name}: no Deployment")
            continue
        [c] = found[name]["spec"]["template"]["spec"]["containers"]
        args = build_parser().parse_args(c["args"][1:])
        port = settings.port_of(name)
        if (args.command, args.service) != ("serve", name):
            problems.append(f"{name}: runs {c['args']}")
        if [p["containerPort"] for p in c["ports"]] != [port]:
            problems.append(f"{name}: listens on {port}, not on its container port")
        svc = services.get(name)
        if svc is None or [p["port"] for p in svc["spec"]["ports"]] != [port]:
            problems.append(f"{name}: no Service on port {port}")
        elif name != "gateway" and settings.url_of(name) != (
            f"http://{svc['metadata']['name']}:{port}"
        ):
            problems.append(f"{name}: the others reach it at {settings.url_of(name)}")
    if "sandbox" in found:
        [c] = found["sandbox"]["spec"]["template"]["spec"]["containers"]
        args = build_parser().parse_args(c["args"][1:])
        gateway = services["gateway"]
        wanted = f"http://{gateway['metadata']['name']}:{gateway['spec']['ports'][0]['port']}"
        if args.command != "sandbox" or args.gateway != wanted or args.host != "0.0.0.0":
            problems.append(f"sandbox: runs {c['args']}")
        if (
            settings.url_of("sandbox")
            != f"http://{services['sandbox']['metadata']['name']}:{args.port}"
        ):
            problems.append(f"sandbox: the optimizer looks for it at {settings.url_of('sandbox')}")
    return problems


def _is_hook(doc: Doc, phase: str) -> bool:
    hooks = doc["metadata"].get("annotations", {}).get("helm.sh/hook", "")
    return phase in hooks.split(",")


def migration_problems(docs: list[Doc], *, upgrade: bool) -> list[str]:
    """One Job runs `adpilot migrate` (a plain Job at install, a pre-upgrade hook at an
    upgrade), reading a ConfigMap made before it; every service waits for the
    migrations in an init container."""
    problems = []
    jobs = of_kind(docs, "Job")
    if len(jobs) != 1:
        return [f"{len(jobs)} Jobs"]
    [job] = jobs
    if upgrade != _is_hook(job, "pre-upgrade") or _is_hook(job, "post-install"):
        problems.append(f"{job['metadata']['name']}: hooks {job['metadata'].get('annotations')}")
    pod = job["spec"]["template"]["spec"]
    first = pod.get("initContainers", [{}])[0]
    if build_parser().parse_args(first.get("args", ["adpilot", "--help"])[1:]).command != "migrate":
        problems.append(f"{job['metadata']['name']}: does not run `adpilot migrate` first")
    for c in containers(pod):
        for source in c.get("envFrom", []):
            cm = named(docs, "ConfigMap", source["configMapRef"]["name"])
            if cm is None or not all(_is_hook(cm, p) for p in ("pre-install", "pre-upgrade")):
                problems.append(f"{c['name']}: its ConfigMap is not made before the Job")
    for name, deployment in deployments(docs).items():
        if name == "sandbox":
            continue
        init = deployment["spec"]["template"]["spec"].get("initContainers", [])
        if [c["name"] for c in init] != ["wait-for-database"] or init[0]["command"][-1] != name:
            problems.append(f"{name}: does not wait for the migrations")
    return problems


# --- the custom resources' schemas ----------------------------------------------------------

_STR = {"type": "string"}
_INT = {"type": "integer"}
_QTY = {"type": ["string", "integer"]}
_STRINGS = {"type": "object", "additionalProperties": _STR}
_RESOURCES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "requests": {"type": "object", "additionalProperties": _QTY},
        "limits": {"type": "object", "additionalProperties": _QTY},
    },
}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": _STR, "labels": _STRINGS, "annotations": _STRINGS},
}


def _resource(api_version: str, kind: str, spec: Doc) -> Doc:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
    }


# KEDA 2.x (keda.sh/v1alpha1), RabbitMQ Cluster Operator 2.x (rabbitmq.com/v1beta1),
# CloudNativePG 1.2x (postgresql.cnpg.io/v1): their API references, the fields the chart uses.
CRD_SCHEMAS: dict[str, Doc] = {
    "ScaledObject": _resource(
        "keda.sh/v1alpha1",
        "ScaledObject",
        {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {"apiVersion": _STR, "kind": _STR, "name": _STR},
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 0},
                "pollingInterval": _INT,
                "cooldownPeriod": _INT,
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "additionalProperties": False,
                        "properties": {
                            "type": _STR,
                            "metadata": _STRINGS,
                            "authenticationRef": {
                                "type": "object",
                                "required": ["name"],
                                "additionalProperties": False,
                                "properties": {"name": _STR, "kind": _STR},
                            },
                        },
                    },
                },
            },
        },
    ),
    "TriggerAuthentication": _resource(
        "keda.sh/v1alpha1",
        "TriggerAuthentication",
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "secretTargetRef": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["parameter", "name", "key"],
                        "additionalProperties": False,
                        "properties": {"parameter": _STR, "name": _STR, "key": _STR},
                    },
                }
            },
        },
    ),
    "RabbitmqCluster": _resource(
        "rabbitmq.com/v1beta1",
        "RabbitmqCluster",
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "replicas": {"type": "integer", "minimum": 0},
                "image": _STR,
                "persistence": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"storage": _QTY, "storageClassName": _STR},
                },
                "resources": _RESOURCES,
                "rabbitmq": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"additionalConfig": {"type": "string", "maxLength": 100000}},
                },
            },
        },
    ),
    "Cluster": _resource(
        "postgresql.cnpg.io/v1",
        "Cluster",
        {
            "type": "object",
            "required": ["instances"],
            "additionalProperties": False,
            "properties": {
                "instances": {"type": "integer", "minimum": 1},
                "imageName": _STR,
                "enableSuperuserAccess": {"type": "boolean"},
                "bootstrap": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "initdb": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"database": _STR, "owner": _STR},
                        }
                    },
                },
                "postgresql": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"parameters": _STRINGS},
                },
                "storage": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"size": _STR, "storageClass": _STR},
                },
                "resources": _RESOURCES,
            },
        },
    ),
    "Pooler": _resource(
        "postgresql.cnpg.io/v1",
        "Pooler",
        {
            "type": "object",
            "required": ["cluster", "pgbouncer"],
            "additionalProperties": False,
            "properties": {
                "cluster": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {"name": _STR},
                },
                "instances": {"type": "integer", "minimum": 0},
                "type": {"enum": ["rw", "ro", "r"]},
                "pgbouncer": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "poolMode": {"enum": ["session", "transaction"]},
                        "parameters": _STRINGS,
                    },
                },
                "template": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "metadata": {"type": "object"},
                        "spec": {
                            "type": "object",
                            "required": ["containers"],
                            "properties": {"containers": {"type": "array"}},
                        },
                    },
                },
            },
        },
    ),
}

# The oldest Kubernetes the chart supports (Chart.yaml) and the newest the package knows.
KUBERNETES_VERSIONS = ("1.27.0", kubernetes_validate.latest_version())


def schema_problems(docs: list[Doc]) -> list[str]:
    problems = []
    for doc in docs:
        where = f"{doc['kind']} {doc['metadata']['name']}"
        if doc["kind"] in CRD_SCHEMAS:
            errors = jsonschema.Draft7Validator(CRD_SCHEMAS[doc["kind"]]).iter_errors(doc)
            problems += [f"{where}: {e.json_path}: {e.message}" for e in errors]
            continue
        text = json.dumps(doc, sort_keys=True)
        problems += [f"{where} {p}" for v in KUBERNETES_VERSIONS for p in _core_problems(text, v)]
    return problems


@cache
def _core_problems(doc_json: str, version: str) -> tuple[str, ...]:
    """kubernetes-validate's verdict on one manifest, remembered: the same manifests come
    back in several tests, and each verdict reads the schemas' definitions anew."""
    doc = json.loads(doc_json)
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return (f"({version}): {exc.path}: {exc.message}",)
    except kubernetes_validate.SchemaNotFoundError:
        return (f"({version}): no schema for {doc['apiVersion']}",)
    return ()


def operator_problems(docs: list[Doc]) -> list[str]:
    """The names of the operators' objects and of the Secrets they make, as the chart
    refers to them: <cluster>-superuser and <cluster>-rw (CloudNativePG), the pooler's
    Service, <rabbitmqcluster>-default-user (RabbitMQ Cluster Operator)."""
    problems = []
    refs = {
        (ref["name"], ref["key"])
        for kind in ("Deployment", "Job")
        for w in of_kind(docs, kind)
        for c in containers(w["spec"]["template"]["spec"])
        for env in c.get("env", [])
        if (ref := env.get("valueFrom", {}).get("secretKeyRef"))
    } | {
        (ref["name"], ref["key"])
        for auth in of_kind(docs, "TriggerAuthentication")
        for ref in auth["spec"].get("secretTargetRef", [])
    }
    config = config_map(docs)
    for cluster in of_kind(docs, "Cluster"):
        name = cluster["metadata"]["name"]
        if not cluster["spec"].get("enableSuperuserAccess") or (
            (f"{name}-superuser", "password") not in refs
        ):
            problems.append(f"{name}: the migrations do not log in as its superuser")
        poolers = [p for p in of_kind(docs, "Pooler") if p["spec"]["cluster"]["name"] == name]
        host = urlsplit(config["ADPILOT_DATABASE_URL"]).hostname
        wanted = poolers[0]["metadata"]["name"] if poolers else f"{name}-rw"
        if host != wanted:
            problems.append(f"{name}: the services connect to {host}, not {wanted}")
        for pooler in poolers:
            if pooler["spec"]["pgbouncer"]["poolMode"] != "session":
                problems.append(f"{pooler['metadata']['name']}: not in session mode")
    for mq in of_kind(docs, "RabbitmqCluster"):
        name = mq["metadata"]["name"]
        for key in ("username", "password"):
            if (f"{name}-default-user", key) not in refs:
                problems.append(f"{name}: its default user's {key} is not read")
    if of_kind(docs, "Cluster") == [] and "ADPILOT_DATABASE_URL" in config:
        problems.append("an external database's URL in the ConfigMap")
    return problems


# --- tests: rendering, linting, schemas -----------------------------------------------------


def test_the_chart_lints_strictly() -> None:
    done = _run_render("--lint")
    assert done.returncode == 0, done.stderr
    done = _run_render("--lint", f"--values={EXAMPLE}")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("values", "refusal"),
    [
        ({"config": {"ADPILOT_INTERNAL_SECRET": "x" * 32}}, "ADPILOT_INTERNAL_SECRET"),
        ({"config": {"ADPILOT_AMQP_URL": "amqp://u:p@h/"}}, "ADPILOT_AMQP_URL"),
        ({"services": {"alerts": {"autoscaling": {"minReplicas": 0}}}}, "minReplicas"),
        ({"services": {"optimizer": {"autoscaling": {"maxReplicas": 0}}}}, "maxReplicas"),
        ({"services": {"gateway": {"autoscaling": {"maxReplicas": 1}}}}, "below minReplicas"),
        ({"services": {"gateway": {"replicas": "two"}}}, "replicas"),
        ({"services": {"billing": {"port": 8084}}}, "billing"),
        ({"postgresql": {"pooler": {"parameters": {"ignore_startup_parameters": ""}}}}, "ignore"),
        # null takes a default out, as `--set key=null` does.
        ({"services": {"decision": {"resources": {"limits": {"memory": None}}}}}, "memory"),
        ({"sandbox": {"enabled": False}}, "ADPILOT_CONNECTOR"),
    ],
)
def test_values_that_cannot_work_are_refused(values: dict[str, Any], refusal: str) -> None:
    done = _run_render(f"--values-json={json.dumps(values)}")
    assert done.returncode != 0 and refusal in done.stderr, done.stderr[-2000:]


def test_the_files_and_every_rendering_pass_yamllint() -> None:
    files = [CHART / "Chart.yaml", CHART / "values.yaml", EXAMPLE, KUBE / ".yamllint.yaml"]
    texts = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in files}
    texts |= {f"rendering {name}": rendered_text(name) for name in RENDERINGS}
    problems = [
        f"{name}:{p.line}:{p.column} {p.desc} ({p.rule})"
        for name, text in texts.items()
        for p in linter.run(text, YAMLLINT)
    ]
    assert not problems, "\n".join(problems)


def test_every_manifest_meets_its_schema(docs: list[Doc]) -> None:
    assert len(docs) >= 15
    assert not schema_problems(docs)


def test_the_renderings_hold_what_they_are_meant_to() -> None:
    kinds = {d["kind"] for d in rendered("default")}
    assert {"Cluster", "Pooler", "RabbitmqCluster", "ScaledObject"} <= kinds
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget", "Job", "ConfigMap"} <= kinds
    assert not {"Cluster", "Pooler", "RabbitmqCluster"} & {
        d["kind"] for d in rendered("managed-services")
    }
    assert "Pooler" not in {d["kind"] for d in rendered("without-pooler")}
    [mq] = of_kind(rendered("default"), "RabbitmqCluster")
    assert mq["spec"]["replicas"] == 3


# --- tests: what the code says ----------------------------------------------------------------


def test_every_deployment_has_probes_limits_and_a_disruption_budget(docs: list[Doc]) -> None:
    assert set(SERVICES) <= set(deployments(docs))
    assert not probe_problems(docs)
    assert not resource_problems(docs)
    assert not pdb_problems(docs)


def test_the_probes_name_routes_the_services_serve() -> None:
    from adpilot.registry import spec_of
    from sandbox.server import create_app as sandbox_app
    from shared.service import create_app

    settings = Settings(_env_file=None, internal_secret="x" * 32)
    for name in SERVICES:
        served = {r.canonical for r in create_app(spec_of(name), settings).router.resources()}
        assert {READINESS["service"], LIVENESS, "/metrics"} <= served, name
    served = {r.canonical for r in sandbox_app().router.resources()}
    assert {READINESS["sandbox"], LIVENESS} <= served


def test_grace_periods_match_the_shutdown(docs: list[Doc]) -> None:
    assert not grace_problems(docs)


def test_queue_triggers_name_the_queues_the_code_declares(docs: list[Doc]) -> None:
    assert not keda_problems(docs)
    assert not hpa_problems(docs)


def test_what_scales_on_what() -> None:
    def scaled(docs: list[Doc], kind: str) -> set[str]:
        return {
            component(named(docs, "Deployment", d["spec"]["scaleTargetRef"]["name"]) or d)
            for d in of_kind(docs, kind)
        }

    assert scaled(rendered("default"), "ScaledObject") == {"alerts", "optimizer"}
    assert scaled(rendered("default"), "HorizontalPodAutoscaler") == {"gateway"}
    # The example turns off the gateway's and the alerts' autoscaling and names its exchange.
    assert scaled(rendered("managed-services"), "ScaledObject") == {"optimizer"}
    assert not of_kind(rendered("managed-services"), "HorizontalPodAutoscaler")
    assert deployments(rendered("managed-services"))["alerts"]["spec"]["replicas"] == 2
    [trigger] = of_kind(rendered("managed-services"), "ScaledObject")[0]["spec"]["triggers"]
    assert trigger["metadata"]["queueName"] == queue_name("acme.events", "optimizer")


def test_secrets_come_from_secrets_only(docs: list[Doc]) -> None:
    assert not secret_problems(docs)


def test_the_config_maps_hold_settings_the_services_read(docs: list[Doc]) -> None:
    assert not config_problems(docs)
    assert not wiring_problems(docs)


def test_migrations_run_before_the_services(rendering: str, docs: list[Doc]) -> None:
    assert not migration_problems(docs, upgrade=RENDERINGS[rendering][2])


def test_the_operators_objects_are_referred_to_by_their_names(docs: list[Doc]) -> None:
    assert not operator_problems(docs)


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# What PgBouncer passes on from a client's startup packet (its own documentation).
PGBOUNCER_FORWARDS = {
    "application_name",
    "client_encoding",
    "DateStyle",
    "TimeZone",
    "standard_conforming_strings",
}


def test_the_pooler_drops_what_the_roles_then_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """What shared/db.py's pools send that PgBouncer cannot pass on is what the Pooler
    ignores and what files/role_defaults.py makes each role's default, value for value."""
    sent: dict[str, dict[str, str]] = {}

    async def fake_pool(dsn: str, **kwargs: Any) -> object:
        user = urlsplit(dsn).username or ""
        sent[user] = kwargs["server_settings"]
        return object()

    monkeypatch.setattr(shared_db.asyncpg, "create_pool", fake_pool)
    settings = Settings(_env_file=None, statement_timeout_ms=4321)
    import asyncio

    for service in SERVICES:
        asyncio.run(
            shared_db.create_pool(
                settings.database_url,
                service,
                statement_timeout_ms=settings.statement_timeout_ms,
            )
        )
    [pooler] = of_kind(rendered("default"), "Pooler")
    ignored = set(pooler["spec"]["pgbouncer"]["parameters"]["ignore_startup_parameters"].split(","))
    roles = _load(CHART / "files" / "role_defaults.py")
    for service in SERVICES:
        startup = sent[shared_db.service_role(service)]
        dropped = {k: v for k, v in startup.items() if k not in PGBOUNCER_FORWARDS}
        assert set(dropped) == ignored, service
        assert roles.role_settings(service, settings) == dropped, service
    statements = roles.statements(settings)
    assert len(statements) == len(SERVICES) * len(ignored)
    assert all(' IN DATABASE "adpilot" SET ' in s for s in statements)


def test_the_wait_for_the_database_says_what_it_waits_for() -> None:
    import asyncio

    wait = _load(CHART / "files" / "wait_for_database.py")
    # Nothing listens on port 9 here: the reason is the refusal, not an exception.
    reason = asyncio.run(wait.not_ready("postgresql://adpilot_gateway@127.0.0.1:9/x", "gateway"))
    assert reason and "Error" in reason


# --- tests: the image ---------------------------------------------------------------------------


def test_one_image_for_compose_and_the_chart_slim_and_not_root() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    stages = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert len(stages) >= 2 and stages[-1].endswith("-slim"), stages
    [user] = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and (not gid or gid.isdigit()), user
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert values["podSecurityContext"]["runAsUser"] == int(uid)
    assert values["podSecurityContext"]["runAsNonRoot"] is True
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    for name in SERVICES:
        assert compose["services"][name]["build"] == ".", name
        assert compose["services"][name]["image"].split(":")[0] == values["image"]["repository"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'version = "{chart["appVersion"]}"' in pyproject
    exposed = {int(p) for p in re.findall(r"^EXPOSE\s+(.+)$", text, re.MULTILINE)[0].split()}
    assert {values["services"][s]["port"] for s in SERVICES} | {values["sandbox"]["port"]} <= (
        exposed
    )


# --- every check can fail ---------------------------------------------------------------------


def _deployment(docs: list[Doc], name: str) -> Doc:
    return deployments(docs)[name]


def _container(docs: list[Doc], name: str) -> Doc:
    return _deployment(docs, name)["spec"]["template"]["spec"]["containers"][0]


def _drop_readiness(docs: list[Doc]) -> None:
    del _container(docs, "decision")["readinessProbe"]


def _liveness_elsewhere(docs: list[Doc]) -> None:
    _container(docs, "gateway")["livenessProbe"]["httpGet"]["path"] = "/readyz"


def _impatient_readiness(docs: list[Doc]) -> None:
    _container(docs, "alerts")["readinessProbe"]["timeoutSeconds"] = 1


def _drop_memory_limit(docs: list[Doc]) -> None:
    del _container(docs, "optimizer")["resources"]["limits"]["memory"]


def _request_above_limit(docs: list[Doc]) -> None:
    _container(docs, "alerts")["resources"]["requests"]["cpu"] = "4"


def _drop_a_budget(docs: list[Doc]) -> None:
    docs.remove(named(docs, "PodDisruptionBudget", _deployment(docs, "alerts")["metadata"]["name"]))


def _budget_blocks_drains(docs: list[Doc]) -> None:
    pdb = named(docs, "PodDisruptionBudget", _deployment(docs, "decision")["metadata"]["name"])
    pdb["spec"]["maxUnavailable"] = 0


def _short_grace(docs: list[Doc]) -> None:
    _deployment(docs, "optimizer")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 5


def _long_grace(docs: list[Doc]) -> None:
    _deployment(docs, "gateway")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 60


def _other_queue(docs: list[Doc]) -> None:
    [scaled] = [d for d in of_kind(docs, "ScaledObject") if component(d) == "alerts"]
    scaled["spec"]["triggers"][0]["metadata"]["queueName"] = queue_name(
        "adpilot.events", "decision"
    )


def _other_exchange(docs: list[Doc]) -> None:
    _config_map_doc(docs)["data"]["ADPILOT_EXCHANGE"] = "other.events"


def _config_map_doc(docs: list[Doc]) -> Doc:
    [cm] = [d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-config")]
    return cm


def _replicas_beside_keda(docs: list[Doc]) -> None:
    _deployment(docs, "optimizer")["spec"]["replicas"] = 2


def _hpa_on_memory(docs: list[Doc]) -> None:
    [hpa] = of_kind(docs, "HorizontalPodAutoscaler")
    hpa["spec"]["metrics"][0]["resource"]["name"] = "memory"


def _secret_in_a_config_map(docs: list[Doc]) -> None:
    _config_map_doc(docs)["data"]["ADPILOT_INTERNAL_SECRET"] = "x" * 32


def _literal_password(docs: list[Doc]) -> None:
    env = _container(docs, "decision")["env"]
    env.append({"name": "ADPILOT_SERVICE_DB_PASSWORD", "value": "hunter2"})


def _login_in_a_url(docs: list[Doc]) -> None:
    env = _container(docs, "alerts")["env"]
    [amqp] = [e for e in env if e["name"] == "ADPILOT_AMQP_URL"]
    amqp.clear()
    amqp.update({"name": "ADPILOT_AMQP_URL", "value": "amqp://adpilot:hunter2@mq:5672/"})


def _a_secret_object(docs: list[Doc]) -> None:
    docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {}})


def _typo_in_config(docs: list[Doc]) -> None:
    _config_map_doc(docs)["data"]["ADPILOT_PREFETCH"] = "32"


def _wrong_port(docs: list[Doc]) -> None:
    _container(docs, "alerts")["ports"][0]["containerPort"] = 9999


def _serves_another(docs: list[Doc]) -> None:
    _container(docs, "decision")["args"] = ["adpilot", "serve", "alerts"]


def _migrations_after_install(docs: list[Doc]) -> None:
    [job] = of_kind(docs, "Job")
    job["metadata"]["annotations"] = {"helm.sh/hook": "post-install"}


def _no_wait(docs: list[Doc]) -> None:
    del _deployment(docs, "gateway")["spec"]["template"]["spec"]["initContainers"]


def _bad_core_field(docs: list[Doc]) -> None:
    _deployment(docs, "decision")["spec"]["replicas"] = "two"


def _unknown_core_field(docs: list[Doc]) -> None:
    _container(docs, "decision")["readinessprobe"] = {}


def _crd_missing_required(docs: list[Doc]) -> None:
    [cluster] = of_kind(docs, "Cluster")
    del cluster["spec"]["instances"]


def _crd_misspelt(docs: list[Doc]) -> None:
    [mq] = of_kind(docs, "RabbitmqCluster")
    mq["spec"]["persistence"]["storageClass"] = "fast"


def _pooler_in_transaction_mode(docs: list[Doc]) -> None:
    [pooler] = of_kind(docs, "Pooler")
    pooler["spec"]["pgbouncer"]["poolMode"] = "transaction"


def _other_user_secret(docs: list[Doc]) -> None:
    [auth] = of_kind(docs, "TriggerAuthentication")
    auth["spec"]["secretTargetRef"][0]["name"] = "rabbitmq-admin"
    for d in of_kind(docs, "Deployment"):
        for c in containers(d["spec"]["template"]["spec"]):
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef", {})
                if ref.get("key") == "username" and ref["name"].endswith("-default-user"):
                    ref["name"] = "rabbitmq-admin"


BREAKAGES: list[tuple[Callable[[list[Doc]], None], Callable[[list[Doc]], list[str]]]] = [
    (_drop_readiness, probe_problems),
    (_liveness_elsewhere, probe_problems),
    (_impatient_readiness, probe_problems),
    (_drop_memory_limit, resource_problems),
    (_request_above_limit, resource_problems),
    (_drop_a_budget, pdb_problems),
    (_budget_blocks_drains, pdb_problems),
    (_short_grace, grace_problems),
    (_long_grace, grace_problems),
    (_other_queue, keda_problems),
    (_other_exchange, keda_problems),
    (_replicas_beside_keda, keda_problems),
    (_hpa_on_memory, hpa_problems),
    (_secret_in_a_config_map, secret_problems),
    (_literal_password, secret_problems),
    (_login_in_a_url, secret_problems),
    (_a_secret_object, secret_problems),
    (_typo_in_config, config_problems),
    (_wrong_port, wiring_problems),
    (_serves_another, wiring_problems),
    (_migrations_after_install, lambda docs: migration_problems(docs, upgrade=False)),
    (_no_wait, lambda docs: migration_problems(docs, upgrade=False)),
    (_bad_core_field, schema_problems),
    (_unknown_core_field, schema_problems),
    (_crd_missing_required, schema_problems),
    (_crd_misspelt, schema_problems),
    (_pooler_in_transaction_mode, operator_problems),
    (_other_user_secret, operator_problems),
]


@pytest.mark.parametrize(("breakage", "check"), BREAKAGES, ids=[b.__name__ for b, _ in BREAKAGES])
def test_every_check_can_fail(
    breakage: Callable[[list[Doc]], None], check: Callable[[list[Doc]], list[str]]
) -> None:
    docs = copy.deepcopy(rendered("default"))
    assert not check(docs), "the check fails on the chart as it is"
    breakage(docs)
    assert check(docs), f"{breakage.__name__} went unnoticed"


def test_the_shutdown_budget_is_what_the_services_promise() -> None:
    # shared/service.py: "Together they stay under the 10 s a supervisor ... gives".
    assert service_shutdown_seconds() < 10
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert values["shutdown"]["drainSeconds"] >= math.ceil(service_shutdown_seconds())

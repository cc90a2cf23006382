"""The deployment checks, as functions returning a list of problems, so tests can run them on broken copies."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import resources
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import yaml

from deploy.deploylib.kustomize import build
from deploy.deploylib.settings_env import PORTS, SERVICES, Setting, inventory

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.31.0"  # oldest Kubernetes the manifests must validate against (strict: unknown fields fail)
APIS = ("gateway", *SERVICES)


# ------------------------------------------------------------------------------------------------ compose

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class InterpolationError(ValueError):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `${VAR?err}` and `$$`."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3) or ""
        current = env.get(name)
        missing = current is None or (op is not None and op.startswith(":") and current == "")
        if op in (":-", "-"):
            return interpolate(arg, env) if missing else current
        if op in (":?", "?"):
            if missing:
                raise InterpolationError(f"required variable {name} is missing: {arg}")
            return current
        return current or ""

    parts = value.split("$$")
    return "$".join(_VAR.sub(sub, part) for part in parts)


def load_compose(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def compose_schema() -> dict[str, Any]:
    """The Compose Specification's JSON schema as vendored by check-jsonschema."""
    ref = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    return json.loads(ref.read_text())


def compose_schema_errors(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(compose_schema())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def compose_env(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return {item.split("=", 1)[0]: (item.split("=", 1)[1] if "=" in item else None) for item in env}
    return env


def compose_problems(doc: dict[str, Any]) -> list[str]:
    """Structure: images, commands, health checks, dependencies, published ports, volumes."""
    problems: list[str] = []
    services = doc.get("services", {})
    for required in ("postgres", "redis", "migrate", "gateway"):
        if required not in services:
            problems.append(f"service {required} missing")
    if not str(services.get("postgres", {}).get("image", "")).startswith("pgvector/pgvector:pg16"):
        problems.append("postgres must run the pgvector/pgvector:pg16 image")
    redis = services.get("redis", {})
    redis_cmd = " ".join(map(str, redis.get("command", [])))
    if not str(redis.get("image", "")).startswith("redis:7") or "--appendonly yes" not in redis_cmd:
        problems.append("redis must be Redis 7 with --appendonly yes")
    for name, svc in services.items():
        if svc.get("ports") and name != "gateway":
            problems.append(f"{name} publishes ports: only the gateway may")
        for vol in svc.get("volumes", []):
            source = str(vol).split(":", 1)[0]
            if not source.startswith(("/", ".")) and source not in (doc.get("volumes") or {}):
                problems.append(f"{name}: volume {source} is not declared")
    for api in APIS:
        port = PORTS[api]
        svc = services.get(api)
        if svc is None:
            problems.append(f"API {api} missing")
            continue
        module = "gateway.main" if api == "gateway" else f"services.{api}.main"
        cmd = svc.get("command", [])
        if cmd[:2] != ["uvicorn", f"{module}:app"] or cmd[cmd.index("--port") + 1 if "--port" in cmd else 0] != str(
            port
        ):
            problems.append(f"{api}: command must be `uvicorn {module}:app ... --port {port}`, got {cmd}")
        test = (svc.get("healthcheck") or {}).get("test", [])
        if test[-3:] != ["/app/deploy/docker/healthcheck.py", "http", str(port)]:
            problems.append(f"{api}: healthcheck must GET /health on port {port}, got {test}")
        if (svc.get("depends_on") or {}).get("migrate", {}).get("condition") != "service_completed_successfully":
            problems.append(f"{api}: must start after migrate completed successfully")
    for service in SERVICES:
        worker = services.get(f"{service}-worker")
        if worker is None:
            problems.append(f"{service}-worker missing")
            continue
        if worker.get("command") != ["python", "-m", f"services.{service}.worker"]:
            problems.append(f"{service}-worker: command must be `python -m services.{service}.worker`")
        if (worker.get("healthcheck") or {}).get("test", [])[-1:] != ["worker"]:
            problems.append(f"{service}-worker: healthcheck must be the worker check")
    gateway_deps = services.get("gateway", {}).get("depends_on") or {}
    for api in SERVICES:
        if gateway_deps.get(api, {}).get("condition") != "service_healthy":
            problems.append(f"gateway must wait for {api} to be healthy")
    for name, svc in services.items():
        cmd = svc.get("command")
        if isinstance(cmd, list) and cmd[:2] == ["python", "-m"] and find_spec(cmd[2].split(":")[0]) is None:
            problems.append(f"{name}: module {cmd[2]} does not exist")
        if isinstance(cmd, list) and cmd[:1] == ["uvicorn"] and find_spec(cmd[1].split(":")[0]) is None:
            problems.append(f"{name}: module {cmd[1]} does not exist")
    return problems


def _in_clear(value: Any) -> bool:
    """A secret's value written into the file: not from `.env` (null or `${...}`), not a URL without credentials."""
    if value is None or "${" in str(value):
        return False
    parts = urlsplit(str(value))
    return not (parts.scheme and parts.netloc and parts.password is None)


def compose_settings_problems(doc: dict[str, Any], settings: list[Setting] | None = None) -> list[str]:
    """Every setting reaches the containers of the processes that read it; no secret is written in clear."""
    settings = settings or inventory()
    services = doc.get("services", {})
    problems: list[str] = []
    readers = {"common": [*APIS, *(f"{s}-worker" for s in SERVICES), "migrate"], "gateway": ["gateway"]}
    readers |= {s: [s, f"{s}-worker"] for s in SERVICES}
    for setting in settings:
        for name in readers[setting.owner]:
            env = compose_env(services.get(name, {}))
            if setting.env not in env:
                problems.append(f"{setting.env} ({setting.source}) missing from the environment of {name}")
            elif setting.secret and _in_clear(env[setting.env]):
                problems.append(f"{setting.env} is a secret: take it from .env (${{...}}), never write it in clear")
    return problems


# ------------------------------------------------------------------------------------------------ kubernetes


def render(folder: Path) -> list[dict[str, Any]]:
    return build(folder)


def k8s_schema_errors(docs: list[dict[str, Any]]) -> list[str]:
    errors = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(map(str, exc.path))
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: no schema ({exc})")
    return errors


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["spec"]["template"]["spec"]["containers"]


def k8s_problems(docs: list[dict[str, Any]]) -> list[str]:
    """Probes, security, scaling objects, wiring between objects, network exposure."""
    problems: list[str] = []
    deployments = _by_kind(docs, "Deployment")
    services = _by_kind(docs, "Service")
    hpas = {d["spec"]["scaleTargetRef"]["name"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    pdbs = {
        d["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/name")
        for d in docs
        if d["kind"] == "PodDisruptionBudget"
    }
    config_maps, secrets = _by_kind(docs, "ConfigMap"), _by_kind(docs, "Secret")
    expected = {*APIS, *(f"{s}-worker" for s in SERVICES)}
    if set(deployments) != expected:
        problems.append(f"Deployments {sorted(deployments)} != {sorted(expected)}")
    for name, dep in deployments.items():
        pod = dep["spec"]["template"]["spec"]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        if dep["spec"]["selector"]["matchLabels"].items() - labels.items():
            problems.append(f"{name}: selector does not match its pod labels")
        if labels.get("app.kubernetes.io/part-of") != "atende":
            problems.append(f"{name}: pods must carry app.kubernetes.io/part-of=atende (NetworkPolicies use it)")
        if name not in hpas:
            problems.append(f"{name}: no HorizontalPodAutoscaler")
        if name not in pdbs:
            problems.append(f"{name}: no PodDisruptionBudget")
        sec = pod.get("securityContext", {})
        if not sec.get("runAsNonRoot") or not sec.get("runAsUser"):
            problems.append(f"{name}: pod must run as non-root")
        for c in pod["containers"]:
            csec = c.get("securityContext", {})
            if csec.get("readOnlyRootFilesystem") is not True or csec.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{name}: container {c['name']} needs a read-only root and no privilege escalation")
            if "ALL" not in csec.get("capabilities", {}).get("drop", []):
                problems.append(f"{name}: container {c['name']} must drop all capabilities")
            res = c.get("resources", {})
            if not res.get("requests", {}).get("cpu") or not res.get("limits", {}).get("memory"):
                problems.append(f"{name}: container {c['name']} needs cpu requests and a memory limit")
            for ref in c.get("envFrom", []):
                if "configMapRef" in ref and ref["configMapRef"]["name"] not in config_maps:
                    problems.append(f"{name}: ConfigMap {ref['configMapRef']['name']} does not exist")
                if "secretRef" in ref and ref["secretRef"]["name"] not in secrets:
                    problems.append(f"{name}: Secret {ref['secretRef']['name']} does not exist")
            mounts = {m["name"] for m in c.get("volumeMounts", [])}
            if mounts - {v["name"] for v in pod.get("volumes", [])}:
                problems.append(f"{name}: mounts volumes that are not defined")
        container = pod["containers"][0]
        cmd = container.get("command", [])
        if name in APIS:
            port = PORTS[name]
            module = "gateway.main" if name == "gateway" else f"services.{name}.main"
            if (
                cmd[:2] != ["uvicorn", f"{module}:app"]
                or "--port" not in cmd
                or cmd[cmd.index("--port") + 1] != str(port)
            ):
                problems.append(f"{name}: command must be `uvicorn {module}:app ... --port {port}`")
            ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            if ports.get("http") != port:
                problems.append(f"{name}: container port `http` must be {port}")
            for probe, path in (
                ("livenessProbe", "/health"),
                ("readinessProbe", "/ready"),
                ("startupProbe", "/health"),
            ):
                get = container.get(probe, {}).get("httpGet", {})
                if get.get("path") != path or get.get("port") not in ("http", port):
                    problems.append(f"{name}: {probe} must GET {path} on the http port, got {get or None}")
            svc = services.get(name)
            if svc is None:
                problems.append(f"{name}: no Service")
            elif svc["spec"]["selector"].items() - labels.items() or svc["spec"]["ports"][0]["port"] != port:
                problems.append(f"{name}: Service does not select its pods on port {port}")
        else:
            service = name.removesuffix("-worker")
            if cmd != ["python", "-m", f"services.{service}.worker"]:
                problems.append(f"{name}: command must be `python -m services.{service}.worker`")
            if container.get("ports"):
                problems.append(f"{name}: a worker serves nothing, it must not expose ports")
            probe = container.get("readinessProbe", {}).get("exec", {}).get("command", [])
            if probe[-2:] != ["/app/deploy/docker/healthcheck.py", "worker"]:
                problems.append(f"{name}: readiness must be the worker check")
        module = cmd[1].split(":")[0] if cmd[:1] == ["uvicorn"] else (cmd[2] if cmd[:2] == ["python", "-m"] else "")
        if not module or find_spec(module) is None:
            problems.append(f"{name}: command runs {module or cmd}, which does not exist")
    jobs = _by_kind(docs, "Job")
    migrate = [j for j in jobs.values() if _containers(j)[0].get("command") == ["python", "-m", "shared.migrations"]]
    if not migrate:
        problems.append("no migration Job (`python -m shared.migrations`)")
    ingresses = _by_kind(docs, "Ingress")
    backends = {
        p["backend"]["service"]["name"]
        for ing in ingresses.values()
        for rule in ing["spec"].get("rules", [])
        for p in rule.get("http", {}).get("paths", [])
    }
    if backends != {"gateway"}:
        problems.append(f"the Ingress must route to the gateway only, routes to {sorted(backends)}")
    if not all(ing["spec"].get("tls") for ing in ingresses.values()):
        problems.append("the Ingress must terminate TLS")
    problems += network_problems(docs)
    return problems


def network_problems(docs: list[dict[str, Any]]) -> list[str]:
    """Default deny; from outside the namespace only the gateway (and Prometheus for /metrics)."""
    problems: list[str] = []
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    if not any(p["spec"]["podSelector"] == {} and not p["spec"].get("ingress") for p in policies):
        problems.append("no default-deny ingress NetworkPolicy")
    for pol in policies:
        selected = pol["spec"]["podSelector"].get("matchLabels", {})
        for rule in pol["spec"].get("ingress", []):
            sources = rule.get("from", [])
            if not sources:
                problems.append(f"{pol['metadata']['name']}: a rule without `from` opens the pods to everyone")
            for src in sources:
                if "ipBlock" in src:
                    problems.append(f"{pol['metadata']['name']}: ipBlock sources open pods outside the cluster")
                ns = src.get("namespaceSelector")
                if ns is None:
                    continue
                ns_name = ns.get("matchLabels", {}).get("kubernetes.io/metadata.name")
                if ns_name == "monitoring":
                    if selected.get("app.kubernetes.io/component") != "api":
                        problems.append(f"{pol['metadata']['name']}: monitoring may reach the API pods only")
                elif selected != {"app.kubernetes.io/name": "gateway"}:
                    problems.append(f"{pol['metadata']['name']}: only the gateway may be reached from outside")
    return problems


def k8s_settings_problems(docs: list[dict[str, Any]], settings: list[Setting] | None = None) -> list[str]:
    settings = settings or inventory()
    config = {k for d in docs if d["kind"] == "ConfigMap" for k in (d.get("data") or {})}
    secret = {k for d in docs if d["kind"] == "Secret" for k in (d.get("stringData") or {}) | (d.get("data") or {})}
    problems = []
    for s in settings:
        if s.secret:
            if s.env not in secret:
                problems.append(f"{s.env} ({s.source}) missing from the Secrets")
            if s.env in config:
                problems.append(f"{s.env} is a secret and must not be in the ConfigMap")
        elif s.env not in config:
            problems.append(f"{s.env} ({s.source}) missing from the ConfigMap")
    return problems


# ------------------------------------------------------------------------------------------------ Dockerfile


def hadolint_binary() -> str:
    found = Path(sys.executable).with_name("hadolint")
    return str(found) if found.exists() else (shutil.which("hadolint") or "hadolint")


def hadolint(dockerfile: Path) -> tuple[int, str]:
    proc = subprocess.run(
        [hadolint_binary(), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60
    )
    return proc.returncode, proc.stdout + proc.stderr


def dockerfile_stages(text: str) -> dict[str, list[str]]:
    """Stage name -> its instructions (continuation lines joined)."""
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    joined = re.sub(r"\\\n\s*", " ", text)
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, flags=re.I)
        if m:
            current = stages.setdefault(m.group(1), [])
        current.append(line)
    return stages


def dockerfile_problems(text: str) -> list[str]:
    stages = dockerfile_stages(text)
    problems = []
    for target in ("core", "search", "transcription"):
        body = stages.get(target)
        if body is None:
            problems.append(f"no `{target}` target")
            continue
        chain, base = [body], body[0].split()[1]
        while base in stages:
            chain.insert(0, stages[base])
            base = stages[base][0].split()[1]
        flat = [i for stage in chain for i in stage]
        users = [i for i in flat if i.upper().startswith("USER ")]
        if not users or users[-1].split()[1].split(":")[0] in ("root", "0"):
            problems.append(f"{target}: must end as a non-root USER")
        if not any(i.upper().startswith("HEALTHCHECK ") for i in flat):
            problems.append(f"{target}: no HEALTHCHECK")
        if any(re.search(r"\b(apt-get|apk) .*install\b", i) for i in flat[1:]):
            problems.append(f"{target}: the final image must not install system packages (build tools)")
        copies = " ".join(i for i in body if i.upper().startswith("COPY --FROM"))
        if f"deps-{target}" not in copies:
            problems.append(f"{target}: must take its /opt/venv from deps-{target} (its own lock)")
        if target != "transcription" and "/opt/models" in copies:
            problems.append(f"{target}: models belong in the transcription and search images only")
    return problems

"""deploy/k8s rendered like `kustomize build`, every object validated with kubernetes-validate (strict)."""

from __future__ import annotations

import copy
import json
import shutil

import pytest

from deploy.deploylib.kustomize import KustomizeError, build, strategic_merge
from shared.net import TrustedProxies
from tests.deploy.checks import ROOT, k8s_problems, k8s_schema_errors, k8s_settings_problems

OVERLAY = ROOT / "deploy/k8s/overlays/example"
BASE = ROOT / "deploy/k8s/base"


@pytest.fixture(scope="module")
def overlay() -> list[dict]:
    return build(OVERLAY)


def _find(docs, kind, name):
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def test_every_manifest_validates(overlay) -> None:
    assert len(overlay) > 40
    assert k8s_schema_errors(overlay) == []
    assert k8s_schema_errors(build(BASE)) == []


def test_manifest_structure(overlay) -> None:
    assert k8s_problems(overlay) == []


def test_every_setting_is_in_the_configmap_or_a_secret(overlay) -> None:
    assert k8s_settings_problems(overlay) == []


def test_overlay_applies_namespace_images_and_patches(overlay) -> None:
    assert {d["metadata"].get("namespace") for d in overlay if d["kind"] != "Namespace"} == {"atende"}
    search = _find(overlay, "Deployment", "search-worker")
    assert search["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/atende/search:0.1.0"
    config = _find(overlay, "ConfigMap", "atende-config")["data"]
    assert config["CHANNELS_PUBLIC_BASE_URL"] == "https://atende.example.com"
    assert config["LOG_LEVEL"] == "INFO"  # the patch merged, it did not replace the base data
    assert _find(overlay, "HorizontalPodAutoscaler", "chat-worker")["spec"]["minReplicas"] == 3


def test_a_wrong_probe_path_is_caught(overlay) -> None:
    broken = copy.deepcopy(overlay)
    chat = _find(broken, "Deployment", "chat")["spec"]["template"]["spec"]["containers"][0]
    chat["readinessProbe"]["httpGet"]["path"] = "/healthz"
    auth = _find(broken, "Deployment", "auth")["spec"]["template"]["spec"]["containers"][0]
    auth["livenessProbe"]["httpGet"]["port"] = 8002
    problems = "\n".join(k8s_problems(broken))
    assert "chat: readinessProbe must GET /ready" in problems
    assert "auth: livenessProbe must GET /health" in problems


def test_a_wrong_field_fails_kubernetes_validate(overlay) -> None:
    broken = copy.deepcopy(overlay)
    chat = _find(broken, "Deployment", "chat")["spec"]["template"]["spec"]["containers"][0]
    chat["readinessProbe"]["httpGet"]["pathh"] = "/ready"  # unknown field: strict validation rejects it
    _find(broken, "Deployment", "auth")["spec"]["replicas"] = "two"
    errors = "\n".join(k8s_schema_errors(broken))
    assert "Deployment/chat" in errors and "pathh" in errors
    assert "Deployment/auth" in errors


def test_a_missing_setting_is_caught(tmp_path) -> None:
    copy_root = tmp_path / "k8s"
    shutil.copytree(ROOT / "deploy/k8s", copy_root)
    cm = copy_root / "base/configmap.yaml"
    cm.write_text("\n".join(line for line in cm.read_text().splitlines() if "CHAT_LLM_MODEL" not in line))
    (copy_root / "overlays/example/config.yaml").write_text(
        (copy_root / "overlays/example/config.yaml").read_text().replace('  CHAT_LLM_MODEL: "gpt-4o-mini"\n', "")
    )
    docs = build(copy_root / "overlays/example")
    assert any(p.startswith("CHAT_LLM_MODEL") for p in k8s_settings_problems(docs))


def test_a_secret_in_the_configmap_is_caught(overlay) -> None:
    broken = copy.deepcopy(overlay)
    _find(broken, "ConfigMap", "atende-config")["data"]["SERVICE_SECRET"] = "oops"
    assert any("SERVICE_SECRET is a secret" in p for p in k8s_settings_problems(broken))


def test_exposure_mistakes_are_caught(overlay) -> None:
    broken = copy.deepcopy(overlay)
    policy = _find(broken, "NetworkPolicy", "gateway-from-ingress-controller")
    policy["spec"]["podSelector"] = {"matchLabels": {"app.kubernetes.io/name": "auth"}}
    ingress = _find(broken, "Ingress", "gateway")
    ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "auth"
    worker = _find(broken, "Deployment", "chat-worker")["spec"]["template"]["spec"]
    worker["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    problems = "\n".join(k8s_problems(broken))
    assert "only the gateway may be reached from outside" in problems
    assert "the Ingress must route to the gateway only" in problems
    assert "chat-worker: container chat-worker needs a read-only root" in problems


def test_renderer_refuses_what_it_does_not_implement(tmp_path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(KustomizeError, match="commonLabels"):
        build(tmp_path)
    (tmp_path / "kustomization.yaml").write_text("resources: [cm.yaml]\npatches: [{path: p.yaml}]\n")
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (tmp_path / "p.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
    with pytest.raises(KustomizeError, match="matches no resource"):
        build(tmp_path)


def test_strategic_merge_merges_named_lists_and_deletes_nulls() -> None:
    base = {"containers": [{"name": "a", "image": "x", "env": [{"name": "A", "value": "1"}]}], "keep": 1, "drop": 2}
    patch = {"containers": [{"name": "a", "env": [{"name": "B", "value": "2"}]}, {"name": "b"}], "drop": None}
    merged = strategic_merge(base, patch)
    assert merged == {
        "containers": [
            {"name": "a", "image": "x", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"name": "b"},
        ],
        "keep": 1,
    }


def test_auth_and_gateway_believe_the_pod_network(overlay) -> None:
    """Behind the gateway every login comes from a gateway pod: auth must take the client from X-Forwarded-For."""
    for name, docs in (("base", build(BASE)), ("overlay", overlay)):
        config = _find(docs, "ConfigMap", "atende-config")["data"]
        for setting in ("AUTH_TRUSTED_PROXIES", "GATEWAY_TRUSTED_PROXIES"):
            proxies = TrustedProxies(json.loads(config[setting]))
            assert proxies.client_ip("10.42.0.17", "203.0.113.9") == "203.0.113.9", (name, setting)
            assert proxies.client_ip("203.0.113.50", "198.51.100.1") == "203.0.113.50", (name, setting)

"""A kustomize renderer for the subset deploy/k8s uses, so the tests validate what `kubectl apply -k` applies.

Supported: `resources` (files and kustomization folders), `patches` (strategic-merge patch files, matched by
kind and name), `images` (newName / newTag / digest) and `namespace`. Anything else in a kustomization.yaml
raises, so a feature the renderer does not implement can never be silently skipped: extend it here first.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "patches", "images", "namespace"}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
    "StorageClass",
    "PersistentVolume",
    "IngressClass",
}
# Strategic-merge keys of the lists the manifests use (Kubernetes' patchMergeKey); other lists are replaced.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
}


class KustomizeError(ValueError):
    pass


def _load_docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _merge_key(key: str, items: list[Any]) -> str | None:
    if key == "ports":  # container ports merge on containerPort, Service ports on port
        return "containerPort" if all(isinstance(i, dict) and "containerPort" in i for i in items) else "port"
    return MERGE_KEYS.get(key)


def strategic_merge(target: Any, patch: Any, key: str = "") -> Any:
    if isinstance(target, dict) and isinstance(patch, dict):
        out = dict(target)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = strategic_merge(out[k], v, k)
            else:
                out[k] = copy.deepcopy(v)
        return out
    if isinstance(target, list) and isinstance(patch, list):
        mk = _merge_key(key, target + patch)
        if mk is None or not all(isinstance(i, dict) and mk in i for i in target + patch):
            return copy.deepcopy(patch)
        out = [copy.deepcopy(i) for i in target]
        for item in patch:
            for n, existing in enumerate(out):
                if existing[mk] == item[mk]:
                    out[n] = strategic_merge(existing, item, key)
                    break
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def _ident(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    spec = doc.get("spec") or {}
    if doc["kind"] == "Pod":
        return spec
    if doc["kind"] == "CronJob":
        return spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
    return spec.get("template", {}).get("spec")


def _set_images(docs: list[dict[str, Any]], images: list[dict[str, str]]) -> None:
    for image in images:
        unknown = set(image) - {"name", "newName", "newTag", "digest"}
        if unknown:
            raise KustomizeError(f"images: unsupported fields {sorted(unknown)}")
        for doc in docs:
            pod = _pod_spec(doc)
            for container in (pod or {}).get("containers", []) + (pod or {}).get("initContainers", []):
                ref = container.get("image", "")
                name = ref.split("@")[0]
                tail = name.rsplit("/", 1)[-1]
                tag = tail.split(":", 1)[1] if ":" in tail else None
                name = name[: len(name) - len(tag) - 1] if tag is not None else name
                if name != image["name"]:
                    continue
                new = image.get("newName", name)
                if "digest" in image:
                    container["image"] = f"{new}@{image['digest']}"
                else:
                    new_tag = image.get("newTag", tag)
                    container["image"] = f"{new}:{new_tag}" if new_tag else new


def build(folder: str | Path) -> list[dict[str, Any]]:
    """The resources `kustomize build folder` would print (for the supported subset)."""
    folder = Path(folder)
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text()) or {}
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise KustomizeError(f"{folder}/kustomization.yaml: unsupported fields {sorted(unknown)}")
    docs: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = folder / entry
        if path.is_dir():
            docs += build(path)
        elif path.is_file():
            docs += _load_docs(path)
        else:
            raise KustomizeError(f"{folder}: resource {entry} does not exist")
    seen: set[tuple[str, str]] = set()
    for doc in docs:
        if _ident(doc) in seen:
            raise KustomizeError(f"{folder}: {_ident(doc)} defined twice")
        seen.add(_ident(doc))
    for entry in spec.get("patches", []):
        if set(entry) != {"path"}:
            raise KustomizeError(f"{folder}: only `patches: - path:` (strategic merge) is supported, got {entry}")
        for patch in _load_docs(folder / entry["path"]):
            matches = [i for i, doc in enumerate(docs) if _ident(doc) == _ident(patch)]
            if not matches:
                raise KustomizeError(f"{folder}: patch {entry['path']} matches no resource {_ident(patch)}")
            for i in matches:
                docs[i] = strategic_merge(docs[i], patch)
    _set_images(docs, spec.get("images", []))
    if "namespace" in spec:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc.setdefault("metadata", {})["namespace"] = spec["namespace"]
    return docs

#!/usr/bin/env python3
"""Validates every manifest in deploy/kubernetes offline: built-in kinds with
kubernetes-validate (strict: unknown fields are errors), ServiceMonitor and PrometheusRule
against prometheus-operator's own CRD schemas in schemas/ (also strict). Prints one line per
resource and exits 1 on any error. Run with the venv from scripts/install-test-deps.sh:

    .venv-k8s/bin/python deploy/kubernetes/validate.py [FILE...]
"""
import copy
import json
import pathlib
import sys

import jsonschema
import kubernetes_validate
import yaml

HERE = pathlib.Path(__file__).resolve().parent
K8S_VERSION = "1.33.0"  # the oldest Kubernetes these manifests are meant for
CRDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring.coreos.com-v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-monitoring.coreos.com-v1.json",
}


def strict(schema):
    """A CRD schema prunes unknown fields silently; here they are errors (typos caught)."""
    schema = copy.deepcopy(schema)

    def walk(node, top):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
                node["additionalProperties"] = False
                if top:
                    # metadata is ObjectMeta, which the CRD schema leaves open.
                    node["properties"]["metadata"] = {"type": "object"}
            for k, v in node.items():
                if k != "metadata":
                    walk(v, False)
        elif isinstance(node, list):
            for v in node:
                walk(v, False)

    walk(schema, True)
    return schema


def crd_validator(name):
    schema = json.loads((HERE / "schemas" / name).read_text())
    schema = {k: v for k, v in schema.items() if not k.startswith(("$comment", "x-source"))}
    return jsonschema.Draft7Validator(strict(schema))


def main(files):
    files = files or sorted(str(p) for p in HERE.glob("*.yaml"))
    validators = {key: crd_validator(name) for key, name in CRDS.items()}
    failed = 0
    for f in files:
        for doc in yaml.safe_load_all(pathlib.Path(f).read_text()):
            if doc is None:
                continue
            key = (doc.get("apiVersion"), doc.get("kind"))
            what = f"{f}: {key[1]}/{doc.get('metadata', {}).get('name')}"
            if key in validators:
                errors = sorted(validators[key].iter_errors(doc), key=lambda e: list(e.path))
                for e in errors:
                    print(f"FAIL {what}: {'.'.join(map(str, e.path))}: {e.message}")
                failed += bool(errors)
                if not errors:
                    print(f"ok   {what} (prometheus-operator CRD schema)")
                continue
            try:
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
                print(f"ok   {what} (Kubernetes {K8S_VERSION})")
            except Exception as e:  # ValidationError, SchemaNotFoundError, ...
                print(f"FAIL {what}: {getattr(e, 'message', e)}")
                failed += 1
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1:])

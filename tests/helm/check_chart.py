"""Checks helm/chatwire with Helm itself (the helm-python-sdk wheel bundles Helm's Go library):
lint, normal and strict, and an offline render with the defaults and with every option on;
each rendered manifest validated against Kubernetes' own schemas; the operational promises
(drain, probes, non-root, hooks) read back from the render; bad values refused.

Run by scripts/test (which installs its packages); alone: python3 tests/helm/check_chart.py
"""
import copy
import pathlib
import re
import sys

import helm_python as helm
import kubernetes_validate
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "chatwire"
KUBE = "1.30.0"

ALL_ON = {
    "ingress": {"enabled": True, "className": "nginx", "tls": [{"secretName": "chat-tls", "hosts": ["chat.example.com"]}]},
    "autoscaling": {"enabled": True, "targetSocketsPerPod": 5000},
    "podDisruptionBudget": {"enabled": True},
    "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
    "secret": {"create": True, "databaseUrl": "postgres://chat:pw@db/chat", "redisUrl": "redis://redis:6379",
               "jwtSecret": "0123456789abcdef0123456789abcdef"},
    "podAnnotations": {"example.com/team": "chat"},
    "imagePullSecrets": [{"name": "registry"}],
    "env": {"CHATWIRE_SOCKET_QUEUE": "2048"},
}

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
    print(("ok   " if ok else "FAIL ") + what)


def render(values):
    chart = helm.Chart.load(str(CHART))
    out = chart.render(values, name="chat", namespace="chat", is_install=True)
    docs = []
    for path, text in sorted(out.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs += [d for d in yaml.safe_load_all(text) if d]
    return docs, out


def lint(values, name):
    for strict in (False, True):
        report = helm.lint(str(CHART), values, strict=strict, kube_version="v" + KUBE)
        bad = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
        check(not bad, f"helm lint{' --strict' if strict else ''} ({name}): {bad or 'clean'}")


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def validate(docs, name):
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            # A CRD of the Prometheus operator: not among Kubernetes' own schemas.
            check(doc["spec"]["endpoints"][0]["path"] == "/metrics", f"{name}: ServiceMonitor scrapes /metrics")
            continue
        try:
            kubernetes_validate.validate(doc, KUBE, strict=True)
            check(True, f"{name}: {doc['kind']} {doc['metadata']['name']} is valid Kubernetes {KUBE}")
        except kubernetes_validate.ValidationError as err:
            check(False, f"{name}: {doc['kind']} {doc['metadata']['name']}: {err.message}")


def promises(docs, name, values):
    dep = by_kind(docs, "Deployment")[0]
    pod = dep["spec"]["template"]["spec"]
    box = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in box["env"]}
    check(env.get("CHATWIRE_ENV") == "production", f"{name}: pods run with CHATWIRE_ENV=production")
    names = [e["name"] for e in box["env"]]
    check(len(names) == len(set(names)), f"{name}: no variable set twice ({names})")
    check(env["CHATWIRE_BIND"].endswith(":%d" % box["ports"][0]["containerPort"]), f"{name}: the port bound is the port probed")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        check(probe in box, f"{name}: {probe}")
    check(box["readinessProbe"]["httpGet"]["path"] == "/readyz", f"{name}: readiness on /readyz")
    sleep = int(box["lifecycle"]["preStop"]["exec"]["command"][1])
    drain = int(env["CHATWIRE_SHUTDOWN_TIMEOUT_SECS"])
    check(pod["terminationGracePeriodSeconds"] > sleep + drain,
          f"{name}: grace {pod['terminationGracePeriodSeconds']} s covers preStop {sleep} s + drain {drain} s")
    sc = pod["securityContext"]
    check(sc.get("runAsNonRoot") is True and isinstance(sc.get("runAsUser"), int) and sc["runAsUser"] > 0,
          f"{name}: numeric non-root user")
    check(box["securityContext"].get("readOnlyRootFilesystem") is True, f"{name}: read-only root filesystem")
    check(pod["automountServiceAccountToken"] is False, f"{name}: no service account token")
    check(bool(pod.get("topologySpreadConstraints")), f"{name}: replicas spread over nodes")
    check(dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, f"{name}: rolling update never drops below the replica count")
    jobs = by_kind(docs, "Job")
    check(len(jobs) == 1 and jobs[0]["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"],
          f"{name}: a migration Job runs chatwire migrate")
    check("pre-upgrade" in jobs[0]["metadata"]["annotations"]["helm.sh/hook"], f"{name}: the Job is a pre-install/pre-upgrade hook")
    check(env["CHATWIRE_MIGRATE_ON_START"] == "false", f"{name}: pods leave migrations to the Job")


def refused(values, pattern, what):
    try:
        render(values)
        check(False, f"refused: {what} (it rendered)")
    except helm.HelmError as err:
        check(re.search(pattern, str(err)) is not None, f"refused: {what} ({' '.join(str(err).split())[:160]})")


def main():
    lint({}, "defaults")
    lint(ALL_ON, "every option on")
    docs, out = render({})
    check(sorted({d["kind"] for d in docs}) == ["Deployment", "Job", "Service", "ServiceAccount"],
          f"defaults render {sorted({d['kind'] for d in docs})}")
    validate(docs, "defaults")
    promises(docs, "defaults", {})
    check("port-forward" in out["chatwire/templates/NOTES.txt"], "NOTES.txt renders")

    docs, out = render(ALL_ON)
    kinds = sorted({d["kind"] for d in docs})
    want = ["Deployment", "HorizontalPodAutoscaler", "Ingress", "Job", "PodDisruptionBudget", "Secret", "Service",
            "ServiceAccount", "ServiceMonitor"]
    check(kinds == want, f"every option on renders {kinds}")
    validate(docs, "every option on")
    promises(docs, "every option on", ALL_ON)
    dep = by_kind(docs, "Deployment")[0]
    check("replicas" not in dep["spec"], "with the HPA the Deployment leaves replicas to it")
    ing = by_kind(docs, "Ingress")[0]
    check(int(ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 60,
          "the Ingress keeps idle WebSockets longer than the heartbeat")
    secret = by_kind(docs, "Secret")[0]
    check(secret["metadata"]["annotations"]["helm.sh/hook-weight"] == "-10", "the chart's Secret exists before the migration hook")
    hpa = by_kind(docs, "HorizontalPodAutoscaler")[0]
    check(any(m["type"] == "Pods" for m in hpa["spec"]["metrics"]), "the HPA can scale on sockets per pod")

    refused({"ingres": {"enabled": True}}, r"ingres", "an unknown value (a typo) instead of being ignored")
    refused({"env": {"CHATWIRE_BIND": "0.0.0.0:9090"}}, r"CHATWIRE_BIND", "env.CHATWIRE_BIND, which would split port and probes")
    refused({"secret": {"existingSecret": ""}}, r"existingSecret", "no Secret at all")
    refused({"secret": {"create": True}}, r"databaseUrl", "a created Secret without its values")
    sentinel = {"secret": {"create": True, "databaseUrl": "postgres://chat:pw@db/chat",
                           "redisSentinels": "redis://s1:26379,redis://s2:26379", "jwtSecret": "0" * 32},
                "env": {"CHATWIRE_REDIS_SENTINEL_MASTER": "chat"}}
    docs, _ = render(sentinel)
    data = by_kind(docs, "Secret")[0]["stringData"]
    check(sorted(data) == ["CHATWIRE_JWT_SECRET", "CHATWIRE_REDIS_SENTINELS", "DATABASE_URL"],
          f"a Sentinel setup's Secret holds CHATWIRE_REDIS_SENTINELS and no REDIS_URL ({sorted(data)})")
    both = {"secret": dict(sentinel["secret"], redisUrl="redis://redis:6379")}
    refused(both, r"exactly one of secret.redisUrl", "REDIS_URL and Sentinels at once (the node would refuse to start)")
    refused({"replicaCount": "three"}, r"replicaCount", "a replica count that is not a number")

    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    check(bool(users) and all(re.fullmatch(r"\d+(:\d+)?", u) for u in users), f"the Dockerfile's USER is numeric ({users})")

    if failures:
        print(f"\n{len(failures)} chart check(s) failed", file=sys.stderr)
        sys.exit(1)
    print("\nthe chart passed every check")


if __name__ == "__main__":
    main()

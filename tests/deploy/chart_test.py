#!/usr/bin/env python3
"""The gonka-node Helm chart, proven offline (no Kubernetes API server runs here):

  1. `helm lint --strict` and `helm template` (helm v3.17.2) for three value sets: minimal, full HA,
     NATS-only coordination; yamllint on the rendered manifests and the value files;
  2. every rendered object validated against the Kubernetes 1.33 schemas (kubernetes-models) and
     type-checked for unknown fields (tsc);
  3. policy: RollingUpdate maxUnavailable 0 / maxSurge 1; readiness, liveness and startup probes
     on paths each daemon registers; preStop = drain announce and grace >= preStop + announce +
     shutdown grace; a PodDisruptionBudget per multi-replica workload; the warm key only in
     signerd; NetworkPolicies (only edge-api and versiond public, signerd only from producers);
     non-root, read-only, resources, anti-affinity;
  4. every env var and flag the chart sets exists in that daemon's --help, every required one set;
  5. values.schema.json rejects bad URLs, zero replicas, an unknown coordination backend;
  6. a deliberately broken copy of the chart for each rule: each must be caught.
"""

import filecmp
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import chart_policy  # noqa: E402
import deploytools as dt  # noqa: E402

tools = dt.ensure_tools()
HELM = tools["helm"]
WORK = tempfile.mkdtemp(prefix="chart_test.", dir=os.environ.get("TEST_TMPDIR"))
YAMLLINT_CFG = os.path.join(dt.DEPLOY_TESTS, "yamllint.yaml")
checks = 0

print("helm: " + dt.run([HELM, "version", "--short"]).stdout.strip())

# The daemons' own facts: routes (from their sources), flags and drain defaults (from --help).
SERVED = {d: dt.served_paths(d) for d in ["edge-api", "signerd", "node-manager", "edge-srv", "versiond"]}
FLAGS = {d: dt.daemon_flags(d) for d in SERVED}
DEFAULTS = {d: {"announce": dt.help_default(d, "drain-announce"),
                "grace": dt.help_default(d, "host-shutdown-budget" if d == "versiond" else "shutdown-grace")}
            for d in SERVED}
for d, paths in sorted(SERVED.items()):
    print("routes %s: %s; drain defaults %s" % (d, " ".join(sorted(paths)), DEFAULTS[d]))


def values_file(name):
    return os.path.join(dt.DEPLOY_TESTS, "values", name + ".yaml")


def warm_key_secret(name):
    import yaml
    v = yaml.safe_load(open(values_file(name)))
    return (v.get("warmKey") or {}).get("existingSecret") or "gonka-gonka-node-warm-key"


def settings_problems(objs, where):
    n, problems = 0, []
    for o in objs:
        if o["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for c in o["spec"]["template"]["spec"]["containers"]:
            d = c["command"][0]
            env = [e["name"] for e in c.get("env", [])]
            k, p = dt.check_settings("%s %s/%s" % (where, o["kind"], o["metadata"]["name"]), d,
                                     env, c.get("args", []), FLAGS[d])
            n += k
            problems += p
    return n, problems


def versiond_start_problems(objs, where):
    """versiond cross-checks its drain settings only at start: run it with each rendered versiond
    container's environment (listener, directories and oracle moved to this test) and see that it
    serves instead of exiting 2 naming a setting."""
    import signal
    import socket
    import subprocess
    import time
    problems = []
    for o in objs:
        if o["kind"] != "Deployment":
            continue
        for c in o["spec"]["template"]["spec"]["containers"]:
            if c["command"][0] != "versiond":
                continue
            d = tempfile.mkdtemp(prefix="versiond.", dir=WORK)
            open(os.path.join(d, "oracle.json"), "w").write('{"versions":[]}')
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            env = {e["name"]: e.get("value", "") for e in c.get("env", [])}
            env.update({"VERSIOND_BIND": "127.0.0.1", "VERSIOND_PORT": str(port),
                        "VERSIOND_ORACLE_URL": "file://%s/oracle.json" % d,
                        "VERSIOND_BIN_DIR": d + "/bin", "VERSIOND_DATA_DIR": d + "/data",
                        "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
            p = subprocess.Popen([dt.daemon_binary("versiond")] + c.get("args", []), env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            end = time.time() + 10
            serving = False
            while time.time() < end and p.poll() is None and not serving:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    serving = True
                except OSError:
                    time.sleep(0.1)
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.send_signal(signal.SIGTERM)  # the second signal forces: no announce wait
            try:
                out = p.communicate(timeout=20)[0]
            except subprocess.TimeoutExpired:
                p.kill()
                out = p.communicate()[0]
            if not serving:
                problems.append("%s %s: versiond does not start with the chart's settings (exit %s): %s" %
                                (where, o["metadata"]["name"], p.returncode,
                                 " | ".join(l for l in out.splitlines() if "config" in l or "error" in l)[-400:]))
    return problems


# The users of the NATS permissions file the chart's daemons log in as.
NATS_USERS = chart_policy.conf_users(os.path.join(dt.ROOT, "deploy", "nats", "gonka-node.conf"))


def render(chart, name, sets=()):
    r = dt.helm_template(HELM, chart, [values_file(name)], sets)
    return r, (dt.load_objects(r.stdout) if r.returncode == 0 else [])


# 1-4 on the real chart ----------------------------------------------------------------------
all_objects = []
for name in dt.VALUE_SETS:
    r = dt.run([HELM, "lint", "--strict", "--kube-version", "1.30.0", dt.CHART, "-f", values_file(name)])
    checks += 1
    dt.check(r.returncode == 0, "helm lint --strict (%s): %s" % (name, (r.stdout + r.stderr)[-800:]))
    r, objs = render(dt.CHART, name)
    checks += 1
    if not dt.check(r.returncode == 0, "helm template (%s): %s" % (name, r.stderr[-800:])):
        continue
    out = os.path.join(WORK, name + ".yaml")
    open(out, "w").write(r.stdout)
    y = dt.run(["yamllint", "-c", YAMLLINT_CFG, out, values_file(name)])
    checks += 1
    dt.check(y.returncode == 0, "yamllint (%s): %s" % (name, y.stdout[-800:]))
    kinds = sorted({o["kind"] for o in objs})
    print("%s: %d objects (%s)" % (name, len(objs), ", ".join(kinds)))
    all_objects += [(name, o) for o in objs]
    for rule, problems in chart_policy.all_rules(objs, SERVED, DEFAULTS, warm_key_secret(name), NATS_USERS).items():
        checks += 1
        for p in problems:
            dt.check(False, "policy %s (%s): %s" % (rule, name, p))
    n, problems = settings_problems(objs, name)
    checks += n
    for p in problems:
        dt.check(False, p)
    if any(o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-versiond") for o in objs):
        checks += 1
        for p in versiond_start_problems(objs, name):
            dt.check(False, p)

ok, out = dt.validate_k8s(all_objects, os.path.join(WORK, "k8s"))
checks += 1
print(out.strip().splitlines()[-1] if out.strip() else out)
dt.check(ok, "kubernetes-models / tsc:\n" + out[-2000:])

# The Grafana dashboard: the chart's copy must equal deploy/grafana/gonka-node.json.
chart_dashboard = os.path.join(dt.CHART, "files", "grafana", "gonka-node.json")
source_dashboard = os.path.join(dt.ROOT, "deploy", "grafana", "gonka-node.json")
if os.path.exists(source_dashboard) or os.path.exists(chart_dashboard):
    checks += 1
    dt.check(os.path.exists(source_dashboard) and os.path.exists(chart_dashboard) and
             filecmp.cmp(source_dashboard, chart_dashboard, shallow=False),
             "deploy/helm/gonka-node/files/grafana/gonka-node.json differs from deploy/grafana/gonka-node.json "
             "(copy it: cp deploy/grafana/gonka-node.json deploy/helm/gonka-node/files/grafana/)")
    r, objs = render(dt.CHART, "full-ha", ["metrics.grafanaDashboard.enabled=true"])
    checks += 1
    dt.check(r.returncode == 0 and any(o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-dashboard") for o in objs),
             "grafana dashboard ConfigMap not rendered: " + r.stderr[-400:])
else:
    print("NOTE: deploy/grafana/gonka-node.json does not exist yet; the dashboard ConfigMap is not rendered")

# 5. The schema refuses bad values, naming the field ----------------------------------------
rejections = [
    ("chain.rpcUrl=ftp://node:26657", "chain.rpcUrl"),
    ("chain.rpcUrl=node:26657", "chain.rpcUrl"),
    ("nats.url=http://nats:4222", "nats.url"),
    ("redis.url=http://redis:6379", "redis.url"),
    ("redis.url=", "redis.url"),
    ("edgeApi.replicas=0", "edgeApi.replicas"),
    ("signerd.replicas=0", "signerd.replicas"),
    ("nodeManager.replicas=0", "nodeManager.replicas"),
    ("edgeSrv.replicas=0", "edgeSrv.replicas"),
    ("coordination=etcd", "coordination"),
    ("nodeManager.participant=alice", "nodeManager.participant"),
    ("signerd.mode=fast", "signerd.mode"),
    ("chain.grpcAddress=http://node:9090", "chain.grpcAddress"),
]
for s, field in rejections:
    r = dt.helm_template(HELM, dt.CHART, [values_file("minimal")], [s])
    checks += 1
    dt.check(r.returncode != 0 and field in r.stderr,
             "schema accepted --set %s (or did not name %s): rc=%d %s" % (s, field, r.returncode, r.stderr[-300:]))
r = dt.helm_template(HELM, dt.CHART, [values_file("minimal")], ["warmKey.existingSecret="])
checks += 1
dt.check(r.returncode != 0 and "warmKey" in r.stderr, "no warm key Secret and no value was accepted")

# versiond refuses a kill grace that does not fit in its host budget: so must this test.
r, objs = render(dt.CHART, "full-ha", ["versiond.drainKillGraceSeconds=900"])
checks += 1
caught = bool(versiond_start_problems(objs, "broken")) if r.returncode == 0 else False
dt.check(caught, "versiond.drainKillGraceSeconds=900 (> budget 600 - announce) was NOT caught")
print("broken values  versiond-start  caught: %s" % caught)

# 6. Broken copies of the chart: each rule must catch its break ------------------------------
T = "templates/_helpers.tpl"
mutations = [
    ("rolling-update", T, "maxUnavailable: 0", "maxUnavailable: 1"),
    ("probes", T, "httpGet: {path: {{ .readyPath }}, port: http}", "httpGet: {path: /readiness, port: http}"),
    ("grace", T, "terminationGracePeriodSeconds: {{ .grace }}", "terminationGracePeriodSeconds: 10"),
    ("pdb", T, "gt (int .v.replicas) 1", "gt (int .v.replicas) 100"),
    ("warm-key", "templates/edge-api.yaml", '"chainCa" true "natsCa" true)', '"chainCa" true "natsCa" true "warmKey" true)'),
    ("network", "templates/signerd.yaml", '"from" (toYaml $from)', '"public" true'),
    ("hardening", T, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"),
    ("seed-signer", "templates/node-manager.yaml", '{{- if $chainMessages }}{{- $items = append $items "node-manager-seed.token" -}}{{- end }}', ""),
    ("seed-signer", "templates/signerd.yaml", "{{- if $httpEnqueue }}{{- $extra", "{{- if false }}{{- $extra"),
    ("nats-users", "values.yaml", "edgeSrv: edge-srv ", "edgeSrv: consumer "),
    ("nats-users", "values.yaml", "nodeManager: node-manager ", "nodeManager: consumer "),
    ("k8s", T, "readinessProbe:", "readinesProbe:"),
    ("settings", "templates/edge-srv.yaml", "GONKA_PG_URL_FILE", "GONKA_PG_URL_FIEL"),
    ("settings", "templates/node-manager.yaml", '$extra := list (dict "name" "GONKA_PARTICIPANT" "value" $v.participant)', "$extra := list"),
    ("schema", "values.schema.json", '"type": "integer",\n          "minimum": 1,\n          "maximum": 50', '"type": "integer",\n          "minimum": 0,\n          "maximum": 50'),
]
for rule, path, old, new in mutations:
    broken = os.path.join(WORK, "broken-" + rule)
    shutil.rmtree(broken, ignore_errors=True)
    shutil.copytree(dt.CHART, broken)
    f = os.path.join(broken, path)
    text = open(f).read()
    checks += 1
    if not dt.check(old in text, "broken chart %s: %r not found in %s (update the mutation)" % (rule, old, path)):
        continue
    open(f, "w").write(text.replace(old, new))
    if rule == "schema":
        # The rejection check above would now see edgeApi.replicas=0 accepted.
        r = dt.helm_template(HELM, broken, [values_file("minimal")], ["edgeApi.replicas=0"])
        caught = r.returncode == 0
    else:
        r, objs = render(broken, "full-ha")
        if r.returncode != 0:
            caught = False
            dt.check(False, "broken chart %s does not render: %s" % (rule, r.stderr[-300:]))
        elif rule == "k8s":
            caught = not dt.validate_k8s([("broken", o) for o in objs], os.path.join(WORK, "k8s-broken"))[0]
        elif rule == "settings":
            caught = bool(settings_problems(objs, "broken")[1])
        else:
            caught = bool(chart_policy.all_rules(objs, SERVED, DEFAULTS, warm_key_secret("full-ha"), NATS_USERS)[rule])
    checks += 1
    dt.check(caught, "broken chart (%s: %r -> %r) was NOT caught" % (rule, old, new))
    print("broken chart %-15s caught: %s" % (rule, caught))

dt.finish("chart_test", checks)

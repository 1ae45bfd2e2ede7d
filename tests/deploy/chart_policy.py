"""Policy rules for the rendered gonka-node chart. Each function returns a list of problems
(strings); an empty list means the rule holds. Used on the real chart (must be empty) and on
deliberately broken copies (each must be caught) by chart_test.py."""

import deploytools as dt

WORKLOAD_KINDS = ("Deployment", "StatefulSet")


def _workloads(objs):
    return [o for o in objs if o["kind"] in WORKLOAD_KINDS]


def _main_container(w):
    return w["spec"]["template"]["spec"]["containers"][0]


def _daemon(w):
    return _main_container(w)["command"][0]


def _env(c):
    return {e["name"]: e.get("value") for e in c.get("env", [])}


def _name(w):
    return "%s/%s" % (w["kind"], w["metadata"]["name"])


def rolling_update(objs):
    p = []
    for w in _workloads(objs):
        if w["kind"] != "Deployment":
            continue
        s = w["spec"].get("strategy", {})
        ru = s.get("rollingUpdate", {})
        if s.get("type") != "RollingUpdate" or ru.get("maxUnavailable") != 0 or ru.get("maxSurge") != 1:
            p.append("%s: strategy %s, want RollingUpdate maxUnavailable 0 maxSurge 1" % (_name(w), s))
    return p


def probes(objs, served):
    """readiness -> /ready (versiond: /readyz), liveness and startup -> /healthz, each a path the
    daemon registers (served: {daemon: set of paths}), on the container's http port."""
    p = []
    for w in _workloads(objs):
        c = _main_container(w)
        d = _daemon(w)
        want = {"readinessProbe": ("/ready", "/readyz"), "livenessProbe": ("/healthz",),
                "startupProbe": ("/healthz",)}
        for probe, allowed in want.items():
            g = c.get(probe, {}).get("httpGet")
            if not g:
                p.append("%s: no %s.httpGet" % (_name(w), probe))
                continue
            if g["path"] not in allowed:
                p.append("%s: %s path %s, want one of %s" % (_name(w), probe, g["path"], allowed))
            if g["path"] not in served.get(d, set()):
                p.append("%s: %s path %s is not a route %s serves (%s)" %
                         (_name(w), probe, g["path"], d, sorted(served.get(d, set()))))
            ports = {pt.get("name"): pt["containerPort"] for pt in c.get("ports", [])}
            if g["port"] not in ports and g["port"] not in ports.values():
                p.append("%s: %s port %s is not a container port" % (_name(w), probe, g["port"]))
    return p


def grace(objs, defaults):
    """terminationGracePeriodSeconds >= preStop sleep + drain announce + shutdown grace (versiond:
    + its host shutdown budget); preStop sleeps exactly the drain announce. defaults: {daemon:
    {"announce": s, "grace": s}} from the daemons' --help."""
    p = []
    for w in _workloads(objs):
        c = _main_container(w)
        d = _daemon(w)
        env = _env(c)
        pre = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
        if len(pre) != 2 or pre[0] != "sleep":
            p.append("%s: preStop %s, want [sleep, <drain announce>]" % (_name(w), pre))
            continue
        sleep = float(pre[1])
        if d == "versiond":
            announce = dt.duration_seconds(env.get("VERSIOND_DRAIN_ANNOUNCE") or defaults[d]["announce"])
            shutdown = dt.duration_seconds(env.get("VERSIOND_HOST_SHUTDOWN_BUDGET") or defaults[d]["grace"])
        else:
            announce = dt.duration_seconds(env.get("GONKA_DRAIN_ANNOUNCE") or defaults[d]["announce"])
            shutdown = dt.duration_seconds(env.get("GONKA_SHUTDOWN_GRACE") or defaults[d]["grace"])
        if sleep != announce:
            p.append("%s: preStop sleeps %ss, drain announce is %ss" % (_name(w), sleep, announce))
        g = w["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        if g < sleep + announce + shutdown:
            p.append("%s: terminationGracePeriodSeconds %s < preStop %s + announce %s + shutdown %s" %
                     (_name(w), g, sleep, announce, shutdown))
    return p


def pdbs(objs):
    p = []
    budgets = [o for o in objs if o["kind"] == "PodDisruptionBudget"]
    for w in _workloads(objs):
        if w["spec"].get("replicas", 1) < 2:
            continue
        sel = w["spec"]["selector"]["matchLabels"]
        match = [b for b in budgets if b["spec"]["selector"].get("matchLabels") == sel]
        if not match:
            p.append("%s: %d replicas and no PodDisruptionBudget selecting them" %
                     (_name(w), w["spec"]["replicas"]))
        for b in match:
            if b["spec"].get("maxUnavailable") not in (1, None) and b["spec"].get("minAvailable") is None:
                p.append("PodDisruptionBudget/%s: maxUnavailable %s" % (b["metadata"]["name"], b["spec"]["maxUnavailable"]))
    return p


def _secret_names(w):
    names = set()
    for v in w["spec"]["template"]["spec"].get("volumes", []):
        if "secret" in v:
            names.add(v["secret"]["secretName"])
        for src in v.get("projected", {}).get("sources", []):
            if "secret" in src:
                names.add(src["secret"]["name"])
    for c in w["spec"]["template"]["spec"].get("containers", []) + w["spec"]["template"]["spec"].get("initContainers", []):
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
        for ef in c.get("envFrom", []):
            if "secretRef" in ef:
                names.add(ef["secretRef"]["name"])
    return names


def warm_key(objs, warm_key_secret):
    """The warm key's Secret reaches signerd's pods only, and only signerd is given --key-file."""
    p = []
    found = False
    for w in _workloads(objs):
        d = _daemon(w)
        has = warm_key_secret in _secret_names(w)
        keyed = "GONKA_KEY_FILE" in _env(_main_container(w))
        if d == "signerd":
            found = found or has
            if not (has and keyed):
                p.append("%s: signerd without the warm key (secret %s mounted: %s, GONKA_KEY_FILE: %s)" % (_name(w), warm_key_secret, has, keyed))
        elif has or keyed:
            p.append("%s: %s gets the warm key (secret %s mounted: %s, GONKA_KEY_FILE set: %s)" % (_name(w), d, warm_key_secret, has, keyed))
    return p


def _selects(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).get("matchLabels", {}).items())


def network(objs):
    """Every pod is selected by an ingress policy; only edge-api and versiond are open to all;
    signerd only from pods labelled as its producers (node-manager among them)."""
    p = []
    nps = [o for o in objs if o["kind"] == "NetworkPolicy"]
    if not nps:
        return ["no NetworkPolicy rendered"]
    for w in _workloads(objs):
        d = _daemon(w)
        labels = w["spec"]["template"]["metadata"]["labels"]
        mine = [n for n in nps if _selects(n["spec"]["podSelector"], labels)]
        if not mine:
            p.append("%s: no NetworkPolicy selects its pods" % _name(w))
            continue
        open_to_all = any("from" not in rule for n in mine for rule in n["spec"].get("ingress", []))
        if d in ("edge-api", "versiond") and not open_to_all:
            p.append("%s: public service not reachable (no ingress rule without `from`)" % _name(w))
        if d not in ("edge-api", "versiond") and open_to_all:
            p.append("%s: %s is open to every source" % (_name(w), d))
        if d == "signerd":
            peers = [peer for n in mine for rule in n["spec"].get("ingress", []) for peer in rule.get("from", [])]
            nm = [x for x in _workloads(objs) if _daemon(x) == "node-manager"]
            for x in nm:
                xl = x["spec"]["template"]["metadata"]["labels"]
                if not any("podSelector" in peer and "namespaceSelector" not in peer and _selects(peer["podSelector"], xl) for peer in peers):
                    p.append("%s: node-manager (a producer) cannot reach signerd" % _name(w))
            for peer in peers:
                if "ipBlock" in peer:
                    p.append("%s: signerd reachable from an ipBlock %s" % (_name(w), peer["ipBlock"]))
    return p


def _secret_keys(w):
    """The credential keys projected into a workload's pods."""
    keys = set()
    for v in w["spec"]["template"]["spec"].get("volumes", []):
        for item in v.get("secret", {}).get("items", []):
            keys.add(item["key"])
        for src in v.get("projected", {}).get("sources", []):
            for item in src.get("secret", {}).get("items", []):
                keys.add(item["key"])
    return keys


def seed_signer(objs):
    """node-manager sends chain messages with no key: its seed comes from signerd (the rendered
    signerd Service and port), with a token credential of its own mounted and the warm key's public
    key to verify with; signerd then admits HTTP requests with a token file."""
    p = []
    services = {(o["metadata"]["name"], port["port"]) for o in objs if o["kind"] == "Service"
                for port in o["spec"].get("ports", [])}
    signerds = [w for w in _workloads(objs) if _daemon(w) == "signerd"]
    for w in _workloads(objs):
        if _daemon(w) != "node-manager":
            continue
        env = _env(_main_container(w))
        url = env.get("GONKA_SEED_SIGNER_URL")
        if not url:
            p.append("%s: node-manager has no GONKA_SEED_SIGNER_URL (sends no chain messages)" % _name(w))
            continue
        host_port = url.split("://", 1)[-1].rstrip("/")
        host, _, port = host_port.partition(":")
        if not any(s == (host, int(port or 80)) for s in services) or not any(_name(x).endswith(host) for x in signerds):
            p.append("%s: GONKA_SEED_SIGNER_URL %s is not the signerd Service" % (_name(w), url))
        token = env.get("GONKA_SEED_SIGNER_TOKEN_FILE", "")
        if not token or token.rsplit("/", 1)[-1] not in _secret_keys(w):
            p.append("%s: node-manager's seed-signer token (%r) is not a mounted credential" % (_name(w), token))
        if not env.get("GONKA_SEED_SIGNER_PUBLIC_KEY"):
            p.append("%s: no GONKA_SEED_SIGNER_PUBLIC_KEY to verify seeds with" % _name(w))
        for x in signerds:
            if "GONKA_ENQUEUE_TOKEN_FILE" not in _env(_main_container(x)):
                p.append("%s: signerd admits no HTTP requests (no GONKA_ENQUEUE_TOKEN_FILE): POST /v1/seed answers 403" % _name(x))
    return p


# The NATS user each daemon must run as (deploy/nats/gonka-node.conf): the one whose permissions
# are what the daemon does (tests/deploy/nats_users_test.cc proves each against nats-server).
NATS_USER = {"edge-api": "edge-api", "signerd": "signer", "node-manager": "node-manager",
             "edge-srv": "edge-srv"}


def nats_users(objs, conf_users):
    p = []
    for w in _workloads(objs):
        d = _daemon(w)
        user = _env(_main_container(w)).get("GONKA_NATS_USER")
        if user is None:
            continue  # NATS auth off
        if user not in conf_users:
            p.append("%s: NATS user %r is not in deploy/nats/gonka-node.conf" % (_name(w), user))
        elif d in NATS_USER and user != NATS_USER[d]:
            p.append("%s: %s runs as NATS user %r, whose permissions do not fit it (want %r)" %
                     (_name(w), d, user, NATS_USER[d]))
    return p


def conf_users(path):
    import re
    return set(re.findall(r"\{user:\s*([A-Za-z0-9_-]+),", open(path).read()))


def hardening(objs):
    p = []
    for w in _workloads(objs):
        spec = w["spec"]["template"]["spec"]
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            sc = c.get("securityContext", {})
            if not (sc.get("runAsNonRoot") and sc.get("readOnlyRootFilesystem") and sc.get("allowPrivilegeEscalation") is False):
                p.append("%s container %s: not non-root/read-only/no-escalation" % (_name(w), c["name"]))
            r = c.get("resources", {})
            if not (r.get("requests") and r.get("limits")):
                p.append("%s container %s: no resource requests and limits" % (_name(w), c["name"]))
        aff = spec.get("affinity", {}).get("podAntiAffinity", {})
        terms = aff.get("requiredDuringSchedulingIgnoredDuringExecution", []) + \
            [t["podAffinityTerm"] for t in aff.get("preferredDuringSchedulingIgnoredDuringExecution", [])]
        if not any(t.get("topologyKey") == "kubernetes.io/hostname" for t in terms):
            p.append("%s: no pod anti-affinity across nodes" % _name(w))
    return p


def all_rules(objs, served, defaults, warm_key_secret, nats_conf_users=None):
    return {
        "seed-signer": seed_signer(objs),
        "nats-users": nats_users(objs, nats_conf_users or set(NATS_USER.values())),
        "rolling-update": rolling_update(objs),
        "probes": probes(objs, served),
        "grace": grace(objs, defaults),
        "pdb": pdbs(objs),
        "warm-key": warm_key(objs, warm_key_secret),
        "network": network(objs),
        "hardening": hardening(objs),
    }

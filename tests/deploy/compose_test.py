#!/usr/bin/env python3
"""The compose topology (deploy/compose), proven offline (no Docker engine runs here):

  1. `docker-compose config -q` (Debian's docker-compose 1.29.2, DOCKER_HOST at a socket that
     does not exist) and the compose-spec schema with dclint 3.1.0 (0 errors, 0 warnings with
     tests/deploy/dclint.json: four ordering/naming style rules off), yamllint;
  2. the topology the issue asks for: 3 NATS JetStream nodes, Redis + 3 Sentinels, PostgreSQL,
     devchain, edge-api x2, signerd x2, node-manager x2, edge-srv x2, versiond x2 + router, two
     devmlnodes, HAProxy in front of edge-api and edge-srv;
  3. per libgonka service (on the resolved `docker-compose config`): every GONKA_*/VERSIOND_*
     variable exists in that daemon's --help and every required setting is set; the healthcheck
     hits a readiness path the daemon registers on its own port; stop_grace_period >= shutdown
     grace + drain announce; every *_FILE variable names a secret the service mounts; the warm
     key only in signerd; non-root, read-only; published ports on 127.0.0.1 only; node-manager
     gets its seed from signerd (GONKA_SEED_SIGNER_URL at signerd, its token secret mounted, the
     warm key's public key) and no key; each daemon logs into NATS as the user of
     deploy/nats/gonka-node.conf whose permissions fit it (chart_policy.NATS_USER);
  4. the HAProxy configs equal deploy/compose/render-haproxy's output and pass `haproxy -c`; the
     NATS cluster config passes `nats-server -t` with the shipped users;
  5. broken copies of the compose file: each rule must catch its break.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import deploytools as dt  # noqa: E402
import chart_policy  # noqa: E402

dt.ensure_tools()
COMPOSE_DIR = os.path.join(dt.ROOT, "deploy", "compose")
WORK = tempfile.mkdtemp(prefix="compose_test.", dir=os.environ.get("TEST_TMPDIR"))
DCLINT = os.path.join(dt.DEPLOY_TESTS, "node_modules", ".bin", "dclint")
# A clean environment: the host's GONKA_* variables must not leak into the interpolation.
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
       "DOCKER_HOST": "unix:///nonexistent.sock"}
checks = 0

FLAGS = {d: dt.daemon_flags(d) for d in dt.DAEMONS if d != "devchild"}
SERVED = {d: dt.served_paths(d) for d in dt.DAEMONS if d != "devchild"}
GRACE_DEFAULT = {d: dt.duration_seconds(dt.help_default(d, "shutdown-grace") or "0s") for d in FLAGS}
ANNOUNCE_DEFAULT = {d: dt.duration_seconds(dt.help_default(d, "drain-announce") or "0s") for d in FLAGS}
print("docker-compose " + dt.run(["docker-compose", "version", "--short"], env=ENV).stdout.strip() +
      ", dclint " + dt.run([DCLINT, "--version"]).stdout.strip())


def compose_config(path, quiet=False):
    cmd = ["docker-compose", "-f", path, "config"] + (["-q"] if quiet else [])
    return dt.run(cmd, env=ENV, cwd=os.path.dirname(path))


def service_problems(cfg):
    """Rules 2 and 3 on a resolved compose config; returns {rule: [problems]}."""
    out = {"topology": [], "settings": [], "health": [], "grace": [], "secrets": [], "warm-key": [],
           "hardening": [], "ports": [], "seed-signer": [], "nats-users": []}
    nats_users = chart_policy.conf_users(os.path.join(dt.ROOT, "deploy", "nats", "gonka-node.conf"))
    services = cfg.get("services", {})
    by_daemon = {}
    for name, s in services.items():
        image = s.get("image", "")
        cmd = s.get("command") or []
        if "gonka-node" in image and cmd:
            by_daemon.setdefault(cmd[0], []).append(name)
    counts = {"edge-api": 2, "signerd": 2, "node-manager": 2, "edge-srv": 2, "versiond": 2, "devmlnode": 2, "devchain": 1}
    for d, n in counts.items():
        if len(by_daemon.get(d, [])) < n:
            out["topology"].append("%d %s service(s), want >= %d" % (len(by_daemon.get(d, [])), d, n))
    infra = {"nats:": 3, "redis-sentinel": 3, "postgres:": 1, "haproxy:": 3}
    for key, n in infra.items():
        have = [k for k, s in services.items() if key in s.get("image", "") or key in " ".join(map(str, s.get("entrypoint") or []))]
        if len(have) < n:
            out["topology"].append("%d services with %s, want >= %d" % (len(have), key, n))
    for name, s in services.items():
        for p in s.get("ports", []):
            text = p if isinstance(p, str) else "%s:%s" % (p.get("host_ip", ""), p.get("published", ""))
            if not str(text).startswith("127.0.0.1:"):
                out["ports"].append("%s publishes %s beyond loopback" % (name, text))
    for d, names in by_daemon.items():
        if d not in FLAGS:
            out["settings"].append("%s runs %s, not a daemon of the image" % (names, d))
            continue
        for name in names:
            s = services[name]
            env = s.get("environment") or {}
            if isinstance(env, list):
                env = dict(e.split("=", 1) for e in env)
            _, p = dt.check_settings("compose " + name, d, list(env), s.get("command", [])[1:], FLAGS[d])
            out["settings"] += p
            # Readiness healthcheck on the daemon's own port and a path it registers.
            test = " ".join(s.get("healthcheck", {}).get("test", []))
            m = re.search(r"http://127\.0\.0\.1:(\d+)(/[^\s\"]*)", test)
            port = env.get("GONKA_PORT") or ("8080" if d == "versiond" else dt.help_default(d, "port"))
            if not m:
                out["health"].append("%s: healthcheck %r is not an HTTP check" % (name, test))
            else:
                if m.group(1) != str(port):
                    out["health"].append("%s: healthcheck port %s, the daemon listens on %s" % (name, m.group(1), port))
                if m.group(2) not in ("/ready", "/readyz") or m.group(2) not in SERVED[d]:
                    out["health"].append("%s: healthcheck path %s is not a readiness route %s serves (%s)" % (name, m.group(2), d, sorted(SERVED[d])))
            # stop_grace_period >= shutdown grace + announce (versiond: host budget + announce).
            sgp = dt.duration_seconds(str(s.get("stop_grace_period", "10s")))
            if d == "versiond":
                need = dt.duration_seconds(env.get("VERSIOND_HOST_SHUTDOWN_BUDGET") or dt.help_default(d, "host-shutdown-budget")) + \
                    dt.duration_seconds(env.get("VERSIOND_DRAIN_ANNOUNCE") or dt.help_default(d, "drain-announce"))
            else:
                need = dt.duration_seconds(env.get("GONKA_SHUTDOWN_GRACE") or "%ss" % GRACE_DEFAULT[d]) + \
                    dt.duration_seconds(env.get("GONKA_DRAIN_ANNOUNCE") or "%ss" % ANNOUNCE_DEFAULT[d])
            if sgp < need:
                out["grace"].append("%s: stop_grace_period %ss < shutdown grace + announce %ss" % (name, sgp, need))
            mounted = {x["source"] if isinstance(x, dict) else x for x in s.get("secrets", [])}
            for k, v in env.items():
                if k.endswith("_FILE") and str(v).startswith("/run/secrets/"):
                    if v[len("/run/secrets/"):] not in mounted:
                        out["secrets"].append("%s: %s=%s but the service does not mount that secret" % (name, k, v))
            has_key = "warm.key" in mounted or "GONKA_KEY_FILE" in env
            if (d == "signerd") != has_key:
                out["warm-key"].append("%s (%s): warm key mounted=%s" % (name, d, has_key))
            nats_user = env.get("GONKA_NATS_USER")
            if nats_user is not None and (nats_user not in nats_users or
                                          chart_policy.NATS_USER.get(d, nats_user) != nats_user):
                out["nats-users"].append("%s (%s): NATS user %r (conf users %s, want %r)" %
                                         (name, d, nats_user, sorted(nats_users), chart_policy.NATS_USER.get(d)))
            if d == "node-manager":
                url = str(env.get("GONKA_SEED_SIGNER_URL", ""))
                host = url.split("://", 1)[-1].split(":", 1)[0].split("/", 1)[0]
                signer_names = set(by_daemon.get("signerd", []))
                for sn in by_daemon.get("signerd", []):
                    for net in (services[sn].get("networks") or {}).values():
                        signer_names.update((net or {}).get("aliases", []))
                if host not in signer_names:
                    out["seed-signer"].append("%s: GONKA_SEED_SIGNER_URL %r is not signerd (%s)" % (name, url, sorted(signer_names)))
                token = str(env.get("GONKA_SEED_SIGNER_TOKEN_FILE", ""))
                if not token.startswith("/run/secrets/") or token[len("/run/secrets/"):] not in mounted:
                    out["seed-signer"].append("%s: no seed-signer token secret (%r)" % (name, token))
                if not env.get("GONKA_SEED_SIGNER_PUBLIC_KEY"):
                    out["seed-signer"].append("%s: no GONKA_SEED_SIGNER_PUBLIC_KEY" % name)
            user = str(s.get("user", "0"))
            if user.split(":")[0] in ("0", "root", "") or not s.get("read_only"):
                out["hardening"].append("%s: user %r read_only %r" % (name, user, s.get("read_only")))
    return out


def lint(path):
    r = dt.run([DCLINT, "-c", os.path.join(dt.DEPLOY_TESTS, "dclint.json"), "--max-warnings", "0", path])
    return r.returncode == 0, r.stdout + r.stderr


# 1. config -q, dclint, yamllint ---------------------------------------------------------------
compose = os.path.join(COMPOSE_DIR, "docker-compose.yml")
r = compose_config(compose, quiet=True)
checks += 1
dt.check(r.returncode == 0 and not r.stderr.strip(), "docker-compose config -q: rc=%d %s" % (r.returncode, r.stderr[-800:]))
ok, out = lint(compose)
checks += 1
dt.check(ok, "dclint: " + out[-1500:])
y = dt.run(["yamllint", "-c", os.path.join(dt.DEPLOY_TESTS, "yamllint.yaml"), compose])
checks += 1
dt.check(y.returncode == 0, "yamllint: " + y.stdout[-800:])

# 2-3. topology and per-service rules -------------------------------------------------------
r = compose_config(compose)
cfg = yaml.safe_load(r.stdout)
print("services: %s" % " ".join(sorted(cfg["services"])))
for rule, problems in service_problems(cfg).items():
    checks += 1
    for p in problems:
        dt.check(False, "compose %s: %s" % (rule, p))

# 4. HAProxy and NATS configs ------------------------------------------------------------------
rendered = os.path.join(WORK, "haproxy")
r = dt.run([sys.executable, os.path.join(COMPOSE_DIR, "render-haproxy"), rendered])
checks += 1
dt.check(r.returncode == 0, "render-haproxy: " + r.stderr[-500:])
for f in sorted(os.listdir(rendered)):
    checks += 2
    committed = os.path.join(COMPOSE_DIR, "haproxy", f)
    dt.check(os.path.exists(committed) and open(committed).read() == open(os.path.join(rendered, f)).read(),
             "deploy/compose/haproxy/%s is stale: run deploy/compose/render-haproxy" % f)
    h = dt.run(["haproxy", "-c", "-f", os.path.join(rendered, f)])
    dt.check(h.returncode == 0, "haproxy -c %s: %s" % (f, (h.stdout + h.stderr)[-600:]))
    print("haproxy -c %s: %s" % (f, "valid" if h.returncode == 0 else "INVALID"))
for f in os.listdir(os.path.join(COMPOSE_DIR, "haproxy")):
    checks += 1
    dt.check(os.path.exists(os.path.join(rendered, f)), "deploy/compose/haproxy/%s is not rendered any more" % f)
nats = os.path.join(WORK, "nats")
os.makedirs(nats)
shutil.copy(os.path.join(COMPOSE_DIR, "nats", "cluster.conf"), nats)
shutil.copy(os.path.join(dt.ROOT, "deploy", "nats", "gonka-node.conf"), nats)
with open(os.path.join(nats, "gonka-node-passwords.conf"), "w") as f:
    for user in ("PRODUCER", "SIGNER", "EDGE_API", "CONSUMER", "EDGE_SRV", "NODE_MANAGER", "ADMIN"):
        f.write('%s_PASSWORD: "test-%s"\n' % (user, user.lower()))
r = dt.run(["nats-server", "-t", "-c", os.path.join(nats, "cluster.conf")])
checks += 1
dt.check(r.returncode == 0, "nats-server -t cluster.conf: " + (r.stdout + r.stderr)[-600:])
print("nats-server -t cluster.conf: %s" % ("valid" if r.returncode == 0 else "INVALID"))

# 5. Broken copies ------------------------------------------------------------------------------
text = open(compose).read()
mutations = [
    ("settings", "GONKA_ENQUEUE_TOKEN_FILE:", "GONKA_ENQUEUE_TOKENS_FILE:"),
    ("settings", "    GONKA_PARTICIPANT: gonka1rfdsrtgx38ka7za6mlnrffm23mfad2t3y76jlu\n", ""),
    ("health", "http://127.0.0.1:8081/ready", "http://127.0.0.1:8081/readiness"),
    ("health", "http://127.0.0.1:9100/ready", "http://127.0.0.1:9101/ready"),
    ("grace", "  stop_grace_period: 40s", "  stop_grace_period: 10s"),
    ("secrets", "  secrets: [pg-edge-srv.url, nats-edge-srv.password]", "  secrets: [nats-edge-srv.password]"),
    ("seed-signer", "    GONKA_SEED_SIGNER_URL: http://signerd:8081", "    GONKA_SEED_SIGNER_URL: http://edge-api-lb:8081"),
    ("seed-signer", "            pg-node-manager.url, node-manager-seed.token]", "            pg-node-manager.url]"),
    ("nats-users", "    GONKA_NATS_USER: edge-srv\n", "    GONKA_NATS_USER: consumer\n"),
    ("nats-users", "    GONKA_NATS_USER: node-manager\n", "    GONKA_NATS_USER: producer\n"),
    ("warm-key", "  secrets: [nats-edge-api.password, redis.password]", "  secrets: [warm.key, nats-edge-api.password, redis.password]"),
    ("hardening", "  read_only: true", "  read_only: false"),
    ("ports", "'127.0.0.1:8080:8080'", "'8080:8080'"),
    ("topology", "  signerd-2:\n    <<: *signerd\n", ""),
    ("config", "  restart: on-failure\n  stop_grace_period", "  restart: on-failure\n  stop_grace_periods: 40s\n  stop_grace_period"),
]
for i, (rule, old, new) in enumerate(mutations):
    checks += 1
    if not dt.check(old in text, "broken compose %s: %r not in docker-compose.yml (update the mutation)" % (rule, old)):
        continue
    d = os.path.join(WORK, "broken-%d" % i)
    shutil.copytree(COMPOSE_DIR, d, ignore=shutil.ignore_patterns("secrets", "data"))
    os.makedirs(os.path.join(d, "..", "nats"), exist_ok=True)
    path = os.path.join(d, "docker-compose.yml")
    open(path, "w").write(text.replace(old, new))
    if rule == "config":
        caught = compose_config(path, quiet=True).returncode != 0 and not lint(path)[0]
    else:
        r = compose_config(path)
        caught = r.returncode == 0 and bool(service_problems(yaml.safe_load(r.stdout))[rule])
    checks += 1
    dt.check(caught, "broken compose (%s: %r -> %r) was NOT caught" % (rule, old, new))
    print("broken compose %-10s caught: %s" % (rule, caught))

dt.finish("compose_test", checks)

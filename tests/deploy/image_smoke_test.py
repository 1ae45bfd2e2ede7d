#!/usr/bin/env python3
"""Smoke test of the gonka-node image: builds it with tools/image from the test's daemon binaries
(the root filesystem is cached in /var/cache/gonka/image; the first run debootstraps it), then runs every
daemon from the image with podman (--runtime runc, lowered ulimits, --network host, read-only
root, the image's non-root user) against servers on this host — nats-server -js, redis-server,
PostgreSQL — and a devchain that itself runs from the image, and checks each one's /ready (versiond:
/readyz) answers 200, that it runs as uid 10001, and that SIGTERM stops it cleanly (exit 0).

When podman, runc or root is missing, or the root filesystem cannot be built (no route to the
Debian mirror), the test prints SKIP with the reason and records the test as skipped in its
XML result: it never passes silently.
"""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import deploytools as dt  # noqa: E402

TAG = "localhost/gonka-node:smoke"
UID = 10001
PODMAN = ["podman", "run", "-d", "--runtime", "runc", "--ulimit", "nofile=1024:1024",
          "--ulimit", "nproc=1024:1024", "--network", "host", "--read-only", "--tmpfs", "/tmp"]
WARM = "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling"
PARTICIPANT = "gonka1qyqszqgpqyqszqgpqyqszqgpqyqszqgpzxxq27"


def skip(reason):
    print("SKIP: image smoke test not run: " + reason, flush=True)
    xml = os.environ.get("XML_OUTPUT_FILE")
    if xml:
        with open(xml, "w") as f:
            f.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name="image_smoke_test" '
                    'tests="1" skipped="1" failures="0" errors="0"><testcase name="image_smoke" '
                    'classname="tests.deploy"><skipped message="%s"/></testcase></testsuite></testsuites>\n'
                    % reason.replace('"', "'").replace("<", "(").replace(">", ")"))
    sys.exit(0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, deadline_s, want=200):
    end = time.time() + deadline_s
    last = ""
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == want:
                    return True, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            last = "%d %s" % (e.code, e.read().decode(errors="replace")[:200])
        except Exception as e:  # connection refused while starting
            last = str(e)
        time.sleep(0.3)
    return False, last


def wait_tcp(port, deadline_s):
    end = time.time() + deadline_s
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


# -- The Dockerfile and tools/image build the same image ---------------------------------------
# (no engine here: the Dockerfile itself cannot be built; at least it ships the same daemons and
# installs the same package list)
import re  # noqa: E402
dockerfile = open(os.path.join(dt.ROOT, "deploy", "image", "Dockerfile")).read()
tools_image = open(os.path.join(dt.ROOT, "tools", "image")).read()
want = sorted(dt.DAEMONS + ["devchild"])
docker_daemons = sorted(set(re.findall(r"//daemons/([a-z-]+)", dockerfile)))
image_daemons = sorted(re.search(r"^DAEMONS=\(([^)]*)\)", tools_image, re.M).group(1).split())
dt.check(docker_daemons == want, "Dockerfile builds %s, want %s" % (docker_daemons, want))
dt.check(image_daemons == want, "tools/image ships %s, want %s" % (image_daemons, want))
dt.check("runtime-packages.txt" in dockerfile and "runtime-packages.txt" in tools_image,
         "Dockerfile and tools/image must both install deploy/image/runtime-packages.txt")
dt.check("USER 10001" in dockerfile and "UID_GONKA=10001" in tools_image, "both images run as uid 10001")
if dt.failures():
    dt.finish("image_smoke_test", 4)

# -- Can this machine run it at all? ----------------------------------------------------------
if "log_path=" in os.environ.get("ASAN_OPTIONS", ""):
    # tools/test's sanitized pass (tools/sanitizers/run_under.sh): its daemons are ASan builds,
    # whose reports would be lost inside the containers; the image ships the gcc build.
    skip("sanitized pass: the image is checked in the gcc pass (the daemons themselves are sanitized by their own tests)")
for tool in ("podman", "runc"):
    if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
        skip("%s is not installed (tools/setup installs it)" % tool)
if os.geteuid() != 0:
    skip("needs root (podman import and run with the host network here); running as uid %d" % os.geteuid())
probe = dt.run(["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"])
if probe.returncode != 0:
    skip("podman info failed: " + (probe.stdout + probe.stderr)[-300:])

# -- The image, from this test's daemon binaries ------------------------------------------------
bins = tempfile.mkdtemp(prefix="image_bins.", dir=os.environ.get("TEST_TMPDIR"))
for d in dt.DAEMONS + ["devchild"]:
    shutil.copy(dt.daemon_binary(d), os.path.join(bins, d))
t0 = time.time()
r = dt.run([os.path.join(dt.ROOT, "tools", "image"), "--binaries", bins, "--tag", TAG])
print((r.stdout + r.stderr).strip().splitlines()[-1] if (r.stdout + r.stderr).strip() else "", flush=True)
if r.returncode != 0:
    out = r.stdout + r.stderr
    if "debootstrap" in out and not os.path.exists(os.environ.get("GONKA_IMAGE_CACHE", "/var/cache/gonka/image")):
        skip("the root filesystem could not be built (debootstrap): " + out[-300:])
    dt.check(False, "tools/image failed: " + out[-1500:])
    dt.finish("image_smoke_test", 1)
print("image %s built in %.1fs" % (TAG, time.time() - t0))
size = dt.run(["podman", "image", "inspect", TAG, "--format", "{{.Size}} {{.Config.User}}"]).stdout.split()
print("image size %.0f MB, user %s" % (int(size[0]) / 1e6, size[1]))
checks = 5
dt.check(size[1].startswith(str(UID)), "image user is %r, want %d" % (size[1], UID))
# Every shared library every daemon needs is in the image (runtime-packages.txt is complete).
ldd = dt.run(["podman", "run", "--rm", "--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit",
              "nproc=1024:1024", "--network", "none", "--entrypoint", "/bin/sh", TAG, "-c",
              "for f in /usr/local/bin/*; do echo \"== $f\"; ldd \"$f\"; done"])
missing = [line.strip() for line in ldd.stdout.splitlines() if "not found" in line]
checks += 1
dt.check(ldd.returncode == 0 and not missing, "libraries missing in the image: %s %s" % (missing, ldd.stderr[-300:]))
print("ldd in the image: %d binaries, %d missing libraries" % (ldd.stdout.count("== "), len(missing)))

# -- Host servers -----------------------------------------------------------------------------
T = tempfile.mkdtemp(prefix="image_smoke.", dir="/tmp")
os.chmod(T, 0o755)
procs = []
containers = []


def host(cmd, log, user=None):
    if user:
        cmd = ["runuser", "-u", user, "--"] + cmd
    p = subprocess.Popen(cmd, stdout=open(os.path.join(T, log), "w"), stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def secret(name, content):
    path = os.path.join(T, name)
    with open(path, "w") as f:
        f.write(content)
    os.chmod(path, 0o600)
    os.chown(path, UID, UID)
    return path


def run_daemon(name, daemon, env, mounts=(), extra=()):
    cmd = list(PODMAN) + ["--name", "smoke-%s-%d" % (name, os.getpid())] + list(extra)
    for k, v in env.items():
        cmd += ["-e", "%s=%s" % (k, v)]
    for src, dst in mounts:
        cmd += ["-v", "%s:%s:ro" % (src, dst)]
    cmd += [TAG, daemon]
    r = dt.run(cmd)
    if r.returncode != 0:
        dt.check(False, "podman run %s: %s" % (name, r.stderr[-500:]))
        return None
    cid = r.stdout.strip()
    containers.append((name, cid))
    return cid


def logs(cid):
    r = dt.run(["podman", "logs", "--tail", "15", cid])
    return (r.stdout + r.stderr)[-1500:]


try:
    nats_port, redis_port, pg_port = free_port(), free_port(), free_port()
    host(["nats-server", "-a", "127.0.0.1", "-p", str(nats_port), "-js", "-sd", os.path.join(T, "nats")], "nats.log")
    host(["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--dir", T, "--save", "", "--appendonly", "no"], "redis.log")
    pg = os.path.join(T, "pg")
    os.makedirs(pg)
    shutil.chown(pg, "nobody")
    pgb = "/usr/lib/postgresql/15/bin"
    subprocess.run(["runuser", "-u", "nobody", "--", pgb + "/initdb", "-D", pg, "-U", "postgres", "-A", "trust",
                    "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    host([pgb + "/postgres", "-D", pg, "-p", str(pg_port), "-k", pg, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
         "pg.log", user="nobody")
    for port, what in ((nats_port, "nats"), (redis_port, "redis"), (pg_port, "postgres")):
        checks += 1
        dt.check(wait_tcp(port, 30), "host %s did not open port %d" % (what, port))

    common = {"GONKA_BIND": "127.0.0.1", "GONKA_DRAIN_ANNOUNCE": "1s", "GONKA_SHUTDOWN_GRACE": "5s", "GONKA_LOG_LEVEL": "info"}
    chain_port, grpc_port = free_port(), free_port()
    genesis = secret("genesis.json", json.dumps({"accounts": [{"mnemonic": WARM, "balances": {"ngonka": "1000000000000"}}]}))
    warm = secret("warm.key", WARM + "\n")
    pg_url = secret("pg.url", "host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable\n" % pg_port)
    ml_port, ml_inf = free_port(), free_port()
    ports = {}

    ports["devchain"] = chain_port
    run_daemon("devchain", "devchain", dict(common, GONKA_PORT=str(chain_port), GONKA_GRPC_ADDRESS="127.0.0.1:%d" % grpc_port,
                                              GONKA_BLOCK_INTERVAL="300ms", GONKA_EPOCH_LENGTH="60",
                                              GONKA_POC_STAGE_DURATION="12", GONKA_POC_VALIDATION_DURATION="8",
                                              GONKA_SET_NEW_VALIDATORS_DELAY="5",
                                              GONKA_GENESIS="/run/secrets/genesis.json"),
               [(genesis, "/run/secrets/genesis.json")])
    ok, why = wait_http("http://127.0.0.1:%d/ready" % chain_port, 30)
    checks += 1
    if not dt.check(ok, "devchain from the image not ready: %s\n%s" % (why, logs(containers[0][1]))):
        raise SystemExit(1)

    chain = {"GONKA_CHAIN_RPC_URL": "http://127.0.0.1:%d" % chain_port}
    conn = {"GONKA_NATS_URL": "nats://127.0.0.1:%d" % nats_port, "GONKA_REDIS_URL": "redis://127.0.0.1:%d" % redis_port}
    ports["edge-api"] = free_port()
    run_daemon("edge-api", "edge-api", dict(common, **chain, **conn, GONKA_PORT=str(ports["edge-api"]), GONKA_CHAIN_ID="gonka-devnet",
                                              GONKA_CHAIN_GRPC_ADDRESS="127.0.0.1:%d" % grpc_port, GONKA_START_HEIGHT="1"))
    ports["signerd"] = free_port()
    run_daemon("signerd", "signerd", dict(common, **chain, **conn, GONKA_PORT=str(ports["signerd"]), GONKA_CHAIN_ID="gonka-devnet",
                                            GONKA_KEY_FILE="/run/secrets/warm.key", GONKA_PG_URL_FILE="/run/secrets/pg.url"),
               [(warm, "/run/secrets/warm.key"), (pg_url, "/run/secrets/pg.url")])
    ports["devmlnode"] = ml_port
    run_daemon("devmlnode", "devmlnode", dict(common, GONKA_PORT=str(ml_port), GONKA_INFERENCE_BIND="127.0.0.1",
                                                GONKA_INFERENCE_PORT=str(ml_inf)))
    ports["edge-srv"] = free_port()
    run_daemon("edge-srv", "edge-srv", dict(common, **chain, GONKA_PORT=str(ports["edge-srv"]), GONKA_PG_URL_FILE="/run/secrets/pg.url",
                                              GONKA_NATS_URL=conn["GONKA_NATS_URL"],
                                              GONKA_CHAIN_GRPC_ADDRESS="127.0.0.1:%d" % grpc_port),
               [(pg_url, "/run/secrets/pg.url")])
    ml_nodes = os.path.join(T, "ml-nodes.json")
    with open(ml_nodes, "w") as f:
        json.dump([{"id": "ml-1", "api_url": "http://127.0.0.1:%d" % ml_port, "inference_url": "http://127.0.0.1:%d" % ml_inf,
                    "model": "Qwen/Qwen3-8B"}], f)
    os.chmod(ml_nodes, 0o644)
    ports["node-manager"] = free_port()
    run_daemon("node-manager", "node-manager", dict(common, **chain, **conn, GONKA_PORT=str(ports["node-manager"]),
                                                      GONKA_PARTICIPANT=PARTICIPANT, GONKA_ML_NODES_FILE="/etc/gonka/ml-nodes.json",
                                                      GONKA_CHAIN_GRPC_ADDRESS="127.0.0.1:%d" % grpc_port,
                                                      GONKA_CALLBACK_URL="http://127.0.0.1:%d/v2/poc-batches" % ports["edge-srv"]),
               [(ml_nodes, "/etc/gonka/ml-nodes.json")])
    ports["versiond"] = free_port()
    run_daemon("versiond", "versiond", {"VERSIOND_BIND": "127.0.0.1", "VERSIOND_PORT": str(ports["versiond"]),
                                          "VERSIOND_ORACLE_URL": "file:///etc/gonka/versiond-oracle.json",
                                          "VERSIOND_BINARY_NAME": "devchild", "VERSIOND_BIN_DIR": "/var/lib/versiond/bin",
                                          "VERSIOND_DATA_DIR": "/var/lib/versiond/data", "VERSIOND_DRAIN_ANNOUNCE": "5s",
                                          "VERSIOND_DRAIN_TIMEOUT": "5s", "VERSIOND_DRAIN_KILL_GRACE": "3s",
                                          "DEVSHARD_SHUTDOWN_GRACE": "3s", "VERSIOND_HOST_SHUTDOWN_BUDGET": "15s"},
               extra=["--tmpfs", "/var/lib/versiond:exec,mode=1777"])

    for name, cid in containers:
        path = "/readyz" if name == "versiond" else "/ready"
        ok, why = wait_http("http://127.0.0.1:%d%s" % (ports[name], path), 60)
        checks += 1
        dt.check(ok, "%s from the image: %s not 200 within 60s: %s\n%s" % (name, path, why, logs(cid)))
        live = wait_http("http://127.0.0.1:%d/healthz" % ports[name], 5)[0]
        checks += 1
        dt.check(live, "%s from the image: /healthz not 200" % name)
        uid = dt.run(["podman", "exec", cid, "id", "-u"]).stdout.strip()
        checks += 1
        dt.check(uid == str(UID), "%s runs as uid %r, want %d" % (name, uid, UID))
        print("%-13s %s %s, /healthz %s, uid %s" % (name, path, 200 if ok else "FAIL", 200 if live else "FAIL", uid), flush=True)
    # versiond really runs its child from the oracle document (installed, sha256-checked).
    ok, body = wait_http("http://127.0.0.1:%d/v1/healthz" % ports["versiond"], 10)
    checks += 1
    dt.check(ok, "versiond did not proxy /v1/healthz to its devchild: " + body)

    # SIGTERM through tini: each daemon drains and exits 0.
    for name, cid in reversed(containers):
        t = time.time()
        dt.run(["podman", "stop", "-t", "30", cid])
        code = dt.run(["podman", "inspect", cid, "--format", "{{.State.ExitCode}}"]).stdout.strip()
        checks += 1
        dt.check(code == "0", "%s exited %s after SIGTERM, want 0:\n%s" % (name, code, logs(cid)))
        print("%-13s stopped by SIGTERM in %.1fs, exit %s" % (name, time.time() - t, code), flush=True)
finally:
    for name, cid in containers:
        dt.run(["podman", "rm", "-f", cid])
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(T, ignore_errors=True)
    if dt.failures():
        dt.finish("image_smoke_test", checks)

dt.finish("image_smoke_test", checks)

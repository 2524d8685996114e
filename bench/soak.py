#!/usr/bin/env python3
"""Soak two tokenwarden instances on one PostgreSQL under mixed traffic.

One command, on a machine with the Rust toolchain, a PostgreSQL server whose
user may create databases (`--postgres`, default $TOKENWARDEN_TEST_POSTGRES_URL
or postgres://postgres@127.0.0.1:5432/postgres) and Debian's package manager
(wrk is installed from it if missing):

    python3 bench/soak.py              # 5 minutes of load, about 5.5 minutes in all
    python3 bench/soak.py --quick      # a 1-minute smoke run: 10 brands x 5 profiles,
                                       # 120 s tokens, 15 s baseline, 10 s segments
    python3 bench/soak.py --minutes 20 # a longer soak; --help for every size

It builds the release binary (unless `--skip-build`) and starts three
processes of it, all on 127.0.0.1:

* **the network**: `serve --sandbox --no-worker` on its own SQLite, whose
  built-in sandbox (an OAuth 2.0 server with rotating refresh tokens: a
  refresh token spent twice kills the grant) plays the social network for
  both instances; its control API sets the token lifetime, makes every token
  call slow (`{"type": "slow"}` failures) and counts the refresh grants;
* **instances A and B**: `serve` with the lifecycle worker (ticking every
  second), each with its own data dir, port and `public_url`, on one fresh
  PostgreSQL database (`tokenwarden_soak_<random>`, dropped at the end), the
  same key ring and HS256 secret, and a `[networks.sandbox]` whose URLs point
  at the network process.

It seeds, over the real OAuth flow and alternating A and B, with the key ring
`[k1]`: organization "Soak" (Enterprise: Advanced allows 50 brands; both
propagate renewals) with 50 brands x 10 profiles plus one
profile connected in every brand, 5 brands x 10 profiles whose grants are
then revoked at the network (the Expired Tokens dropdown's 50 entries,
`reauth_required`), and a webhook subscription to a receiver this script
runs (it answers 204, verifies every signature, deduplicates on
`webhook-id`); organization "Flood" (Advanced) with 5 profiles. The first token
lifetimes are staggered so that refreshes come steadily, every later token
lives `--lifetime` seconds (the sandbox preset refreshes 60 s ahead).

Then it stops A and B, resets the network's call counters, notes every
credential's `version`, and restarts both with the ring `k2,k1` (a new key
first: the documented rotation procedure), and measures:

1. **baseline** (60 s): reads only, at a constant moderate rate (wrk, 2
   threads, 4 connections, a Lua `delay()`, ~150 req/s per stream): the
   dropdown `GET /v1/expired-tokens?limit=50` on A and Manage Accounts
   `GET /v1/brands/{id}/accounts?limit=50` on B, both gzip, as Soak. The
   workers refresh what comes due meanwhile, at the network's normal speed;
2. **mixed** (the rest of `--minutes`, in 30 s segments): the same reads
   plus, from Python threads, explicit renewals of the accounts that are due
   (they race with both workers, on purpose: the refresh is single-flight),
   vault reads (`POST /v1/accounts/{id}/access-token`), a new brand with a
   new network identity connected every 5 s, and a probe timing one of each
   read every 100 ms -- every token call taking 1.5 s at the network. In the
   2nd of every 4 segments organization Flood hammers A and B with wrk at
   full speed (1 thread, 16 connections each; its 429s are expected: budgets
   are per organization and instance); in the 4th the same wrk hammers
   `/healthz` instead, a route no budget applies to: the control that says
   what a flood costs this machine by itself. At the start of the middle
   segment `tokenwarden keys rotate` runs against the same database, under
   all of this;
3. **drain**: the load stops, the slow calls are cleared, and it waits until
   no webhook message is pending and no refresh lease is held. Then it reads
   `/metrics`, restarts A and B with the ring `[k2]` alone (the old key
   dropped) and reads every live account's token from the vault through them.

Every process (the network, A, B, each wrk) runs in a session of its own,
so that Linux's autogroup scheduling gives each its own share of the cores,
as separate hosts would. With all of them in one session, a full-speed wrk
on the same two cores stalled every PostgreSQL client in that session --
psql's `SELECT 1` as much as tokenwarden's queries -- for up to 6 s, while
SQLite and `/healthz` stayed in milliseconds: a property of the test rig,
not of the service.

RSS (VmRSS) of A and B is sampled every 10 s throughout. Checks (PASS/FAIL,
exit status 1 on any FAIL):

* no 5xx anywhere: `/metrics` of every run of A and B, wrk's status counts,
  the Python clients' answers (a 429 is expected for Flood only; a request
  that got no answer counts as a failure too);
* read p99 in the mixed phase (the segments without a flood) at most 3x the
  baseline's + 5 ms (a p99 of 2 ms moves by milliseconds between two quiet
  runs here) and under 50 ms, and no read as slow as a network call;
* Soak's read p99 while Flood floods at most 2x + 5 ms that of the segments
  without a flood, and under 50 ms (the control's p99 is reported beside);
* memory flat: the largest RSS of the second half of the mixed phase at most
  1.2x that of its first half + 4 MiB;
* refreshes: the network's refresh grants equal the refreshes tokenwarden
  stored (the sum of `version` increases), i.e. none done twice and none
  lost; no credential `reauth_required` or `refresh_failing` but the ones
  revoked on purpose; no live credential expired at the end; no credential
  refreshed more often than its lifetime requires (1 + the counted time /
  (lifetime - lead - 5 s));
* rotation: `keys rotate` succeeds under the load, after it and at the end
  every secret is under k2, and every live account's token opens with k2
  alone;
* no plaintext token (`sbx_at_`, `sbx_rt_`: every sandbox token starts so)
  in a `pg_dump` of the database, in A's and B's logs and data dirs, or in a
  webhook body;
* outbox drained: no message pending or failed, every delivered message
  received, every signature valid.

Results go to bench/soak-results.md and to standard output.
"""

import argparse
import base64
import collections
import datetime
import hashlib
import hmac
import http.client
import http.server
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
sys.dont_write_bytecode = True  # no bench/__pycache__ from the import below
import run  # noqa: E402  (bench/run.py: free_port, the binary's path)

ROOT = run.ROOT
BINARY = run.BINARY
free_port = run.free_port

SENTINELS = (b"sbx_at_", b"sbx_rt_")
LEAD = 60  # the sandbox preset's refresh lead (src/providers/presets.rs)
SOAK_SCOPES = "accounts:read accounts:write tokens:renew tokens:read org:admin"
# Per-request lines would be most of the log under the flood; everything else stays at info.
LOG_FILTER = "info,tokenwarden::api::middleware=warn"
# wrk's Lua: a constant rate (delay), status classes counted per thread, the
# latency histogram written out so that segments can be merged exactly.
LUA = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) c2xx = 0; c3xx = 0; c429 = 0; c4xx = 0; c5xx = 0 end
__DELAY__
function response(status, headers, body)
  if status < 300 then c2xx = c2xx + 1
  elseif status < 400 then c3xx = c3xx + 1
  elseif status == 429 then c429 = c429 + 1
  elseif status < 500 then c4xx = c4xx + 1
  else c5xx = c5xx + 1 end
end
function done(summary, latency, requests)
  local t = {c2xx = 0, c3xx = 0, c429 = 0, c4xx = 0, c5xx = 0}
  for _, th in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + th:get(k) end
  end
  io.write(string.format("SOAK-STATUS %d %d %d %d %d\n", t.c2xx, t.c3xx, t.c429, t.c4xx, t.c5xx))
  local e = summary.errors
  io.write(string.format("SOAK-SUMMARY %d %d %d %d %d %d %d\n", summary.duration, summary.requests,
    summary.bytes, e.connect, e.read, e.write, e.timeout))
  if __HIST__ then
    for i = 1, #latency do
      local v, c = latency(i)
      io.write(string.format("SOAK-H %d %d\n", v, c))
    end
  end
end
"""


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def clean_env():
    """The environment without anything that would configure tokenwarden behind our back."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TOKENWARDEN_") and k not in ("DATABASE_URL", "RUST_LOG")}
    return env


def psql(url, sql):
    out = subprocess.run(["psql", url, "-AtqX", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def percentile(hist, p):
    """`hist`: {latency_us: count}; the p-th percentile in ms."""
    total = sum(hist.values())
    if not total:
        return float("nan")
    rank = max(1, round(total * p / 100))
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return value / 1000
    return max(hist) / 1000


def list_percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(len(values) * p / 100) - 1))]


# ---------------------------------------------------------------- HTTP


class Answer:
    __slots__ = ("status", "body", "headers", "ms")

    def __init__(self, status, body, headers, ms):
        self.status, self.body, self.headers, self.ms = status, body, headers, ms


class Conn:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:port. A request that
    fails is answered as status 0 (and the connection reopened), never
    retried: the soak counts it. A connection idle for more than 2 s is
    reopened before use, as HTTP clients do: the server may close it after
    its keep-alive time (5 s) just as a request is sent on it."""

    IDLE = 2.0

    def __init__(self, port, timeout=60):
        self.port, self.timeout = port, timeout
        self.conn = None
        self.used = 0.0

    def request(self, method, path, token=None, body=None, headers=None):
        headers, data = run.request_parts(token, body, headers)
        t0 = time.perf_counter()
        if self.conn is not None and time.monotonic() - self.used > self.IDLE:
            self.conn.close()
            self.conn = None
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (http.client.HTTPException, OSError) as error:
            if self.conn:
                self.conn.close()
            self.conn = None
            return Answer(0, {"error": repr(error)}, {}, (time.perf_counter() - t0) * 1000)
        ms = (time.perf_counter() - t0) * 1000
        self.used = time.monotonic()
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        payload = None
        if raw and raw[:1] in (b"{", b"["):
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = None
        return Answer(response.status, payload, {k.lower(): v for k, v in response.getheaders()}, ms)


def must(answer, *statuses):
    if answer.status not in statuses:
        raise RuntimeError(f"expected {statuses}, got {answer.status}: {answer.body}")
    return answer.body


# ---------------------------------------------------------------- processes


class Process:
    """One tokenwarden process with its log appended to a file."""

    def __init__(self, name, port, log_path):
        self.name, self.port, self.log_path = name, port, log_path
        self.process = None

    def start(self, args, env):
        self.log = open(self.log_path, "a")
        self.process = subprocess.Popen(args, env=env, stdout=self.log, stderr=self.log, start_new_session=True)
        c = Conn(self.port, timeout=5)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited at start (log: {self.log_path})")
            if c.request("GET", "/readyz").status == 200:
                return
            time.sleep(0.1)
        raise SystemExit(f"{self.name} did not become ready (log: {self.log_path})")

    def rss_mib(self):
        try:
            with open(f"/proc/{self.process.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except (OSError, AttributeError):
            pass
        return float("nan")

    def signal_stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout=90):
        if not self.process:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log(f"{self.name} did not stop within {timeout} s; killing it")
            self.process.kill()
            self.process.wait()
        self.log.close()
        self.process = None

    def stop(self):
        self.signal_stop()
        self.wait_stopped()


class Instance(Process):
    def __init__(self, name, root, network_port, database_url, jwt_secret):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        super().__init__(name, free_port(), os.path.join(self.dir, "server.log"))
        self.public_url = f"http://127.0.0.1:{self.port}"
        self.database_url, self.jwt_secret = database_url, jwt_secret
        self.config = os.path.join(self.dir, "soak.toml")
        base = f"http://127.0.0.1:{network_port}/sandbox"
        with open(self.config, "w") as f:
            f.write(f'[networks.sandbox]\nkind = "sandbox"\nauthorize_url = "{base}/authorize"\n'
                    f'token_url = "{base}/token"\nrevoke_url = "{base}/revoke"\n'
                    f'identity_url = "{base}/userinfo"\n')
        self.runs = []  # /metrics of every run, read before each stop

    def env(self, ring, rate_requests, rate_window):
        env = clean_env()
        env.update({
            "DATABASE_URL": self.database_url,
            "TOKENWARDEN_ENCRYPTION_KEYS": ring,
            "TOKENWARDEN_JWT__HS256_SECRET": self.jwt_secret,
            "TOKENWARDEN_PUBLIC_URL": self.public_url,
            "TOKENWARDEN_WORKER__TICK_SECS": "1",
            "TOKENWARDEN_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
            "TOKENWARDEN_RATE_LIMIT__REQUESTS": str(rate_requests),
            "TOKENWARDEN_RATE_LIMIT__WINDOW_SECS": str(rate_window),
            "TOKENWARDEN_LOG__LEVEL": LOG_FILTER,
        })
        return env

    def launch(self, ring, rate_requests=0, rate_window=60):
        self.start([BINARY, "--dev", "--config", self.config, "--data-dir", self.dir, "serve",
                    "--bind", f"127.0.0.1:{self.port}"], self.env(ring, rate_requests, rate_window))

    def metrics(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        counts = collections.Counter()
        for m in re.finditer(r'^tokenwarden_http_requests_total\{([^}]*)\} (\d+)', text, re.M):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            counts[(labels.get("method"), labels.get("route"), labels.get("status"))] += int(m.group(2))
        failed = re.search(r"^tokenwarden_worker_failed_ticks_total (\d+)", text, re.M)
        return {"requests": counts, "failed_ticks": int(failed.group(1)) if failed else None}

    def stop_and_record(self):
        self.runs.append(self.metrics())
        self.stop()


def tw(args, env, **kw):
    return subprocess.run([BINARY] + args, env=env, capture_output=True, text=True, **kw)


# ---------------------------------------------------------------- webhook receiver


class Receiver:
    """Answers 204 to every POST; counts, deduplicates on `webhook-id`,
    verifies the Standard Webhooks signature and looks for plaintext tokens."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ids = collections.Counter()
        self.types = collections.Counter()
        self.bad_signatures = 0
        self.sentinel_hits = 0
        self.secret = None
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.receive(self.headers, body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def receive(self, headers, body):
        wid, ts, sig = headers.get("webhook-id"), headers.get("webhook-timestamp"), headers.get("webhook-signature", "")
        ok = False
        if self.secret and wid and ts:
            key = base64.b64decode(self.secret.split("_", 1)[1])
            mac = hmac.new(key, f"{wid}.{ts}.".encode() + body, hashlib.sha256).digest()
            expected = "v1," + base64.b64encode(mac).decode()
            ok = any(hmac.compare_digest(expected, s) for s in sig.split())
        try:
            kind = json.loads(body).get("type", "?")
        except ValueError:
            kind = "unparsable"
        with self.lock:
            self.ids[wid] += 1
            self.types[kind] += 1
            if not ok:
                self.bad_signatures += 1
            if any(s in body for s in SENTINELS):
                self.sentinel_hits += 1

    def snapshot(self):
        with self.lock:
            return collections.Counter(self.ids), collections.Counter(self.types), self.bad_signatures, self.sentinel_hits

    def close(self):
        self.server.shutdown()


# ---------------------------------------------------------------- recording


class Stats:
    """Python clients' answers by phase and operation."""

    def __init__(self):
        self.lock = threading.Lock()
        self.phase = "setup"
        self.ops = collections.defaultdict(lambda: {"ms": [], "status": collections.Counter(),
                                                     "outcome": collections.Counter()})
        self.failures = []  # (phase, op, what) of answers that never came

    def record(self, op, answer, outcome=None):
        with self.lock:
            entry = self.ops[(self.phase, op)]
            entry["ms"].append(answer.ms)
            entry["status"][answer.status] += 1
            if outcome:
                entry["outcome"][outcome] += 1
            if answer.status == 0:
                self.failures.append((self.phase, op, f"{answer.body.get('error')} after {answer.ms:.0f} ms"))


class RssSampler(threading.Thread):
    def __init__(self, procs, stats, period=10):
        super().__init__(daemon=True)
        self.procs, self.stats, self.period = procs, stats, period
        self.samples = []
        self.stop_event = threading.Event()
        self.t0 = time.monotonic()

    def sample(self):
        self.samples.append((time.monotonic() - self.t0, self.stats.phase,
                             [p.rss_mib() for p in self.procs]))

    def run(self):
        while not self.stop_event.is_set():
            self.sample()
            self.stop_event.wait(self.period)


# ---------------------------------------------------------------- wrk


class Wrk:
    def __init__(self, workdir):
        self.workdir = workdir

    def script(self, name, delay_ms, hist):
        path = os.path.join(self.workdir, f"{name}.lua")
        # Written once, and whole before its name exists: a wrk starting
        # meanwhile must never read it half written (it would run without
        # its delay, at full speed).
        if not os.path.exists(path):
            delay = f"function delay() return {delay_ms} end" if delay_ms else ""
            with open(path + ".tmp", "w") as f:
                f.write(LUA.replace("__DELAY__", delay).replace("__HIST__", "true" if hist else "false"))
            os.replace(path + ".tmp", path)
        return path

    def start(self, port, path, token, seconds, threads, connections, rate=None, hist=True,
              headers=("Accept-Encoding: gzip",)):
        delay = max(1, round(1000 * connections / rate)) if rate else 0
        script = self.script(f"wrk-{delay}-{int(hist)}", delay, hist)
        args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", script,
                "-H", f"Authorization: Bearer {token}"]
        for h in headers:
            args += ["-H", h]
        args.append(f"http://127.0.0.1:{port}{path}")
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)

    @staticmethod
    def finish(proc):
        out, err = proc.communicate()
        r = {"hist": collections.Counter(), "requests": 0, "duration_s": 0.0, "bytes": 0,
             "status": collections.Counter(), "socket_errors": 0, "stderr": err.strip()}
        for line in out.splitlines():
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "SOAK-H":
                r["hist"][int(parts[1])] += int(parts[2])
            elif parts[0] == "SOAK-STATUS":
                for k, v in zip(("2xx", "3xx", "429", "4xx", "5xx"), parts[1:]):
                    r["status"][k] += int(v)
            elif parts[0] == "SOAK-SUMMARY":
                duration, requests, nbytes, *errors = (int(x) for x in parts[1:])
                r["duration_s"], r["requests"], r["bytes"] = duration / 1e6, requests, nbytes
                r["socket_errors"] = sum(errors)
        if proc.returncode != 0 or not r["requests"]:
            r["socket_errors"] += 1
            r["stderr"] = (r["stderr"] + f" (wrk exited {proc.returncode})").strip()
        return r


def merge(results):
    m = {"hist": collections.Counter(), "requests": 0, "duration_s": 0.0, "bytes": 0,
         "status": collections.Counter(), "socket_errors": 0}
    for r in results:
        m["hist"].update(r["hist"])
        m["status"].update(r["status"])
        for k in ("requests", "duration_s", "bytes", "socket_errors"):
            m[k] += r[k]
    return m


# ---------------------------------------------------------------- the soak


class Soak:
    def __init__(self, args):
        self.args = args
        self.root = tempfile.mkdtemp(prefix="tokenwarden-soak-")
        self.stats = Stats()
        self.checks = []
        self.notes = []
        self.lock = threading.Lock()
        self.instances = []
        self.network = None
        self.receiver = None
        self.db_name = None
        self.results = {}
        self.probes = []

    # -- helpers

    def check(self, name, ok, detail):
        self.checks.append((name, bool(ok), detail))
        log(f"{'PASS' if ok else 'FAIL'} {name}: {detail}")

    def net(self):
        return Conn(self.network.port)

    def mint(self, org, scopes):
        env = clean_env()
        env["TOKENWARDEN_JWT__HS256_SECRET"] = self.jwt_secret
        out = tw(["--dev", "--data-dir", self.A.dir, "token", "mint", "--org", org, "--sub", "soak",
                  "--scope", scopes, "--ttl", "4h"], env, check=True)
        return out.stdout.strip()

    def in_parallel(self, jobs, work, threads=8):
        """Runs `work(conns, job)` over jobs on `threads` threads; conns: port -> Conn."""
        results = [None] * len(jobs)
        errors = []

        def loop(slot):
            pool = {}
            for i in range(slot, len(jobs), threads):
                try:
                    results[i] = work(pool, jobs[i])
                except Exception as error:  # noqa: BLE001 -- raised below
                    errors.append(error)
                    return

        ts = [threading.Thread(target=loop, args=(s,)) for s in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise errors[0]
        return results

    @staticmethod
    def conn(pool, port):
        if port not in pool:
            pool[port] = Conn(port)
        return pool[port]

    def connect(self, pool, instance, token, brand, subject, record=False):
        """Connects a network identity in a brand over the real OAuth flow: the
        start on `instance`, the network's authorize page (approved by script),
        the callback on the instance the network redirects to."""
        c = self.conn(pool, instance.port)
        a = c.request("POST", f"/v1/brands/{brand}/accounts/connect", token, {"network": "sandbox"})
        if record:
            self.stats.record("connect: start", a)
        start = must(a, 201)
        url = urllib.parse.urlsplit(start["authorization_url"])
        a = self.conn(pool, self.network.port).request(
            "GET", f"{url.path}?{url.query}&auto_approve={urllib.parse.quote(subject)}")
        must(a, 303)
        callback = urllib.parse.urlsplit(a.headers["location"])
        a = self.conn(pool, callback.port).request("GET", f"{callback.path}?{callback.query}")
        if record:
            self.stats.record("connect: callback", a)
        done = must(a, 200)
        assert done["status"] == "connected", done
        return done["account"]

    def identity(self, pool, subject):
        a = self.conn(pool, self.network.port).request(
            "POST", "/sandbox/control/identities", None,
            {"subject": subject, "handle": subject.replace("-", ""), "display_name": subject})
        must(a, 200, 201)

    def lifetime(self, secs):
        must(self.net().request("PUT", "/sandbox/control/settings", None,
                                {"access_token_lifetime_secs": int(secs)}), 200)

    # -- set-up

    def start_network(self):
        d = os.path.join(self.root, "network")
        os.makedirs(d)
        port = free_port()
        self.network = Process("network", port, os.path.join(d, "server.log"))
        env = clean_env()
        env.update({"TOKENWARDEN_RATE_LIMIT__REQUESTS": "0", "TOKENWARDEN_LOG__LEVEL": "warn"})
        self.network.start([BINARY, "--dev", "--data-dir", d, "serve", "--bind", f"127.0.0.1:{port}",
                            "--sandbox", "--no-worker"], env)

    def create_database(self):
        self.db_name = "tokenwarden_soak_" + uuid.uuid4().hex[:12]
        psql(self.args.postgres, f"CREATE DATABASE {self.db_name}")
        self.db_url = urllib.parse.urlunsplit(
            urllib.parse.urlsplit(self.args.postgres)._replace(path="/" + self.db_name))

    def set_up(self):
        a = self.args
        self.start_network()
        self.create_database()
        env = clean_env()
        # Key ids are the second they were made in: k2 a second later.
        self.k1 = tw(["keys", "generate"], env, check=True).stdout.strip()
        self.k2 = self.k1
        while self.k2.split(":", 1)[0] == self.k1.split(":", 1)[0]:
            time.sleep(0.3)
            self.k2 = tw(["keys", "generate"], env, check=True).stdout.strip()
        self.k1_id, self.k2_id = self.k1.split(":", 1)[0], self.k2.split(":", 1)[0]
        self.jwt_secret = "soak-" + secrets.token_hex(32)
        self.A = Instance("A", self.root, self.network.port, self.db_url, self.jwt_secret)
        self.B = Instance("B", self.root, self.network.port, self.db_url, self.jwt_secret)
        self.instances = [self.A, self.B]
        for inst in self.instances:
            must(self.net().request("POST", "/sandbox/control/redirect-uris", None,
                                    {"uri": f"{inst.public_url}/v1/oauth/callback/sandbox"}), 204)
        self.receiver = Receiver()
        # One after the other: the first one migrates the fresh database.
        self.A.launch(self.k1)
        self.B.launch(self.k1)
        self.rss = RssSampler([self.A, self.B, self.network], self.stats)
        self.rss.start()

    def seed(self):
        a = self.args
        t0 = time.time()
        admin = self.mint("platform", "platform:admin")
        c = Conn(self.A.port)
        soak = must(c.request("POST", "/v1/organizations", admin, {"name": "Soak", "plan": "enterprise"}), 201)
        flood = must(Conn(self.B.port).request("POST", "/v1/organizations", admin,
                                               {"name": "Flood", "plan": "advanced"}), 201)
        self.soak_org, self.flood_org = soak["id"], flood["id"]
        self.token = self.mint(self.soak_org, SOAK_SCOPES)
        self.flood_token = self.mint(self.flood_org, "accounts:read accounts:write org:admin")
        hook = must(c.request("POST", "/v1/webhooks", self.token, {
            "url": f"http://127.0.0.1:{self.receiver.port}/tokenwarden",
            "events": ["token.expiring", "token.expired", "token.reauth_required", "token.refresh_failing",
                       "token.renewed", "account.connected", "account.disconnected"],
            "description": "soak receiver"}), 201)
        self.receiver.secret = hook["secret"]

        insts = self.instances

        def make_brand(pool, job):
            i, (token, name) = job
            inst = insts[i % 2]
            return must(self.conn(pool, inst.port).request("POST", "/v1/brands", token, {"name": name}), 201)["id"]

        names = ([(self.token, f"Soak {i:03}") for i in range(a.brands)]
                 + [(self.token, f"Dormant {i}") for i in range(a.dormant_brands)]
                 + [(self.flood_token, "Flood 0")])
        ids = self.in_parallel(list(enumerate(names)), make_brand)
        self.live_brands = ids[:a.brands]
        self.accounts_brand = self.live_brands[len(self.live_brands) // 2]
        self.dormant_brands = ids[a.brands:a.brands + a.dormant_brands]
        self.flood_brand = ids[-1]

        live = [(self.live_brands[b], f"soak-{b}-{p}") for b in range(a.brands) for p in range(a.profiles)]
        dormant = [(self.dormant_brands[b], f"dormant-{b}-{p}") for b in range(a.dormant_brands) for p in range(10)]
        flooders = [(self.flood_brand, f"flood-{p}") for p in range(5)]
        subjects = [s for _, s in live + dormant + flooders] + ["soak-everywhere"]
        self.in_parallel(subjects, self.identity)

        def connect_job(token):
            def work(pool, job):
                i, (brand, subject) = job
                return self.connect(pool, insts[i % 2], token, brand, subject)
            return work

        # The dormant grants: long-lived, then revoked at the network and
        # renewed once, which finds them dead: `reauth_required`, the
        # dropdown's entries.
        self.lifetime(3600)
        dormant_accounts = self.in_parallel(list(enumerate(dormant)), connect_job(self.token))
        for b in range(a.dormant_brands):
            for p in range(10):
                must(self.net().request("POST", f"/sandbox/control/grants/dormant-{b}-{p}/revoke"), 200)

        def kill(pool, job):
            i, account = job
            r = must(self.conn(pool, insts[i % 2].port).request(
                "POST", f"/v1/brands/{account['brand_id']}/accounts/{account['id']}/renew", self.token), 200)
            assert r["outcome"] == "authorization_required", r
        self.in_parallel(list(enumerate(dormant_accounts)), kill)

        # One profile connected in every brand, one brand after the other:
        # each fresh grant moves the brands before it onto it (Advanced).
        self.lifetime(a.lifetime)
        pool = {}
        everywhere = []
        for i, brand in enumerate(self.live_brands):
            everywhere.append(self.connect(pool, insts[i % 2], self.token, brand, "soak-everywhere"))

        # The first lifetimes are staggered so that the credentials come due
        # one after the other over a whole lifetime, not all at once.
        chunks = 10
        accounts = []
        for k in range(chunks):
            part = live[k::chunks]
            self.lifetime(LEAD + 20 + k * (a.lifetime - LEAD) / chunks)
            accounts += self.in_parallel(list(enumerate(part)), connect_job(self.token))
        self.lifetime(LEAD + 20 + random.random() * (a.lifetime - LEAD))
        self.in_parallel(list(enumerate(flooders)), connect_job(self.flood_token))
        self.lifetime(a.lifetime)

        self.live_accounts = [(x["brand_id"], x["id"]) for x in accounts + everywhere]
        self.dormant_accounts = [(x["brand_id"], x["id"]) for x in dormant_accounts]
        self.results["seed"] = {
            "seconds": time.time() - t0,
            "live": len(live) + len(everywhere), "dormant": len(dormant), "flood": len(flooders),
            "credentials": int(psql(self.db_url, "SELECT count(*) FROM credentials")[0][0]),
        }
        s = self.results["seed"]
        log(f"seeded {s['live']} live accounts, {s['dormant']} dormant, {s['flood']} in Flood "
            f"({s['credentials']} credentials) in {s['seconds']:.0f} s")

    def versions(self):
        return {r[0]: (int(r[1]), r[2], r[3]) for r in
                psql(self.db_url, "SELECT id, version, organization_id, status FROM credentials")}

    def restart_for_measuring(self):
        """Stops both instances, resets the network's counters, notes every
        credential's version, and starts both with the new key first."""
        for inst in self.instances:
            inst.runs.append(inst.metrics())
            inst.signal_stop()
        for inst in self.instances:
            inst.wait_stopped()
        must(self.net().request("DELETE", "/sandbox/control/calls"), 204)
        self.versions_before = self.versions()
        self.dormant_credentials = {r[0] for r in psql(
            self.db_url, "SELECT DISTINCT credential_id FROM accounts WHERE credential_id IS NOT NULL AND brand_id IN ("
            + ",".join(f"'{b}'" for b in self.dormant_brands) + ")")}
        self.results["journal_at_snapshot"] = self.journal_entries()
        self.t_counted = time.monotonic()
        ring = f"{self.k2},{self.k1}"
        self.A.launch(ring, self.args.rate_requests, self.args.rate_window)
        self.B.launch(ring, self.args.rate_requests, self.args.rate_window)

    # -- the load

    def reads(self, seconds, extra=None):
        """The two Soak read streams for `seconds`, with `extra` on A and B at
        full speed: "flood" (Flood's dropdown) or "control" (`/healthz`,
        which belongs to no organization: what the same flood costs the
        machine without any organization's budget in play)."""
        a = self.args
        accounts_path = f"/v1/brands/{self.accounts_brand}/accounts?limit=50"
        procs = {
            "dropdown (A)": self.wrk.start(self.A.port, "/v1/expired-tokens?limit=50", self.token, seconds,
                                           2, a.read_connections, rate=a.read_rate),
            "accounts (B)": self.wrk.start(self.B.port, accounts_path, self.token, seconds,
                                           2, a.read_connections, rate=a.read_rate),
        }
        if extra:
            path = "/v1/expired-tokens?limit=50" if extra == "flood" else "/healthz"
            for inst in self.instances:
                procs[f"{extra} ({inst.name})"] = self.wrk.start(
                    inst.port, path, self.flood_token, seconds, 1, a.flood_connections, hist=False)
        return {name: Wrk.finish(p) for name, p in procs.items()}

    def renewer(self, seed, stop):
        rnd = random.Random(seed)
        pool = {}
        while not stop.is_set():
            with self.lock:
                brands = list(self.live_brands)
            brand = rnd.choice(brands)
            inst = rnd.choice(self.instances)
            a = self.conn(pool, inst.port).request("GET", f"/v1/brands/{brand}/accounts?limit=50", self.token)
            self.stats.record("accounts list (renewer)", a)
            if a.status != 200:
                stop.wait(1)
                continue
            now = utcnow()
            due = [x for x in a.body["data"]
                   if x["token_status"] not in ("reauth_required", "disabled") and x["expires_at"]
                   and (parse_time(x["expires_at"]) - now).total_seconds() <= LEAD]
            for x in due:
                if stop.is_set():
                    break
                inst = rnd.choice(self.instances)
                r = self.conn(pool, inst.port).request(
                    "POST", f"/v1/brands/{brand}/accounts/{x['id']}/renew", self.token)
                outcome = r.body.get("outcome") if r.status == 200 and r.body else None
                self.stats.record("renew (due accounts)", r, outcome)
            stop.wait(0.2 if due else 0.5)

    def vault_reader(self, seed, stop):
        rnd = random.Random(seed)
        pool = {}
        while not stop.is_set():
            with self.lock:
                _, account = rnd.choice(self.live_accounts)
            inst = rnd.choice(self.instances)
            r = self.conn(pool, inst.port).request("POST", f"/v1/accounts/{account}/access-token", self.token)
            good = r.status == 200 and r.body and r.body.get("access_token", "").startswith("sbx_at_")
            self.stats.record("vault read", r, "token" if good else None)
            stop.wait(0.05)

    def probe(self, stop):
        """A read every 100 ms on each instance, its time noted: when reads
        are slow, this says when."""
        pool = {}
        while not stop.wait(0.1):
            for inst, path in ((self.A, "/v1/expired-tokens?limit=50"),
                               (self.B, f"/v1/brands/{self.accounts_brand}/accounts?limit=50")):
                r = self.conn(pool, inst.port).request("GET", path, self.token, headers={"Accept-Encoding": "gzip"})
                self.probes.append((time.monotonic() - self.t_measure, inst.name, r.status, r.ms))

    def connector(self, stop):
        pool = {}
        i = 0
        while not stop.wait(self.args.connect_every):
            i += 1
            inst = self.instances[i % 2]
            subject = f"soak-new-{i}"
            try:
                self.identity(pool, subject)
                a = self.conn(pool, inst.port).request("POST", "/v1/brands", self.token, {"name": f"Soak new {i:04}"})
                self.stats.record("create brand", a)
                if a.status != 201:
                    continue
                brand = a.body["id"]
                t0 = time.perf_counter()
                account = self.connect(pool, inst, self.token, brand, subject, record=True)
                self.stats.record("connect: whole OAuth flow", Answer(200, None, {}, (time.perf_counter() - t0) * 1000))
                with self.lock:
                    self.live_brands.append(brand)
                    self.live_accounts.append((brand, account["id"]))
            except (RuntimeError, AssertionError, KeyError) as error:
                self.notes.append(f"connect {i} failed: {error}")

    def slow_network(self, stop):
        """Keeps every token call slow: tops the queue up as the calls use it."""
        queued, base = 0, None
        while True:
            calls = self.net().request("GET", "/sandbox/control/calls").body or {}
            used = calls.get("token", 0) - (base if base is not None else calls.get("token", 0))
            if base is None:
                base = calls.get("token", 0)
            if queued - used < 5000:
                must(self.net().request("POST", "/sandbox/control/failures", None, {
                    "endpoint": "token", "mode": {"type": "slow", "delay_ms": self.args.slow_ms},
                    "count": 10000}), 204)
                queued += 10000
            if stop.wait(2):
                break
        must(self.net().request("DELETE", "/sandbox/control/failures"), 204)

    def rotate(self):
        env = clean_env()
        env.update({"DATABASE_URL": self.db_url, "TOKENWARDEN_ENCRYPTION_KEYS": f"{self.k2},{self.k1}",
                    "TOKENWARDEN_JWT__HS256_SECRET": self.jwt_secret, "TOKENWARDEN_LOG__LEVEL": "warn"})
        d = os.path.join(self.root, "rotate")
        os.makedirs(d, exist_ok=True)
        attempts = []
        t0 = time.time()
        for _ in range(5):
            out = tw(["--dev", "--data-dir", d, "keys", "rotate"], env)
            attempts.append((out.returncode, (out.stdout + out.stderr).strip()[-400:]))
            if out.returncode == 0:
                break
            time.sleep(1)
        left = self.secrets_not_under(self.k2_id)
        self.results["rotation"] = {"seconds": time.time() - t0, "attempts": attempts, "left": left,
                                    "at": time.monotonic() - self.t_measure}
        log(f"keys rotate: {attempts[-1][1]} ({len(attempts)} attempt(s)); not under k2 right after: {left}")

    def secrets_not_under(self, key_id):
        q = (f"SELECT (SELECT count(*) FROM credentials WHERE access_token_key_id <> '{key_id}' "
             f"OR (refresh_token_key_id IS NOT NULL AND refresh_token_key_id <> '{key_id}')), "
             f"(SELECT count(*) FROM oauth_states WHERE pkce_verifier_key_id <> '{key_id}'), "
             f"(SELECT count(*) FROM webhook_subscriptions WHERE secret_key_id <> '{key_id}')")
        r = psql(self.db_url, q)[0]
        return {"credentials": int(r[0]), "oauth_states": int(r[1]), "webhook_subscriptions": int(r[2])}

    def measure(self):
        a = self.args
        self.wrk = Wrk(self.root)
        self.t_measure = time.monotonic()
        # 1. baseline
        self.stats.phase = "baseline"
        log(f"baseline: reads only for {a.baseline} s")
        self.results["baseline"] = self.reads(a.baseline)
        self.rss.sample()
        # 2. mixed
        self.stats.phase = "mixed"
        stop = threading.Event()
        threads = [threading.Thread(target=self.slow_network, args=(stop,), daemon=True)]
        threads[0].start()
        time.sleep(1)
        threads += [threading.Thread(target=self.renewer, args=(i, stop), daemon=True) for i in range(a.renewers)]
        threads += [threading.Thread(target=self.vault_reader, args=(100 + i, stop), daemon=True)
                    for i in range(a.vault_readers)]
        threads.append(threading.Thread(target=self.connector, args=(stop,), daemon=True))
        threads.append(threading.Thread(target=self.probe, args=(stop,), daemon=True))
        for t in threads[1:]:
            t.start()
        segments = max(2, int(a.mixed // a.segment))
        self.results["segments"] = []
        rotation = None
        log(f"mixed: {segments} segments of {a.segment} s (2nd of every 4: Flood; 4th: the control), "
            f"token calls {a.slow_ms} ms, keys rotate at segment {segments // 2 + 1}")
        for i in range(segments):
            kind = ("quiet", "flood", "quiet", "control")[i % 4]
            if i == segments // 2:
                rotation = threading.Thread(target=self.rotate)
                rotation.start()
            r = self.reads(a.segment, None if kind == "quiet" else kind)
            self.results["segments"].append((i, kind, r))
            log(f"  segment {i + 1}/{segments} ({kind}): dropdown p99 "
                f"{percentile(r['dropdown (A)']['hist'], 99):.1f} ms, accounts p99 "
                f"{percentile(r['accounts (B)']['hist'], 99):.1f} ms"
                + "".join(f", {k}: {v['requests']} req ({v['status']['429']} x 429)"
                          for k, v in r.items() if k[:5] in ("flood", "contr")))
        stop.set()
        for t in threads:
            t.join(timeout=120)
        with open(os.path.join(self.root, "probes.tsv"), "w") as f:
            f.writelines(f"{t:.3f}\t{name}\t{status}\t{ms:.2f}\n" for t, name, status, ms in self.probes)
        if rotation:
            rotation.join()
        self.rss.sample()
        # 3. drain
        self.stats.phase = "drain"
        t0 = time.time()
        drained = self.wait_drained(a.drain_timeout)
        self.results["drain"] = {"seconds": time.time() - t0, "drained": drained}
        log(f"drain: {'drained' if drained else 'NOT drained'} in {time.time() - t0:.0f} s")

    def outbox(self):
        r = psql(self.db_url, "SELECT status, count(*) FROM webhook_messages GROUP BY status")
        return collections.Counter({s: int(n) for s, n in r})

    def leases(self):
        return int(psql(self.db_url, "SELECT count(*) FROM credentials WHERE lease_owner IS NOT NULL "
                                     "AND lease_expires_at > (clock_timestamp() AT TIME ZONE 'UTC')")[0][0])

    def wait_drained(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.outbox()["pending"] == 0 and self.leases() == 0:
                return True
            time.sleep(0.5)
        return False

    # -- the end

    def final_vault_pass(self):
        """Restarts A and B with the new key alone and reads every live
        account's token through them: nothing needs the old key any more."""
        for inst in self.instances:
            inst.runs.append(inst.metrics())
            inst.signal_stop()
        for inst in self.instances:
            inst.wait_stopped()
        for inst in self.instances:
            inst.launch(self.k2, self.args.rate_requests, self.args.rate_window)
        self.stats.phase = "k2 only"
        with self.lock:
            accounts = list(self.live_accounts)

        def read(pool, job):
            i, (_, account) = job
            r = self.conn(pool, self.instances[i % 2].port).request(
                "POST", f"/v1/accounts/{account}/access-token", self.token)
            good = r.status == 200 and r.body and r.body.get("access_token", "").startswith("sbx_at_")
            self.stats.record("vault read, ring [k2]", r, "token" if good else None)
            return good

        ok = self.in_parallel(list(enumerate(accounts)), read, threads=4)
        self.results["k2_only"] = {"accounts": len(accounts), "ok": sum(ok)}
        self.wait_drained(self.args.drain_timeout)

    def finish(self):
        res = self.results
        # Before the stop: the expiry of every live credential.
        expired = psql(self.db_url, f"SELECT count(*) FROM credentials WHERE organization_id = '{self.soak_org}' "
                                    f"AND status <> 'reauth_required' "
                                    f"AND expires_at <= (now() AT TIME ZONE 'UTC')")[0][0]
        res["expired_at_end"] = int(expired)
        for inst in self.instances:
            inst.runs.append(inst.metrics())
            inst.signal_stop()
        for inst in self.instances:
            inst.wait_stopped()
        self.rss.stop_event.set()
        self.t_end = time.monotonic()
        res["calls"] = self.net().request("GET", "/sandbox/control/calls").body
        res["versions_after"] = self.versions()
        res["outbox"] = self.outbox()
        res["delivered_ids"] = {r[0] for r in psql(self.db_url, "SELECT id FROM webhook_messages WHERE status = 'delivered'")}
        res["all_ids"] = {r[0] for r in psql(self.db_url, "SELECT id FROM webhook_messages")}
        res["key_ids"] = psql(self.db_url, "SELECT access_token_key_id, coalesce(refresh_token_key_id, '-'), count(*) "
                                           "FROM credentials GROUP BY 1, 2 ORDER BY 3 DESC")
        res["not_under_k2"] = self.secrets_not_under(self.k2_id)
        res["statuses"] = psql(self.db_url, "SELECT organization_id, status, count(*) FROM credentials GROUP BY 1, 2")
        dump = os.path.join(self.root, "dump.sql")
        subprocess.run(["pg_dump", "--no-owner", "-f", dump, self.db_url], check=True)
        res["dump_bytes"] = os.path.getsize(dump)
        res["dump_hits"] = self.grep([dump])
        files = [os.path.join(d, f) for inst in self.instances for d, _, fs in os.walk(inst.dir) for f in fs]
        res["instance_files"] = len(files)
        res["instance_hits"] = self.grep(files)
        res["journal"] = self.journal_entries()

    def journal_entries(self):
        return sum(len(fs) for inst in self.instances
                   for _, _, fs in os.walk(os.path.join(inst.dir, "grant-journal")))

    @staticmethod
    def grep(paths):
        hits = collections.Counter()
        for path in paths:
            with open(path, "rb") as f:
                data = f.read()
            for s in SENTINELS:
                n = data.count(s)
                if n:
                    hits[f"{os.path.basename(os.path.dirname(path))}/{os.path.basename(path)}: {s.decode()}"] += n
        return hits

    def tear_down(self):
        for p in self.instances + ([self.network] if self.network else []):
            try:
                p.stop()
            except Exception:  # noqa: BLE001 -- best effort
                pass
        if self.receiver:
            self.receiver.close()
        if self.db_name and not self.args.keep:
            subprocess.call(["psql", self.args.postgres, "-qc", f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)"],
                            stdout=subprocess.DEVNULL)
        if self.args.keep:
            log(f"kept {self.root} and database {self.db_name}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- checks and report

    def evaluate(self):
        a, res = self.args, self.results
        base = res["baseline"]
        of = lambda kind: [r for _, k, r in res["segments"] if k == kind]
        streams = ("dropdown (A)", "accounts (B)")
        mixed_quiet = {s: merge([r[s] for r in of("quiet")]) for s in streams}
        mixed_loud = {s: merge([r[s] for r in of("flood")]) for s in streams}
        mixed_control = {s: merge([r[s] for r in of("control")]) for s in streams}
        floods = {s: merge([r[s] for r in of(s.split()[0]) if s in r])
                  for s in ("flood (A)", "flood (B)", "control (A)", "control (B)")}
        self.phases = {"baseline": base, "mixed": mixed_quiet, "mixed + Flood flooding": mixed_loud,
                       "mixed + the control flood of /healthz": mixed_control,
                       "mixed, all segments": {s: merge([r[s] for _, _, r in res["segments"]]) for s in streams}}
        self.floods = floods

        # 5xx
        metric_5xx = collections.Counter()
        metric_non2xx = collections.Counter()
        for inst in self.instances:
            for run_ in inst.runs:
                for (method, route, status), n in run_["requests"].items():
                    if status.startswith("5"):
                        metric_5xx[f"{inst.name} {method} {route} {status}"] += n
                    if not status.startswith("2") and status != "303":
                        metric_non2xx[f"{inst.name} {method} {route} {status}"] += n
        wrk_5xx = sum(r["status"]["5xx"] for name, p in self.phases.items() if name != "mixed, all segments"
                      for r in p.values()) + \
            sum(r["status"]["5xx"] for r in floods.values())
        wrk_other = sum(r["status"]["4xx"] + r["status"]["429"] + r["status"]["3xx"] + r["socket_errors"]
                        for name, p in self.phases.items() if name != "mixed, all segments" for r in p.values())
        py_5xx = sum(n for e in self.stats.ops.values() for s, n in e["status"].items() if s >= 500 or s == 0)
        self.metric_non2xx = metric_non2xx
        failures = self.stats.failures
        self.check("zero 5xx", not metric_5xx and not wrk_5xx and not py_5xx,
                   f"/metrics of {sum(len(i.runs) for i in self.instances)} instance runs: "
                   f"{sum(metric_5xx.values())} 5xx{(' ' + dict(metric_5xx).__repr__()) if metric_5xx else ''}; "
                   f"wrk: {wrk_5xx} 5xx; Python clients: {py_5xx} 5xx or failed connections"
                   + (f" (first: {failures[:3]})" if failures else ""))
        unexpected = {f"{phase} {op}: {s}": n for (phase, op), e in self.stats.ops.items()
                      for s, n in e["status"].items() if not self.expected(op, s)}
        self.check("Soak answered as expected", not unexpected and not wrk_other,
                   f"reads: {wrk_other} non-2xx or socket errors; Python clients: "
                   f"{unexpected if unexpected else 'every answer expected (renew: 200, or 409 while another instance refreshes)'}")

        # read p99
        for s in streams:
            b, q, l_, c = (percentile(base[s]["hist"], 99), percentile(mixed_quiet[s]["hist"], 99),
                           percentile(mixed_loud[s]["hist"], 99), percentile(mixed_control[s]["hist"], 99))
            worst = max(mixed_quiet[s]["hist"] or [0]) / 1000
            self.check(f"{s} p99 unaffected by slow renewals", q <= 3 * b + 5 and q < 50 and worst < a.slow_ms,
                       f"baseline {b:.2f} ms, mixed {q:.2f} ms (x{q / b:.2f}; PASS at most x3 + 5 ms and under 50 ms); "
                       f"slowest mixed read {worst:.1f} ms "
                       f"(a read waiting on a network call would take over {a.slow_ms} ms)")
            fl = [floods["flood (A)"], floods["flood (B)"]]
            ct = [floods["control (A)"], floods["control (B)"]]
            self.check(f"{s} p99 while Flood floods", l_ <= 2 * q + 5 and l_ < 50,
                       f"mixed {q:.2f} ms; while Flood floods {l_:.2f} ms (x{l_ / q:.2f}; PASS at most x2 + 5 ms "
                       f"and under 50 ms); while the same wrk floods `/healthz` instead (no budget applies) "
                       f"{c:.2f} ms. Flood: "
                       f"{sum(f['requests'] for f in fl) / max(1e-9, sum(f['duration_s'] for f in fl)) * 2:,.0f} req/s "
                       f"on A + B, {sum(f['status']['2xx'] for f in fl):,} answered, "
                       f"{sum(f['status']['429'] for f in fl):,} x 429; /healthz: "
                       f"{sum(f['requests'] for f in ct) / max(1e-9, sum(f['duration_s'] for f in ct)) * 2:,.0f} req/s")

        # memory
        mixed = [(t, rss) for t, phase, rss in self.rss.samples if phase == "mixed"]
        for idx, inst in enumerate(self.instances):
            half = len(mixed) // 2
            first = max((r[idx] for _, r in mixed[:half]), default=float("nan"))
            second = max((r[idx] for _, r in mixed[half:]), default=float("nan"))
            self.check(f"memory flat ({inst.name})", second <= 1.2 * first + 4,
                       f"largest RSS, first half of mixed {first:.1f} MiB, second half {second:.1f} MiB")

        # refreshes
        before, after = self.versions_before, res["versions_after"]
        per = {}
        for cid, (version, org, status) in after.items():
            per[cid] = version - (before[cid][0] if cid in before else 1)
        vanished = [cid for cid in before if cid not in after]
        stored = sum(per.values())
        network = res["calls"]["refresh"]
        self.check("refreshes: the network's equal tokenwarden's", stored == network and not vanished,
                   f"network refresh grants {network}, refreshes stored (sum of version increases) {stored}"
                   + (f"; credentials gone: {len(vanished)}" if vanished else ""))
        bad = [(cid, s) for cid, (_, org, s) in after.items()
               if s in ("reauth_required", "refresh_failing") and cid not in self.dormant_credentials]
        dormant_ok = all(after.get(cid, (0, 0, ""))[2] == "reauth_required" and per.get(cid) == 0
                         for cid in self.dormant_credentials)
        self.check("no grant lost", not bad and dormant_ok,
                   f"{len(bad)} credentials reauth_required/refresh_failing besides the "
                   f"{len(self.dormant_credentials)} revoked on purpose (which stayed so, untouched: {dormant_ok})")
        self.check("no live credential expired at the end", res["expired_at_end"] == 0,
                   f"{res['expired_at_end']} expired among Soak's live credentials")
        span = self.t_end - self.t_counted
        bound = 1 + int(span // (a.lifetime - LEAD - 5))
        live = [n for cid, n in per.items() if cid not in self.dormant_credentials]
        hist = collections.Counter(live)
        self.refresh_hist = hist
        self.check("no credential refreshed more often than needed", max(live, default=0) <= bound,
                   f"over {span:.0f} s with {a.lifetime} s tokens refreshed {LEAD} s ahead: at most {bound} each; "
                   f"max {max(live, default=0)}; credentials by refreshes {dict(sorted(hist.items()))}")

        # rotation
        rot = res.get("rotation", {})
        self.check("keys rotate under load", rot and rot["attempts"][-1][0] == 0 and not any(rot["left"].values()),
                   f"{len(rot.get('attempts', []))} attempt(s), {rot.get('seconds', 0):.1f} s, "
                   f"at {rot.get('at', 0):.0f} s into the run: \"{rot.get('attempts', [(0, '')])[-1][1]}\"; "
                   f"not under k2 right after: {rot.get('left')}")
        k2 = res["k2_only"]
        self.check("nothing needs the old key", not any(res["not_under_k2"].values()) and k2["ok"] == k2["accounts"],
                   f"at the end not under k2: {res['not_under_k2']}; restarted with [k2] alone: "
                   f"{k2['ok']}/{k2['accounts']} live accounts' tokens read from the vault")

        # sentinels
        self.check("no plaintext token at rest or in logs",
                   not res["dump_hits"] and not res["instance_hits"] and not self.receiver.sentinel_hits,
                   f"pg_dump ({res['dump_bytes'] / 1024:.0f} KiB): {dict(res['dump_hits']) or 0} hits; "
                   f"A's and B's {res['instance_files']} files (logs, journal): {dict(res['instance_hits']) or 0} hits; "
                   f"webhook bodies: {self.receiver.sentinel_hits}")

        # outbox
        ids, types, bad_sigs, _ = self.receiver.snapshot()
        out = res["outbox"]
        missing = res["delivered_ids"] - set(ids)
        unknown = set(ids) - res["all_ids"]
        dupes = sum(1 for n in ids.values() if n > 1)
        self.webhook_types = types
        self.check("outbox drained", res["drain"]["drained"] and out["pending"] == 0 and out["failed"] == 0
                   and not missing and not unknown and bad_sigs == 0,
                   f"drained in {res['drain']['seconds']:.0f} s; messages {dict(out)}; received {len(ids)} distinct "
                   f"({sum(ids.values())} deliveries, {dupes} delivered more than once), delivered but not received "
                   f"{len(missing)}, received but unknown {len(unknown)}, bad signatures {bad_sigs}; grant journal "
                   f"entries left {res['journal']} (at the count's start {res['journal_at_snapshot']})")

    @staticmethod
    def expected(op, status):
        if op.startswith("renew"):
            return status in (200, 409)
        if op == "connect: start" or op == "create brand":
            return status == 201
        return status == 200

    def report(self):
        a, res = self.args, self.results
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
        machine = f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}"
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        seed = res["seed"]
        L = []
        L.append("# Soak results\n")
        L.append(f"Machine: {machine}. Date: {when}. Command: `python3 bench/soak.py"
                 f"{' --quick' if a.quick else ''}{'' if a.quick or a.minutes == 5 else f' --minutes {a.minutes:g}'}`"
                 f" (see its docstring). Release build; everything on this machine: the network (the sandbox, "
                 f"its own process), instances A and B on one PostgreSQL "
                 f"{psql(self.args.postgres, 'SHOW server_version')[0][0]}, wrk and the Python clients, each "
                 f"process in a session of its own (see the docstring).\n")
        L.append(f"Seeded over the OAuth flow in {seed['seconds']:.0f} s: Soak (Enterprise) with {a.brands} brands x "
                 f"{a.profiles} profiles plus one profile in every brand ({seed['live']} live accounts), "
                 f"{seed['dormant']} accounts whose grants were revoked at the network (the dropdown's entries), "
                 f"Flood with {seed['flood']}; {seed['credentials']} credentials. Tokens live {a.lifetime} s "
                 f"(refreshed {LEAD} s ahead); in the mixed phase every token call takes {a.slow_ms} ms. "
                 f"Budgets: {a.rate_requests} requests per {a.rate_window} s, organization and instance. "
                 f"Reads: wrk, 2 threads, {a.read_connections} connections, ~{a.read_rate} req/s per stream, gzip. "
                 f"Flood: wrk, 1 thread, {a.flood_connections} connections per instance, full speed.\n")

        L.append("## Reads by phase\n")
        L.append("| phase | stream | requests | req/s | p50 | p99 | max | non-2xx | socket errors |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for phase, streams in self.phases.items():
            for name, r in streams.items():
                per_s = r["requests"] / max(1e-9, r["duration_s"])
                L.append(f"| {phase} | {name} | {r['requests']:,} | {per_s:,.0f} | {percentile(r['hist'], 50):.2f} ms | "
                         f"{percentile(r['hist'], 99):.2f} ms | {max(r['hist'] or [0]) / 1000:.1f} ms | "
                         f"{sum(v for k, v in r['status'].items() if k != '2xx')} | {r['socket_errors']} |")
        for name, r in self.floods.items():
            what = ("mixed + Flood flooding", f"Flood's dropdown {name[6:]}") if name.startswith("flood") else \
                ("mixed + the control flood of /healthz", f"`/healthz` {name[8:]}")
            L.append(f"| {what[0]} | {what[1]} | {r['requests']:,} | "
                     f"{r['requests'] / max(1e-9, r['duration_s']):,.0f} | | | | {r['status']['429']:,} x 429, "
                     f"{r['status']['5xx']} x 5xx | {r['socket_errors']} |")
        L.append("\nreq/s of merged segments is over their summed durations.\n")

        L.append("## Mixed phase, segment by segment\n")
        L.append("| segment | beside the mixed load | dropdown (A) p99 | accounts (B) p99 | flood requests (A + B) | of them 429 |")
        L.append("|---:|---|---:|---:|---:|---:|")
        for i, kind, r in res["segments"]:
            fr = sum(v["requests"] for k, v in r.items() if k[:5] in ("flood", "contr"))
            f4 = sum(v["status"]["429"] for k, v in r.items() if k[:5] in ("flood", "contr"))
            label = {"quiet": "", "flood": "Flood floods", "control": "wrk floods `/healthz`"}[kind]
            L.append(f"| {i + 1} ({i * a.segment}-{(i + 1) * a.segment} s) | {label} | "
                     f"{percentile(r['dropdown (A)']['hist'], 99):.2f} ms | {percentile(r['accounts (B)']['hist'], 99):.2f} ms | "
                     f"{fr:,} | {f4:,} |")
        rot = res.get("rotation")
        if rot:
            L.append(f"\n`tokenwarden keys rotate` ran {rot['at']:.0f} s after the baseline began "
                     f"(segment {len(res['segments']) // 2 + 1}), took {rot['seconds']:.1f} s: \"{rot['attempts'][-1][1]}\"\n")

        L.append("## Python clients\n")
        L.append("| phase | operation | count | p50 | p99 | max | answers | outcomes |")
        L.append("|---|---|---:|---:|---:|---:|---|---|")
        for (phase, op), e in sorted(self.stats.ops.items(), key=lambda kv: (["setup", "baseline", "mixed", "drain", "k2 only"].index(kv[0][0]), kv[0][1])):
            L.append(f"| {phase} | {op} | {len(e['ms']):,} | {list_percentile(e['ms'], 50):.1f} ms | "
                     f"{list_percentile(e['ms'], 99):.1f} ms | {max(e['ms'] or [0]):.0f} ms | "
                     f"{', '.join(f'{s}: {n}' for s, n in sorted(e['status'].items()))} | "
                     f"{', '.join(f'{k}: {n}' for k, n in sorted(e['outcome'].items()))} |")

        L.append("\n## Refreshes, webhooks, drain\n")
        calls = res["calls"]
        L.append(f"- Network calls since the counters were reset (after seeding): {calls}.")
        L.append(f"- Credentials by number of refreshes stored: {dict(sorted(self.refresh_hist.items()))}.")
        L.append(f"- Credentials by organization and status at the end: "
                 f"{[(('Soak' if o == self.soak_org else 'Flood'), s, int(n)) for o, s, n in res['statuses']]}.")
        L.append(f"- Webhook messages: {dict(res['outbox'])}; received by type: {dict(sorted(self.webhook_types.items()))}.")
        L.append(f"- Drain: {res['drain']['seconds']:.0f} s until no message pending and no lease held.")
        if self.metric_non2xx:
            L.append(f"- Non-2xx answers in `/metrics` (every run of A and B): "
                     f"{', '.join(f'{k}: {v}' for k, v in sorted(self.metric_non2xx.items()))}.")
        for inst in self.instances:
            ticks = [r["failed_ticks"] for r in inst.runs]
            L.append(f"- {inst.name}: failed worker ticks per run {ticks}.")
        if self.probes:
            slow = sorted(self.probes, key=lambda p: -p[3])[:5]
            ms = [p[3] for p in self.probes]
            L.append(f"- Probe reads (Python, the same two reads every 100 ms during the mixed phase): {len(ms)}, "
                     f"p50 {list_percentile(ms, 50):.1f} ms, p99 {list_percentile(ms, 99):.1f} ms; the slowest: "
                     + ", ".join(f"{p[1]} at {p[0]:.0f} s: {p[3]:.0f} ms ({p[2]})" for p in slow) + ".")
        if self.stats.failures:
            L.append(f"- Requests that got no answer: {self.stats.failures[:10]}.")
        if self.notes:
            L.append(f"- Notes: {'; '.join(self.notes[:10])}.")

        L.append("\n## Memory (VmRSS, MiB, every 10 s)\n")
        L.append("| t (s since set-up) | phase | A | B | network |")
        L.append("|---:|---|---:|---:|---:|")
        for t, phase, rss in self.rss.samples:
            L.append(f"| {t:.0f} | {phase} | {rss[0]:.1f} | {rss[1]:.1f} | {rss[2]:.1f} |")
        for idx, inst in enumerate(self.instances):
            vals = [r[idx] for _, p, r in self.rss.samples if p in ("baseline", "mixed", "drain") and r[idx] == r[idx]]
            if vals:
                L.append(f"\n{inst.name}: first {vals[0]:.1f} MiB, max {max(vals):.1f} MiB, last {vals[-1]:.1f} MiB "
                         f"(baseline to drain).")

        L.append("\n## Checks\n")
        L.append("| check | result | detail |")
        L.append("|---|---|---|")
        for name, ok, detail in self.checks:
            L.append(f"| {name} | {'PASS' if ok else '**FAIL**'} | {detail.replace('|', '/')} |")
        L.append(f"\nWhole run: {res['total_s'] / 60:.1f} minutes (seeding, {a.baseline + len(res['segments']) * a.segment} s of load, "
                 f"drain, the final vault pass and the checks).")
        text = "\n".join(L) + "\n"
        with open(a.out, "w") as f:
            f.write(text)
        print(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5, help="baseline + mixed phase (default 5)")
    parser.add_argument("--quick", action="store_true", help="a ~1-minute smoke run on a smaller seed")
    parser.add_argument("--brands", type=int, default=None, help="Soak's brands (default 50; --quick 10)")
    parser.add_argument("--profiles", type=int, default=None, help="profiles per brand (default 10; --quick 5)")
    parser.add_argument("--lifetime", type=int, default=None, help="access-token lifetime, s (default 300; --quick 120)")
    parser.add_argument("--slow-ms", type=int, default=1500, help="delay of every token call in the mixed phase")
    parser.add_argument("--read-rate", type=int, default=150, help="req/s of each read stream")
    parser.add_argument("--read-connections", type=int, default=4)
    parser.add_argument("--flood-connections", type=int, default=16)
    parser.add_argument("--renewers", type=int, default=2)
    parser.add_argument("--vault-readers", type=int, default=2)
    parser.add_argument("--connect-every", type=float, default=None, help="seconds between new connects (default 5; --quick 3)")
    parser.add_argument("--rate-requests", type=int, default=5000, help="per-organization budget per window and instance")
    parser.add_argument("--rate-window", type=int, default=10)
    parser.add_argument("--postgres", default=os.environ.get("TOKENWARDEN_TEST_POSTGRES_URL",
                                                             "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and the database")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "soak-results.md"))
    args = parser.parse_args()
    q = args.quick
    args.brands = args.brands or (10 if q else 50)
    args.profiles = args.profiles or (5 if q else 10)
    args.dormant_brands = 2 if q else 5
    args.lifetime = args.lifetime or (120 if q else 300)
    args.connect_every = args.connect_every or (3 if q else 5)
    if q:
        args.minutes = 1
    args.baseline = 15 if q else 60
    args.segment = 10 if q else 30
    args.mixed = max(2 * args.segment, args.minutes * 60 - args.baseline)
    args.drain_timeout = 60 if q else 180
    if args.lifetime < 2 * LEAD:
        parser.error(f"--lifetime must be at least {2 * LEAD} s")

    if not shutil.which("wrk"):
        print("installing wrk from Debian's packages", file=sys.stderr)
        subprocess.check_call(["apt-get", "install", "-y", "-q", "wrk"], stdout=subprocess.DEVNULL)
    if not args.skip_build:
        subprocess.check_call(["cargo", "build", "--release", "--locked", "-q"], cwd=ROOT)

    t0 = time.monotonic()
    soak = Soak(args)
    try:
        log(f"set-up in {soak.root}")
        soak.set_up()
        soak.seed()
        soak.restart_for_measuring()
        soak.measure()
        soak.final_vault_pass()
        soak.finish()
    finally:
        soak.tear_down()
    soak.results["total_s"] = time.monotonic() - t0
    soak.evaluate()
    soak.report()
    failed = [name for name, ok, _ in soak.checks if not ok]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Benchmark tokenwarden at agency scale, on SQLite and PostgreSQL.

One command (see README.md, "Benchmark"):

    python3 bench/run.py

For each backend it builds and starts the release binary (sandbox network,
no worker, no rate limit), seeds one Enterprise organization through the
product's own API over the real OAuth flow against the sandbox -- by default
1,000 brands x 20 profiles (5 % of them with tokens that expire at once) plus
one profile connected in every brand whose token expires too: 21,000
accounts, 2,000 needing renewal -- and then drives, with wrk (Debian's
package, installed if missing) at 64 connections for 8 s each, in one run:

* `/healthz`, the ceiling every other figure is a ratio of;
* the Expired Tokens dropdown `GET /v1/expired-tokens?limit=50`;
* its badge `GET /v1/expired-tokens/summary`;
* Manage Accounts `GET /v1/brands/{id}/accounts?limit=50`;
* the dropdown polled with `If-None-Match` (304s).

It then renews the profile connected in every brand, once per brand in turn
(each renew propagates to the other 999 brands), and reports the p50; adds
1,000,000 credentials (copies of a seeded one, in an organization of their
own) and reads the worker's due-scan time off `/metrics` after a tick; and
reads the server's peak RSS (VmHWM). The Python seeding clients run before
the load, never during it.

Results go to bench/results.md (machine, date, requests/s, p50, p99, ratio to
/healthz, bytes per answer, peak RSS) and to standard output.
"""

import argparse
import concurrent.futures
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "tokenwarden")
SCOPES = "accounts:read accounts:write tokens:renew org:admin"
SEED_THREADS = 8
# What a browser sends: the front ends that poll are browsers.
BROWSER = {"Accept-Encoding": "gzip, deflate, br"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_parts(token, body, headers):
    """The headers and body of an API request: bearer token, JSON body."""
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    return headers, data


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(self, method, path, token=None, body=None, headers=None):
        headers, data = request_parts(token, body, headers)
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt:
                    raise
        payload = json.loads(raw) if raw and raw[:1] in (b"{", b"[") else None
        return response.status, payload, response.getheader("Location"), response.getheader("ETag")


def mint(data_dir, org, scopes):
    return subprocess.check_output(
        [BINARY, "--dev", "--data-dir", data_dir, "token", "mint", "--org", org, "--sub", "bench",
         "--scope", scopes, "--ttl", "4h"], text=True).strip()


class Server:
    def __init__(self, backend, database_url=None, worker=False, data_dir=None):
        self.backend = backend
        self.dir = data_dir or tempfile.mkdtemp(prefix="tokenwarden-bench-")
        self.port = free_port()
        env = dict(os.environ, TOKENWARDEN_LOG__LEVEL="warn", TOKENWARDEN_RATE_LIMIT__REQUESTS="0",
                   TOKENWARDEN_WORKER__ENABLED="true" if worker else "false")
        env.pop("DATABASE_URL", None)
        if database_url:
            env["DATABASE_URL"] = database_url
        args = [BINARY, "--dev", "--data-dir", self.dir, "serve", "--bind", f"127.0.0.1:{self.port}",
                "--sandbox"]
        if not worker:
            args.append("--no-worker")
        self.log = open(os.path.join(self.dir, f"server-{self.port}.log"), "w")
        self.process = subprocess.Popen(args, env=env, stdout=self.log, stderr=self.log)
        client = Client(self.port)
        for _ in range(600):
            try:
                if client.request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"{backend}: the server did not become ready (log: {self.log.name})")

    def peak_rss_mib(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self, keep_dir=False):
        self.process.terminate()
        self.process.wait(timeout=60)
        self.log.close()
        if not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def in_parallel(port, jobs, work):
    """Runs `work(client, job)` over jobs on SEED_THREADS keep-alive clients."""
    results = [None] * len(jobs)

    def run(slot):
        c = Client(port)
        for i in range(slot, len(jobs), SEED_THREADS):
            results[i] = work(c, jobs[i])

    with concurrent.futures.ThreadPoolExecutor(SEED_THREADS) as pool:
        list(pool.map(run, range(SEED_THREADS)))
    return results


class Connect:
    """Connects a sandbox identity in a brand over the real OAuth flow."""

    def __init__(self, token):
        self.token = token

    def __call__(self, c, job):
        brand, subject = job
        status, start, _, _ = c.request("POST", f"/v1/brands/{brand}/accounts/connect", self.token,
                                        {"network": "sandbox"})
        assert status == 201, start
        url = urllib.parse.urlsplit(start["authorization_url"])
        status, _, location, _ = c.request("GET", f"{url.path}?{url.query}&auto_approve={subject}")
        assert status == 303, status
        callback = urllib.parse.urlsplit(location)
        status, done, _, _ = c.request("GET", f"{callback.path}?{callback.query}")
        assert status == 200, done
        return done["account"]["id"]


def seed(server, brands, profiles, expired_share):
    c = Client(server.port)
    admin = mint(server.dir, "platform", "platform:admin")
    status, org, _, _ = c.request("POST", "/v1/organizations", admin,
                                  {"name": "Bench Agency", "plan": "enterprise"})
    assert status == 201, org
    token = mint(server.dir, org["id"], SCOPES)

    def make_brand(c, i):
        status, b, _, _ = c.request("POST", "/v1/brands", token, {"name": f"Brand {i:05}"})
        assert status == 201, b
        return b["id"]

    brand_ids = in_parallel(server.port, list(range(brands)), make_brand)

    def identity(c, subject):
        status, body, _, _ = c.request("POST", "/sandbox/control/identities", None,
                                       {"subject": subject, "handle": subject.replace("-", ""),
                                        "display_name": subject})
        assert status in (200, 201), (status, body)

    subjects = [f"bench-{b}-{p}" for b in range(brands) for p in range(profiles)]
    in_parallel(server.port, subjects + ["bench-everywhere"], identity)
    jobs = [(brand_ids[b], f"bench-{b}-{p}") for b in range(brands) for p in range(profiles)]
    every = max(1, round(1 / expired_share)) if expired_share else 0
    lasting = [j for i, j in enumerate(jobs) if not every or i % every]
    expiring = [j for i, j in enumerate(jobs) if every and not i % every]

    connect = Connect(token)
    settings = lambda secs: c.request("PUT", "/sandbox/control/settings", None,
                                      {"access_token_lifetime_secs": secs})
    settings(30 * 86400)
    in_parallel(server.port, lasting, connect)
    # Tokens that expire within the second: expired when measured.
    settings(1)
    in_parallel(server.port, expiring, connect)
    # One profile connected in every brand, one brand after the other: each
    # connection's fresh grant moves the brands before it onto it, so they
    # end on one grant, expired too.
    everywhere = []
    for brand in brand_ids:
        everywhere.append((brand, connect(c, (brand, "bench-everywhere"))))
    settings(30 * 86400)
    time.sleep(1.5)
    return org["id"], token, brand_ids, everywhere, len(jobs) + len(everywhere)


def wrk(port, path, token, seconds, connections, extra_headers=()):
    """Drives one endpoint with wrk; returns requests/s, p50, p99, bytes per answer."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {token}"]
    for h in extra_headers:
        args += ["-H", h]
    out = subprocess.run(args + [f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                         check=True).stdout
    return parse_wrk(out)


def parse_wrk(out):
    """requests/s, p50, p99, bytes per answer and failures from wrk's --latency report."""
    result = {"non_2xx_3xx": 0, "errors": 0}
    for line in out.splitlines():
        m = re.match(r"\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)", line)
        if m:
            value = float(m.group(2)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(3)]
            result[f"p{m.group(1)}_ms"] = value
        m = re.match(r"\s+(\d+) requests in ([\d.]+)(ms|s|m), ([\d.]+)(B|KB|MB|GB) read", line)
        if m:
            result["requests"] = int(m.group(1))
            scale = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}[m.group(5)]
            result["bytes"] = float(m.group(4)) * scale
        m = re.match(r"Requests/sec:\s+([\d.]+)", line)
        if m:
            result["rps"] = float(m.group(1))
        m = re.match(r"\s+Non-2xx or 3xx responses: (\d+)", line)
        if m:
            result["non_2xx_3xx"] = int(m.group(1))
        m = re.match(r"\s+Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", line)
        if m:
            result["errors"] = sum(int(x) for x in m.groups())
    result["bytes_per_answer"] = result.get("bytes", 0) / max(1, result.get("requests", 1))
    return result


def renew_everywhere(server, token, everywhere, rounds):
    """Renews the profile connected in every brand; each renew propagates to the other brands."""
    c = Client(server.port)
    times, propagated = [], []
    for brand, account in everywhere[:rounds]:
        t0 = time.perf_counter()
        status, body, _, _ = c.request("POST", f"/v1/brands/{brand}/accounts/{account}/renew", token)
        times.append((time.perf_counter() - t0) * 1000)
        assert status == 200, body
        propagated.append(len(body["propagation"]["renewed"]))
    times.sort()
    return {"renews": len(times), "p50_ms": times[len(times) // 2], "max_ms": times[-1],
            "propagated_to": max(propagated)}


def consolidation(server, brands):
    """Times the first renewal that consolidates `brands` brands' own
    credentials onto one: an organization of its own whose brands each
    connect one profile while on Starter (which does not propagate, so each
    keeps its own grant, expiring at once), raised to Enterprise before one
    brand's account is renewed; the renewal moves the other brands onto its
    grant and deletes (and judges for revocation) their credentials."""
    c = Client(server.port)
    admin = mint(server.dir, "platform", "platform:admin")
    status, org, _, _ = c.request("POST", "/v1/organizations", admin,
                                  {"name": "Consolidation", "plan": "enterprise"})
    assert status == 201, org
    token = mint(server.dir, org["id"], SCOPES)

    def make_brand(c, i):
        status, b, _, _ = c.request("POST", "/v1/brands", token, {"name": f"Own grants {i:05}"})
        assert status == 201, b
        return b["id"]

    brand_ids = in_parallel(server.port, list(range(brands)), make_brand)
    status, body, _, _ = c.request("POST", "/sandbox/control/identities", None,
                                   {"subject": "bench-consolidate", "handle": "benchconsolidate",
                                    "display_name": "bench-consolidate"})
    assert status in (200, 201), (status, body)
    plan = lambda p: c.request("PATCH", f"/v1/organizations/{org['id']}", admin, {"plan": p})
    settings = lambda secs: c.request("PUT", "/sandbox/control/settings", None,
                                      {"access_token_lifetime_secs": secs})
    assert plan("starter")[0] == 200
    settings(1)
    accounts = in_parallel(server.port, [(b, "bench-consolidate") for b in brand_ids], Connect(token))
    settings(30 * 86400)
    assert plan("enterprise")[0] == 200
    time.sleep(1.5)
    t0 = time.perf_counter()
    status, body, _, _ = c.request("POST", f"/v1/brands/{brand_ids[0]}/accounts/{accounts[0]}/renew", token)
    ms = (time.perf_counter() - t0) * 1000
    assert status == 200 and body["outcome"] == "renewed", body
    return {"ms": ms, "propagated_to": len(body["propagation"]["renewed"])}


def ballast_organization(server):
    """An organization of its own for the due-scan's credentials."""
    admin = mint(server.dir, "platform", "platform:admin")
    status, org, _, _ = Client(server.port).request("POST", "/v1/organizations", admin,
                                                    {"name": "Due-scan ballast", "plan": "starter"})
    assert status == 201, org
    return org


def add_credentials(server, backend, database_url, org, count):
    """Adds `count` credentials for the worker's due-scan: copies of one seeded
    credential in the organization `org`, each with its own id (their
    ciphertexts, bound to the original row, do not open elsewhere), due in
    the coming days except for a thousand due now."""
    sql = f"""
INSERT INTO credentials (id, organization_id, profile_id, network, access_token, access_token_key_id,
    refresh_token, refresh_token_key_id, scopes, issued_at, expires_at, refresh_expires_at, status,
    status_reason, status_changed_at, version, lease_owner, lease_expires_at, last_refreshed_at,
    next_refresh_at, failure_count, last_failure_at, last_failure_reason, created_at, updated_at)
SELECT {{id}}, '{org["id"]}', s.profile_id, s.network, s.access_token, s.access_token_key_id,
    s.refresh_token, s.refresh_token_key_id, s.scopes, s.issued_at, s.expires_at, s.refresh_expires_at,
    s.status, s.status_reason, s.status_changed_at, s.version, NULL, NULL, s.last_refreshed_at,
    {{next}}, 0, NULL, NULL, s.created_at, s.updated_at
FROM {{series}}, (SELECT * FROM credentials LIMIT 1) s
"""
    if backend == "sqlite":
        db = sqlite3.connect(os.path.join(server.dir, "tokenwarden.db"), timeout=60)
        db.execute("PRAGMA foreign_keys = OFF")
        q = sql.format(
            id="'bench-' || n",
            next="CASE WHEN n <= 1000 THEN datetime('now', '-1 minutes') "
                 "ELSE datetime('now', '+' || (n % 7 + 1) || ' days') END",
            series=f"(WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < {count}) "
                   f"SELECT n FROM r) AS g")
        db.execute(q)
        db.commit()
        db.close()
    else:
        q = sql.format(
            id="'bench-' || n",
            next="CASE WHEN n <= 1000 THEN (now() AT TIME ZONE 'UTC') - interval '1 minute' "
                 "ELSE (now() AT TIME ZONE 'UTC') + (n % 7 + 1) * interval '1 day' END",
            series=f"generate_series(1, {count}) AS g(n)")
        subprocess.check_call(["psql", database_url, "-qc", "SET session_replication_role = replica; " + q + ";",
                               "-c", "ANALYZE credentials"], stdout=subprocess.DEVNULL)


def due_scan_seconds(port, wait_s=30):
    """The worker's last due-scan time, read off /metrics once a tick has run."""
    deadline = time.time() + wait_s
    while time.time() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        m = re.search(r"^tokenwarden_worker_due_scan_seconds ([\d.e+-]+)$", text, re.M)
        if m and float(m.group(1)) > 0:
            return float(m.group(1))
        time.sleep(1)
    return float("nan")


def run_backend(backend, url, args):
    seeder = Server(backend, url)
    r = {}
    try:
        t0 = time.time()
        org, token, brands, everywhere, seeded = seed(seeder, args.brands, args.profiles, args.expired_share)
        r["seed_s"] = time.time() - t0
        r["seeded_accounts"] = seeded
        r["rss_seeder_mib"] = seeder.peak_rss_mib()
        if args.renewals_only:
            r["renew"] = renew_everywhere(seeder, token, everywhere, args.renews)
            r["consolidation"] = consolidation(seeder, args.brands)
            seeder.stop()
            return r
        # The reads go to a process of their own on the same database, so
        # that its peak RSS is the read load's, not the seeding's (whose
        # process also holds the in-process sandbox's 21,000 identities and
        # grants, which the renewals below still need).
        reader = Server(backend, url, data_dir=seeder.dir)
        try:
            c = Client(reader.port)
            status, summary, _, _ = c.request("GET", "/v1/expired-tokens/summary", token)
            r["needing_renewal"] = summary["total"]
            _, _, _, etag = c.request("GET", "/v1/expired-tokens?limit=50", token, headers=BROWSER)
            accounts = f"/v1/brands/{brands[len(brands) // 2]}/accounts?limit=50"
            gzip = (f"Accept-Encoding: {BROWSER['Accept-Encoding']}",)
            targets = [
                ("healthz", "/healthz", ()),
                ("dropdown", "/v1/expired-tokens?limit=50", gzip),
                ("badge", "/v1/expired-tokens/summary", gzip),
                ("accounts", accounts, gzip),
                ("dropdown_304", "/v1/expired-tokens?limit=50", gzip + (f"If-None-Match: {etag}",)),
                ("dropdown_identity", "/v1/expired-tokens?limit=50", ()),
                ("badge_identity", "/v1/expired-tokens/summary", ()),
                ("accounts_identity", accounts, ()),
                ("healthz_again", "/healthz", ()),
            ]
            for name, path, headers in targets:
                r[name] = wrk(reader.port, path, token, args.seconds, args.connections, headers)
                print(f"  {backend} {name}: {r[name].get('rps', 0):.0f} req/s", file=sys.stderr)
            r["rss_mib"] = reader.peak_rss_mib()
        finally:
            reader.stop(keep_dir=True)
        r["renew"] = renew_everywhere(seeder, token, everywhere, args.renews)
        r["consolidation"] = consolidation(seeder, args.brands)
        ballast = ballast_organization(seeder) if args.credentials else None
    finally:
        seeder.stop(keep_dir=True)
    if args.credentials:
        add_credentials(seeder, backend, url, ballast, args.credentials)
        worker = Server(backend, url, worker=True, data_dir=seeder.dir)
        try:
            r["due_scan_s"] = due_scan_seconds(worker.port)
        finally:
            worker.stop()
    else:
        shutil.rmtree(seeder.dir, ignore_errors=True)
    return r


def renewal_rows(lines, r):
    rn, cn = r["renew"], r["consolidation"]
    lines.append(f"| renew with propagation to {rn['propagated_to']} brands ({rn['renews']} renews) | | "
                 f"{rn['p50_ms']:.1f} ms | max {rn['max_ms']:.1f} ms | | | |")
    lines.append(f"| first renew consolidating {cn['propagated_to']} brands' own credentials onto one | | "
                 f"{cn['ms']:.1f} ms | | | | |")


def table(results, args, machine):
    lines = []
    ceiling = lambda r: max(r["healthz"]["rps"], r["healthz_again"]["rps"])
    for backend, r in results.items():
        lines.append(f"\n### {backend}\n")
        lines.append(f"{r['seeded_accounts']:,} accounts, {r.get('needing_renewal', 0):,} needing renewal "
                     f"(seeded in {r['seed_s']:.0f} s over the OAuth flow)\n")
        lines.append("| endpoint | req/s | p50 | p99 | ratio to `/healthz` | bytes per answer | non-2xx/3xx |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        if "healthz" not in r:
            renewal_rows(lines, r)
            continue
        names = {"healthz": "`/healthz` (ceiling)",
                 "dropdown": "dropdown `GET /v1/expired-tokens?limit=50`, gzip",
                 "badge": "badge `GET /v1/expired-tokens/summary`, gzip",
                 "accounts": "Manage Accounts `GET /v1/brands/{id}/accounts?limit=50`, gzip",
                 "dropdown_304": "dropdown with `If-None-Match` (304)",
                 "dropdown_identity": "dropdown, no `Accept-Encoding`",
                 "badge_identity": "badge, no `Accept-Encoding`",
                 "accounts_identity": "Manage Accounts, no `Accept-Encoding`",
                 "healthz_again": "`/healthz` again"}
        for key, label in names.items():
            m = r[key]
            lines.append(f"| {label} | {m.get('rps', 0):,.0f} | {m.get('p50_ms', float('nan')):.2f} ms | "
                         f"{m.get('p99_ms', float('nan')):.2f} ms | {m.get('rps', 0) / ceiling(r):.3f} | "
                         f"{m['bytes_per_answer']:,.0f} | {m['non_2xx_3xx'] + m['errors']} |")
        renewal_rows(lines, r)
        if "due_scan_s" in r:
            lines.append(f"| worker due-scan over {args.credentials:,} more credentials | | "
                         f"{r['due_scan_s'] * 1000:.1f} ms | | | | |")
        lines.append(f"| peak RSS of the process serving the reads above | | | | | {r['rss_mib']:.0f} MiB | |")
        lines.append(f"| peak RSS of the seeding process (21,000 OAuth flows, the in-process sandbox's state) | | | | | "
                     f"{r['rss_seeder_mib']:.0f} MiB | |")
    return "\n".join(lines)


def run_on_each_backend(args, run_backend):
    """Installs wrk if missing, builds the release binary unless --skip-build, and runs
    run_backend(backend, url, args) for each of --backends (a fresh PostgreSQL database
    for postgres, dropped afterwards). Returns {backend: what run_backend returned}."""
    if not shutil.which("wrk"):
        print("installing wrk from Debian's packages", file=sys.stderr)
        subprocess.check_call(["apt-get", "install", "-y", "-q", "wrk"], stdout=subprocess.DEVNULL)
    if not args.skip_build:
        subprocess.check_call(["cargo", "build", "--release", "--locked", "-q"], cwd=ROOT)
    results = {}
    for backend in args.backends.split(","):
        url, pg_db = None, None
        if backend == "postgres":
            pg_db = "tw_bench_" + uuid.uuid4().hex[:12]
            subprocess.check_call(["psql", args.postgres, "-qc", f"CREATE DATABASE {pg_db}"],
                                  stdout=subprocess.DEVNULL)
            url = urllib.parse.urlunsplit(urllib.parse.urlsplit(args.postgres)._replace(path="/" + pg_db))
        try:
            print(f"{backend}: seeding and measuring", file=sys.stderr)
            results[backend] = run_backend(backend, url, args)
        finally:
            if pg_db:
                subprocess.call(["psql", args.postgres, "-qc", f"DROP DATABASE IF EXISTS {pg_db} WITH (FORCE)"],
                                stdout=subprocess.DEVNULL)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--brands", type=int, default=1000)
    parser.add_argument("--profiles", type=int, default=20, help="profiles per brand")
    parser.add_argument("--expired-share", type=float, default=0.05)
    parser.add_argument("--renews", type=int, default=21)
    parser.add_argument("--credentials", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres", default=os.environ.get("TOKENWARDEN_TEST_POSTGRES_URL",
                                                             "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--renewals-only", action="store_true",
                        help="seed, then only the renewals (no reads, no due-scan); with --profiles 0 a quick run")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results.md"))
    args = parser.parse_args()
    results = run_on_each_backend(args, run_backend)

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    machine = (f"{os.cpu_count()} cores ({cpu}), {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
               f"{platform.system()} {platform.release()}")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = (f"# Benchmark results\n\nMachine: {machine}. Date: {when}. Release build; wrk, {args.connections} "
            f"connections, 2 threads, {args.seconds} s per endpoint, on the same machine as the server. "
            f"The polled reads are asked as a browser asks them (`Accept-Encoding: gzip, deflate, br`), "
            f"and again without `Accept-Encoding`.\n"
            f"Command: `python3 bench/run.py` (see README.md). The figures below are what this run printed.\n")
    text = head + table(results, args, machine) + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()

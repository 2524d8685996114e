#!/usr/bin/env python3
"""Benchmark tokenwarden on SQLite and PostgreSQL (Python standard library only).

For each backend it starts a release build of the server with the sandbox
network, seeds an Advanced organization over the real OAuth flow (brands,
profiles shared across brands, half of the tokens expired), then measures:

* the "Expired Tokens" dropdown (GET /v1/expired-tokens?limit=25), its badge
  (GET /v1/expired-tokens/summary) and a brand's Manage Accounts page, with
  concurrent keep-alive clients for a fixed time: requests/s and latency
  percentiles;
* a renew storm: many concurrent renews of accounts sharing one expired grant,
  reporting the wall time and how many refreshes reached the network (the
  single-flight rule says: one).

Usage: python3 bench/run.py [--seconds 10] [--clients 8] [--brands 10]
       [--profiles 40] [--storm 50] [--postgres URL] [--skip-build]
It prints a table and the PostgreSQL/SQLite ratios. Figures depend on the
machine; README.md records the ones measured here and how.
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "tokenwarden")
SCOPES = "accounts:read accounts:write tokens:renew org:admin"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method, path, token=None, body=None):
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
        raw = response.read()
        location = response.getheader("Location")
        payload = json.loads(raw) if raw and raw[:1] in (b"{", b"[") else None
        return response.status, payload, location


def mint(data_dir, org, scopes):
    return subprocess.check_output(
        [BINARY, "--dev", "--data-dir", data_dir, "token", "mint", "--org", org, "--sub", "bench",
         "--scope", scopes, "--ttl", "2h"], text=True).strip()


class Server:
    def __init__(self, backend, database_url=None):
        self.backend = backend
        self.dir = tempfile.mkdtemp(prefix="tokenwarden-bench-")
        self.port = free_port()
        env = dict(os.environ, TOKENWARDEN_LOG__LEVEL="warn", TOKENWARDEN_WORKER__ENABLED="false",
                   TOKENWARDEN_RATE_LIMIT__REQUESTS="0")
        env.pop("DATABASE_URL", None)
        if database_url:
            env["DATABASE_URL"] = database_url
        self.process = subprocess.Popen(
            [BINARY, "--dev", "--data-dir", self.dir, "serve", "--bind", f"127.0.0.1:{self.port}",
             "--sandbox", "--no-worker"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = Client(self.port)
        for _ in range(200):
            try:
                if client.request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"{backend}: the server did not become ready")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def seed(server, brands, profiles):
    c = Client(server.port)
    admin = mint(server.dir, "platform", "platform:admin")
    status, org, _ = c.request("POST", "/v1/organizations", admin, {"name": "Bench", "plan": "advanced"})
    assert status == 201, org
    token = mint(server.dir, org["id"], SCOPES)
    brand_ids = []
    for i in range(brands):
        status, b, _ = c.request("POST", "/v1/brands", token, {"name": f"Brand {i}"})
        assert status == 201, b
        brand_ids.append(b["id"])
    # Connect on Starter (no propagation), so every account keeps its own grant.
    status, _, _ = c.request("PATCH", f"/v1/organizations/{org['id']}", admin, {"plan": "starter"})
    assert status == 200
    # Each profile is connected in 3 brands, each connection its own grant (Starter);
    # every other profile gets 1-second tokens, so it is expired when measured.
    accounts = []
    for p in range(profiles):
        subject = f"bench-{p}"
        c.request("POST", "/sandbox/control/identities", None,
                  {"subject": subject, "handle": f"bench{p}", "display_name": f"Bench {p}"})
        lifetime = 1 if p % 2 == 0 else 30 * 86400
        c.request("PUT", "/sandbox/control/settings", None, {"access_token_lifetime_secs": lifetime})
        for k in range(3):
            brand = brand_ids[(p + k) % len(brand_ids)]
            status, start, _ = c.request("POST", f"/v1/brands/{brand}/accounts/connect", token,
                                         {"network": "sandbox"})
            assert status == 201, start
            url = urllib.parse.urlsplit(start["authorization_url"])
            status, _, location = c.request("GET", f"{url.path}?{url.query}&auto_approve={subject}")
            assert status == 303, status
            callback = urllib.parse.urlsplit(location)
            status, done, _ = c.request("GET", f"{callback.path}?{callback.query}")
            assert status == 200, done
            accounts.append((brand, done["account"]["id"], p))
    c.request("PUT", "/sandbox/control/settings", None, {"access_token_lifetime_secs": 30 * 86400})
    # Cross-brand renewal from now on.
    status, _, _ = c.request("PATCH", f"/v1/organizations/{org['id']}", admin, {"plan": "advanced"})
    assert status == 200
    time.sleep(1.5)
    return token, brand_ids, accounts


def measure(port, path, token, seconds, clients):
    latencies = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def run():
        c = Client(port)
        mine = []
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            status, _, _ = c.request("GET", path, token)
            mine.append(time.perf_counter() - t0)
            if status != 200:
                errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    q = lambda f: latencies[min(len(latencies) - 1, int(f * len(latencies)))] * 1000
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": q(0.50),
        "p95_ms": q(0.95),
        "p99_ms": q(0.99),
        "errors": errors[0],
    }


def storm(server, token, accounts, size):
    """Concurrent renews of one account whose grant expired."""
    c = Client(server.port)
    target = [a for a in accounts if a[2] == 0][:1]
    c.request("DELETE", "/sandbox/control/calls")
    results = []
    barrier = threading.Barrier(size)

    def run(i):
        brand, account, _ = target[i % len(target)]
        cl = Client(server.port)
        barrier.wait()
        status, body, _ = cl.request("POST", f"/v1/brands/{brand}/accounts/{account}/renew", token)
        results.append((status, (body or {}).get("outcome")))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(size)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    _, calls, _ = c.request("GET", "/sandbox/control/calls")
    renewed = sum(1 for s, o in results if s == 200 and o == "renewed")
    return {"renews": size, "renewed": renewed, "wall_ms": wall * 1000, "network_refreshes": calls["refresh"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--brands", type=int, default=10)
    parser.add_argument("--profiles", type=int, default=40)
    parser.add_argument("--storm", type=int, default=50)
    parser.add_argument("--postgres", default=os.environ.get("TOKENWARDEN_TEST_POSTGRES_URL",
                                                             "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--skip-build", action="store_true")
    args = parser.parse_args()
    if not args.skip_build:
        subprocess.check_call(["cargo", "build", "--release", "--locked", "-q"], cwd=ROOT)

    backends = [("sqlite", None)]
    pg_db = None
    if args.postgres:
        pg_db = "tw_bench_" + uuid.uuid4().hex[:12]
        admin = urllib.parse.urlsplit(args.postgres)
        try:
            subprocess.check_call(["psql", args.postgres, "-qc", f"CREATE DATABASE {pg_db}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            backends.append(("postgres", urllib.parse.urlunsplit(admin._replace(path="/" + pg_db))))
        except (OSError, subprocess.CalledProcessError):
            print("PostgreSQL not reachable (psql); measuring SQLite only", file=sys.stderr)
            pg_db = None

    results = {}
    try:
        for backend, url in backends:
            server = Server(backend, url)
            try:
                token, brands, accounts = seed(server, args.brands, args.profiles)
                r = {}
                r["dropdown"] = measure(server.port, "/v1/expired-tokens?limit=25", token, args.seconds, args.clients)
                r["badge"] = measure(server.port, "/v1/expired-tokens/summary", token, args.seconds, args.clients)
                r["accounts"] = measure(server.port, f"/v1/brands/{brands[0]}/accounts?limit=25", token,
                                        args.seconds, args.clients)
                r["storm"] = storm(server, token, accounts, args.storm)
                r["accounts_seeded"] = len(accounts)
                results[backend] = r
            finally:
                server.stop()
    finally:
        if pg_db:
            subprocess.call(["psql", args.postgres, "-qc", f"DROP DATABASE IF EXISTS {pg_db} WITH (FORCE)"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    print(f"\n{args.clients} keep-alive clients, {args.seconds:g} s per endpoint, "
          f"{next(iter(results.values()))['accounts_seeded']} accounts ({args.profiles} profiles x 3 brands, half expired)")
    print(f"{'backend':9} {'endpoint':10} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for backend, r in results.items():
        for name in ("dropdown", "badge", "accounts"):
            m = r[name]
            print(f"{backend:9} {name:10} {m['rps']:9.0f} {m['p50_ms']:8.2f} {m['p95_ms']:8.2f} {m['p99_ms']:8.2f} {m['errors']:7}")
    for backend, r in results.items():
        s = r["storm"]
        print(f"{backend:9} renew storm: {s['renews']} concurrent renews of one expired account -> "
              f"{s['renewed']} renewed, {s['network_refreshes']} refresh at the network, {s['wall_ms']:.0f} ms wall")
    if "postgres" in results and "sqlite" in results:
        for name in ("dropdown", "badge", "accounts"):
            ratio = results["postgres"][name]["rps"] / results["sqlite"][name]["rps"]
            print(f"ratio postgres/sqlite {name}: {ratio:.2f}x requests/s")


if __name__ == "__main__":
    main()

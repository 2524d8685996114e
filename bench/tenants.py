#!/usr/bin/env python3
"""Benchmark the SaaS shape: thousands of organizations polling at once.

    python3 bench/tenants.py        # --backends sqlite to skip PostgreSQL; --help for the sizes

For each backend it starts the release binary (built by bench/run.py's
rules; sandbox network, no worker, no rate limit), seeds through the API over
the real OAuth flow 2,000 organizations with one brand and 5 accounts each
(one of them with a token that expires at once), mints one token per
organization, and then, on a fresh serving process on that database, drives
with wrk (2 threads, 64 connections, 8 s each; bench/tenants.lua chooses the
next organization's token for each request, so polls spread uniformly):

* `/healthz`, before and after;
* the dropdown and the badge polled by all organizations (gzip, as browsers ask);
* the same two polled by one organization (the ratio the issue asks for);
* the badge polled by all organizations while a second serving process on
  the same database disables and enables accounts, each change followed at
  once by a poll of the first process for that organization, which must
  show it (a stale answer is counted and reported).

It reads the serving process's peak RSS (VmHWM) and its ready-answer
counters off `/metrics`, and writes bench/tenants-results.md.
"""

import argparse
import concurrent.futures
import datetime
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402  (the shared server, client and wrk helpers)

LUA = os.path.join(bench.ROOT, "bench", "tenants.lua")
DROPDOWN = "/v1/expired-tokens?limit=50"
BADGE = "/v1/expired-tokens/summary"


def parallel(jobs, work, threads=bench.SEED_THREADS):
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(work, jobs))


def seed_tenants(server, organizations, accounts):
    """Organizations of one brand and `accounts` accounts each, the first
    account's token expiring at once; returns [(org, token, brand, [account])]."""
    admin = bench.mint(server.dir, "platform", "platform:admin")

    def make_org(c, i):
        status, org, _, _ = c.request("POST", "/v1/organizations", admin,
                                      {"name": f"Tenant {i:05}", "plan": "advanced"})
        assert status == 201, org
        return org["id"]

    orgs = bench.in_parallel(server.port, list(range(organizations)), make_org)
    tokens = parallel(orgs, lambda org: bench.mint(server.dir, org, bench.SCOPES))

    def make_brand(c, i):
        status, b, _, _ = c.request("POST", "/v1/brands", tokens[i], {"name": "Main"})
        assert status == 201, b
        return b["id"]

    brands = bench.in_parallel(server.port, list(range(organizations)), make_brand)

    def identity(c, subject):
        status, body, _, _ = c.request("POST", "/sandbox/control/identities", None,
                                       {"subject": subject, "handle": subject.replace("-", ""),
                                        "display_name": subject})
        assert status in (200, 201), (status, body)

    subject = lambda i, a: f"tenant-{i}-{a}"
    bench.in_parallel(server.port, [subject(i, a) for i in range(organizations) for a in range(accounts)],
                      identity)

    def connect(c, job):
        i, a = job
        return bench.Connect(tokens[i])(c, (brands[i], subject(i, a)))

    c = bench.Client(server.port)
    settings = lambda secs: c.request("PUT", "/sandbox/control/settings", None,
                                      {"access_token_lifetime_secs": secs})
    # Tokens that expire within the second: expired when measured.
    settings(1)
    expiring = bench.in_parallel(server.port, [(i, 0) for i in range(organizations)], connect)
    settings(30 * 86400)
    lasting = bench.in_parallel(server.port, [(i, a) for i in range(organizations)
                                              for a in range(1, accounts)], connect)
    time.sleep(1.5)
    per_org = accounts - 1
    return [(orgs[i], tokens[i], brands[i], [expiring[i]] + lasting[i * per_org:(i + 1) * per_org])
            for i in range(organizations)]


def wrk_tokens(port, path, tokens_file, seconds, connections, gzip=True):
    env = dict(os.environ, BENCH_TOKENS=tokens_file, BENCH_PATH=path, BENCH_GZIP="1" if gzip else "0")
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", LUA,
                          f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True,
                         env=env).stdout
    return bench.parse_wrk(out)


def ready_counters(port):
    """The ready answers' counters in the serving process's /metrics."""
    conn = bench.http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/metrics")
    body = conn.getresponse().read().decode()
    conn.close()
    found = {}
    for name in ("hits_total", "misses_total", "evictions_total", "bytes"):
        m = re.search(rf"^tokenwarden_ready_answers_{name} (\d+)$", body, re.M)
        found[name] = int(m.group(1)) if m else None
    for name in ("version_reads_total", "version_watch_up", "version_watches_opened_total"):
        m = re.search(rf"^tokenwarden_ready_{name} (\d+)$", body, re.M)
        found[name] = int(m.group(1)) if m else None
    return found


class Freshness(threading.Thread):
    """Changes accounts through `writer` and polls `reader` right after each
    change: every poll must show the change."""

    def __init__(self, reader_port, writer_port, tenants):
        super().__init__(daemon=True)
        self.reader, self.writer = bench.Client(reader_port), bench.Client(writer_port)
        self.tenants = tenants
        self.stop = threading.Event()
        self.checks = self.stale = 0

    def run(self):
        i = 0
        while not self.stop.is_set():
            org, token, brand, accounts = self.tenants[(i * 7919) % len(self.tenants)]
            # The expiring account counts in the badge while enabled.
            enabled = self.checks % 2 == 1
            status, body, _, _ = self.writer.request("PATCH", f"/v1/brands/{brand}/accounts/{accounts[0]}",
                                                     token, {"enabled": enabled})
            assert status == 200, body
            status, summary, _, _ = self.reader.request("GET", BADGE, token)
            assert status == 200, summary
            self.checks += 1
            if summary["total"] != (1 if enabled else 0):
                self.stale += 1
            if enabled or self.stop.is_set():
                i += 1
        # Leave every account enabled, as seeded.
        if self.checks % 2 == 1:
            org, token, brand, accounts = self.tenants[(i * 7919) % len(self.tenants)]
            self.writer.request("PATCH", f"/v1/brands/{brand}/accounts/{accounts[0]}", token, {"enabled": True})


def run_backend(backend, url, args):
    seeder = bench.Server(backend, url)
    r = {}
    try:
        t0 = time.time()
        tenants = seed_tenants(seeder, args.organizations, args.accounts)
        r["seed_s"] = time.time() - t0
    finally:
        seeder.stop(keep_dir=True)
    every = os.path.join(seeder.dir, "tokens-all.txt")
    one = os.path.join(seeder.dir, "tokens-one.txt")
    with open(every, "w") as f:
        f.write("\n".join(t[1] for t in tenants) + "\n")
    with open(one, "w") as f:
        f.write(tenants[len(tenants) // 2][1] + "\n")
    reader = bench.Server(backend, url, data_dir=seeder.dir)
    try:
        c = bench.Client(reader.port)
        status, summary, _, _ = c.request("GET", BADGE, tenants[0][1])
        assert status == 200 and summary["total"] == 1, summary
        if not args.cold:
            # Each organization's front end has polled once: the runs below
            # measure polls, not the first answer of each organization.
            def warm(c, tenant):
                for path in (DROPDOWN, BADGE):
                    status, _, _, _ = c.request("GET", path, tenant[1], headers=bench.BROWSER)
                    assert status == 200, status
            bench.in_parallel(reader.port, tenants, warm)
        r["counters_before"] = ready_counters(reader.port)
        plan = [
            ("healthz", "/healthz", None),
            ("dropdown_all", DROPDOWN, every),
            ("badge_all", BADGE, every),
            ("dropdown_one", DROPDOWN, one),
            ("badge_one", BADGE, one),
            ("healthz_again", "/healthz", None),
            # The same script's cost on the client side (wrk builds each request in Lua), for
            # the ratio of what the server does per poll.
            ("healthz_lua", "/healthz", every),
        ]
        for name, path, tokens in plan:
            if tokens:
                r[name] = wrk_tokens(reader.port, path, tokens, args.seconds, args.connections)
            else:
                r[name] = bench.wrk(reader.port, path, tenants[0][1], args.seconds, args.connections)
            print(f"  {backend} {name}: {r[name].get('rps', 0):.0f} req/s", file=sys.stderr)
        r["rss_mib"] = reader.peak_rss_mib()
        r["counters"] = ready_counters(reader.port)
        # A second serving process writes while every organization polls the first.
        writer = bench.Server(backend, url, data_dir=seeder.dir)
        try:
            fresh = Freshness(reader.port, writer.port, tenants)
            fresh.start()
            r["badge_all_writing"] = wrk_tokens(reader.port, BADGE, every, args.seconds, args.connections)
            fresh.stop.set()
            fresh.join()
            r["fresh_checks"], r["stale"] = fresh.checks, fresh.stale
        finally:
            writer.stop(keep_dir=True)
        r["counters_after_writes"] = ready_counters(reader.port)
    finally:
        reader.stop()
    return r


def table(results, args):
    lines = []
    for backend, r in results.items():
        ceiling = max(r["healthz"]["rps"], r["healthz_again"]["rps"])
        lines.append(f"\n### {backend}\n")
        lines.append(f"{args.organizations:,} organizations × {args.accounts} accounts (1 expired each), "
                     f"seeded in {r['seed_s']:.0f} s over the OAuth flow\n")
        lines.append("| endpoint | req/s | p50 | p99 | ratio to `/healthz` | ratio to one organization | "
                     "bytes per answer | non-2xx/3xx |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        names = {"healthz": ("`/healthz` (ceiling)", None),
                 "dropdown_all": (f"dropdown, {args.organizations:,} organizations, gzip", "dropdown_one"),
                 "badge_all": (f"badge, {args.organizations:,} organizations, gzip", "badge_one"),
                 "dropdown_one": ("dropdown, one organization, gzip", None),
                 "badge_one": ("badge, one organization, gzip", None),
                 "healthz_again": ("`/healthz` again", None),
                 "healthz_lua": ("`/healthz` through bench/tenants.lua (its per-request cost in wrk)", None),
                 "badge_all_writing": (f"badge, {args.organizations:,} organizations, while a second "
                                       "process writes", "badge_one")}
        for key, (label, versus) in names.items():
            m = r[key]
            against = f"{m.get('rps', 0) / r[versus]['rps']:.3f}" if versus else ""
            lines.append(f"| {label} | {m.get('rps', 0):,.0f} | {m.get('p50_ms', float('nan')):.2f} ms | "
                         f"{m.get('p99_ms', float('nan')):.2f} ms | {m.get('rps', 0) / ceiling:.3f} | {against} | "
                         f"{m['bytes_per_answer']:,.0f} | {m['non_2xx_3xx'] + m['errors']} |")
        lua = r["healthz_lua"]["rps"]
        lines.append(f"\nAgainst `/healthz` asked through the same script ({lua:,.0f} req/s): dropdown "
                     f"{r['dropdown_all']['rps'] / lua:.3f} and badge {r['badge_all']['rps'] / lua:.3f} "
                     f"({args.organizations:,} organizations), {r['dropdown_one']['rps'] / lua:.3f} and "
                     f"{r['badge_one']['rps'] / lua:.3f} (one organization).")
        lines.append(f"\nPeak RSS of the serving process (before the writing run): {r['rss_mib']:.0f} MiB. "
                     f"Its ready answers before the runs (after {'no' if args.cold else 'one'} poll of each "
                     f"organization's dropdown and badge): {r['counters_before']}; after the polls: "
                     f"{r['counters']}; after the writing run: {r['counters_after_writes']}.")
        lines.append(f"Writes by the second process, each followed at once by a poll of the first: "
                     f"{r['fresh_checks']:,}; polls that did not show the write: **{r['stale']}**.")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--organizations", type=int, default=2000)
    parser.add_argument("--accounts", type=int, default=5, help="accounts per organization")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres", default=os.environ.get("TOKENWARDEN_TEST_POSTGRES_URL",
                                                             "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--cold", action="store_true",
                        help="measure without first polling each organization once")
    parser.add_argument("--note", default="", help="a sentence about the machine's state, for the results")
    parser.add_argument("--out", default=os.path.join(bench.ROOT, "bench", "tenants-results.md"))
    args = parser.parse_args()
    results = bench.run_on_each_backend(args, run_backend)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = open("/proc/loadavg").read().split()[:3]
    head = (f"# Many organizations polling: results\n\nMachine: {os.cpu_count()} cores. Date: {when}. "
            f"Load average when written: {' '.join(load)}. {args.note}\nRelease build; wrk, "
            f"{args.connections} connections, 2 threads, {args.seconds} s per row, on the same machine as "
            f"the server; bench/tenants.lua gives each request the next organization's token.\n"
            f"Command: `python3 bench/tenants.py` (see README.md). The figures below are what this run "
            f"printed.\n")
    text = head + table(results, args) + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()

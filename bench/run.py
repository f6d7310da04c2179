#!/usr/bin/env python3
"""`make bench`: the service against the database's own limit, in one run.

Builds the release binary, then on this machine (load generator, server and
database all local):
  1. POST /orders on PostgreSQL for CREATE_SECONDS, 32 connections (wrk);
  2. GET /orders?limit=50 over those orders for LIST_SECONDS;
  3. POST /orders on SQLite, then GET /orders?limit=50 over those orders;
  4. pgbench, same concurrency, on an identical fresh database, running the
     SQL the service runs per order (pgbench_create.sql) and per list
     (pgbench_list.sql);
  5. POST /orders on PostgreSQL again, with one webhook endpoint on a local
     receiver subscribed to order.created;
  6. POST /orders on each database at MANY_CONNECTIONS (256), far more
     clients than the pool has connections;
and measures the server's peak memory (anonymous, and RSS), how long the email queue (and, in 5, the
webhook queue) takes to drain after the create run, and start-up time on a
fresh SQLite file. During every service run, GET /metrics is scraped every
SCRAPE_SECONDS, as Prometheus would (fifteen times as often as its default),
so the figures include what metrics cost. Prints one table and writes
target/bench/latest.json.
"""

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = ROOT / "target" / "bench"
BINARY = ROOT / "target" / "release" / "orders-server"
ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
# The many-clients rows: far more connections than the pool holds.
MANY_CONNECTIONS = int(os.environ.get("BENCH_MANY_CONNECTIONS", "256"))
CREATE_SECONDS = int(os.environ.get("BENCH_CREATE_SECONDS", "20"))
LIST_SECONDS = int(os.environ.get("BENCH_LIST_SECONDS", "10"))
MANY_SECONDS = int(os.environ.get("BENCH_MANY_SECONDS", "10"))
SCRAPE_SECONDS = float(os.environ.get("BENCH_SCRAPE_SECONDS", "1"))
# How long each scrape of /metrics took (ms), and how big the last one was.
SCRAPES = {"ms": [], "bytes": 0}
# The server runs as deployed: JSON logs at INFO (a line per request and per
# email). BENCH_RUST_LOG=warn shows what the logging costs.
SERVER_ENV = {
    "RUST_LOG": os.environ.get("BENCH_RUST_LOG", "info"),
    "LOG_FORMAT": "json",
    "DATABASE_POOL_SIZE": os.environ.get("BENCH_POOL_SIZE", "16"),
}


def run(*args, **kwargs):
    return subprocess.run(args, check=True, text=True, capture_output=True, **kwargs)


def psql(sql, url=ADMIN_URL):
    return run("psql", url, "-XAtqc", sql).stdout.strip()


def database_url(name):
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def fresh_database(name):
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(f"CREATE DATABASE {name}")
    return database_url(name)


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


class Server:
    """The release binary, started with `database`, stopped with SIGTERM."""

    def __init__(self, database, scrape=True, **extra_env):
        self.port = free_port()
        env = dict(os.environ, **SERVER_ENV, **extra_env, DATABASE_URL=database, BIND_ADDR=f"127.0.0.1:{self.port}")
        self.log = open(OUT / f"server-{self.port}.log", "w")
        self.started = time.perf_counter()
        self.process = subprocess.Popen([BINARY], env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=OUT)
        while not ready(self.port):
            if self.process.poll() is not None:
                sys.exit(f"bench: the server exited; see {self.log.name}")
            if time.perf_counter() - self.started > 60:
                self.process.kill()
                sys.exit(f"bench: the server was not ready within 60 s; see {self.log.name}")
            time.sleep(0.001)
        self.startup = time.perf_counter() - self.started
        # A fresh database: the server made its first key and printed it.
        self.log.flush()
        printed = re.search(r"initial API key \(shown once\): (\S+)", Path(self.log.name).read_text())
        self.key = printed.group(1) if printed else None
        self.scraping = threading.Event()
        self.peak_anon_kib = 0
        if scrape and self.key:
            threading.Thread(target=self.scrape, daemon=True).start()

    def scrape(self):
        """GET /metrics every SCRAPE_SECONDS until stopped, as Prometheus does."""
        request = urllib.request.Request(self.url("/metrics"), headers={"Authorization": f"Bearer {self.key}"})
        while not self.scraping.wait(SCRAPE_SECONDS):
            self.peak_anon_kib = max(self.peak_anon_kib, self.status_kib("RssAnon"))
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=10) as response:
                body = response.read()
            SCRAPES["ms"].append((time.perf_counter() - started) * 1000)
            SCRAPES["bytes"] = len(body)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def status_kib(self, field):
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1))

    def peak_rss_mib(self):
        """Peak RSS, pages of a mapped database file included."""
        return self.status_kib("VmHWM") / 1024

    def peak_anon_mib(self):
        """Peak anonymous memory (heap and stacks), sampled every scrape."""
        return max(self.peak_anon_kib, self.status_kib("RssAnon")) / 1024

    def stop(self):
        self.scraping.set()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        self.log.close()


class Receiver:
    """A local webhook receiver: answers every POST with 204 and counts them."""

    def __init__(self):
        self.received = 0
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    receiver.received += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/orders"

    def stop(self):
        self.server.shutdown()


def subscribe(server, url, events):
    body = json.dumps({"url": url, "events": events}).encode()
    request = urllib.request.Request(server.url("/webhook-endpoints"), data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {server.key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201, response.status


def wrk(url, seconds, script=None, key=None, connections=CONNECTIONS):
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if key:
        args += ["-H", f"Authorization: Bearer {key}"]
    if script:
        args += ["-s", str(BENCH / script)]
    out = run(*args, url).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket:
        errors += sum(int(n) for n in socket.groups())
    return {"rps": rps, "p50_ms": latency(out, "50"), "p99_ms": latency(out, "99"), "errors": errors}


def latency(out, percentile):
    value, unit = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)$", out, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def pgbench(url, script, seconds):
    log_dir = Path(tempfile.mkdtemp(dir=OUT))
    args = ["pgbench", "-n", "-M", "prepared", f"-c{CONNECTIONS}", "-j2", f"-T{seconds}",
            "-l", "--log-prefix", str(log_dir / "tx"), "-f", str(BENCH / script), url]
    out = run(*args).stdout
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    failed = int(re.search(r"number of failed transactions: (\d+)", out).group(1))
    latencies = sorted(int(line.split()[2]) for log in log_dir.iterdir() for line in log.read_text().splitlines())
    shutil.rmtree(log_dir)
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] / 1000
    return {"rps": tps, "p50_ms": p(0.50), "p99_ms": p(0.99), "errors": failed}


def migrate(url):
    for up in sorted((ROOT / "migrations" / "postgres").glob("*/up.sql")):
        run("psql", url, "-Xq", "-v", "ON_ERROR_STOP=1", "-f", str(up))


def drain_seconds(url, end_of_load, table="email_outbox"):
    """Waits for the queue to empty; returns seconds since the load ended."""
    while int(psql(f"SELECT count(*) FROM {table} WHERE state = 'pending'", url)) > 0:
        if time.perf_counter() - end_of_load > 120:
            return float("inf")
        time.sleep(0.01)
    return time.perf_counter() - end_of_load


def startup_ms(samples=5):
    times = []
    for _ in range(samples):
        with tempfile.TemporaryDirectory(dir=OUT) as folder:
            server = Server(f"sqlite://{folder}/orders.db", scrape=False)
            times.append(server.startup * 1000)
            server.stop()
    return statistics.median(times)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for tool, package in (("wrk", "wrk"), ("pgbench", "postgresql-client")):
        if not shutil.which(tool):
            print(f"bench: installing {package}")
            subprocess.run(["apt-get", "install", "-y", "-q", package], check=True, capture_output=True)
    print("bench: building the release binary")
    subprocess.run(["cargo", "build", "--release", "-p", "server", "--bin", "orders-server"], check=True, cwd=ROOT)
    results = {"connections": CONNECTIONS, "many_connections": MANY_CONNECTIONS, "create_seconds": CREATE_SECONDS, "list_seconds": LIST_SECONDS,
               "server_env": SERVER_ENV, "cpus": os.cpu_count()}

    print("bench: start-up on a fresh SQLite file")
    results["startup_ms"] = startup_ms()

    print(f"bench: service, PostgreSQL, POST /orders for {CREATE_SECONDS} s")
    service_url = fresh_database("orders_bench_service")
    server = Server(service_url)
    results["pg_create"] = wrk(server.url("/orders"), CREATE_SECONDS, "create.lua", server.key)
    end = time.perf_counter()
    results["pg_create"]["queue_at_end"] = int(psql("SELECT count(*) FROM email_outbox WHERE state = 'pending'", service_url))
    results["email_drain_s"] = drain_seconds(service_url, end)
    results["email_last_sent_after_last_create_s"] = float(psql(
        "SELECT coalesce(extract(epoch FROM (SELECT max(sent_at) FROM email_outbox) - (SELECT max(created_at) FROM orders)), "
        "'NaN')", service_url))
    results["orders_created"] = int(psql("SELECT count(*) FROM orders", service_url))
    psql("ANALYZE", service_url)
    print(f"bench: service, PostgreSQL, GET /orders?limit=50 for {LIST_SECONDS} s")
    results["pg_list"] = wrk(server.url("/orders?limit=50"), LIST_SECONDS, key=server.key)
    results["peak_rss_mib"] = server.peak_rss_mib()
    results["peak_anon_mib"] = server.peak_anon_mib()
    server.stop()

    print(f"bench: service, PostgreSQL, POST /orders for {CREATE_SECONDS} s, a webhook endpoint subscribed")
    webhooks_url = fresh_database("orders_bench_webhooks")
    server = Server(webhooks_url, WEBHOOK_ALLOW_PRIVATE="true")
    receiver = Receiver()
    subscribe(server, receiver.url(), ["order.created"])
    results["pg_create_webhook"] = wrk(server.url("/orders"), CREATE_SECONDS, "create.lua", server.key)
    end = time.perf_counter()
    results["pg_create_webhook"]["queue_at_end"] = int(
        psql("SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'", webhooks_url))
    received_at_end = receiver.received
    results["webhook_drain_s"] = drain_seconds(webhooks_url, end, "webhook_deliveries")
    results["webhook_drain_rate"] = (receiver.received - received_at_end) / (time.perf_counter() - end)
    results["webhooks_created"] = int(psql("SELECT count(*) FROM orders", webhooks_url))
    results["webhooks_received"] = receiver.received
    results["webhooks_failed"] = int(psql("SELECT count(*) FROM webhook_deliveries WHERE state = 'failed'", webhooks_url))
    server.stop()
    receiver.stop()

    print(f"bench: service, PostgreSQL, POST /orders for {MANY_SECONDS} s, {MANY_CONNECTIONS} connections")
    many_url = fresh_database("orders_bench_many")
    server = Server(many_url)
    results["pg_create_many"] = wrk(server.url("/orders"), MANY_SECONDS, "create.lua", server.key, MANY_CONNECTIONS)
    server.stop()

    print(f"bench: service, SQLite, POST /orders for {CREATE_SECONDS} s")
    with tempfile.TemporaryDirectory(dir=OUT) as folder:
        server = Server(f"sqlite://{folder}/orders.db")
        results["sqlite_create"] = wrk(server.url("/orders"), CREATE_SECONDS, "create.lua", server.key)
        print(f"bench: service, SQLite, GET /orders?limit=50 for {LIST_SECONDS} s")
        results["sqlite_list"] = wrk(server.url("/orders?limit=50"), LIST_SECONDS, key=server.key)
        results["sqlite_peak_rss_mib"] = server.peak_rss_mib()
        results["sqlite_peak_anon_mib"] = server.peak_anon_mib()
        server.stop()
    print(f"bench: service, SQLite, POST /orders for {MANY_SECONDS} s, {MANY_CONNECTIONS} connections")
    with tempfile.TemporaryDirectory(dir=OUT) as folder:
        server = Server(f"sqlite://{folder}/orders.db")
        results["sqlite_create_many"] = wrk(server.url("/orders"), MANY_SECONDS, "create.lua", server.key,
                                            MANY_CONNECTIONS)
        server.stop()

    print(f"bench: pgbench, the same SQL, {CONNECTIONS} clients")
    baseline_url = fresh_database("orders_bench_baseline")
    migrate(baseline_url)
    results["pgbench_create"] = pgbench(baseline_url, "pgbench_create.sql", CREATE_SECONDS)
    psql("ANALYZE", baseline_url)
    results["pgbench_list"] = pgbench(baseline_url, "pgbench_list.sql", LIST_SECONDS)
    for name in ("orders_bench_service", "orders_bench_baseline", "orders_bench_webhooks", "orders_bench_many"):
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    results["scrapes"] = {"count": len(SCRAPES["ms"]), "median_ms": statistics.median(SCRAPES["ms"]),
                          "max_ms": max(SCRAPES["ms"]), "bytes": SCRAPES["bytes"], "every_s": SCRAPE_SECONDS}
    results["create_ratio"] = results["pg_create"]["rps"] / results["pgbench_create"]["rps"]
    results["list_ratio"] = results["pg_list"]["rps"] / results["pgbench_list"]["rps"]
    results["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results["commit"] = run("git", "rev-parse", "--short", "HEAD", cwd=ROOT).stdout.strip()
    (OUT / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)


def print_table(r):
    rows = [
        ("create, PostgreSQL (service)", r["pg_create"]),
        ("create, PostgreSQL, webhook subscribed (service)", r["pg_create_webhook"]),
        ("create, PostgreSQL (pgbench)", r["pgbench_create"]),
        ("list 50, PostgreSQL (service)", r["pg_list"]),
        ("list 50, PostgreSQL (pgbench)", r["pgbench_list"]),
        ("create, SQLite (service)", r["sqlite_create"]),
        ("list 50, SQLite (service)", r["sqlite_list"]),
        (f"create, PostgreSQL, {r['many_connections']} connections (service)", r["pg_create_many"]),
        (f"create, SQLite, {r['many_connections']} connections (service)", r["sqlite_create_many"]),
    ]
    print()
    print(f"| run ({r['connections']} connections) | req/s | p50 ms | p99 ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, row in rows:
        print(f"| {name} | {row['rps']:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['errors']} |")
    print()
    print(f"| measure | value | target |")
    print("| --- | ---: | ---: |")
    print(f"| create: service / pgbench | {r['create_ratio']:.2f} | ≥ 1.0 |")
    print(f"| list: service / pgbench | {r['list_ratio']:.2f} | ≥ 0.75 |")
    print(f"| emails pending when the create run ended | {r['pg_create']['queue_at_end']} | |")
    print(f"| queue empty after the create run | {r['email_drain_s']:.2f} s | ≤ 2 s |")
    print(f"| last email sent after last order created | {r['email_last_sent_after_last_create_s']:.2f} s | |")
    print(f"| webhooks pending when the create run ended | {r['pg_create_webhook']['queue_at_end']} | |")
    print(f"| webhook queue empty after the create run (gives up after 120 s) | {r['webhook_drain_s']:.2f} s | |")
    print(f"| webhooks delivered per second after the create run | {r['webhook_drain_rate']:.0f} | |")
    print(f"| webhooks received / orders created / failed | {r['webhooks_received']} / {r['webhooks_created']} / "
          f"{r['webhooks_failed']} | all / all / 0 |")
    print(f"| server peak memory, anonymous (PostgreSQL create + list) | {r['peak_anon_mib']:.1f} MiB | ≤ 64 MiB |")
    print(f"| server peak memory, anonymous (SQLite create + list) | {r['sqlite_peak_anon_mib']:.1f} MiB | ≤ 64 MiB |")
    print(f"| server peak RSS (PostgreSQL create + list) | {r['peak_rss_mib']:.1f} MiB | |")
    print(f"| server peak RSS, the mapped SQLite file included | {r['sqlite_peak_rss_mib']:.1f} MiB | |")
    print(f"| start-up to ready, fresh SQLite (median of 5) | {r['startup_ms']:.0f} ms | ≤ 300 ms |")
    s = r["scrapes"]
    print(f"| GET /metrics under load, every {s['every_s']:g} s: scrapes, median / max | {s['count']}, "
          f"{s['median_ms']:.1f} / {s['max_ms']:.1f} ms ({s['bytes'] / 1024:.0f} KiB) | |")
    print(f"\norders created on PostgreSQL: {r['orders_created']}; server {r['server_env']}; {r['cpus']} CPUs shared by "
          "the load generator, the server and PostgreSQL; figures in target/bench/latest.json")


if __name__ == "__main__":
    main()

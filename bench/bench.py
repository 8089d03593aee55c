#!/usr/bin/env python3
"""Benchmarks pandora-ilert's alert command against a local fake ilert (127.0.0.1 only).

Measures, with the release binary:
  1. one `alert` invocation: median / p95 wall time and peak RSS (from wait4's rusage),
  2. a storm of 1,000 distinct alerts fired 8 at a time: total wall time,
  3. one invocation with 10, 10,000 and 100,000 incidents already in the store.
Prints the figures as a Markdown table. Timings are measured, never asserted.
"""

import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "pandora-ilert")
MAXRSS = os.path.join(ROOT, "target", "bench-maxrss")
KEY = "il1bench0000000"


class Ilert(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    count = 0
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        event = json.loads(body)
        assert event["integrationKey"] == KEY
        with Ilert.lock:
            Ilert.count += 1
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def start_ilert():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ilert)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def write_config(dirpath, url):
    path = os.path.join(dirpath, "bench.toml")
    with open(path, "w") as f:
        f.write(
            f'state_dir = "{dirpath}/state"\nlog_file = "{dirpath}/bench.log"\n'
            f'[ilert]\napi_url = "{url}"\n[[route]]\nname = "default"\nilert_key = "{KEY}"\n'
        )
    os.chmod(path, 0o640)
    return path


def argv(config, alert_id, event="alert"):
    return [
        BIN, "--config", config, "alert", "--event", event, "--alert-id", str(alert_id),
        "--agent", f"web-{alert_id % 97:02d}", "--module", "CPU Load", "--data", "95.5",
        "--unit", "%", "--severity", "Critical", "--summary", "",
        "--timestamp", "2026/11/24 02:21:59", "--group", "Servers",
    ]


def run_one(args):
    """Runs a command under bench/maxrss.c; returns (wall seconds, peak RSS KiB, exit code)."""
    proc = subprocess.run([MAXRSS] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    code, kib, micros = proc.stderr.strip().splitlines()[-1].split()
    return int(micros) / 1e6, int(kib), int(code)


def single(config, first_id, n):
    walls, rss = [], []
    for i in range(n):
        wall, kib, code = run_one(argv(config, first_id + i))
        assert code == 0, f"exit {code}"
        walls.append(wall)
        rss.append(kib)
    walls.sort()
    return statistics.median(walls), walls[int(len(walls) * 0.95) - 1], max(rss)


def storm(config, first_id, n, parallel):
    t0 = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        codes = list(pool.map(lambda i: run_one(argv(config, first_id + i))[2], range(n)))
    assert all(c == 0 for c in codes), codes
    return time.perf_counter() - t0


def populate(config, state, count):
    """Fills the store with `count` resolved incident records cloned from a real one."""
    code = run_one(argv(config, 1))[2]
    assert code == 0
    template = json.load(open(os.path.join(state, "incidents", "1.json")))
    incidents = os.path.join(state, "incidents")
    events = os.path.join(state, "events")
    for i in range(2, count + 1):
        key = str(10_000_000 + i)
        template["key"] = key
        template["alert_id"] = key
        with open(os.path.join(incidents, key + ".json"), "w") as f:
            json.dump(template, f)
        with open(os.path.join(events, key + ".jsonl"), "w") as f:
            f.write("{}\n")


def main():
    if not os.path.exists(BIN):
        sys.exit(f"build first: cargo build --release ({BIN} missing)")
    subprocess.run(["cc", "-O2", "-o", MAXRSS, os.path.join(ROOT, "bench", "maxrss.c")], check=True)
    baseline = run_one(["/bin/true"])[1]
    server = start_ilert()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    rows = []
    base = tempfile.mkdtemp(prefix="pandora-ilert-bench-")
    try:
        d = os.path.join(base, "single")
        os.makedirs(d)
        cfg = write_config(d, url)
        single(cfg, 500_000, 5)  # warm-up
        med, p95, rss = single(cfg, 1, 200)
        rows.append(("one `alert` invocation (200 runs, new incident each)",
                     f"median {med * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms, peak RSS {rss / 1024:.1f} MiB"))

        d = os.path.join(base, "storm")
        os.makedirs(d)
        cfg = write_config(d, url)
        before = Ilert.count
        secs = storm(cfg, 1, 1000, 8)
        delivered = Ilert.count - before
        rows.append(("storm: 1,000 distinct alerts, 8 at a time",
                     f"{secs:.2f} s total ({1000 / secs:.0f} alerts/s), {delivered} ALERTs delivered"))

        sized = {}
        for count in (10, 10_000, 100_000):
            d = os.path.join(base, f"store-{count}")
            os.makedirs(d)
            cfg = write_config(d, url)
            populate(cfg, os.path.join(d, "state"), count)
            single(cfg, 900_000, 5)
            med, p95, rss = single(cfg, 20_000_000, 100)
            sized[count] = med
            rows.append((f"one invocation, {count:,} incidents in the store",
                         f"median {med * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms, peak RSS {rss / 1024:.1f} MiB"))
            shutil.rmtree(d)
        ratio = sized[100_000] / sized[10]
        rows.append(("100,000-incident median vs 10-incident median", f"{ratio:.2f}x"))
    finally:
        shutil.rmtree(base, ignore_errors=True)
        server.shutdown()

    print(f"pandora-ilert {subprocess.run([BIN, '--version'], capture_output=True, text=True).stdout.strip()}, "
          f"{os.cpu_count()} cores, loopback fake ilert; /bin/true measures {baseline / 1024:.1f} MiB peak RSS here")
    print()
    print("| measurement | result |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()

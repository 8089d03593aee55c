#!/usr/bin/env python3
"""pandora-ilert benchmarks, run by bench/run.sh (which builds what this needs).

Everything goes through the release binary's command line (`alert`, `flush`, `plugin`), against
a compiled fake ilert on 127.0.0.1 (bench/fake-ilert), so that the figures follow whatever the
store does inside. Rules that keep the figures honest:

- Comparisons are interleaved: each round runs every case once, in an order rotated per round,
  and ratios are taken per round (same moment, same machine load), then summarised as median
  and p10/p90.
- Every fixture lives in its own directory, is filled through the CLI, then `sync`ed and left to
  settle before anything is timed. Fixture filling is never timed.
- Each timed run is one process, started and reaped by bench/run1.c (wall time and peak RSS
  from wait4); the peers and the floors are timed the same way.

Prints the issue's table (figure, measured, target, PASS/FAIL) and the details behind it.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The binary the packages ship (packaging/binary.sh, glibc linked in), which bench/run.sh
# builds and names here; a plain release build when run otherwise.
BIN = os.environ.get("PANDORA_ILERT_BIN") or os.path.join(ROOT, "target", "release", "pandora-ilert")
TOOLS = os.path.join(ROOT, "target", "bench")
RUN1 = os.path.join(TOOLS, "run1")
FLOORS = os.path.join(TOOLS, "floors")
NOOP_RUST = os.path.join(TOOLS, "noop-rust")
FAKE = os.path.join(TOOLS, "release", "fake-ilert")
PEERS = os.path.join(ROOT, "bench", "peers")
KEY = "il1bench0000000"
STUCK_KEY = "il1stuck0000000"  # the fake always answers 503 + Retry-After: 3600 for it
LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) \[(ERROR|WARN|INFO|DEBUG|TRACE)\] "
)


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Tools


class Fake:
    """The compiled fake ilert (bench/fake-ilert)."""

    def __init__(self, workdir):
        port_file = os.path.join(workdir, "fake-ilert.port")
        self.proc = subprocess.Popen([FAKE, port_file], stdout=subprocess.DEVNULL)
        for _ in range(500):
            if os.path.exists(port_file):
                break
            time.sleep(0.01)
        self.port = int(open(port_file).read())
        self.url = f"http://127.0.0.1:{self.port}"

    def _call(self, method, path):
        req = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read().decode()

    def mode(self, mode):
        self._call("POST", f"/_mode/{mode}")

    def accepted(self):
        return int(self._call("GET", "/_stats").split()[0])

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def run1(argv, env=None):
    """Times one process: returns (exit code, peak RSS KiB, wall seconds)."""
    out = subprocess.run([RUN1] + argv, stdout=subprocess.PIPE, text=True, env=env, check=True).stdout
    code, kib, micros = out.split()
    return int(code), int(kib), int(micros) / 1e6


def settle(seconds):
    """Writes every dirty page back, then lets the disk and the page cache quieten."""
    os.sync()
    time.sleep(seconds)


# ext4 without a journal (this machine's root filesystem) checks, for every file it creates,
# each free inode of the group that was freed in the last 60 s, and skips it (fs/ext4/
# ialloc.c, find_inode_bit(): check_recently_deleted when s_journal is NULL; recently_deleted()
# gives 60 s, 360 s while the inode's table block is dirty). The fill before the single-alert
# rounds frees an inode per failed delivery (the record rewritten), ten thousand of them:
# right after it a create costs up to ~1 ms instead of ~30 us, for a new alert twice over
# and for the C floors once. The rounds start once that window has passed; so do the plugin
# rounds, after the flush rounds removed their stores. What the timed cases free themselves
# (the floors' renames, a record replaced) still counts.
RECENT_DELETIONS_S = 61


def settle_deletions(seconds, quick):
    """`settle`, long enough that the fixtures' deletions no longer slow a file's creation."""
    settle(seconds if quick else max(seconds, RECENT_DELETIONS_S))


def read_back(*programs):
    """Puts freshly built programs in the page cache the way an installed program is: dropped
    (after `sync`) and read back from disk. As the linker left it, the same binary ran a new
    alert 9% and a re-fire 18% slower than a `cp` of it (interleaved, same bytes), and at the
    same speed once both were read back. The cause is not established; likely how the page
    cache holds a file written in small pieces (the size of its folios, which a program
    faults its code in one at a time)."""
    os.sync()
    for program in programs:
        fd = os.open(program, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            while os.read(fd, 1 << 20):
                pass
        finally:
            os.close(fd)


def quantile(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def spread(values):
    return statistics.median(values), quantile(values, 0.1), quantile(values, 0.9)


def ms(seconds):
    return f"{seconds * 1000:.2f} ms"


def fmt_spread(values, unit="ms"):
    med, p10, p90 = spread(values)
    if unit == "ms":
        return f"{med * 1000:.2f} ms (p10 {p10 * 1000:.2f}, p90 {p90 * 1000:.2f})"
    return f"{med:.2f}x (p10 {p10:.2f}, p90 {p90:.2f})"


# ---------------------------------------------------------------------------------------------
# Fixtures: a directory with a config and a store, filled through the CLI


class Site:
    """One state directory with its config; `name` says what it holds."""

    def __init__(self, base, name, url, log_level="info", slack=False):
        self.dir = os.path.join(base, name)
        os.makedirs(self.dir)
        self.config = os.path.join(self.dir, "pandora-ilert.toml")
        self.log = os.path.join(self.dir, "pandora-ilert.log")
        with open(self.config, "w") as f:
            f.write(
                f'state_dir = "{self.dir}/state"\nlog_file = "{self.log}"\nlog_level = "{log_level}"\n'
                'flush_deadline = "900s"\n'
                f'[ilert]\napi_url = "{url}"\n'
                # The fake has no rate limit; pacing to ilert's 50/min would measure the wait.
                'rate_limit = "off"\n'
                '[plugin]\ndata_in = ""\n'
                f'[[route]]\nname = "stuck"\ngroups = ["Stuck"]\nilert_key = "{STUCK_KEY}"\n'
                f'[[route]]\nname = "default"\nilert_key = "{KEY}"\n'
            )
            if slack:
                # A chat platform makes the plugin archive too: a second pass over every
                # record. The records have no channel, so nothing is ever sent to it.
                f.write(f'[slack]\ntoken = "xoxb-bench"\napi_url = "{url}/slack"\n')
        os.chmod(self.config, 0o640)

    def alert(self, alert_id, group="Servers"):
        return [
            BIN, "--config", self.config, "alert", "--event", "alert", "--alert-id", str(alert_id),
            "--agent", f"web-{alert_id % 97:02d}", "--module", "CPU Load", "--data", "95.5",
            "--unit", "%", "--severity", "Critical", "--summary", "",
            "--timestamp", "2026/11/24 02:21:59", "--group", group,
        ]

    def command(self, *words):
        return [BIN, "--config", self.config, *words]

    def fill(self, first_id, count, group="Servers", parallel=8, ok=(0,)):
        """Fires `count` distinct alerts through the CLI, `parallel` at a time."""

        def one(i):
            return subprocess.run(self.alert(first_id + i, group), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL).returncode

        t0 = time.perf_counter()
        pool = ThreadPoolExecutor(parallel)
        try:
            codes = list(pool.map(one, range(count)))
        finally:
            # Interrupted: drop the alerts not yet started rather than wait for them.
            pool.shutdown(wait=True, cancel_futures=True)
        bad = [c for c in codes if c not in ok]
        if bad:
            sys.exit(f"bench: filling {self.dir}: {len(bad)} alerts exited {sorted(set(bad))}")
        return time.perf_counter() - t0

    def fill_cloned(self, first_id, count, through_cli=200):
        """`count` open incidents: `through_cli` fired through the CLI (and delivered), the rest
        copies of their records, the binary's own output with only the alert id (and so the key)
        changed, each with its `open/` marker. Filling 100,000 through the CLI takes a quarter
        of an hour on a loaded machine; what a plugin run reads of them is the same."""
        n_cli = min(count, through_cli)
        secs = self.fill(first_id, n_cli)
        t0 = time.perf_counter()
        state = os.path.join(self.dir, "state")
        markers = {name.split(".", 1)[1]: name.split(".", 1)[0] for name in os.listdir(os.path.join(state, "open"))
                   if not name.startswith(".")}
        templates = []
        for i in range(n_cli):
            aid = str(first_id + i)
            path = os.path.join(state, "incidents", aid + ".json")
            if aid in markers and os.path.exists(path):
                templates.append((aid, open(path).read(), markers[aid]))
        if not templates:
            sys.exit(f"bench: filling {self.dir}: no delivered open incident to copy")
        shared = os.path.join(state, "open", ".by-opening-time")
        for i in range(n_cli, count):
            aid, text, opened = templates[i % len(templates)]
            new = str(first_id + i)
            with open(os.path.join(state, "incidents", new + ".json"), "w") as f:
                f.write(text.replace(f'"{aid}"', f'"{new}"'))
            # A marker as the binary makes it: a link to the index's empty file, or an empty
            # file of its own past ext4's 65,000 links (src/store/mod.rs, make_marker).
            marker = os.path.join(state, "open", f"{opened}.{new}")
            try:
                os.link(shared, marker)
            except OSError:
                open(marker, "w").close()
        return secs + time.perf_counter() - t0

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def strace_fsyncs(argv):
    """fsync/fdatasync calls of one run (strace -f -c), or None without strace."""
    if not shutil.which("strace"):
        return None
    out = subprocess.run(["strace", "-f", "-c", "-e", "trace=fsync,fdatasync,sync_file_range"] + argv,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True).stderr
    calls = 0
    for line in out.splitlines():
        words = line.split()
        if words and words[-1] in ("fsync", "fdatasync", "sync_file_range"):
            calls += int(words[3])
    return calls


def event_body(site):
    """The ALERT body pandora-ilert sends (from `alert --dry-run`), key filled in, compacted."""
    out = subprocess.run(site.alert(424242) + ["--dry-run"], capture_output=True, text=True).stdout
    try:
        doc = json.loads(out[out.index("{"):])
        doc["integrationKey"] = KEY
        return json.dumps(doc, separators=(",", ":"))
    except ValueError:
        return json.dumps({"eventType": "ALERT", "integrationKey": KEY, "alertKey": "424242",
                           "summary": "[Critical] web-01 / CPU Load = 95.5%"})


# ---------------------------------------------------------------------------------------------
# The measurements


def interleaved(cases, rounds, warmup=3):
    """Runs each case once per round, order rotated per round. `cases` maps a name to a function
    of the round number returning argv (or (argv, env)). Returns {name: [(wall, rss)]}."""
    names = list(cases)
    results = {n: [] for n in names}
    for r in range(-warmup, rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            spec = cases[name](r)
            argv, env = spec if isinstance(spec, tuple) else (spec, None)
            code, kib, wall = run1(argv, env)
            if code != 0:
                detail = subprocess.run(argv, capture_output=True, text=True, env=env)
                sys.exit(f"bench: case '{name}' exited {code}: {detail.stderr.strip()[-400:]}")
            if r >= 0:
                results[name].append((wall, kib))
    return results


def ratios(results, num, den):
    return [a[0] / b[0] for a, b in zip(results[num], results[den])]


def walls(results, name):
    return [w for w, _ in results[name]]


def peer_python():
    """A venv under .cache with `requests` (pip), for the Python connector stand-in."""
    venv = os.path.join(ROOT, ".cache", "bench-venv")
    py = os.path.join(venv, "bin", "python3")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    if subprocess.run([py, "-c", "import requests"], capture_output=True).returncode != 0:
        subprocess.run([py, "-m", "pip", "install", "-q", "requests"], check=True)
    return py


def stop_on_term(_signum, _frame):
    raise KeyboardInterrupt("SIGTERM")


def main():
    # SIGTERM ends the run like Ctrl-C: fixtures removed, what was measured still printed.
    signal.signal(signal.SIGTERM, stop_on_term)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller fixtures and fewer rounds (a smoke run)")
    ap.add_argument("--keep", action="store_true", help="keep the fixtures under .cache/bench-run")
    ap.add_argument("--incidents", type=int, help="incidents in the plugin's big store (default 100,000)")
    opts = ap.parse_args()
    quick = opts.quick
    scale = 10 if quick else 1
    n_queued = 10_000 // scale
    n_incidents = opts.incidents or 100_000 // (scale * 5 if quick else 1)
    flush_small, flush_large = 500 // scale, 8_000 // scale
    n_storm = 1_000 // scale * (2 if quick else 1)
    rounds = 20 if quick else 200
    plugin_rounds = 2 if quick else 5
    # One paired round swung the linearity ratio from 0.77x to 1.33x between runs of the same
    # commit, and the median of three from 0.87x to 1.26x: the median of five.
    flush_rounds = 1 if quick else 5
    pause = 1 if quick else 5

    base = os.path.join(ROOT, ".cache", "bench-run")
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    fake = Fake(base)
    read_back(BIN, NOOP_RUST, FLOORS, RUN1)
    py = peer_python()
    env = dict(os.environ, PEER_ILERT_URL=fake.url, NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    load_before = os.getloadavg()
    started = time.time()
    rows, details = [], []
    try:

        # --- Fixtures for the single-alert rounds: a small store, a store with a queue --------
        small = Site(base, "small", fake.url)
        queued = Site(base, "queued", fake.url)
        log(f"filling: {n_queued:,} events queued behind a refusing alert source")
        secs = queued.fill(1_000_000, n_queued, group="Stuck", ok=(0, 69))
        details.append(f"fill: {n_queued:,} queued alerts in {secs:.1f} s")
        small.fill(1_000_000, 10)
        refire_id = 1_000_000
        body = event_body(small)
        durable_dir = os.path.join(base, "floor-durable")
        os.makedirs(durable_dir)
        settle_deletions(pause, quick)

        log(f"single alerts and peers: {rounds} interleaved rounds")
        next_id = {"small": 2_000_000, "queued": 2_000_000}

        def new_alert(site, name):
            def argv(_r):
                next_id[name] += 1
                return site.alert(next_id[name])
            return argv

        fields = ["-a", KEY, "-t", "alert", "-T", "[PANDORA] Alert FIRED on web-01 / CPU Load",
                  "-d", "web-01 | CPU Load | 95.5 | 2026/11/24 02:21:59", "-A", "web-01",
                  "-m", "CPU Load", "-p", "Critical", "-D", "95.5", "-C", "2026/11/24 02:21:59"]
        cases = {
            "pandora-ilert alert (new incident)": new_alert(small, "small"),
            "pandora-ilert alert (re-fire)": lambda r: small.alert(refire_id),
            f"pandora-ilert alert, {n_queued:,} queued": new_alert(queued, "queued"),
            "Python connector (stand-in: python3 + requests)":
                lambda r: ([py, os.path.join(PEERS, "pandora_ilert_requests.py"), "-k", f"k{r}"] + fields, env),
            "bash+curl script (ilert's pandorafms_ilert.sh shape)":
                lambda r: (["/bin/bash", os.path.join(PEERS, "ilert_curl.sh"), KEY, "alert", f"k{r}",
                            "[PANDORA] Alert FIRED", "web-01 | CPU Load | 95.5", "2026/11/24 02:21:59",
                            "Critical", "web-01", "CPU Load", "95.5"], env),
            "floor: fork+exec of a no-op (C)": lambda r: [FLOORS, "noop"],
            "floor: fork+exec of a no-op (Rust std, linked as pandora-ilert)": lambda r: [NOOP_RUST],
            "floor: one raw POST (C)": lambda r: [FLOORS, "post", str(fake.port), "/api/events", body],
            "floor: 2 durable writes + POST (C)":
                lambda r: [FLOORS, "durable-post", durable_dir, str(fake.port), "/api/events", body],
            "floor: 1 durable write + POST (C)":
                lambda r: [FLOORS, "durable1-post", durable_dir, str(fake.port), "/api/events", body],
        }
        res = interleaved(cases, rounds)
        new, refire = "pandora-ilert alert (new incident)", "pandora-ilert alert (re-fire)"
        withq = f"pandora-ilert alert, {n_queued:,} queued"
        pyname, curlname = list(cases)[3], list(cases)[4]
        floor = "floor: 2 durable writes + POST (C)"
        floor1 = "floor: 1 durable write + POST (C)"
        rust_noop = "floor: fork+exec of a no-op (Rust std, linked as pandora-ilert)"

        details.append("")
        details.append(f"| case ({rounds} interleaved rounds) | wall median (p10, p90) | peak RSS |")
        details.append("|---|---|---|")
        for name in cases:
            details.append(f"| {name} | {fmt_spread(walls(res, name))} | "
                           f"{max(k for _, k in res[name]) / 1024:.1f} MiB |")
        py_ratio = ratios(res, pyname, new)
        curl_ratio = ratios(res, curlname, new)
        floor_ratio = ratios(res, new, floor)
        q_ratio = ratios(res, withq, new)
        details.append("")
        details.append("| paired ratio (per round) | median (p10, p90) |")
        details.append("|---|---|")
        details.append(f"| Python stand-in / new alert | {fmt_spread(py_ratio, 'x')} |")
        details.append(f"| bash+curl / new alert | {fmt_spread(curl_ratio, 'x')} |")
        details.append(f"| new alert / floor with 2 durable writes | {fmt_spread(floor_ratio, 'x')} |")
        details.append(f"| new alert / floor with 1 durable write | {fmt_spread(ratios(res, new, floor1), 'x')} |")
        details.append(f"| re-fire / Rust no-op | {fmt_spread(ratios(res, refire, rust_noop), 'x')} |")
        details.append(f"| new alert with {n_queued:,} queued / empty queue | {fmt_spread(q_ratio, 'x')} |")
        details.append(f"| re-fire / new alert | {fmt_spread(ratios(res, refire, new), 'x')} |")

        new_med = statistics.median(walls(res, new))
        pyx, curlx = statistics.median(py_ratio), statistics.median(curl_ratio)
        fs_new = strace_fsyncs(small.alert(3_000_000))
        fs_refire = strace_fsyncs(small.alert(refire_id))
        rows.append((
            "one new alert, median",
            f"{fmt_spread(walls(res, new))}; floors: 2 durable writes + POST "
            f"{ms(statistics.median(walls(res, floor)))}, 1 durable write + POST "
            f"{ms(statistics.median(walls(res, floor1)))}; "
            f"peers' time / this: Python {pyx:.1f}x, bash+curl {curlx:.2f}x; fsync calls: {fs_new}",
            "≤ 2.0 ms; ≥ 50x faster than Python; ≥ 5x faster than bash+curl",
            new_med <= 0.002 and pyx >= 50 and curlx >= 5,
        ))
        refire_med = statistics.median(walls(res, refire))
        rows.append((
            "re-fire (dedupe path)",
            f"{fmt_spread(walls(res, refire))}; a Rust no-op {ms(statistics.median(walls(res, rust_noop)))}; "
            f"fsync calls: {fs_refire}",
            "≤ 1.3 ms, no fsync",
            refire_med <= 0.0013 and fs_refire == 0,
        ))
        qx = statistics.median(q_ratio)
        rows.append((
            f"one alert while {n_queued:,} events are queued",
            f"{fmt_spread(q_ratio, 'x')} the cost with an empty queue",
            "within 1.1x",
            qx <= 1.1,
        ))

        # --- Log lines in an alert storm -------------------------------------------------------
        storm = Site(base, "storm", fake.url, log_level="debug")
        settle(pause)
        log(f"storm: {n_storm:,} distinct alerts, 8 at a time, log at debug level")
        secs = storm.fill(8_000_000, n_storm, parallel=8)
        lines = open(storm.log, encoding="utf-8", errors="replace").read().splitlines()
        torn = [line for line in lines if not LOG_LINE.match(line)]
        details.append(f"storm: {n_storm:,} alerts in {secs:.2f} s ({n_storm / secs:.0f}/s), "
                       f"{len(lines):,} log lines, {len(torn)} torn")
        rows.append((
            f"log lines in a {n_storm:,}-alert storm",
            f"{len(torn)} torn of {len(lines):,}",
            "0 torn: one `write` per line",
            not torn,
        ))
        # --- flush: drain rate and linearity ---------------------------------------------------
        def flush_once(n, tag):
            site = Site(base, f"flush-{n}-{tag}", fake.url)
            fake.mode("fail")
            site.fill(7_000_000, n, ok=(69,))
            fake.mode("accept")
            settle(pause)
            before = fake.accepted()
            code, kib, wall = run1(site.command("flush"))
            delivered = fake.accepted() - before
            site.remove()
            if code != 0 or delivered != n:
                log(f"flush of {n}: exit {code}, {delivered} delivered")
            return wall, delivered, code

        log(f"flush: {flush_rounds} interleaved rounds of {flush_small:,} and {flush_large:,}, then {n_queued:,}")
        per_event = {flush_small: [], flush_large: []}
        order = [flush_small, flush_large]
        for r in range(flush_rounds):
            for n in (order if r % 2 == 0 else order[::-1]):
                wall, delivered, _ = flush_once(n, r)
                per_event[n].append(wall / max(delivered, 1))
        wall, delivered, code = flush_once(n_queued, "big")
        rate = delivered / wall
        lin = [b / a for a, b in zip(per_event[flush_small], per_event[flush_large])]
        details.append("")
        details.append(f"flush: {n_queued:,} queued: {delivered:,} delivered in {wall:.2f} s "
                       f"({rate:,.0f} events/s), exit {code}")
        for n, v in per_event.items():
            details.append(f"flush: {n:,} queued: per event {', '.join(f'{x * 1e3:.2f} ms' for x in v)}")
        linx = statistics.median(lin)
        rows.append((
            f"`flush` of {n_queued:,} queued events",
            f"{rate:,.0f} events/s; per-event cost {flush_large:,} vs {flush_small:,}: "
            f"{linx:.2f}x ({', '.join(f'{x:.2f}' for x in lin)})",
            f"≥ 2,000 events/s; {flush_large:,} at the per-event cost of {flush_small:,} (≤ 1.2x)",
            rate >= 2000 and linx <= 1.2 and delivered == n_queued,
        ))

        # --- Plugin runs: empty store, 100,000 incidents, 10,000 queued in backoff ------------
        big = Site(base, "incidents", fake.url)
        log(f"filling: {n_incidents:,} incidents (200 through the CLI, the rest copies of their records)")
        secs = big.fill_cloned(5_000_000, n_incidents)
        details.append(f"fill: {n_incidents:,} incidents in {secs:.1f} s (200 through the CLI, the rest copied)")
        chat = Site(base, "incidents-chat", fake.url, slack=True)
        log(f"filling: {n_incidents:,} incidents again, for a config with a chat platform")
        chat.fill_cloned(6_000_000, n_incidents)
        empty = Site(base, "empty", fake.url)
        empty.fill(1, 1)
        # The flush rounds just removed their stores: a plugin run creates files too (its
        # writability probe, its lock), which that churn would slow (see RECENT_DELETIONS_S).
        settle_deletions(pause, quick)
        before = fake.accepted()
        log(f"plugin runs: {plugin_rounds} interleaved rounds")
        cycle_name = f"plugin, {n_incidents:,} incidents, a new housekeeping cycle"

        def new_cycle(site):
            # The run that starts the passes over every record (one an hour, or once a cycle):
            # it lists the store's records for the cycle. The other runs read a slice each.
            def case(r):
                for what in ("prune", "archive"):
                    cursor = os.path.join(site.dir, "state", "meta", f"last-{what}-scan")
                    if os.path.exists(cursor):
                        os.remove(cursor)
                return site.command("plugin")
            return case

        chat_name = f"plugin, {n_incidents:,} incidents, with a chat platform (archiving too)"
        chat_cycle_name = f"{chat_name}, a new cycle"

        pres = interleaved({
            "plugin, 1 incident": lambda r: empty.command("plugin"),
            f"plugin, {n_incidents:,} incidents": lambda r: big.command("plugin"),
            cycle_name: new_cycle(big),
            chat_name: lambda r: chat.command("plugin"),
            chat_cycle_name: new_cycle(chat),
            f"plugin, {n_queued:,} queued in backoff": lambda r: queued.command("plugin"),
        }, plugin_rounds, warmup=1)
        sent = fake.accepted() - before
        details.append("")
        details.append(f"| plugin run ({plugin_rounds} interleaved rounds) | wall median (p10, p90) | peak RSS |")
        details.append("|---|---|---|")
        for name in pres:
            details.append(f"| {name} | {fmt_spread(walls(pres, name))} | "
                           f"{max(k for _, k in pres[name]) / 1024:.1f} MiB |")
        big_name = f"plugin, {n_incidents:,} incidents"
        big_med = statistics.median(walls(pres, big_name))
        big_rss = max(k for _, k in pres[big_name]) / 1024
        cycle_med = statistics.median(walls(pres, cycle_name))
        cycle_rss = max(k for _, k in pres[cycle_name]) / 1024
        chat_med = statistics.median(walls(pres, chat_name))
        chat_cycle_med = statistics.median(walls(pres, chat_cycle_name))
        chat_rss = max(k for name in (chat_name, chat_cycle_name) for _, k in pres[name]) / 1024
        rows.append((
            f"plugin run, {n_incidents:,} incidents in the store",
            f"{ms(big_med)}, {big_rss:.1f} MiB (a housekeeping slice each); the run that starts "
            f"a housekeeping cycle {ms(cycle_med)}, {cycle_rss:.1f} MiB; with a chat platform "
            f"(archiving too) {ms(chat_med)}, a new cycle {ms(chat_cycle_med)}, {chat_rss:.1f} MiB",
            "≤ 100 ms, ≤ 20 MiB",
            max(big_med, cycle_med, chat_med, chat_cycle_med) <= 0.1
            and max(big_rss, cycle_rss, chat_rss) <= 20,
        ))
        back_name = f"plugin, {n_queued:,} queued in backoff"
        back_med = statistics.median(walls(pres, back_name))
        rows.append((
            f"plugin run, {n_queued:,} queued in backoff",
            f"{fmt_spread(walls(pres, back_name))}; events accepted by ilert during the runs: {sent}",
            "≤ 100 ms when nothing is due",
            back_med <= 0.1,
        ))
        big.remove()
        chat.remove()
        queued.remove()
    finally:
        fake.stop()
        if not opts.keep:
            shutil.rmtree(base, ignore_errors=True)
        report(rows, details, quick, load_before, started)


def issue_order(figure):
    """The rows in the issue's order, whichever section measured them first."""
    order = ["one new", "re-fire", "one alert while", "`flush`", "plugin run", "backoff", "log lines"]
    if "backoff" in figure:
        return order.index("backoff")
    return next((i for i, p in enumerate(order) if figure.startswith(p)), len(order))


def report(rows, details, quick, load_before, started):
    """Prints the table (whatever was measured, even when a later step failed)."""
    version = subprocess.run([BIN, "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    version += f" ({commit})" if commit else ""
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    fs = subprocess.run(["df", "--output=fstype", ROOT], capture_output=True, text=True).stdout.split()[-1]
    print(f"{version}, {time.strftime('%Y-%m-%d', time.gmtime())}{' (--quick)' if quick else ''}: "
          f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, {fs}; load average "
          f"{load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after; {time.time() - started:.0f} s")
    print()
    print("| figure | measured | target | |")
    print("|---|---|---|---|")
    for figure, measured, target, ok in sorted(rows, key=lambda row: issue_order(row[0])):
        print(f"| {figure} | {measured} | {target} | {'PASS' if ok else 'FAIL'} |")
    print()
    print("\n".join(details))
    sys.stdout.flush()

if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Per-alert cost of `alert --from-db` (the safe definition) against the classic definition.

Both run the release binary through /bin/sh -c as the Pandora server does, interleaved one after
the other so that machine load hits both alike, against a local fake ilert (127.0.0.1) and the
MariaDB of tests/harness/mariadb.sh (alert 1 of its `pandora` database, entity-encoded text).
Each case keeps its own state directory and fires the same alert, so after the first run both
are re-fires: the difference between them is the database lookup (connect, three SELECTs,
decoding). Prints a Markdown table; measured, never asserted.

    bash tests/harness/mariadb.sh start && source .cache/mariadb-run/env
    cargo build --release && python3 bench/db_lookup.py [ROUNDS]
"""

import http.server
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "pandora-ilert")
KEY = "il1bench0000000"


class Ilert(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def pandora_quote(value):
    """A whole-word "_macro_" as Pandora substitutes it: ""'value'"" (reference §1.1)."""
    return "\"\"'" + value.replace("'", "'\\''") + "'\"\""


def config(dirpath, url, env):
    path = os.path.join(dirpath, "bench.toml")
    with open(path, "w") as f:
        f.write(
            f'state_dir = "{dirpath}/state"\nlog_file = "{dirpath}/bench.log"\n'
            f'[ilert]\napi_url = "{url}"\n[[route]]\nname = "default"\nilert_key = "{KEY}"\n'
            f'[pandora_db]\nsocket = "{env["PANDORA_DB_SOCKET"]}"\nname = "{env["PANDORA_DB_NAME"]}"\n'
            f'user = "{env["PANDORA_DB_USER"]}"\npassword = "{env["PANDORA_DB_PASSWORD"]}"\n'
        )
    os.chmod(path, 0o640)
    return path


def command(template, cfg, macros):
    line = open(os.path.join(ROOT, "pandora", template)).read().strip()
    line = line.replace("/usr/bin/pandora-ilert alert", f"{BIN} --config {shlex.quote(cfg)} alert", 1)
    for name, value in macros.items():
        line = line.replace(f'"{name}"', pandora_quote(value))
    return line


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    env = os.environ
    for k in ("PANDORA_DB_SOCKET", "PANDORA_DB_NAME", "PANDORA_DB_USER", "PANDORA_DB_PASSWORD"):
        if not env.get(k):
            sys.exit(f"{k} is not set: bash tests/harness/mariadb.sh start && source .cache/mariadb-run/env")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ilert)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    # The values the classic action's fields carry for alert 1 of the seed (already decoded).
    classic_macros = {
        "_field1_": "alert", "_id_alert_": "1", "_field2_": "Café de l'Opéra", "_field3_": "CPU Load",
        "_field4_": "95.5", "_field5_": "Critical", "_field6_": "", "_field7_": "2026-11-24 02:21:59",
        "_field8_": "Serveurs & réseau", "_field9_": "%", "_field10_": "CPU très chargée",
        "_field11_": "production,réseau", "_field12_": "Critical condition",
        "_field13_": "http://pandora.example/pandora_console", "_field14_": "10.0.0.5",
        "_id_agent_": "1", "_id_module_": "1", "_alert_priority_": "4", "_alert_times_fired_": "1",
    }
    safe_macros = {
        "_field1_": "alert", "_id_alert_": "1", "_id_agent_": "1", "_id_module_": "1",
        "_alert_priority_": "4", "_alert_times_fired_": "1", "_timestamp_": "2026-11-24 02:21:59",
    }
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        classic = command("command-classic-unsafe.txt", config(a, url, env), classic_macros)
        safe = command("command.txt", config(b, url, env), safe_macros)
        times = {"classic": [], "safe": []}
        for i in range(rounds + 1):
            for name, cmd in (("classic", classic), ("safe", safe)) if i % 2 else (("safe", safe), ("classic", classic)):
                t0 = time.perf_counter()
                rc = subprocess.run(["/bin/sh", "-c", cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode
                dt = time.perf_counter() - t0
                if rc != 0:
                    sys.exit(f"{name} exited {rc}")
                if i > 0:  # the first round opens the incidents; the rest are re-fires
                    times[name].append(dt * 1000)
        log = open(os.path.join(b, "bench.log")).read()
        if "details unavailable" in log or "pandora database" not in open(os.path.join(b, "state", "incidents", "1.json")).read():
            sys.exit("the safe case did not read the database: see " + os.path.join(b, "bench.log"))
    server.shutdown()
    mc, ms = statistics.median(times["classic"]), statistics.median(times["safe"])
    q = lambda v: statistics.quantiles(v, n=20)[18]
    print(f"| definition | median | p95 | ({rounds} interleaved runs each) |")
    print("|---|---|---|---|")
    print(f"| classic (text in fields) | {mc:.2f} ms | {q(times['classic']):.2f} ms | |")
    print(f"| safe (`--from-db`, local MariaDB socket) | {ms:.2f} ms | {q(times['safe']):.2f} ms | |")
    print(f"| lookup cost | {ms - mc:+.2f} ms | | ratio safe/classic {ms / mc:.2f}x |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Compares two builds of pandora-ilert, interleaved: a new alert and a re-fire of each, and a
C no-op for the machine's pace, one process per case and round, order rotated per round,
against the compiled fake ilert. Prints each case's median wall time and the paired ratios
(second build / first), which is how each step in README "Performance" was measured.

    python3 bench/ab.py OLD_BINARY NEW_BINARY [ROUNDS]

The tools (target/bench: run1, floors, fake-ilert) come from `bash bench/run.sh --quick`.
Copy a build elsewhere before building the next one: cargo overwrites target/release."""

import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import FLOORS, RUN1, FAKE, Fake, interleaved, ratios, walls  # noqa: E402


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.strip())
    builds = [os.path.abspath(b) for b in sys.argv[1:3]]
    rounds = int(sys.argv[3]) if len(sys.argv) == 4 else 300
    for tool in (RUN1, FLOORS, FAKE, *builds):
        if not os.access(tool, os.X_OK):
            sys.exit(f"ab: {tool} is missing; `bash bench/run.sh --quick` builds the tools")
    work = tempfile.mkdtemp(prefix="pandora-ilert-ab-")
    fake = Fake(work)
    try:
        configs = []
        for i in range(2):
            path = os.path.join(work, f"config-{i}.toml")
            with open(path, "w") as f:
                f.write(
                    f'state_dir = "{work}/state-{i}"\nlog_file = "{work}/log-{i}"\n'
                    f'[ilert]\napi_url = "{fake.url}"\nrate_limit = "off"\n'
                    '[plugin]\ndata_in = ""\n[[route]]\nname = "default"\n'
                    'ilert_key = "il1bench0000000"\n'
                )
            os.chmod(path, 0o640)
            configs.append(path)

        def alert(i, alert_id):
            return [builds[i], "--config", configs[i], "alert", "--event", "alert",
                    "--alert-id", str(alert_id), "--agent", "web-01", "--module", "CPU Load",
                    "--data", "95.5", "--unit", "%", "--severity", "Critical", "--summary", "",
                    "--timestamp", "2026/11/24 02:21:59", "--group", "Servers"]

        cases = {}
        for i, label in enumerate(("first", "second")):
            # Rounds start at -3 (warm-up): ids stay positive and new in every round.
            cases[f"{label} new"] = lambda r, i=i: alert(i, 1_000_000 + r)
            cases[f"{label} re-fire"] = lambda r, i=i: alert(i, 1)
        cases["C no-op"] = lambda r: [FLOORS, "noop"]
        res = interleaved(cases, rounds)
        for name in cases:
            print(f"{name:>16}: median {statistics.median(walls(res, name)) * 1000:.3f} ms")
        for kind in ("new", "re-fire"):
            r = statistics.median(ratios(res, f"second {kind}", f"first {kind}"))
            print(f"{kind:>16}: second / first {r:.3f} (median of {rounds} paired rounds)")
    finally:
        fake.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

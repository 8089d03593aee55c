#!/usr/bin/env python3
"""Compares two builds of pandora-ilert, interleaved: a new alert and a re-fire of each, and a
C no-op for the machine's pace, one process per case and round, order rotated per round,
against the compiled fake ilert. Prints each case's median wall time and the paired ratios
(second build / first), which is how each step in README "Performance" was measured.

    python3 bench/ab.py OLD_BINARY NEW_BINARY [ROUNDS]

The tools (target/bench: run1, floors, fake-ilert) come from `bash bench/run.sh --quick`.
Copy a build elsewhere before building the next one: cargo overwrites its output."""

import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import FLOORS, RUN1, FAKE, Fake, Site, interleaved, ratios, read_back, walls  # noqa: E402


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.strip())
    builds = [os.path.abspath(b) for b in sys.argv[1:3]]
    rounds = int(sys.argv[3]) if len(sys.argv) == 4 else 300
    for tool in (RUN1, FLOORS, FAKE, *builds):
        if not os.access(tool, os.X_OK):
            sys.exit(f"ab: {tool} is missing; `bash bench/run.sh --quick` builds the tools")
    read_back(*builds, FLOORS)
    work = tempfile.mkdtemp(prefix="pandora-ilert-ab-")
    fake = Fake(work)
    try:
        # The bench's own sites and alert command lines, with each build in place of BIN.
        sites = [Site(work, f"build-{i}", fake.url) for i in range(2)]

        def alert(i, alert_id):
            return [builds[i]] + sites[i].alert(alert_id)[1:]

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

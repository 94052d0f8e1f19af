"""The smallest `-X heapsize=` at which each firmware app's scenarios still pass (issue 14), on
the MicroPython unix port against a real Mosquitto and the real hub.

    .venv/bin/python bench/firmware_heap.py [APP ...]        (or `python -m bench firmware_heap`)

Apps and scenarios: the handheld's 2 MB photo + 20 s audio report and a 4-report patrol; the
access controller's, face terminal's and barrier's compound rush of tests/hil (60 reads in
20 s; the community's list and face templates on the gate's flash at the version the hub
holds, so no list sync runs: a sync's own heap is not in these figures). A probe
runs one device at one heap size; it passes when the device exits 0 and what the hub stored
passes the HIL tests' own checks (tests/support/judge.py: the report whole, every event once
with its chain unbroken, a gate's access-log rows equal to the rush's expected decisions).
Each app-scenario is searched by bisection in 4K steps between 32K and its ceiling (256K for
the handheld, the gates' stated 512K), the searches running side by side (the machine has 2
cores: the probes of one search are sequential). Each row's target is "<= 128K" (a plain
ESP32 without PSRAM leaves about that much); a search whose ceiling fails reports no value.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator import Fleet, scenarios  # noqa: E402
from simulator.fleet import GATE_HEAPSIZE, SimDevice  # noqa: E402

MB = 1024 * 1024
GRID = "33010200100101"
PATROL_GRID = "33010200100102"
COMMUNITY = GRID[:12]
TARGET_KB = 128
LO_KB, STEP_KB = 32, 4
HANDHELD_HI_KB = 256
GATE_HI_KB = int(GATE_HEAPSIZE.rstrip("K"))
RUSH_READS, RUSH_S = 60, 20
PATROL_REPORTS = 4
PARALLEL = 3  # searches at once: a gate's probe is mostly waiting on its rush's schedule


@dataclass
class Probe:
    kb: int
    ok: bool
    why: str = ""
    hwm: int | None = None
    total: int | None = None
    s: float = 0.0


@dataclass
class Search:
    app: str
    scenario: str
    hi_kb: int
    probes: list[Probe] = field(default_factory=list)
    smallest: int | None = None  # KiB; None: not even the ceiling passed
    s: float = 0.0

    @property
    def at_smallest(self) -> Probe | None:
        return next((p for p in self.probes if p.ok and p.kb == self.smallest), None)


def distance(kb: int | None, hi_kb: int) -> str:
    """How far a smallest passing heap is from the 128K target."""
    if kb is None:
        return f"fails at {hi_kb}K"
    return "128K: reached" if kb <= TARGET_KB else f"+{kb - TARGET_KB}K over"


def bisect(passes: Callable[[int], bool], lo_kb: int, hi_kb: int, step_kb: int) -> int | None:
    """The smallest heap (a multiple of ``step_kb`` in ``(lo_kb - step_kb, hi_kb]``) for which
    ``passes``, assuming one below ``lo_kb`` fails and that passing is monotonic; ``hi_kb`` is
    probed last, only when nothing below it passed. None when ``hi_kb`` fails too."""
    bad, good = lo_kb - step_kb, hi_kb
    seen_good = False
    while good - bad > step_kb:
        mid = bad + ((good - bad) // step_kb // 2) * step_kb
        if passes(mid):
            good, seen_good = mid, True
        else:
            bad = mid
    if not seen_good and not passes(good):
        return None
    return good


class Bench:
    """One broker, one hub, one fleet (the hub's key) for every probe."""

    def __init__(self, hub: Any, fleet: Fleet) -> None:
        self.hub = hub
        self.fleet = fleet
        self.comm = scenarios.community(seed=1)
        self.version = 0
        self._ids = itertools.count(1)

    def load_lists(self) -> None:
        from tests.support.gates import load_list

        self.version = load_list(self.hub, COMMUNITY, self.comm["entries"])

    def _id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):03d}"  # one device id a probe

    def probe(self, app: str, scenario: str, kb: int) -> Probe:

        heap = f"{kb}K"
        t0 = time.monotonic()
        if app == "handheld":
            script = (
                scenarios.big_report(2 * MB, 20)
                if scenario == "report-2MB"
                else scenarios.patrol(reports=PATROL_REPORTS, every_s=1.5, photo_bytes=60_000,
                                      audio_s=2)
            )  # fmt: skip
            # a grid has one active handheld: one grid a scenario, each probe revoked after
            grid = GRID if scenario == "report-2MB" else PATROL_GRID
            dev = self.fleet.add_handheld(self._id(f"hh-{kb}"), grid, scenario=script,
                                          heapsize=heap)  # fmt: skip
            want = None
        else:
            # the HIL's rush: its expected events include the alarms the gate raises
            rush, want = scenarios.compound_rush(self.comm, app, enrolled=list(self.comm["people"]),
                                                 events=RUSH_READS, duration_s=RUSH_S)  # fmt: skip
            dev = self.fleet.add_gate(
                self._id(f"gt-{app}-{kb}"), app, GRID, scenario=rush, people=self.comm["people"],
                templates=self.comm["templates"], lists=self.comm["entries"],
                list_version=self.version, heapsize=heap, heartbeat_s=0,
            )  # fmt: skip
        self.hub.register(dev)
        try:
            return self._run(app, scenario, kb, dev, want, t0)
        finally:
            if app == "handheld":
                resp = self.hub.api.post(f"/api/devices/{dev.device_id}/revoke",
                                         json={"reason": "heap bench probe done"})  # fmt: skip
                assert resp.status_code == 200, resp.text

    def _run(self, app: str, scenario: str, kb: int, dev: SimDevice, want: Any,
             t0: float) -> Probe:  # fmt: skip
        from tests.support import judge

        dev.start()
        try:
            rc = dev.wait(RUSH_S + 60 if want is not None else 60)
        except TimeoutError:
            dev.kill()
            rc = None
        out = Probe(kb, False, s=time.monotonic() - t0)
        heap_line = _last_heap(dev)
        if heap_line:
            out.hwm, out.total = heap_line
        if rc != 0:
            out.why = "timed out" if rc is None else f"rc {rc}: {_last_error(dev)}"
            return out
        try:
            if app == "handheld" and scenario == "report-2MB":
                judge.check_big_report(self.hub, dev, 2 * MB, 20)
            elif app == "handheld":
                judge.check_patrol(self.hub, dev, reports=PATROL_REPORTS)
            else:
                assert want is not None
                judge.check_gate(self.hub, COMMUNITY, dev, want)
        except AssertionError as exc:
            out.why = f"hub check: {str(exc).splitlines()[0][:160]}"
            return out
        out.ok = True
        out.s = time.monotonic() - t0
        return out

    def search(self, s: Search) -> Search:
        t0 = time.monotonic()

        def passes(kb: int) -> bool:
            p = self.probe(s.app, s.scenario, kb)
            s.probes.append(p)
            return p.ok

        s.smallest = bisect(passes, LO_KB, s.hi_kb, STEP_KB)
        s.s = time.monotonic() - t0
        return s


def _last_heap(dev: SimDevice) -> tuple[int, int] | None:
    import re

    m = re.findall(r"heap peak=-?\d+ hwm=(-?\d+) free=\d+ total=(\d+)", dev.log())
    return (int(m[-1][0]), int(m[-1][1])) if m else None


def _last_error(dev: SimDevice) -> str:
    lines = [ln for ln in dev.log().splitlines() if "Error" in ln]
    return lines[-1].strip()[:160] if lines else "no error logged"


CASES = [
    ("handheld", "report-2MB", HANDHELD_HI_KB),
    ("handheld", "patrol", HANDHELD_HI_KB),
    ("access", "compound_rush", GATE_HI_KB),
    ("face", "compound_rush", GATE_HI_KB),
    ("barrier", "compound_rush", GATE_HI_KB),
]


def measure(apps: list[str] | None = None) -> list[Search]:
    from hub.keys import load_or_create
    from tests.support.hub import hub_settings, running_hub
    from tests.support.mosquitto import Mosquitto

    searches = [Search(a, sc, hi) for a, sc, hi in CASES if not apps or a in apps]
    with tempfile.TemporaryDirectory(prefix="gridlink-heap-") as tmp:
        root = Path(tmp)
        with (
            Mosquitto(workdir=root / "broker") as broker,
            running_hub(hub_settings(root, broker)) as hub,
        ):
            assert hub.settings.hub_key_path is not None
            key = load_or_create(hub.settings.hub_key_path)
            fleet = Fleet(broker.host, broker.port, root=root / "fleet", hub_seed=key.seed,
                          accounts=broker.device_account)  # fmt: skip
            try:
                bench = Bench(hub, fleet)
                if any(s.app != "handheld" for s in searches):
                    bench.load_lists()
                with ThreadPoolExecutor(PARALLEL) as pool:
                    return list(pool.map(bench.search, searches))
            finally:
                fleet.cleanup()


def _probes(s: Search) -> str:
    return " ".join(f"{p.kb}{'✓' if p.ok else '✗'}" for p in sorted(s.probes, key=lambda p: p.kb))


def table(searches: list[Search]) -> Any:
    from rich.table import Table

    t = Table(title="firmware heap: the smallest -X heapsize each app's scenario passes at "
                    "(unix port, real broker and hub; target 128K)")  # fmt: skip
    for col in ("app", "scenario", "smallest heap", "vs 128K", "live hwm there B", "probes (KiB)",
                "s"):  # fmt: skip
        t.add_column(col, justify="left" if col in ("app", "scenario", "probes (KiB)") else "right")
    for s in searches:
        p = s.at_smallest
        t.add_row(
            s.app, s.scenario,
            f"{s.smallest}K" if s.smallest else f"> {s.hi_kb}K",
            distance(s.smallest, s.hi_kb),
            f"{p.hwm:,}" if p and p.hwm else "",
            _probes(s),
            f"{s.s:.0f}",
        )  # fmt: skip
    t.caption = (f"bisection {LO_KB}K..ceiling in {STEP_KB}K steps, one run a probe; a probe "
                 "passes when the device exits 0 and the hub's stored events pass the HIL "
                 "checks")  # fmt: skip
    return t


def result_rows(searches: list[Search]) -> list:
    from bench.results import Row

    out = []
    for s in searches:
        p = s.at_smallest
        fails = [{"kb": q.kb, "why": q.why} for q in s.probes if not q.ok]
        out.append(
            Row(
                "firmware_heap",
                f"{s.app} {s.scenario}: smallest passing -X heapsize",
                s.smallest,
                "KiB",
                target=f"<= {TARGET_KB}K",
                passed=s.smallest is not None and s.smallest <= TARGET_KB,
                details={
                    "distance": distance(s.smallest, s.hi_kb),
                    "searched": f"{LO_KB}K-{s.hi_kb}K, {STEP_KB}K resolution, bisection",
                    "probes": [
                        {"kb": q.kb, "ok": q.ok, "hwm": q.hwm, "s": round(q.s, 1)} for q in s.probes
                    ],  # fmt: skip
                    "failures": fails,
                    "seconds": round(s.s, 1),
                },
            )
        )
        out.append(
            Row(
                "firmware_heap",
                f"{s.app} {s.scenario}: live high-water at the smallest passing heap",
                p.hwm if p else None,
                "B",
                headline=False,
                details={"heap_total_B": p.total if p else None, "heapsize": s.smallest},
            )
        )
    return out


def run():
    """For `python -m bench`: every app and scenario."""
    from bench.results import Report

    searches = measure()
    return Report(table(searches), result_rows(searches))


def main() -> int:
    from rich.console import Console

    apps = [a for a in sys.argv[1:] if not a.startswith("-")]
    searches = measure(apps or None)
    Console(width=140).print(table(searches))
    for s in searches:
        for q in s.probes:
            if not q.ok:
                print(f"{s.app} {s.scenario} {q.kb}K: {q.why}")
    return 0 if all(s.smallest and s.smallest <= TARGET_KB for s in searches) else 2


if __name__ == "__main__":
    sys.exit(main())

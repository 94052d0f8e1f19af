"""`python -m bench`: the JSON it writes (machine, commit, date, every row), the summary, and a
failing module that does not stop the others."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import bench.__main__ as bench_main
from bench import results

ROOT = Path(__file__).resolve().parents[2]


def test_a_real_module_writes_machine_commit_date_and_rows(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "GRIDLINK_BENCH_RESULTS": str(tmp_path / "results"),
        "GRIDLINK_BENCH_OUT": str(tmp_path / "out"),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "protocol_speed"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "make bench: the summary" in proc.stdout
    files = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert "latest.json" in files and len(files) == 2, files
    run_file = next(p for p in (tmp_path / "results").iterdir() if p.name != "latest.json")
    doc = json.loads(run_file.read_text())
    assert doc == json.loads((tmp_path / "results" / "latest.json").read_text())

    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    assert doc["git"]["commit"] == head and isinstance(doc["git"]["dirty"], bool)
    assert run_file.name.startswith(f"{doc['date']}-{head[:7]}")
    assert run_file.name.endswith("-protocol_speed.json")  # a subset says which modules ran
    m = doc["machine"]
    assert m["nproc"] >= 1 and m["memory_bytes"] > 0 and m["cpu_model"] and m["hostname"]
    assert m["python"].startswith("CPython 3.") and m["os"]
    assert doc["command"] == "python -m bench protocol_speed" and doc["exit_status"] == 0
    assert [mod["name"] for mod in doc["modules"]] == ["bench.protocol_speed"]
    rows = {r["name"]: r for r in doc["rows"]}
    assert set(r["suite"] for r in doc["rows"]) == {"protocol_speed"}
    verify = rows["hub (cryptography) verifies"]
    assert verify["unit"] == "/s" and verify["value"] > 100 and verify["ratio"] > 1
    assert rows["MicroPython open (verify)"]["value"] > 0
    assert all(set(r) == set(results.ROW_FIELDS) for r in doc["rows"])


FIXTURES = {
    "benchfix_ok": """
        from rich.table import Table
        from bench.results import Report, Row

        def run():
            rows = [Row.below("benchfix_ok", "fast", 3.0, 5, "ms"),
                    Row.below("benchfix_ok", "slow", 7.5, 5, "ms"),
                    {"suite": "benchfix_ok", "name": "as a mapping", "value": 1, "unit": "B",
                     "headline": False}]
            return Report(Table(title="fixture ok"), rows)
    """,
    "benchfix_broken": """
        def run():
            raise RuntimeError("the broker did not start\\nand a second line")
    """,
    "benchfix_table_only": """
        from rich.table import Table

        def run():
            return Table(title="fixture table only")
    """,
    "benchfix_no_run": """
        VALUE = 1
    """,
}


@pytest.fixture
def fixture_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    pkg = tmp_path / "mods"
    pkg.mkdir()
    for name, code in FIXTURES.items():
        (pkg / f"{name}.py").write_text(textwrap.dedent(code))
    monkeypatch.syspath_prepend(str(pkg))
    names = [*FIXTURES, "benchfix_absent"]
    monkeypatch.setattr(bench_main, "MODULES", names)
    monkeypatch.setenv("GRIDLINK_BENCH_RESULTS", str(tmp_path / "results"))
    return names


def test_a_failing_module_is_a_row_and_the_others_still_run(
    fixture_modules: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench_main.main([]) == 1  # a module failed
    out = capsys.readouterr().out
    assert "failed: RuntimeError: the broker did not start" in out
    assert "and a second line" not in out.split("summary")[-1]  # one line in the summary
    doc = json.loads((tmp_path / "results" / "latest.json").read_text())
    assert doc["command"] == "python -m bench"  # every module: the file has no subset suffix
    assert (tmp_path / "results" / f"{doc['date']}-{doc['git']['short']}"
            f"{'-dirty' if doc['git']['dirty'] else ''}.json").exists()  # fmt: skip
    status = {m["name"]: (m["status"], m["note"] or m["error"]) for m in doc["modules"]}
    assert status == {
        "benchfix_ok": ("ok", None),
        "benchfix_broken": ("failed", "RuntimeError: the broker did not start"),
        "benchfix_table_only": ("ok", "no rows (run() returned only its table)"),
        "benchfix_no_run": ("absent", "no run() yet, skipped"),
        "benchfix_absent": ("absent", "not present, skipped"),
    }
    rows = {(r["suite"], r["name"]): r for r in doc["rows"]}
    assert rows[("benchfix_ok", "fast")]["passed"] is True
    assert rows[("benchfix_ok", "slow")]["passed"] is False
    assert rows[("benchfix_ok", "slow")]["target"] == "< 5 ms"
    assert rows[("benchfix_ok", "as a mapping")]["headline"] is False
    failed = rows[("benchfix_broken", "run")]
    assert failed["passed"] is False and failed["details"]["failed"].startswith("RuntimeError")


def test_a_missed_target_alone_exits_2_and_names_select_modules(
    fixture_modules: list[str], tmp_path: Path
) -> None:
    assert bench_main.main(["benchfix_ok", "benchfix_table_only"]) == 2
    doc = json.loads((tmp_path / "results" / "latest.json").read_text())
    assert [m["name"] for m in doc["modules"]] == ["benchfix_ok", "benchfix_table_only"]
    with pytest.raises(SystemExit, match="unknown benchmark 'nope'"):
        bench_main.main(["nope"])


def test_a_row_that_breaks_the_contract_fails_its_module(tmp_path: Path) -> None:
    def importer(_name: str) -> object:
        class Module:
            @staticmethod
            def run() -> object:
                from rich.table import Table

                return Table(), [{"suite": "x", "name": "y"}]  # no value

        return Module

    out = results.run_module("benchfix_bad_rows", importer)
    assert out.status == "failed" and "missing" in str(out.error) and "value" in str(out.error)

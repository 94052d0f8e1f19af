"""bench/media.py on a small photo: the blob completes through `gridlink hub run`, the resumes
send what the receipts list, and the figures reach the rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import media
from protocol.limits import CHUNK_SIZE


def test_a_256_kb_photo_is_stored_and_resumed_after_cuts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDLINK_BENCH_OUT", str(tmp_path))
    size = 256 * 1024 + 1000  # 17 chunks, the last one short
    r = media.measure(size=size, runs=1)
    (run,) = r["runs"]
    assert run["chunks"] == 17
    assert 0 < run["publish_ms"] <= run["stored_ms"]  # stored only after the last chunk went
    assert run["stored_ms"] == r["stored_ms_median"]
    for key in ("resume_cut", "resume_cut_restart"):
        res = r[key]
        assert res["sent_before_cut"] == 8
        # everything the device had not sent was sent after the reconnect, on the receipts' word
        assert res["resent_bytes"] >= res["missing_bytes"] == size - 8 * CHUNK_SIZE
        assert res["resent_bytes"] - res["needless_bytes"] == res["missing_bytes"]
        assert 0 < res["receipt_ms"] <= res["stored_ms"]
    assert r["resume_cut_restart"]["hub_start_s"] > 0 and "hub_start_s" not in r["resume_cut"]
    assert json.loads((tmp_path / "media.json").read_text())["size"] == size

    rows = {row.name: row for row in media.result_rows(r)}
    head = rows["257 KB photo: first chunk -> stored (median of 1)"]
    assert head.value == round(run["stored_ms"], 1) and head.unit == "ms"
    assert head.target == "< 500 ms" and head.passed is (run["stored_ms"] < 500)
    resent = rows["resume at 50 % (link cut + hub restart): bytes re-sent beyond the missing half"]
    assert resent.value == r["resume_cut_restart"]["needless_bytes"]
    assert resent.passed is (resent.value <= CHUNK_SIZE)
    assert "257 KB" in media.table(r).title

"""firmware/lib state.py, config.py and log.py on MicroPython and CPython."""

from __future__ import annotations

import json

import pytest

STATE = """
import sys, json, os
import state
path = sys.argv[1]
"""


def _last(out: str):
    return json.loads(out.strip().splitlines()[-1])


def test_state_roundtrip_and_atomic_files(run_fw, tmp_path):
    path = tmp_path / "state.json"
    out = run_fw(
        STATE
        + """
st = state.State(path)
r = {"missing": [st.get("seq"), st.get("seq", 0)]}
st.set("seq", 1); st.update({"prev": "ab" * 32, "up": {"rid": 3, "c": 7}})
st.save()
st.set("seq", 2); st.save()
st2 = state.State(path)
r["loaded"] = [st2.get("seq"), st2.get("prev")[:4], st2.get("up")]
r["files"] = sorted(os.listdir(path.rsplit("/", 1)[0]))
print(json.dumps(r))
""",
        path,
    )
    r = _last(out)
    assert r["missing"] == [None, 0]
    assert r["loaded"] == [2, "abab", {"rid": 3, "c": 7}]
    assert r["files"] == ["state.json", "state.json.bak"]  # no temp file left behind
    assert json.loads((tmp_path / "state.json.bak").read_text())["seq"] == 1


def test_state_corrupt_file_raises_unless_bak(run_fw, tmp_path):
    path = tmp_path / "state.json"
    path.write_text('{"seq": 4')  # torn
    out = run_fw(
        STATE
        + """
try:
    state.State(path)
    print(json.dumps("no error"))
except ValueError as e:
    print(json.dumps("ValueError"))
""",
        path,
    )
    assert _last(out) == "ValueError"
    (tmp_path / "state.json.bak").write_text('{"seq": 3}')
    out = run_fw(STATE + "print(json.dumps(state.State(path).get('seq')))", path)
    assert _last(out) == 3


def test_state_recovers_between_the_two_renames(run_fw, tmp_path):
    # power lost after state.json -> .bak and before .tmp -> state.json
    (tmp_path / "state.json.bak").write_text('{"seq": 5}')
    (tmp_path / "state.json.tmp").write_text('{"seq": 6}')
    out = run_fw(STATE + "print(json.dumps(state.State(path).get('seq')))", tmp_path / "state.json")
    assert _last(out) == 6
    assert (tmp_path / "state.json").exists() and not (tmp_path / "state.json.tmp").exists()
    # a torn temp file (power lost while writing it) is ignored: the old state stands
    (tmp_path / "state.json").unlink()
    (tmp_path / "state.json.tmp").write_text('{"seq": 7')
    out = run_fw(STATE + "print(json.dumps(state.State(path).get('seq')))", tmp_path / "state.json")
    assert _last(out) == 5


GOOD = {
    "device_id": "hh-0001",
    "key": "11" * 32,
    "hub_key": "22" * 32,
    "grid": "33010200100101",
    "broker": {"host": "10.0.0.5"},
}

CONFIG = """
import sys, json
import config
try:
    cfg = config.load(sys.argv[1])
    print(json.dumps({"ok": cfg}))
except ValueError as e:
    print(json.dumps({"error": str(e)}))
"""


def test_config_merges_over_defaults(run_fw, tmp_path):
    p = tmp_path / "config.json"
    p.write_text(json.dumps(GOOD))
    cfg = _last(run_fw(CONFIG, p))["ok"]
    assert cfg["device_id"] == "hh-0001"
    assert cfg["broker"] == {
        "host": "10.0.0.5",
        "port": 1883,
        "user": None,
        "password": None,
        "tls": False,
        "ca": None,
        "cert": None,
        "key": None,
        "server_name": None,
        "keepalive": 30,
    }
    assert cfg["chunk_size"] == 16384 and cfg["log_level"] == "info"
    assert cfg["video_max_s"] == 30


@pytest.mark.parametrize(
    "change, key",
    [
        ({"device_id": None}, "device_id"),
        ({"key": ""}, "key"),  # key may be absent (identity.py), not empty
        ({"hub_key": None}, "hub_key"),
        ({"grid": None}, "grid"),
        ({"key": "zz" * 32}, "key"),
        ({"hub_key": "22" * 31}, "hub_key"),
        ({"grid": "3301020010010"}, "grid"),
        ({"device_id": "a/b"}, "device_id"),
        ({"broker": {"port": 0}}, "broker.port"),
        ({"chunk_size": 10}, "chunk_size"),
        ({"video_max_s": 0}, "video_max_s"),
        ({"video_max_s": 301}, "video_max_s"),
        ({"log_level": "loud"}, "log_level"),
        ({"workers": {"w1": "ab" * 32}}, "workers"),  # the old sha256 form
        ({"workers": {"w1": ["00" * 16, "1000", "00" * 32]}}, "workers"),
        ({"workers": ["w1"]}, "workers"),
        ({"pin_tries": 0}, "pin_tries"),
        ({"pin_lock_s": -1}, "pin_lock_s"),
        ({"idle_signout_s": 86401}, "idle_signout_s"),
    ],
)
def test_config_errors_name_the_key(run_mpy, tmp_path, change, key):
    cfg = dict(GOOD)
    for k, v in change.items():
        if v is None:
            del cfg[k]
        elif isinstance(v, dict) and k in cfg:
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    p = tmp_path / "config.json"
    p.write_text(json.dumps(cfg))
    err = _last(run_mpy(CONFIG, p))["error"]
    assert err.startswith(f"config {key}:"), err


def test_config_not_json(run_fw, tmp_path):
    p = tmp_path / "config.json"
    p.write_text("{not json")
    assert _last(run_fw(CONFIG, p)) == {"error": "config: not valid JSON"}


def test_log_levels_and_line_format(run_fw):
    out = run_fw(
        """
import log
a = log.getLogger("mqtt")
a.debug("hidden %d", 1)
a.info("connected to %s:%d", "h", 1883)
log.set_level("debug")
a.debug("now %s", "visible")
log.set_level("error")
a.warning("hidden too")
a.error("bad %r", b"x")
try:
    log.set_level("loud")
except ValueError:
    print("ValueError")
"""
    )
    lines = out.strip().splitlines()
    assert len(lines) == 4, lines
    ts, level, name, msg = lines[0].split(" ", 3)
    assert float(ts) > 1.6e9 and (level, name, msg) == ("INFO", "mqtt", "connected to h:1883")
    assert lines[1].split(" ", 1)[1] == "DEBUG mqtt now visible"
    assert lines[2].split(" ", 1)[1] == "ERROR mqtt bad b'x'"
    assert lines[3] == "ValueError"

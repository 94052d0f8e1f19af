# Device start-up checks, run once by Device.__init__ and then forgotten (their bytecode would
# otherwise stay in the handheld's 192K heap for good; main.py drops config_load the same way).
#   startup.reconcile(device); startup.check_overrides(device)
#   device._trial = startup.ota(device, boot)   # boot: what the loader passed (not None)
import config as config_mod
import log as log_mod
import outbox as outbox_mod
import state as state_mod

from protocol import envelope
from protocol.errors import ProtocolError

_log = log_mod.getLogger("device")


def reconcile(d):
    """After power loss between outbox.put and the state save, adopt the newest envelope
    found in the outbox so the chain never forks."""
    st = d.state
    seq = st.get("seq", 0)
    best = None
    for rec in d.outbox.iter():
        try:
            env = envelope.parse(outbox_mod.rec_payload(rec))
        except ProtocolError:
            continue
        if env["seq"] > seq and (best is None or env["seq"] > best[0]):
            best = (env["seq"], envelope.digest(outbox_mod.rec_payload(rec)))
    if best is not None:
        st.set("seq", best[0])
        st.set("prev", best[1])
        st.save()


def check_overrides(d):
    """Drop remote config overrides that fail config.check_remote (older firmware persisted
    them unchecked; a bad one would kill a runtime task on every boot)."""
    over = d.state.get("cfg", None)
    if not over:
        return
    good = {}
    for k in over:
        try:
            config_mod.check_remote(k, over[k])
            good[k] = over[k]
        except ValueError as e:
            _log.warning("dropped remote override: %s", e)
    if len(good) != len(over):
        d.state.set("cfg", good)
        d.state.save()


def ota_reports(d, boot):
    """Emit, oldest first, the `ota` bodies the update mode left in state.json (each removed
    in the save of its own envelope: no loss, no repeat at a power cut), then the rollback
    record the loader or a trial left in boot.json (lib/ota.py is not needed for either)."""
    rep = d.state.get("ota_report")
    while rep:
        d._emit("ota", rep[0], extra={"ota_report": rep[1:] or None})
        rep = rep[1:]
    rb = boot and boot.get("rolled_back")
    if rb:
        d._emit("ota", {"rollout": rb.get("rollout"), "manifest": rb.get("manifest"),
                        "version": rb.get("version"), "state": "rolled_back",
                        "reason": str(rb.get("reason"))[:120], "done": 0, "total": 0})
        rec = state_mod.State(d.root + "/fw/boot.json")
        rec.set("rolled_back", None)
        rec.save()


def ota(d, boot):
    """The update mode's and a rollback's reports (ota_reports), then on a trial boot its
    "updated" event: lib/trial.py's (seq, ticks_ms, ms allowed), or None."""
    if d.state.get("ota_report") or boot.get("rolled_back"):
        ota_reports(d, boot)
    if boot.get("trial"):
        import trial

        return trial.start(d)
    return None

// Live updates: one EventSource per signed-in console on the hub's server-sent events
// (`/api/live`). Each event is re-dispatched on `window` as a "gridlink:live" CustomEvent
// whose `detail` is {type, data}; a page listens with its `ctx.signal`, so its listeners go
// when it is left. `stop()` (sign-out) closes the stream.
"use strict";

// The events and their data (JSON), each only to sessions whose scope covers it:
//   case        a new case: {id, status, level, grid_code, category_code, source, deadline_at, at}
//   transition  a case moved: {case_id, action, from_status, to_status, level, actor, at}
//   alarm       a gate alarm: {device_id, kind, community_code, case_id (or null), at}
//   device      online state changed: {device_id, kind, grid_code, online, at}
const TYPES = ["case", "transition", "alarm", "device"];
let source = null;

export function start() {
  stop();
  source = new EventSource("/api/live", {withCredentials: true});
  for (const type of TYPES) {
    source.addEventListener(type, (e) => {
      let data;
      try { data = JSON.parse(e.data); } catch { return; }
      window.dispatchEvent(new CustomEvent("gridlink:live", {detail: {type, data}}));
    });
  }
}

export function stop() {
  if (source) source.close();
  source = null;
}

/** Call `handler(type, data)` for live events while `signal` is not aborted. */
export function listen(signal, handler) {
  window.addEventListener("gridlink:live", (e) => handler(e.detail.type, e.detail.data),
    {signal});
}

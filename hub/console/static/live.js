// Live updates: one EventSource per signed-in console on the hub's server-sent events
// (`/api/live`). Each event is re-dispatched on `window` as a "gridlink:live" CustomEvent
// whose `detail` is {type, data}; a page listens with its `ctx.signal`, so its listeners go
// when it is left. `stop()` (sign-out) closes the stream.
"use strict";

import {api, guarded} from "./core.js";

// The events and their data (JSON), each only to sessions whose scope covers it:
//   case        a new case: {id, status, level, grid_code, category_code, source, deadline_at, at}
//   transition  a case moved: {case_id, action, from_status, to_status, level, actor, at}
//   alarm       a gate alarm: {device_id, kind, community_code, case_id (or null), at}
//   device      online state changed: {device_id, kind, grid_code, online, at}
// and, as the hub ends a stream, `end`: {code, message} with code "session_ended" (sign-out,
// expiry: the console then shows the sign-in form), "shutdown" or "overflow" (the browser
// reconnects by itself and the hub resumes from the Last-Event-ID it sent). Units get the
// case and transition events of their own cases only.
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
  source.addEventListener("end", (e) => {
    let data = {};
    try { data = JSON.parse(e.data); } catch { /* an end all the same */ }
    if (data.code !== "session_ended") return;  // the EventSource reconnects and resumes
    stop();
    // asks the hub: a 401 makes the shell show the sign-in form and clear every view
    guarded(() => api("/api/session"), () => {});
  });
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

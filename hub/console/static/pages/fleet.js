// The fleet page (#/fleet): the devices the session may see, by community and grid, with
// their online state, last birth, battery, firmware, outbox backlog and pending commands;
// ping, config or reboot with a confirmation; a worker's patrol track for a day on a map
// (Leaflet, vector layers only: the grids' reference points and the track, no tiles).
// Live: a "device" event updates its row (online state) while the page is on screen.
"use strict";

import {$, $$, api, esc, fmt, guarded, loadScript, lookup, nameOf, t} from "../core.js";

export const route = "fleet";
export const navKey = "nav_fleet";
export const liveShown = ["device"];  // the shell shows no toast for what this page shows
export const text = {
  zh: {nav_fleet: "设备", fleet_devices: "设备状态", fleet_track: "巡查轨迹",
    any_community: "全部社区", any_kind: "全部类型", any_state: "全部状态",
    f_online: "在线", f_offline: "离线", show: "查询", device: "设备", kind: "类型",
    community: "社区", grid: "网格", state: "状态", last_seen: "最后上线", battery: "电量",
    firmware: "固件版本", outbox: "待上传", pending: "待执行指令", actions: "操作",
    kinds: {handheld: "手持终端", access: "门禁控制器", face: "人脸终端", barrier: "道闸"},
    ops: {ping: "测试连接", config: "下发配置", reboot: "重启"},
    fleet_count: (n, up) => `共 ${n} 台设备，在线 ${up} 台`,
    confirm_op: (op, dev) => `确认向设备 ${dev} 发送“${op}”指令？`,
    config_args: "配置参数（JSON）", bad_json: "配置参数不是有效的 JSON 对象。",
    send: "发送", cancel: "取消", sent: (op, dev, cseq) => `已向 ${dev} 发送“${op}”（指令序号 ${cseq}）。`,
    worker: "网格员", day: "日期", draw: "显示轨迹", no_track: "当天没有轨迹记录。",
    track_points: (n, a, b) => `${n} 个定位点，${a} – ${b}`, no_devices: "没有设备。",
    went: (on) => on ? "上线" : "离线"},
  en: {nav_fleet: "Fleet", fleet_devices: "Devices", fleet_track: "Patrol tracks",
    any_community: "any community", any_kind: "any kind", any_state: "any state",
    f_online: "online", f_offline: "offline", show: "Show", device: "device", kind: "kind",
    community: "community", grid: "grid", state: "state", last_seen: "last seen",
    battery: "battery", firmware: "firmware", outbox: "outbox", pending: "pending commands",
    actions: "actions",
    kinds: {handheld: "handheld", access: "access controller", face: "face terminal",
      barrier: "barrier"},
    ops: {ping: "ping", config: "config", reboot: "reboot"},
    fleet_count: (n, up) => `${n} device(s), ${up} online`,
    confirm_op: (op, dev) => `Send "${op}" to device ${dev}?`,
    config_args: "config (JSON)", bad_json: "The config is not a JSON object.",
    send: "Send", cancel: "Cancel", sent: (op, dev, cseq) => `"${op}" sent to ${dev} (command ${cseq}).`,
    worker: "worker", day: "day", draw: "Show track", no_track: "No track that day.",
    track_points: (n, a, b) => `${n} fixes, ${a} – ${b}`, no_devices: "No devices.",
    went: (on) => on ? "online" : "offline"},
};

const OPS = ["ping", "config", "reboot"];
const DEFAULT_CONFIG = '{"heartbeat_s": 60}';

/** Today in the hub's day (Asia/Shanghai, UTC+8) as YYYY-MM-DD. */
function today() {
  return new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
}

export function render(view, {params}, ctx) {
  const s = t();
  view.innerHTML = `<section class="fleet">
    <h2>${s.fleet_devices}</h2>
    <form id="fleet-filters" class="fleet-filters">
      <select name="community"><option value="">${s.any_community}</option></select>
      <select name="kind"><option value="">${s.any_kind}</option></select>
      <select name="online"><option value="">${s.any_state}</option>
        <option value="true">${s.f_online}</option><option value="false">${s.f_offline}</option></select>
      <button>${s.show}</button>
    </form>
    <p id="fleet-summary" class="muted"></p>
    <p id="fleet-notice" class="notice" role="status"></p>
    <div class="fleet-table"><table>
      <thead><tr><th>${s.device}</th><th>${s.kind}</th><th>${s.state}</th><th>${s.last_seen}</th>
        <th>${s.battery}</th><th>${s.firmware}</th><th>${s.outbox}</th><th>${s.pending}</th>
        <th>${s.actions}</th></tr></thead>
      <tbody id="fleet-rows"></tbody>
    </table></div>
    <h2>${s.fleet_track}</h2>
    <form id="track-form" class="fleet-filters">
      <label>${s.worker} <select name="worker" required></select></label>
      <label>${s.day} <input type="date" name="day" required></label>
      <button>${s.draw}</button>
    </form>
    <p id="track-summary" class="muted"></p>
    <div id="track-map" class="fleet-map"></div>
    <dialog id="op-dialog" class="op-dialog">
      <form method="dialog">
        <p id="op-question"></p>
        <label id="op-args-label" hidden>${s.config_args}
          <textarea name="args" rows="3" spellcheck="false"></textarea></label>
        <p id="op-error" class="error" role="alert"></p>
        <menu><button value="cancel" formnovalidate>${s.cancel}</button>
          <button id="op-send" value="send">${s.send}</button></menu>
      </form>
    </dialog>
  </section>`;
  const form = $("#fleet-filters", view);
  for (const [code, name] of Object.entries(s.kinds)) form.kind.append(new Option(name, code));
  guarded(async () => {
    const areas = await api("/api/areas", {signal: ctx.signal});
    for (const a of areas.filter((a) => a.level === "community")) {
      const opt = new Option(a.name, a.code);
      opt.title = a.code;
      form.community.append(opt);
    }
    for (const [k, v] of params) if (form[k]) form[k].value = v;
  }, () => {});
  for (const [k, v] of params) if (form[k]) form[k].value = v;
  form.onsubmit = (e) => {
    e.preventDefault();
    const query = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) query.set(k, v);
    ctx.navigate(`#/${route}?${query}`);
  };
  $("#fleet-rows", view).onclick = (e) => {
    const button = e.target.closest("button[data-op]");
    if (button) confirmOp(view, button.closest("tr").dataset.device, button.dataset.op, ctx);
  };
  loadDevices(view, params, ctx);
  setUpTracks(view, ctx);
}

function loadDevices(view, params, ctx) {
  const query = new URLSearchParams();
  for (const k of ["community", "kind", "online"]) if (params.get(k)) query.set(k, params.get(k));
  return guarded(async () => {
    const page = await api(`/api/fleet/devices?${query}`, {signal: ctx.signal});
    $("#fleet-summary", view).textContent = t().fleet_count(page.total, page.online);
    $("#fleet-rows", view).innerHTML = page.items.length ? groupRows(page.items) :
      `<tr><td colspan="9" class="muted">${t().no_devices}</td></tr>`;
  }, (err) => {
    $("#fleet-summary", view).innerHTML = `<span class="error">${esc(err.message)}</span>`;
  });
}

function groupRows(items) {
  let html = "", group = null;
  for (const d of items) {
    const key = `${d.community_code}/${d.grid_code}`;
    if (key !== group) {
      group = key;
      html += `<tr class="group"><th colspan="9">${nameOf("area", d.community_code)} ›
        ${nameOf("grid", d.grid_code)}</th></tr>`;
    }
    html += deviceRow(d);
  }
  return html;
}

function stateCell(online) {
  return `<span class="state ${online ? "up" : "down"}">${online ? t().f_online : t().f_offline}</span>`;
}

function deviceRow(d) {
  const s = t();
  const battery = d.battery === null ? "—" :
    `<span class="battery ${d.battery < 20 ? "low" : ""}">${d.battery}%</span>`;
  const beat = d.heartbeat_at ? ` title="${esc(fmt(d.heartbeat_at))}"` : "";
  return `<tr class="device" data-device="${esc(d.id)}" data-online="${d.online}">
    <td><span title="${esc(d.name ?? "")}">${esc(d.id)}</span></td>
    <td>${esc(s.kinds[d.kind] ?? d.kind)}</td>
    <td class="online">${stateCell(d.online)}</td>
    <td class="last-seen">${d.last_seen ? esc(fmt(d.last_seen)) : "—"}</td>
    <td${beat}>${battery}</td>
    <td>${esc(d.firmware ?? "—")}</td>
    <td${beat} class="${d.outbox > 0 ? "backlog" : ""}">${d.outbox ?? "—"}</td>
    <td class="pending">${d.pending_commands}</td>
    <td class="ops">${OPS.map((op) =>
      `<button type="button" data-op="${op}">${s.ops[op]}</button>`).join("")}</td></tr>`;
}

function confirmOp(view, deviceId, op, ctx) {
  const s = t(), dialog = $("#op-dialog", view), form = $("form", dialog);
  $("#op-question", dialog).textContent = s.confirm_op(s.ops[op], deviceId);
  $("#op-error", dialog).textContent = "";
  $("#op-args-label", dialog).hidden = op !== "config";
  form.args.value = DEFAULT_CONFIG;
  dialog.dataset.op = op;
  $("#op-send", dialog).onclick = (e) => {
    e.preventDefault();
    let args = {};
    if (op === "config") {
      try { args = JSON.parse(form.args.value); } catch { args = null; }
      if (!args || typeof args !== "object" || Array.isArray(args)) {
        $("#op-error", dialog).textContent = s.bad_json;
        return;
      }
    }
    guarded(async () => {
      const cmd = await api(`/api/devices/${encodeURIComponent(deviceId)}/commands/${op}`,
        {method: "POST", body: {args}, signal: ctx.signal});
      dialog.close();
      $("#fleet-notice", view).textContent = s.sent(s.ops[op], deviceId, cmd.cseq);
      const cell = $(`tr[data-device="${CSS.escape(deviceId)}"] .pending`, view);
      if (cell) cell.textContent = String(Number(cell.textContent) + 1);
    }, (err) => { $("#op-error", dialog).textContent = err.message; });
  };
  dialog.showModal();
}

// --- patrol tracks ---------------------------------------------------------------------------

let map = null;  // one Leaflet map per rendering of the page

function setUpTracks(view, ctx) {
  const form = $("#track-form", view);
  form.day.value = today();
  ctx.signal.addEventListener("abort", () => { map?.remove(); map = null; });
  guarded(async () => {
    const workers = await api("/api/workers", {signal: ctx.signal});
    for (const w of workers) {
      const opt = new Option(w.name, w.id);
      opt.title = w.id;
      form.worker.append(opt);
    }
    await loadScript("leaflet/leaflet.js");
    if (ctx.signal.aborted) return;
    map = L.map($("#track-map", view), {attributionControl: false, zoomSnap: 0.25});
    const grids = [...new Set(workers.flatMap((w) => w.grid_codes))].map((c) => lookup("grid", c))
      .filter((g) => g && g.lat_e6 !== null && g.lon_e6 !== null);
    const layer = L.featureGroup(grids.map((g) =>
      L.circleMarker([g.lat_e6 / 1e6, g.lon_e6 / 1e6], {radius: 6, color: "#1d3557",
        fillOpacity: 0.3}).bindTooltip(esc(g.name)))).addTo(map);  // Leaflet writes innerHTML
    if (grids.length) map.fitBounds(layer.getBounds().pad(0.3)); else map.setView([30.25, 120.17], 13);
  }, (err) => { $("#track-summary", view).innerHTML = `<span class="error">${esc(err.message)}</span>`; });
  let trackLayer = null;
  form.onsubmit = (e) => {
    e.preventDefault();
    const worker = form.worker.value, day = form.day.value;
    if (!worker || !day) return;
    guarded(async () => {
      const track = await api(`/api/workers/${encodeURIComponent(worker)}/track?day=${day}`,
        {signal: ctx.signal});
      if (!map) return;
      trackLayer?.remove();
      trackLayer = null;
      const summary = $("#track-summary", view);
      if (!track.points.length) {
        summary.textContent = t().no_track;
        return;
      }
      const line = track.points.map((p) => [p.lat_e6 / 1e6, p.lon_e6 / 1e6]);
      const first = track.points[0], last = track.points[track.points.length - 1];
      trackLayer = L.featureGroup([
        L.polyline(line, {color: "#d62828", weight: 3, className: "track-line"}),
        L.circleMarker(line[0], {radius: 7, color: "#2a9d8f", fillOpacity: 1})
          .bindTooltip(fmt(first.at)),
        L.circleMarker(line[line.length - 1], {radius: 7, color: "#d62828", fillOpacity: 1})
          .bindTooltip(fmt(last.at)),
      ]).addTo(map);
      map.fitBounds(trackLayer.getBounds().pad(0.2));
      summary.textContent = t().track_points(track.points.length, fmt(first.at), fmt(last.at));
    }, (err) => {
      $("#track-summary", view).innerHTML = `<span class="error">${esc(err.message)}</span>`;
    });
  };
}

/** A "device" event: the row's online state (and last seen when it came online). */
export function live(type, data, view) {
  if (type !== "device") return;
  const row = $(`tr[data-device="${CSS.escape(data.device_id)}"]`, view);
  if (!row) return;
  row.dataset.online = String(data.online);
  $(".online", row).innerHTML = stateCell(data.online);
  if (data.online) $(".last-seen", row).textContent = fmt(data.at);
  row.classList.remove("changed");
  void row.offsetWidth;  // restart the highlight
  row.classList.add("changed");
  const up = $$("tr.device", view).filter((r) => r.dataset.online === "true").length;
  $("#fleet-summary", view).textContent = t().fleet_count($$("tr.device", view).length, up);
}

// The community page (#/community?community=330102001001&...): pick one of the session's
// communities (names from /api/areas, already scoped by the hub), search its access log
// (/api/v1/access/log: device, person, plate, door, direction, kind, live / historical, time
// range; 50 a page), its alarms, the in / out passages by hour as an ECharts chart and the
// vehicles inside now (/api/v1/access/communities/{c}/figures). A face or plate capture is
// never a plain <img>: the operator states a reason, the page fetches it from the audited
// endpoint (which writes the audit row first) and shows the bytes it received.
// A live alarm of the community shown reloads the page's figures.
"use strict";

import {$, api, esc, fmt, guarded, loadScript, state, t} from "../core.js";

export const route = "community";
export const navKey = "nav_community";
const EVENTS = ["granted", "denied", "door_forced", "door_held", "tailgating", "tamper",
  "duress", "stranger_repeated", "blacklist_hit", "help", "storage_low"];
export const text = {
  zh: {nav_community: "社区", cm_pick: "社区", cm_none: "本账号辖区内没有社区。",
    cm_device: "设备", cm_person: "人员", cm_plate: "车牌", cm_door: "门", cm_direction: "方向",
    cm_kind: "事件", cm_source: "来源", cm_since: "起", cm_until: "止", cm_search: "查询",
    cm_any: "全部", cm_in: "进", cm_out: "出", cm_live: "实时", cm_historical: "补传",
    cm_time: "时间", cm_by: "方式", cm_log: "通行记录", cm_alarms: "告警",
    cm_hourly: "每小时进出", cm_inside: "当前在场车辆", cm_since_at: "入场时间",
    cm_people_in: "人员进", cm_people_out: "人员出", cm_vehicles_in: "车辆进",
    cm_vehicles_out: "车辆出", cm_total: (n) => `共 ${n} 条`, cm_prev: "上一页",
    cm_next: "下一页", cm_capture: "抓拍", cm_view: "查看（需说明理由）",
    cm_reason: "查看理由（将记入审计）", cm_show: "查看", cm_empty: "无",
    cm_range: "统计区间", cm_denied: "拒绝原因",
    cm_events: {granted: "通行", denied: "拒绝", door_forced: "强行开门", door_held: "门长时间未关",
      tailgating: "尾随", tamper: "防拆", duress: "胁迫", stranger_repeated: "陌生人徘徊",
      blacklist_hit: "黑名单", help: "求助", storage_low: "存储不足"},
    cm_ways: {face: "人脸", card: "刷卡", qr: "二维码", pin: "密码", plate: "车牌", remote: "远程"}},
  en: {nav_community: "Community", cm_pick: "Community", cm_none: "No community in your area.",
    cm_device: "Device", cm_person: "Person", cm_plate: "Plate", cm_door: "Door",
    cm_direction: "Direction", cm_kind: "Event", cm_source: "Source", cm_since: "From",
    cm_until: "To", cm_search: "Search", cm_any: "any", cm_in: "in", cm_out: "out",
    cm_live: "live", cm_historical: "historical", cm_time: "Time", cm_by: "By",
    cm_log: "Access log", cm_alarms: "Alarms", cm_hourly: "In / out by hour",
    cm_inside: "Vehicles inside now", cm_since_at: "Since", cm_people_in: "people in",
    cm_people_out: "people out", cm_vehicles_in: "vehicles in", cm_vehicles_out: "vehicles out",
    cm_total: (n) => `${n} record(s)`, cm_prev: "Previous", cm_next: "Next",
    cm_capture: "Capture", cm_view: "View (reason needed)",
    cm_reason: "Why you need it (audited)", cm_show: "View", cm_empty: "none",
    cm_range: "Figures for", cm_denied: "Denials",
    cm_events: {granted: "granted", denied: "denied", door_forced: "door forced",
      door_held: "door held open", tailgating: "tailgating", tamper: "tamper", duress: "duress",
      stranger_repeated: "stranger loitering", blacklist_hit: "blacklist", help: "help",
      storage_low: "storage low"},
    cm_ways: {face: "face", card: "card", qr: "QR", pin: "PIN", plate: "plate", remote: "remote"}},
};

const PAGE = 50;
const FILTERS = ["device_id", "person", "plate", "door", "direction", "ev", "historical",
  "since", "until"];
// datetime-local (the browser's local time) <-> the ISO instants the hub takes
const toIso = (local) => local ? new Date(local).toISOString() : "";
const toLocal = (iso) => {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
};

export function render(view, {params}, ctx) {
  const s = t();
  view.innerHTML = `<section class="community">
    <form id="cm-filters" class="cm-filters">
      <label>${s.cm_pick} <select name="community" required></select></label>
      <label>${s.cm_device} <input name="device_id" maxlength="64" size="10"></label>
      <label>${s.cm_person} <input name="person" maxlength="64" size="10"></label>
      <label>${s.cm_plate} <input name="plate" maxlength="16" size="9"></label>
      <label>${s.cm_door} <input name="door" maxlength="32" size="6"></label>
      <label>${s.cm_direction} <select name="direction"><option value="">${s.cm_any}</option>
        <option value="in">${s.cm_in}</option><option value="out">${s.cm_out}</option></select></label>
      <label>${s.cm_kind} <select name="ev"><option value="">${s.cm_any}</option>
        ${EVENTS.map((e) => `<option value="${e}">${esc(s.cm_events[e])}</option>`).join("")}</select></label>
      <label>${s.cm_source} <select name="historical"><option value="">${s.cm_any}</option>
        <option value="false">${s.cm_live}</option>
        <option value="true">${s.cm_historical}</option></select></label>
      <label>${s.cm_since} <input type="datetime-local" name="since"></label>
      <label>${s.cm_until} <input type="datetime-local" name="until"></label>
      <button>${s.cm_search}</button>
    </form>
    <p id="cm-error" class="error" role="alert"></p>
    <div class="cm-top">
      <figure><figcaption>${s.cm_hourly} <span id="cm-range" class="muted"></span></figcaption>
        <div id="cm-chart" class="cm-chart"></div></figure>
      <div><h3>${s.cm_inside}</h3><div class="cm-table"><table id="cm-inside"></table></div>
        <h3>${s.cm_alarms}</h3><ul id="cm-alarms" class="cm-alarms"></ul></div>
    </div>
    <h3>${s.cm_log} <span id="cm-total" class="muted"></span></h3>
    <div class="cm-table"><table id="cm-log"></table></div>
    <p class="cm-pager"><button type="button" id="cm-prev">${s.cm_prev}</button>
      <button type="button" id="cm-next">${s.cm_next}</button></p>
  </section>`;
  const form = $("#cm-filters", view);
  for (const k of FILTERS) {
    const v = params.get(k);
    if (v && form[k]) form[k].value = k === "since" || k === "until" ? toLocal(v) : v;
  }
  const go = (offset) => {
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) {
      if (v) q.set(k, k === "since" || k === "until" ? toIso(v) : v);
    }
    if (offset) q.set("offset", offset);
    ctx.navigate(`#/${route}?${q}`);
  };
  form.onsubmit = (e) => { e.preventDefault(); go(0); };
  form.community.onchange = () => go(0);
  const offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
  $("#cm-prev", view).onclick = () => go(Math.max(0, offset - PAGE));
  $("#cm-next", view).onclick = () => go(offset + PAGE);
  $("#cm-log", view).onclick = (e) => captureClick(e, view, ctx);
  let chart = null;
  ctx.signal.addEventListener("abort", () => { chart?.dispose(); delete view.communityShown; });
  window.addEventListener("resize", () => chart?.resize(), {signal: ctx.signal});
  return guarded(async () => {
    const areas = await api("/api/areas", {signal: ctx.signal});
    const communities = areas.filter((a) => a.level === "community");
    if (!communities.length) {
      $("#cm-error", view).textContent = s.cm_none;
      return;
    }
    form.community.innerHTML = communities.map((a) =>
      `<option value="${esc(a.code)}" title="${esc(a.code)}">${esc(a.name)}</option>`).join("");
    const wanted = params.get("community");
    const community = communities.some((a) => a.code === wanted) ? wanted : communities[0].code;
    form.community.value = community;
    view.communityShown = community;
    view.communityReload = () => loadFigures(view, community, params, ctx, (c) => { chart = c; });
    await Promise.all([
      loadLog(view, community, params, offset, ctx),
      view.communityReload(),
    ]);
  }, (err) => { $("#cm-error", view).textContent = err.message; });
}

export function live(type, data, view) {
  if (type === "alarm" && data.community_code === view.communityShown) view.communityReload?.();
}

function logQuery(community, params, extra = {}) {
  const q = new URLSearchParams({community});
  for (const k of FILTERS) if (params.get(k)) q.set(k, params.get(k));
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return q;
}

function way(by) { return by ? esc(t().cm_ways[by] ?? by) : "—"; }
function evName(ev) { return `<span title="${esc(ev)}">${esc(t().cm_events[ev] ?? ev)}</span>`; }

async function loadLog(view, community, params, offset, ctx) {
  const s = t();
  const page = await api("/api/v1/access/log?" +
    logQuery(community, params, {offset, limit: PAGE}), {signal: ctx.signal});
  $("#cm-total", view).textContent = s.cm_total(page.total);
  $("#cm-prev", view).disabled = offset <= 0;
  $("#cm-next", view).disabled = offset + PAGE >= page.total;
  $("#cm-log", view).innerHTML = `<thead><tr><th>${s.cm_time}</th><th>${s.cm_kind}</th>
    <th>${s.cm_door}</th><th>${s.cm_direction}</th><th>${s.cm_by}</th><th>${s.cm_person}</th>
    <th>${s.cm_plate}</th><th>${s.cm_device}</th><th>${s.cm_capture}</th></tr></thead><tbody>` +
    page.items.map((e) => `<tr class="${e.is_alarm ? "cm-alarm" : ""}" data-id="${e.id}">
      <td>${fmt(e.captured_at)}${e.historical ? ` <span class="badge">${s.cm_historical}</span>` : ""}</td>
      <td>${evName(e.ev)}${e.reason ? ` <span class="muted">${esc(e.reason)}</span>` : ""}</td>
      <td>${esc(e.door ?? "—")}</td>
      <td>${e.direction ? esc(e.direction === "in" ? s.cm_in : s.cm_out) : "—"}</td>
      <td>${way(e.by)}</td><td>${esc(e.person_id ?? "—")}</td><td>${esc(e.plate ?? "—")}</td>
      <td>${esc(e.device_id)}</td>
      <td>${e.blob_sha256 ? `<button type="button" class="cm-capture"
        data-sha="${esc(e.blob_sha256)}">${s.cm_view}</button>` : "—"}</td></tr>`).join("") +
    (page.items.length ? "" : `<tr><td colspan="9" class="muted">${s.cm_empty}</td></tr>`) +
    "</tbody>";
}

// A capture: a reason first (5..500 characters, audited by the hub), then the bytes from the
// audited endpoint, shown from memory (blob: URL), never a plain <img src="/api/...">.
function captureClick(e, view, ctx) {
  const button = e.target.closest("button.cm-capture");
  if (!button) return;
  const s = t();
  const cell = button.parentElement;
  cell.innerHTML = `<form class="cm-reason"><input name="reason" minlength="5" maxlength="500"
    required placeholder="${esc(s.cm_reason)}" aria-label="${esc(s.cm_reason)}">
    <button>${s.cm_show}</button><span class="error"></span></form>`;
  const form = cell.querySelector("form");
  form.reason.focus();
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const url = `/api/v1/access/captures/${encodeURIComponent(button.dataset.sha)}/content?` +
      new URLSearchParams({reason: form.reason.value});
    guarded(async () => {
      const res = await fetch(url, {credentials: "same-origin", cache: "no-store",
        signal: ctx.signal});
      if (!res.ok) {
        const body = await res.json().catch(() => ({message: res.statusText}));
        throw new Error(body.message || res.statusText);
      }
      const img = new Image();
      img.className = "cm-shot";
      img.alt = s.cm_capture;
      img.src = URL.createObjectURL(await res.blob());
      ctx.signal.addEventListener("abort", () => URL.revokeObjectURL(img.src));
      cell.replaceChildren(img);
    }, (err) => { form.querySelector(".error").textContent = err.message; });
  };
}

async function loadFigures(view, community, params, ctx, keep) {
  const s = t();
  const range = new URLSearchParams();
  if (params.get("since")) range.set("since", params.get("since"));
  if (params.get("until")) range.set("until", params.get("until"));
  const [fig, alarms] = await Promise.all([
    api(`/api/v1/access/communities/${encodeURIComponent(community)}/figures?${range}`,
      {signal: ctx.signal}),
    api("/api/v1/access/log?" + logQuery(community, params, {alarms_only: "true", limit: 20}),
      {signal: ctx.signal}),
  ]);
  $("#cm-range", view).textContent = `${fmt(fig.since)} – ${fmt(fig.until)}`;
  $("#cm-inside", view).innerHTML = `<thead><tr><th>${s.cm_plate}</th><th>${s.cm_since_at}</th>
    <th>${s.cm_door}</th><th>${s.cm_person}</th></tr></thead><tbody>` +
    (fig.vehicles_inside.map((v) => `<tr><td>${esc(v.plate)}</td><td>${fmt(v.since)}</td>
      <td>${esc(v.door ?? "—")}</td><td>${esc(v.person_id ?? "—")}</td></tr>`).join("") ||
      `<tr><td colspan="4" class="muted">${s.cm_empty}</td></tr>`) + "</tbody>";
  $("#cm-alarms", view).innerHTML = alarms.items.map((a) => `<li class="cm-alarm">
      ${evName(a.ev)} · ${esc(a.door ?? "")} · <span class="muted">${fmt(a.captured_at)}
      ${esc(a.device_id)}</span></li>`).join("") || `<li class="muted">${s.cm_empty}</li>`;
  await loadScript("echarts/echarts.min.js");
  const el = $("#cm-chart", view);
  if (!el || ctx.signal.aborted) return;
  const chart = window.echarts.getInstanceByDom(el) ??
    window.echarts.init(el, null, {renderer: "canvas", locale: state.lang === "zh" ? "ZH" : "EN"});
  keep(chart);
  // every hour of the range on the axis, the empty ones too
  const byHour = new Map(fig.hours.map((h) => [new Date(h.hour).getTime(), h]));
  const slots = [];
  const HOUR = 3600000;
  for (let at = Math.floor(new Date(fig.since).getTime() / HOUR) * HOUR;
    at < new Date(fig.until).getTime() && slots.length < 800; at += HOUR) slots.push(at);
  const hours = slots.map((at) => new Date(at).toLocaleString(
    state.lang === "zh" ? "zh-CN" : "en-GB", {month: "numeric", day: "numeric", hour: "2-digit"}));
  const series = [["people_in", "#1d3557"], ["people_out", "#457b9d"],
    ["vehicles_in", "#2a9d8f"], ["vehicles_out", "#e9c46a"]].map(([key, color]) => ({
    name: s["cm_" + key], type: "bar", itemStyle: {color},
    data: slots.map((at) => byHour.get(at)?.[key] ?? 0),
  }));
  chart.setOption({
    animation: false,
    textStyle: {fontFamily: getComputedStyle(document.documentElement).fontFamily},
    tooltip: {trigger: "axis"}, legend: {top: 0},
    grid: {left: 40, right: 15, top: 35, bottom: 30},
    xAxis: {type: "category", data: hours}, yAxis: {type: "value", minInterval: 1},
    series,
  }, true);
}

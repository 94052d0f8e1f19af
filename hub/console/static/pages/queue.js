// The case queue (#/cases): status chips with counts, filters, search, sort and paging over
// /api/cases; the whole state lives in the hash (#/cases?status=filed&page=3), so a reload
// and the back button keep it. Overdue rows are red, near-deadline rows amber (the hub's
// `near_deadline`: the supervision warning point, warn_before_deadline_ratio of the time from
// dispatch to deadline, has passed). Live "case" and "transition" events reload the page on
// screen (at most every 500 ms); a new case is marked for a few seconds.
"use strict";

import {$, api, esc, fmt, guarded, loadNames, named, nameOf, t} from "../core.js";

export const route = "cases";
export const navKey = "nav_cases";
export const text = {
  zh: {nav_cases: "案件", q_all_statuses: "全部", q_any_level: "全部层级",
    q_any_unit: "全部处置单位", q_any_grid: "全部网格", q_any_category: "全部类别",
    q_any_source: "全部来源", q_overdue_only: "仅超期", q_near_only: "仅临期", q_filter: "筛选",
    q_reset: "重置", q_status: "状态", q_category: "类别", q_grid: "网格", q_level: "层级",
    q_unit: "处置单位", q_content: "内容", q_reported: "上报时间", q_deadline: "处置时限",
    q_search: "搜索内容、网格、上报人或编号", q_reported_from: "上报日期从", q_reported_to: "至",
    q_sort_label: "排序", q_page_size: "每页", q_prev: "上一页", q_next: "下一页",
    q_overdue_tag: "已超期", q_near_tag: "临期", q_one_key: "一键上报", q_no_cases: "没有符合条件的案件。",
    q_sorts: {urgency: "紧急程度", newest: "最新上报", deadline: "处置时限", id: "案件编号"},
    q_sources: {report: "网格员上报", operator: "值班员录入", hotline: "热线", alarm: "门禁告警"},
    q_legend: "红色：已超期；琥珀色：临期（已过督办预警点，默认为处置时限的 75%）。",
    q_cases: (n) => `共 ${n} 件案件`, q_page_of: (p, n) => `第 ${p} / ${n} 页`},
  en: {nav_cases: "Cases", q_all_statuses: "all", q_any_level: "any level",
    q_any_unit: "any unit", q_any_grid: "any grid", q_any_category: "any category", q_any_source: "any source",
    q_overdue_only: "overdue only", q_near_only: "near deadline only", q_filter: "Filter",
    q_reset: "Reset", q_status: "status", q_category: "category", q_grid: "grid",
    q_level: "level", q_unit: "unit", q_content: "report", q_reported: "reported", q_deadline: "deadline",
    q_search: "Search text, grid, reporter or number", q_reported_from: "reported from",
    q_reported_to: "to", q_sort_label: "sort", q_page_size: "per page", q_prev: "Previous",
    q_next: "Next", q_overdue_tag: "overdue", q_near_tag: "near deadline",
    q_one_key: "one-key",
    q_no_cases: "No case matches.",
    q_sorts: {urgency: "urgency", newest: "newest", deadline: "deadline", id: "case number"},
    q_sources: {report: "grid worker", operator: "operator", hotline: "hotline",
      alarm: "gate alarm"},
    q_legend: "Red: overdue; amber: near the deadline (past the supervision warning point, " +
      "by default 75 % of the time limit).",
    q_cases: (n) => `${n} case(s)`, q_page_of: (p, n) => `page ${p} of ${n}`},
};

const FIELDS = ["q", "level", "unit_id", "grid", "category", "source", "reported_from",
  "reported_to", "sort", "limit"];
const CHECKS = ["overdue", "near_deadline"];
const SIZES = ["20", "50", "100"];
const RELOAD_MS = 500, FRESH_MS = 6000;

let current = null;  // {view, params, ctx, fresh: Map(id -> until), timer, last}

const hashOf = (params) => `#/${route}` + (String(params) ? `?${params}` : "");

function withParam(params, key, value) {
  const next = new URLSearchParams(params);
  if (value === null || value === "") next.delete(key); else next.set(key, value);
  return next;
}

export function render(view, {params}, ctx) {
  const s = t();
  current = {view, params, ctx, fresh: current?.fresh ?? new Map(), timer: null, last: 0};
  view.innerHTML = `<section class="queue">
    <div id="chips" class="chips" role="group" aria-label="${esc(s.q_status)}"></div>
    <form id="filters" class="filters">
      <input type="search" name="q" maxlength="200" placeholder="${esc(s.q_search)}">
      <select name="level"><option value="">${esc(s.q_any_level)}</option></select>
      <select name="unit_id"><option value="">${esc(s.q_any_unit)}</option></select>
      <select name="grid"><option value="">${esc(s.q_any_grid)}</option></select>
      <select name="category"><option value="">${esc(s.q_any_category)}</option></select>
      <select name="source"><option value="">${esc(s.q_any_source)}</option></select>
      <label class="dates">${esc(s.q_reported_from)} <input type="date" name="reported_from">
        ${esc(s.q_reported_to)} <input type="date" name="reported_to"></label>
      <label><input type="checkbox" name="overdue" value="true"> ${esc(s.q_overdue_only)}</label>
      <label><input type="checkbox" name="near_deadline" value="true"> ${esc(s.q_near_only)}</label>
      <label>${esc(s.q_sort_label)} <select name="sort"></select></label>
      <label>${esc(s.q_page_size)} <select name="limit"></select></label>
      <button type="submit">${esc(s.q_filter)}</button>
      <button type="button" id="reset">${esc(s.q_reset)}</button>
    </form>
    <p id="summary" class="muted"></p>
    <table class="queue-table">
      <thead><tr><th>#</th><th>${esc(s.q_status)}</th><th>${esc(s.q_content)}</th>
        <th>${esc(s.q_category)}</th>
        <th>${esc(s.q_grid)}</th><th class="wide">${esc(s.q_unit)}</th>
        <th class="wide">${esc(s.q_level)}</th><th class="wide">${esc(s.q_reported)}</th>
        <th>${esc(s.q_deadline)}</th></tr></thead>
      <tbody id="cases"></tbody>
    </table>
    <nav id="pager" class="pager" aria-label="pages"></nav>
    <p class="legend muted">${esc(s.q_legend)}</p></section>`;
  const form = $("#filters", view);
  for (const [code, name] of Object.entries(s.levels)) form.level.append(new Option(name, code));
  for (const [code, name] of Object.entries(s.q_sources)) form.source.append(new Option(name, code));
  for (const [code, name] of Object.entries(s.q_sorts)) form.sort.append(new Option(name, code));
  for (const size of SIZES) form.limit.append(new Option(size, size));
  form.limit.value = "50";
  fillPickers(form, params);
  for (const key of FIELDS) if (params.has(key) && form[key].tagName !== "SELECT") {
    form[key].value = params.get(key);
  }
  for (const key of CHECKS) form[key].checked = params.get(key) === "true";
  form.onsubmit = (e) => {
    e.preventDefault();
    const query = new URLSearchParams();
    for (const status of params.getAll("status")) query.append("status", status);
    for (const key of FIELDS) if (form[key].value) query.set(key, form[key].value.trim());
    if (query.get("sort") === "urgency") query.delete("sort");
    if (query.get("limit") === "50") query.delete("limit");
    for (const key of CHECKS) if (form[key].checked) query.set(key, "true");
    ctx.navigate(hashOf(query));  // a new filter starts at page 1
  };
  $("#reset", view).onclick = () => ctx.navigate(hashOf(new URLSearchParams()));
  $("#chips", view).onclick = (e) => {
    const chip = e.target.closest("button[data-status]");
    if (!chip) return;
    const chosen = new Set(params.getAll("status"));
    const code = chip.dataset.status;
    if (!code) chosen.clear(); else if (chosen.has(code)) chosen.delete(code); else chosen.add(code);
    const next = new URLSearchParams(params);
    next.delete("status");
    next.delete("page");
    for (const status of chosen) next.append("status", status);
    ctx.navigate(hashOf(next));
  };
  $("#cases", view).onclick = (e) => {
    const row = e.target.closest("tr.case");
    if (row) ctx.navigate(`#/${route}/${row.dataset.id}`);
  };
  load();
}

/** The unit, grid and category pickers, by name, from the session's name tables. */
function fillPickers(form, params) {
  const pickers = {unit_id: ["unit", "id"], grid: ["grid", "code"], category: ["category", "code"]};
  const fill = (names) => {
    for (const [field, [kind, key]] of Object.entries(pickers)) {
      const rows = [...(names?.[kind]?.values() ?? [])]
        .sort((a, b) => String(a.name).localeCompare(String(b.name), "zh-CN"));
      for (const row of rows) {
        const option = new Option(row.name, row[key]);
        option.title = String(row[key]);
        form[field].append(option);
      }
      const wanted = params.get(field);
      if (wanted && ![...form[field].options].some((o) => o.value === wanted)) {
        form[field].append(new Option(wanted, wanted));  // a code the tables do not name
      }
    }
    for (const field of ["level", "source", "sort", "limit", ...Object.keys(pickers)]) {
      if (params.has(field)) form[field].value = params.get(field);
    }
  };
  loadNames().then(fill, () => fill(null));
}

function chips(view, params, counts) {
  const s = t();
  const chosen = new Set(params.getAll("status"));
  const all = Object.values(counts).reduce((a, b) => a + b, 0);
  const chip = (code, label, n, on) => `<button type="button" class="chip${on ? " on" : ""}"
    data-status="${esc(code)}" aria-pressed="${on}" title="${esc(code)}">${esc(label)}
    <span class="count">${n}</span></button>`;
  $("#chips", view).innerHTML = chip("", s.q_all_statuses, all, chosen.size === 0) +
    Object.entries(s.statuses).map(([code, name]) =>
      chip(code, name, counts[code] ?? 0, chosen.has(code))).join("");
}

function pager(view, params, page) {
  const s = t();
  const link = (n, label, cls = "") =>
    `<a href="${esc(hashOf(withParam(params, "page", n === 1 ? null : String(n))))}"
      class="${cls}" data-page="${n}">${esc(label)}</a>`;
  const parts = [];
  const {page: at, pages} = page;
  if (at > 1) parts.push(link(at - 1, s.q_prev, "prev"));
  const shown = new Set([1, pages, at - 2, at - 1, at, at + 1, at + 2]);
  let gap = false;
  for (let n = 1; n <= pages; n++) {
    if (!shown.has(n)) { if (!gap) parts.push(`<span class="gap">…</span>`); gap = true; continue; }
    gap = false;
    parts.push(n === at ? `<span class="current" aria-current="page">${n}</span>` : link(n, n));
  }
  if (at < pages) parts.push(link(at + 1, s.q_next, "next"));
  parts.push(`<span class="muted">${esc(s.q_page_of(at, pages))}</span>`);
  $("#pager", view).innerHTML = parts.join("");
}

function row(c, fresh) {
  const s = t();
  const cls = ["case", c.overdue ? "overdue-row" : "", c.near_deadline ? "near-row" : "",
    fresh ? "fresh" : ""].filter(Boolean).join(" ");
  const tag = c.overdue ? `<span class="tag overdue">${esc(s.q_overdue_tag)}</span>`
    : c.near_deadline ? `<span class="tag near">${esc(s.q_near_tag)}</span>` : "";
  return `<tr class="${cls}" data-id="${c.id}">
    <td>${c.id}</td><td><span class="badge status-${esc(c.status)}">${named("statuses", c.status)}</span></td>
    <td class="text" title="${esc(c.text)}">${c.one_key
      ? `<span class="tag one-key">${esc(s.q_one_key)}</span> ` : ""}${esc(c.text)}</td>
    <td>${nameOf("category", c.category_code)}</td><td>${nameOf("grid", c.grid_code)}</td>
    <td class="wide">${nameOf("unit", c.unit_id)}</td><td class="wide">${named("levels", c.level)}</td>
    <td class="wide">${esc(fmt(c.reported_at))}</td>
    <td class="deadline">${esc(fmt(c.deadline_at))} ${tag}</td></tr>`;
}

function query(params) {
  const query = new URLSearchParams(params);
  for (const [key, value] of [...query]) if (value === "") query.delete(key);
  return query;
}

function load() {
  const {view, params, ctx} = current;
  current.last = Date.now();
  return guarded(async () => {
    const page = await api("/api/cases?" + query(params), {signal: ctx.signal});
    if (current?.view !== view || ctx.signal.aborted) return;
    const now = Date.now();
    for (const [id, until] of current.fresh) if (until < now) current.fresh.delete(id);
    $("#summary", view).textContent = t().q_cases(page.total);
    chips(view, params, page.counts);
    $("#cases", view).innerHTML = page.items.length
      ? page.items.map((c) => row(c, current.fresh.has(c.id))).join("")
      : `<tr class="empty"><td colspan="9" class="muted">${esc(t().q_no_cases)}</td></tr>`;
    pager(view, params, page);
  }, (err) => {
    $("#summary", view).innerHTML = `<span class="error">${esc(err.message)}</span>`;
  });
}

/** Live events: reload the page on screen (at most every 500 ms), mark a new case. */
export function live(type, data, view, ctx) {
  if (!current || current.view !== view || ctx.signal.aborted) return;
  if (type !== "case" && type !== "transition") return;
  if (type === "case" && data?.id) current.fresh.set(data.id, Date.now() + FRESH_MS);
  if (current.timer) return;
  const wait = Math.max(0, current.last + RELOAD_MS - Date.now());
  const mine = current;
  mine.timer = setTimeout(() => {
    mine.timer = null;
    if (current === mine && !ctx.signal.aborted) load();
  }, wait);
  ctx.signal.addEventListener("abort", () => clearTimeout(mine.timer), {once: true});
}

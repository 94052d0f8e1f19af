// The dashboard (#/dashboard?month=2026-01): the figures of the month's cases inside the
// session's area (/api/stats/board), cases by status and by level, the areas one level down,
// unit performance (/api/stats/units) and the grid workers' monthly assessment, ranked
// (/api/stats/workers, the top 100 on screen); ECharts charts (vendored, loaded on demand); each table downloadable
// as CSV or XLSX (/api/stats/{table}/export, the session cookie, no token in the link).
// A new case or a transition refreshes the figures (at most every 3 s).
"use strict";

import {$, api, esc, guarded, loadScript, named, nameOf, state, t} from "../core.js";

export const route = "dashboard";
export const navKey = "nav_dashboard";
export const text = {
  zh: {nav_dashboard: "统计", db_month: "月份", db_total: "案件总数", db_open: "未结案",
    db_overdue: "超期", db_on_time: "按期结案率", db_rework: "返工", db_satisfaction: "满意度",
    db_escalations: "升级", db_closed: "已结案", db_by_status: "按状态", db_by_level: "按层级",
    db_units_chart: "处置单位按期结案率", db_areas: "区域统计", db_area: "区域",
    db_workers: "网格员月度考核排名", db_units: "处置单位绩效", db_rank: "排名",
    db_worker: "网格员", db_reports: "上报", db_cases: "立案", db_verifications: "核查",
    db_online: "在线（小时）", db_unit: "处置单位", db_cases_n: "案件", db_none: "本月无数据",
    db_export: "导出", db_loading: "加载中…", db_all: "全部辖区",
    db_top: (n) => `前 ${n} 名，导出含全部`},
  en: {nav_dashboard: "Dashboard", db_month: "Month", db_total: "Cases", db_open: "Open",
    db_overdue: "Overdue", db_on_time: "On-time closure", db_rework: "Rework",
    db_satisfaction: "Satisfaction", db_escalations: "Escalations", db_closed: "Closed",
    db_by_status: "By status", db_by_level: "By level", db_units_chart: "Units: on-time rate",
    db_areas: "Areas", db_area: "Area", db_workers: "Grid workers: monthly ranking",
    db_units: "Unit performance", db_rank: "Rank", db_worker: "Grid worker",
    db_reports: "Reports", db_cases: "Filed", db_verifications: "Verifications",
    db_online: "Online (h)", db_unit: "Unit", db_cases_n: "Cases", db_none: "No data this month",
    db_export: "Export", db_loading: "Loading…", db_all: "All areas",
    db_top: (n) => `top ${n}; the exports hold everyone`},
};

const WORKER_ROWS = 100;  // the top of the ranking on screen; the exports hold every worker
const pct = (v) => v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`;
const num = (v) => v === null || v === undefined ? "—" : String(v);
const thisMonth = () => new Date().toISOString().slice(0, 7);

function exportLinks(table, month) {
  const q = (f) => `/api/stats/${table}/export?month=${encodeURIComponent(month)}&format=${f}`;
  return `<span class="db-export">${t().db_export}
    <a class="button" data-export="${table}-csv" href="${q("csv")}" download>CSV</a>
    <a class="button" data-export="${table}-xlsx" href="${q("xlsx")}" download>XLSX</a></span>`;
}

export function render(view, {params}, ctx) {
  const s = t();
  const month = /^\d{4}-\d{2}$/.test(params.get("month") || "") ? params.get("month") : thisMonth();
  view.innerHTML = `<section class="board">
    <form id="board-month" class="db-controls">
      <label>${s.db_month} <input type="month" name="month" value="${esc(month)}" required></label>
      <span id="board-scope" class="muted"></span>
    </form>
    <p id="board-error" class="error" role="alert"></p>
    <div id="board-cards" class="db-cards"></div>
    <div class="db-charts">
      <figure><figcaption>${s.db_by_status}</figcaption><div id="chart-status" class="db-chart"></div></figure>
      <figure><figcaption>${s.db_by_level}</figcaption><div id="chart-level" class="db-chart"></div></figure>
      <figure><figcaption>${s.db_units_chart}</figcaption><div id="chart-units" class="db-chart"></div></figure>
    </div>
    <h3>${s.db_areas} ${exportLinks("board", month)}</h3>
    <div class="db-table"><table id="board-areas"></table></div>
    <h3>${s.db_workers} <span class="muted db-note">${s.db_top(WORKER_ROWS)}</span>
      ${exportLinks("workers", month)}</h3>
    <div class="db-table"><table id="board-workers"></table></div>
    <h3>${s.db_units} ${exportLinks("units", month)}</h3>
    <div class="db-table"><table id="board-units"></table></div>
  </section>`;
  const form = $("#board-month", view);
  form.month.onchange = () => {
    if (/^\d{4}-\d{2}$/.test(form.month.value)) ctx.navigate(`#/${route}?month=${form.month.value}`);
  };
  form.onsubmit = (e) => e.preventDefault();
  const charts = [];
  ctx.signal.addEventListener("abort", () => {
    delete view.boardReload;
    charts.splice(0).forEach((c) => c.dispose());
  });
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()), {signal: ctx.signal});
  view.boardReload = () => load(view, month, ctx, charts);
  return view.boardReload();
}

let pending = null;
export function live(type, _data, view) {
  if ((type === "case" || type === "transition") && view.boardReload && !pending) {
    pending = setTimeout(() => { pending = null; view.boardReload?.(); }, 3000);
  }
}

function figuresRow(f, first) {
  return `<td>${first}</td><td>${f.total}</td><td>${f.open}</td>
    <td class="${f.overdue ? "overdue" : ""}">${f.overdue}</td><td>${f.closed}</td>
    <td>${pct(f.on_time_rate)}</td><td>${f.rework_count}</td><td>${num(f.satisfaction)}</td>`;
}

function figuresHead(first) {
  const s = t();
  return `<thead><tr><th>${first}</th><th>${s.db_cases_n}</th><th>${s.db_open}</th>
    <th>${s.db_overdue}</th><th>${s.db_closed}</th><th>${s.db_on_time}</th><th>${s.db_rework}</th>
    <th>${s.db_satisfaction}</th></tr></thead>`;
}

function load(view, month, ctx, charts) {
  const error = $("#board-error", view);
  return guarded(async () => {
    const q = `month=${encodeURIComponent(month)}`;
    const [board, workers, units] = await Promise.all([
      api(`/api/stats/board?${q}`, {signal: ctx.signal}),
      api(`/api/stats/workers?${q}&limit=${WORKER_ROWS}`, {signal: ctx.signal}),
      api(`/api/stats/units?${q}`, {signal: ctx.signal}),
    ]);
    const s = t();
    const f = board.figures;
    error.textContent = "";
    $("#board-scope", view).innerHTML = board.scope_code
      ? nameOf("area", board.scope_code) : esc(s.db_all);
    $("#board-cards", view).innerHTML = [
      ["total", s.db_total, f.total], ["open", s.db_open, f.open],
      ["overdue", s.db_overdue, f.overdue], ["on_time_rate", s.db_on_time, pct(f.on_time_rate)],
      ["rework_count", s.db_rework, f.rework_count],
      ["satisfaction", s.db_satisfaction, num(f.satisfaction)],
      ["escalations", s.db_escalations, f.escalations],
    ].map(([key, label, value]) => `<div class="db-card" data-figure="${key}">
      <span class="db-label">${label}</span><b>${esc(value)}</b></div>`).join("");
    $("#board-areas", view).innerHTML = figuresHead(s.db_area) + "<tbody>" +
      (f.children.map((c) => `<tr>${figuresRow(c, nameOf(c.level === "grid" ? "grid" : "area",
        c.code))}</tr>`).join("") || `<tr><td colspan="8" class="muted">${s.db_none}</td></tr>`) +
      "</tbody>";
    $("#board-workers", view).innerHTML = `<thead><tr><th>${s.db_rank}</th><th>${s.db_worker}</th>
      <th>${s.db_reports}</th><th>${s.db_cases}</th><th>${s.db_verifications}</th>
      <th>${s.db_online}</th></tr></thead><tbody>` + (workers.map((w) => `<tr
      data-worker="${esc(w.worker_id)}"><td>${w.rank}</td>
      <td><span class="named" title="${esc(w.worker_id)}">${esc(w.name)}</span></td>
      <td>${w.reports}</td><td>${w.cases}</td><td>${w.verifications}</td>
      <td>${(w.online_s / 3600).toFixed(1)}</td></tr>`).join("") ||
      `<tr><td colspan="6" class="muted">${s.db_none}</td></tr>`) + "</tbody>";
    $("#board-units", view).innerHTML = figuresHead(s.db_unit) + "<tbody>" +
      units.map((u) => `<tr data-unit="${esc(u.code)}">${figuresRow(u,
        `${nameOf("unit", u.code)} <span class="muted">${nameOf("area", u.level)}</span>`)}</tr>`)
        .join("") + "</tbody>";
    await drawCharts(view, board, units, charts);
  }, (err) => { error.textContent = err.message; });
}

async function drawCharts(view, board, units, charts) {
  await loadScript("echarts/echarts.min.js");
  const echarts = window.echarts;
  const s = t();
  const font = {fontFamily: getComputedStyle(document.documentElement).fontFamily};
  const make = (id, option) => {
    const el = $(id, view);
    if (!el) return;  // the page was left
    let chart = echarts.getInstanceByDom(el);
    if (!chart) {
      chart = echarts.init(el, null, {renderer: "canvas", locale: state.lang === "zh" ? "ZH" : "EN"});
      charts.push(chart);
    }
    chart.setOption({textStyle: font, animation: false, ...option}, true);
  };
  const statuses = Object.entries(board.by_status);
  make("#chart-status", {
    grid: {left: 90, right: 20, top: 10, bottom: 25},
    tooltip: {},
    xAxis: {type: "value", minInterval: 1},
    yAxis: {type: "category", data: statuses.map(([k]) => s.statuses[k] ?? k)},
    series: [{type: "bar", data: statuses.map(([, v]) => v), itemStyle: {color: "#1d3557"}}],
  });
  make("#chart-level", {
    tooltip: {trigger: "item"},
    series: [{type: "pie", radius: ["35%", "65%"],
      data: Object.entries(board.by_level).map(([k, v]) => ({name: s.levels[k] ?? k, value: v}))}],
  });
  const rated = units.filter((u) => u.on_time_rate !== null);
  make("#chart-units", {
    grid: {left: 40, right: 20, top: 10, bottom: 60},
    tooltip: {},
    xAxis: {type: "category", data: rated.map((u) => u.name),
      axisLabel: {rotate: 30, interval: 0, width: 90, overflow: "truncate"}},
    yAxis: {type: "value", max: 100, axisLabel: {formatter: "{value}%"}},
    series: [{type: "bar", data: rated.map((u) => +(u.on_time_rate * 100).toFixed(1)),
      itemStyle: {color: "#2a9d8f"}}],
  });
}

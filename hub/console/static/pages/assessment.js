// Assessment (#/assessment?month=2026-01): the month's ranking of grid workers per street and
// district (/api/assessment/ranking), the star ratings of grids and command centres
// (/api/assessment/stars), and, for a street or district reviewer, online inspection (网上巡查):
// the month's reports it has not judged, each judged qualified or unqualified with a reason
// (/api/assessment/inspections). Everything inside the session's area (docs/assessment.md).
"use strict";

import {$, $$, api, esc, fmt, guarded, nameOf, state, t} from "../core.js";

export const route = "assessment";
export const navKey = "nav_assessment";
export const text = {
  zh: {nav_assessment: "考核", as_month: "月份", as_ranking: "网格员月度排名",
    as_stars: "星级评定", as_centres: "指挥中心", as_grids: "网格", as_rank: "排名",
    as_worker: "网格员", as_score: "得分", as_reports: "上报", as_valid: "有效上报",
    as_visits: "走访", as_collections: "采集", as_verified: "按时核查", as_online: "在线（小时）",
    as_cases: "案件", as_on_time: "按期结案率", as_satisfaction: "满意度", as_star: "星级",
    as_none: "本月无数据", as_inspection: "网上巡查", as_reported: "上报时间",
    as_report: "上报内容", as_verdict: "结论", as_qualified: "合格", as_unqualified: "不合格",
    as_reason: "不合格原因", as_queue_empty: "本月上报均已巡查",
    as_not_reviewer: "网上巡查由街道、区级审核人员进行。",
    as_judged: (id) => `案件 #${id} 已巡查`},
  en: {nav_assessment: "Assessment", as_month: "Month", as_ranking: "Grid workers: monthly ranking",
    as_stars: "Star ratings", as_centres: "Command centres", as_grids: "Grids", as_rank: "Rank",
    as_worker: "Grid worker", as_score: "Score", as_reports: "Reports", as_valid: "Valid",
    as_visits: "Visits", as_collections: "Collections", as_verified: "Verified on time",
    as_online: "Online (h)", as_cases: "Cases", as_on_time: "On-time closure",
    as_satisfaction: "Satisfaction", as_star: "Stars", as_none: "No data this month",
    as_inspection: "Online inspection", as_reported: "Reported", as_report: "Report",
    as_verdict: "Verdict", as_qualified: "Qualified", as_unqualified: "Unqualified",
    as_reason: "Why unqualified", as_queue_empty: "Every report of the month is judged",
    as_not_reviewer: "Online inspection is done by street and district reviewers.",
    as_judged: (id) => `case #${id} judged`},
};

const thisMonth = () => new Date().toISOString().slice(0, 7);
const pct = (v) => v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`;
const num = (v) => v === null || v === undefined ? "—" : String(v);
const stars = (n) => n ? `<span class="as-stars" title="${n}">${"★".repeat(n)}${"☆".repeat(5 - n)}</span>` : "—";
// a reviewer's scope is a street (9 digits) or a district (6)
const reviewer = () => ["admin", "operator"].includes(state.session?.role) &&
  [6, 9].includes((state.session?.scope_code || "").length);

export function render(view, {params}, ctx) {
  const s = t();
  const month = /^\d{4}-\d{2}$/.test(params.get("month") || "") ? params.get("month") : thisMonth();
  view.innerHTML = `<section class="assessment">
    <form id="as-month" class="db-controls">
      <label>${s.as_month} <input type="month" name="month" value="${esc(month)}" required></label>
    </form>
    <p id="as-error" class="error" role="alert"></p>
    <h3>${s.as_ranking}</h3><div id="as-ranking"></div>
    <h3>${s.as_stars}</h3>
    <h4>${s.as_centres}</h4><div class="db-table"><table id="as-centres"></table></div>
    <h4>${s.as_grids}</h4><div class="db-table"><table id="as-grids"></table></div>
    <h3>${s.as_inspection}</h3><p id="as-status" class="muted" role="status"></p>
    <div class="db-table"><table id="as-queue"></table></div>
  </section>`;
  const form = $("#as-month", view);
  form.month.onchange = () => {
    if (/^\d{4}-\d{2}$/.test(form.month.value)) ctx.navigate(`#/${route}?month=${form.month.value}`);
  };
  form.onsubmit = (e) => e.preventDefault();
  return load(view, month, ctx);
}

function load(view, month, ctx) {
  const error = $("#as-error", view);
  return guarded(async () => {
    const q = `month=${encodeURIComponent(month)}`;
    const [ranking, rated, queue] = await Promise.all([
      api(`/api/assessment/ranking?${q}`, {signal: ctx.signal}),
      api(`/api/assessment/stars?period=${encodeURIComponent(month)}`, {signal: ctx.signal}),
      reviewer() ? api(`/api/assessment/inspections/queue?period=${encodeURIComponent(month)}`,
        {signal: ctx.signal}) : Promise.resolve(null),
    ]);
    error.textContent = "";
    $("#as-ranking", view).innerHTML = rankingTables(ranking);
    $("#as-centres", view).innerHTML = ratedTable(rated.centres, "area");
    $("#as-grids", view).innerHTML = ratedTable(rated.grids, "grid");
    showQueue(view, queue, month, ctx);
  }, (err) => { error.textContent = err.message; });
}

function rankingTables(ranking) {
  const s = t();
  const areas = [...ranking.districts, ...ranking.streets];
  if (!areas.length) return `<p class="muted">${s.as_none}</p>`;
  return areas.map((area) => `<h4>${nameOf("area", area.code)}
      <span class="muted">${esc(s.levels[area.level] ?? area.level)}</span></h4>
    <div class="db-table"><table data-ranking="${esc(area.code)}"><thead><tr>
      <th>${s.as_rank}</th><th>${s.as_worker}</th><th>${s.as_score}</th><th>${s.as_reports}</th>
      <th>${s.as_valid}</th><th>${s.as_visits}</th><th>${s.as_collections}</th>
      <th>${s.as_verified}</th><th>${s.as_online}</th></tr></thead><tbody>` +
    area.workers.map((w) => `<tr data-worker="${esc(w.worker_id)}"><td>${w.rank}</td>
      <td><span class="named" title="${esc(w.worker_id)}">${esc(w.name)}</span></td>
      <td data-field="score">${w.score.toFixed(2)}</td><td data-field="reports">${w.reports}</td>
      <td data-field="valid_reports">${w.valid_reports}</td><td data-field="visits">${w.visits}</td>
      <td data-field="collections">${w.collections}</td>
      <td data-field="verifications_on_time">${w.verifications_on_time}</td>
      <td>${(w.online_s / 3600).toFixed(1)}</td></tr>`).join("") +
    "</tbody></table></div>").join("");
}

function ratedTable(rows, kind) {
  const s = t();
  return `<thead><tr><th>${kind === "grid" ? s.as_grids : s.as_centres}</th><th>${s.as_cases}</th>
    <th>${s.as_on_time}</th><th>${s.as_satisfaction}</th><th>${s.as_score}</th>
    <th>${s.as_star}</th></tr></thead><tbody>` +
    (rows.map((r) => `<tr data-rated="${esc(r.code)}"><td>${nameOf(kind, r.code)}</td>
      <td>${r.cases}</td><td>${pct(r.on_time_rate)}</td><td>${num(r.satisfaction)}</td>
      <td>${num(r.score)}</td><td data-field="stars">${stars(r.stars)}</td></tr>`).join("") ||
    `<tr><td colspan="6" class="muted">${s.as_none}</td></tr>`) + "</tbody>";
}

function showQueue(view, queue, month, ctx) {
  const s = t();
  const table = $("#as-queue", view);
  const status = $("#as-status", view);
  if (queue === null) {
    status.textContent = s.as_not_reviewer;
    table.innerHTML = "";
    return;
  }
  status.textContent = queue.length ? "" : s.as_queue_empty;
  table.innerHTML = queue.length ? `<thead><tr><th>#</th><th>${s.as_worker}</th>
    <th>${s.as_grids}</th><th>${s.as_reported}</th><th>${s.as_report}</th>
    <th>${s.as_verdict}</th></tr></thead><tbody>` + queue.map((r) => `<tr
      data-case="${r.case_id}"><td><a href="#/cases/${r.case_id}">${r.case_id}</a></td>
      <td>${esc(r.worker_id)}</td><td>${nameOf("grid", r.grid_code)}</td>
      <td>${esc(fmt(r.reported_at))}</td><td class="as-text">${esc(r.text)}</td>
      <td class="as-verdict"><button type="button" data-verdict="qualified">${s.as_qualified}</button>
        <input name="reason" maxlength="2000" placeholder="${esc(s.as_reason)}"
          aria-label="${esc(s.as_reason)}">
        <button type="button" data-verdict="unqualified">${s.as_unqualified}</button></td>
    </tr>`).join("") + "</tbody>" : "";
  for (const button of $$("button[data-verdict]", table)) {
    button.onclick = () => {
      const row = button.closest("tr");
      const caseId = Number(row.dataset.case);
      const reason = $("input[name=reason]", row).value.trim();
      const body = {case_id: caseId, verdict: button.dataset.verdict};
      if (button.dataset.verdict === "unqualified") body.reason = reason;
      guarded(async () => {
        await api("/api/assessment/inspections", {method: "POST", body});
        await load(view, month, ctx);
        $("#as-status", view).textContent = s.as_judged(caseId);
      }, (err) => { $("#as-error", view).textContent = err.message; });
    };
  }
}

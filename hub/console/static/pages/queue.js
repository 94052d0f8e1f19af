// The case queue (#/cases): filters and the list of the cases the session may see.
"use strict";

import {$, api, esc, fmt, guarded, named, nameOf, t} from "../core.js";

export const route = "cases";
export const navKey = "nav_cases";
export const text = {
  zh: {nav_cases: "案件", any_status: "全部状态", any_level: "全部层级", overdue_only: "仅超期",
    filter: "筛选", status: "状态", category: "类别", grid: "网格", level: "层级",
    deadline: "处置时限", cases: (n) => `共 ${n} 件案件`},
  en: {nav_cases: "Cases", any_status: "any status", any_level: "any level",
    overdue_only: "overdue only", filter: "Filter", status: "status", category: "category",
    grid: "grid", level: "level", deadline: "deadline", cases: (n) => `${n} case(s)`},
};

export function render(view, {params}, ctx) {
  const s = t();
  view.innerHTML = `<section class="queue">
    <form id="filters">
      <select name="status"><option value="">${s.any_status}</option></select>
      <select name="level"><option value="">${s.any_level}</option></select>
      <label><input type="checkbox" name="overdue" value="true"> ${s.overdue_only}</label>
      <button>${s.filter}</button>
    </form>
    <p id="summary" class="muted"></p>
    <table>
      <thead><tr><th>#</th><th>${s.status}</th><th>${s.category}</th><th>${s.grid}</th>
        <th>${s.level}</th><th>${s.deadline}</th></tr></thead>
      <tbody id="cases"></tbody>
    </table></section>`;
  const form = $("#filters", view);
  for (const [code, name] of Object.entries(s.statuses)) form.status.append(new Option(name, code));
  for (const [code, name] of Object.entries(s.levels)) form.level.append(new Option(name, code));
  for (const [k, v] of params) if (form[k]) {
    if (form[k].type === "checkbox") form[k].checked = v === "true"; else form[k].value = v;
  }
  form.onsubmit = (e) => {
    e.preventDefault();
    const query = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) query.set(k, v);
    ctx.navigate(`#/${route}?${query}`);
  };
  $("#cases", view).onclick = (e) => {
    const row = e.target.closest("tr.case");
    if (row) ctx.navigate(`#/${route}/${row.dataset.id}`);
  };
  load(view, params, ctx);
}

function load(view, params, ctx) {
  return guarded(async () => {
    const page = await api("/api/cases?" + params, {signal: ctx.signal});
    $("#summary", view).textContent = t().cases(page.total);
    $("#cases", view).innerHTML = page.items.map((c) => `<tr class="case" data-id="${c.id}">
      <td>${c.id}</td><td><span class="badge">${named("statuses", c.status)}</span></td>
      <td>${nameOf("category", c.category_code)}</td><td>${nameOf("grid", c.grid_code)}</td>
      <td>${named("levels", c.level)}</td>
      <td class="${c.overdue ? "overdue" : ""}">${fmt(c.deadline_at)}</td></tr>`).join("");
  }, (err) => {
    $("#summary", view).innerHTML = `<span class="error">${esc(err.message)}</span>`;
  });
}

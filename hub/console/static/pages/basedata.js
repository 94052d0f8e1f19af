// The base-data page (#/basedata?q=&house_code=&purpose=): residents of the session's area
// from /api/basedata/residents, graded by the hub (分级准入: a field the account may not see
// comes as null and is named in `withheld`; the page shows it as withheld, it never had it),
// every read audited by the hub with the purpose typed here. The CSV export needs a reason
// (audited too) and is fetched, then saved from memory.
"use strict";

import {$, api, esc, fmt, guarded, nameOf, t} from "../core.js";

export const route = "basedata";
export const navKey = "nav_basedata";
export const roles = ["admin", "operator"];  // units read no base data (the nav leaves it out)
const FIELDS = ["name", "gender", "house_code", "grid_code", "phone", "id_number", "birth_date",
  "collected_by", "confirmed_at"];
export const text = {
  zh: {nav_basedata: "基础数据", bd_q: "姓名", bd_house: "房屋编码", bd_purpose: "查询用途（记入审计）",
    bd_search: "查询", bd_reason: "导出理由（记入审计）", bd_export: "导出 CSV", bd_none: "无记录",
    bd_withheld: "无权限", bd_grade: (f) => `本账号不显示：${f}`, bd_all: "本次查询显示全部字段",
    bd_exported: (n) => `已导出 ${n} 条`, bd_reason_needed: "导出需要填写理由",
    bd_cols: {name: "姓名", gender: "性别", house_code: "房屋", grid_code: "网格", phone: "电话",
      id_number: "公民身份号码", birth_date: "出生日期", collected_by: "采集人",
      confirmed_at: "最近采集"},
    bd_genders: {0: "未知", 1: "男", 2: "女", 9: "未说明"}},
  en: {nav_basedata: "Base data", bd_q: "Name", bd_house: "House code",
    bd_purpose: "Purpose (audited)", bd_search: "Search", bd_reason: "Export reason (audited)",
    bd_export: "Export CSV", bd_none: "No records", bd_withheld: "withheld",
    bd_grade: (f) => `Not shown to this account: ${f}`, bd_all: "Every field shown for this read",
    bd_exported: (n) => `${n} record(s) exported`, bd_reason_needed: "An export needs a reason",
    bd_cols: {name: "Name", gender: "Gender", house_code: "House", grid_code: "Grid",
      phone: "Phone", id_number: "ID number", birth_date: "Birth date",
      collected_by: "Collected by", confirmed_at: "Last collected"},
    bd_genders: {0: "unknown", 1: "male", 2: "female", 9: "unstated"}},
};

export function render(view, {params}, ctx) {
  const s = t();
  view.innerHTML = `<section class="basedata">
    <form id="bd-filters" class="bd-filters">
      <label>${s.bd_q} <input name="q" maxlength="60" size="10"></label>
      <label>${s.bd_house} <input name="house_code" maxlength="40" size="16"
        pattern="[A-Za-z0-9\\-]{4,40}"></label>
      <label>${s.bd_purpose} <input name="purpose" maxlength="500" size="18"></label>
      <button>${s.bd_search}</button>
    </form>
    <form id="bd-export" class="bd-filters">
      <label>${s.bd_reason} <input name="reason" maxlength="500" size="24"></label>
      <button>${s.bd_export}</button> <span id="bd-exported" class="muted"></span>
    </form>
    <p id="bd-error" class="error" role="alert"></p>
    <p id="bd-grade" class="muted"></p>
    <div class="bd-table"><table id="bd-residents"></table></div>
  </section>`;
  const form = $("#bd-filters", view);
  for (const k of ["q", "house_code", "purpose"]) form[k].value = params.get(k) || "";
  form.onsubmit = (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v.trim()) q.set(k, v.trim());
    ctx.navigate(`#/${route}?${q}`);
  };
  $("#bd-export", view).onsubmit = (e) => { e.preventDefault(); exportCsv(view, params, ctx); };
  const fail = (err) => { $("#bd-error", view).textContent = err.message; };
  return guarded(async () => {
    const q = new URLSearchParams();
    for (const k of ["q", "house_code", "purpose"]) if (params.get(k)) q.set(k, params.get(k));
    const rows = await api(`/api/basedata/residents?${q}`, {signal: ctx.signal});
    show(view, rows);
  }, fail);
}

function cell(row, field) {
  const s = t();
  if (row.withheld.includes(field)) return `<td class="withheld">${s.bd_withheld}</td>`;
  const v = row[field];
  if (field === "gender") return `<td>${esc(s.bd_genders[v] ?? v)}</td>`;
  if (field === "grid_code") return `<td>${nameOf("grid", v)}</td>`;
  if (field === "confirmed_at") return `<td>${esc(fmt(v))}</td>`;
  return `<td>${esc(v ?? "")}</td>`;
}

function show(view, rows) {
  const s = t();
  const withheld = rows.length ? rows[0].withheld : [];
  $("#bd-grade", view).textContent = withheld.length
    ? s.bd_grade(withheld.map((f) => s.bd_cols[f] ?? f).join("、")) : s.bd_all;
  const head = `<thead><tr>${FIELDS.map((f) => `<th>${s.bd_cols[f]}</th>`).join("")}</tr></thead>`;
  const body = rows.length
    ? rows.map((r) => `<tr>${FIELDS.map((f) => cell(r, f)).join("")}</tr>`).join("")
    : `<tr><td colspan="${FIELDS.length}">${s.bd_none}</td></tr>`;
  $("#bd-residents", view).innerHTML = `${head}<tbody>${body}</tbody>`;
}

async function exportCsv(view, params, ctx) {
  const s = t();
  const reason = $("#bd-export", view).reason.value.trim();
  const error = $("#bd-error", view);
  if (!reason) { error.textContent = s.bd_reason_needed; return; }
  const q = new URLSearchParams({reason});
  if (params.get("house_code")) q.set("house_code", params.get("house_code"));
  await guarded(async () => {
    const res = await fetch(`/api/basedata/residents/export.csv?${q}`,
      {credentials: "same-origin", cache: "no-store", signal: ctx.signal});
    if (!res.ok) {
      const body = await res.json().catch(() => ({message: res.statusText}));
      throw new Error(body.message);
    }
    const csv = await res.text();
    const link = Object.assign(document.createElement("a"), {download: "residents.csv",
      href: URL.createObjectURL(new Blob([csv], {type: "text/csv"}))});
    link.click();
    URL.revokeObjectURL(link.href);
    error.textContent = "";
    $("#bd-exported", view).textContent = s.bd_exported(Math.max(0, csv.trim().split("\n").length - 1));
  }, (err) => { error.textContent = err.message; });
}

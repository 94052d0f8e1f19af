// A case's page (#/cases/<id>): its record, timeline and media.
"use strict";

import {api, esc, fmt, guarded, named, nameOf, t} from "../core.js";

export const route = "case";
export const text = {
  zh: {case_n: (id) => `案件 ${id}`, timeline: "处置过程", media: "附件", none: "无",
    next: "可执行操作", reported: "上报", by: "上报人", unit: "处置单位", rework: "返工",
    satisfaction: "满意度", back: "返回列表"},
  en: {case_n: (id) => `Case ${id}`, timeline: "Timeline", media: "Media", none: "none",
    next: "Next", reported: "reported", by: "by", unit: "unit", rework: "rework",
    satisfaction: "satisfaction", back: "Back to the queue"},
};

export function render(view, {args}, ctx) {
  view.innerHTML = `<p><a href="#/cases">← ${t().back}</a></p><section id="detail"></section>`;
  const detail = view.querySelector("#detail");
  return guarded(async () => {
    const c = await api("/api/cases/" + encodeURIComponent(args[0]), {signal: ctx.signal});
    const s = t();
    detail.innerHTML = `<h2>${esc(s.case_n(c.id))}
        <span class="badge">${named("statuses", c.status)}</span></h2>
      <p>${esc(c.text)}</p>
      <p class="muted">${nameOf("category", c.category_code)} · ${s.grid}
        ${nameOf("grid", c.grid_code)} · ${named("levels", c.level)} · ${s.unit}
        ${nameOf("unit", c.unit_id)} · ${s.reported} ${fmt(c.reported_at)} · ${s.by}
        ${esc(c.reporter_worker_id)}
        ${c.deadline_at ? "· " + s.deadline + " " + fmt(c.deadline_at) : ""}
        ${c.rework_count ? "· " + s.rework + " " + c.rework_count : ""}
        ${c.satisfaction ? "· " + s.satisfaction + " " + c.satisfaction + "/5" : ""}</p>
      <h3>${s.timeline}</h3><ol>${c.timeline.map((e) => `<li><b>${esc(e.action)}</b>
        ${e.from_status ? named("statuses", e.from_status) + " → " : ""}
        ${named("statuses", e.to_status)}
        <span class="muted">${fmt(e.at)} · ${esc(e.actor)} · ${named("levels", e.level)}</span>
        ${e.reason ? "<br>" + esc(e.reason) : ""}</li>`).join("")}</ol>
      <h3>${s.media}</h3><ul>${c.media.map((m) => `<li>${esc(m.source)}: ${esc(m.mime)}
        <code>${esc(m.sha256.slice(0, 16))}…</code></li>`).join("") || `<li>${s.none}</li>`}</ul>
      <p class="muted">${s.next}: ${c.allowed_actions.map(esc).join(", ") || "—"}</p>`;
  }, (err) => { detail.innerHTML = `<p class="error">${esc(err.message)}</p>`; });
}

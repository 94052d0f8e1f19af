// A case's page (#/cases/<id>): the seven steps and the full audit timeline with every actor
// by name, the photos, audio and video, a map of the grid with the report and verification
// locations, and a button for each action the session's role may take now (each behind a
// confirmation dialog). Everything comes from GET /api/cases/<id> (hub/cases/detail.py); a
// refused load or action shows the hub's own message in one line.
"use strict";

import {api, esc, fmt, guarded, loadScript, named, nameOf, rowsOf, state, t} from "../core.js";

export const route = "case";
export const text = {
  zh: {case_n: (id) => `案件 ${id}`, steps: "七步闭环", timeline: "处置记录", media: "附件",
    none: "无", actions: "可执行操作", no_actions: "当前没有可执行的操作。", reported: "上报",
    by: "上报人", unit: "处置单位", rework: "返工", satisfaction: "满意度",
    back: "返回列表", deadline: "处置时限", overdue: "已超期", grid: "网格",
    step: {collect: "采集", file: "立案", dispatch: "派遣", handle: "处置", feedback: "反馈",
      verify: "核查结案", evaluate: "评价"},
    step_state: {done: "已完成", current: "进行中", todo: "未到达"},
    passes: (n) => `${n} 次`,
    action: {collect: "采集上报", file: "立案", void: "作废", dispatch: "派遣",
      accept: "签收处置", feedback: "处置反馈", request_verification: "发起核查",
      close: "核查结案", reject: "核查不通过", reopen: "退回返工", rate: "满意度评价",
      escalate: "上报升级", park: "挂账", supervise: "督办", warn: "临期预警",
      verify_refused: "核查证据不合格", verify_pending: "等待核查照片", callback: "热线回访",
      co_assign: "增加协办单位", co_feedback: "协办反馈", co_release: "解除协办",
      complaint: "群众投诉重办", return_visit: "回访", supervision_response: "督办答复",
      supervision_withdraw: "撤销督办", task: "下发任务", task_sent: "下发任务",
      task_answer: "任务回复"},
    actor: {worker: "网格员", device: "设备", system: "系统", supervision: "系统督办"},
    confirm: "确认", cancel: "取消", reason: "理由", reason_required: "理由（必填）",
    choose_unit: "处置单位", routed: "（按类别自动选定）", keep_unit: "按类别自动选定",
    category: "类别", void_reason: "作废原因", note: "说明", duplicate_of: "重复于案件号",
    void_reasons: {invalid: "无效", duplicate: "重复", out_of_scope: "不属于受理范围"},
    outcome: "回访结果", outcomes: {confirmed: "来电人确认已解决", not_fixed: "来电人称未解决（返工）",
      unreachable: "联系不上来电人"},
    feedback_text: "处置结果", score: "满意度（1–5）", comment: "评语", review_at: "复核日期",
    sup_level: "督办方式", sup_levels: {reminder: "提醒", rectification: "整改通知",
      public_notice: "通报", summons: "约谈", listed: "挂牌督办"},
    close_photos: "现场照片", close_text: "核查说明", lat: "纬度", lon: "经度",
    confirm_q: (a, id) => `确认对案件 ${id} 执行“${a}”？`,
    photo: "照片", audio: "录音", video: "视频", file: "文件", uploading: "上传中，尚未收齐",
    sensitive: "闸机人脸/车牌抓拍：仅可经审计接口查看", open_file: "下载",
    from: {report: "上报", feedback: "反馈", close: "结案", reject: "核查不通过",
      verify_refused: "核查", verify_pending: "核查", reopen: "返工"},
    map: "位置", no_location: "该案件没有位置信息，无法显示地图。",
    legend_grid: "本网格（中心点）", legend_grids: "本社区其他网格", legend_report: "上报位置",
    legend_verify: "核查位置", legend_boundary: (v) => `网格边界（第 ${v} 版）`,
    distance: (m) => `上报位置与核查位置相距 ${m} 米`,
    no_verify: "尚无现场核查位置。", map_failed: "地图无法加载。",
    enlarge: "点击放大", close_view: "关闭",
    one_key: "一键上报", notices: "联络员通知", no_notices: "尚未通知任何联络员。",
    reporter_check: {not_signed_in: "上报人未在该终端签到", not_on_grid: "上报人不属于该网格"},
    no_liaison: "该单位未设联络员", attempts: (n) => `尝试 ${n} 次`,
    notice_kinds: {one_key_report: "一键上报", dispatch: "派遣", escalation: "升级交办",
      deadline_warning: "临期预警", overdue: "超期", supervision: "督办", test: "测试"},
    notice_delivery: {pending: "待发送", delivered: "已送达", failed: "发送失败"},
    notice_channels: {webhook: "Webhook", email: "邮件"},
    hotline: "热线工单", ticket: "工单号", caller: "来电人", callback: "回访",
    callback_needed: "需回访，尚未回访", callback_none: "无需回访",
    units_h: "承办单位", lead: "主办", co: "协办",
    complaint_text: "投诉内容", channel: "渠道", visit_outcome: "回访结果",
    channels_in: {phone: "电话", hotline: "热线", web: "网站", app: "App", visit: "来访",
      other: "其他"},
    visit_outcomes: {satisfied: "满意", unsatisfied: "不满意", unreachable: "联系不上"},
    sup_h: "督办记录", sup_deadline: "答复期限（默认按督办方式）", sup_answer: "答复",
    tasks_h: "下发任务", task_title: "任务标题", task_text: "任务内容", task_deadline: "完成期限",
    task_images: "参考图片（网格员手持终端下载并核验）", task_seen: (n) => `已核验参考图 ${n} 张`,
    task_answer_h: "回复", task_status: {sent: "已发送", delivered: "已送达", accepted: "已接收",
      done: "已完成", cancelled: "已撤回"},
    sup_status: {open: "待答复", met: "已落实", escalated: "逾期升级", withdrawn: "已撤销",
      case_closed: "随案办结"}, sup_auto: "系统自动",
    unit_kinds: {territorial: "属地", functional: "属事"},
    part: {assigned: "待反馈", done: "已反馈", released: "已解除"}},
  en: {case_n: (id) => `Case ${id}`, steps: "Seven steps", timeline: "Audit timeline",
    media: "Media", none: "none", actions: "Actions", no_actions: "No action is open to you now.",
    reported: "reported", by: "reporter", unit: "unit", rework: "rework",
    satisfaction: "satisfaction", back: "Back to the queue", deadline: "deadline",
    overdue: "overdue", grid: "grid",
    step: {collect: "Collect", file: "File", dispatch: "Dispatch", handle: "Handle",
      feedback: "Feedback", verify: "Verify & close", evaluate: "Evaluate"},
    step_state: {done: "done", current: "in progress", todo: "not reached"},
    passes: (n) => `${n} times`,
    action: {collect: "Collected", file: "File", void: "Void", dispatch: "Dispatch",
      accept: "Accept", feedback: "Feedback", request_verification: "Request verification",
      close: "Close", reject: "Verification failed", reopen: "Send back (rework)",
      rate: "Rate", escalate: "Escalate", park: "Park", supervise: "Supervise",
      warn: "Deadline warning", verify_refused: "Verification evidence refused",
      verify_pending: "Waiting for verification photos", callback: "Hotline callback",
      co_assign: "Add a co-handling unit", co_feedback: "Co-handler's feedback",
      co_release: "Release a co-handler", complaint: "Resident's complaint (reopen)",
      return_visit: "Return visit", supervision_response: "Supervision answered",
      supervision_withdraw: "Supervision withdrawn", task: "Send a task",
      task_sent: "Task sent", task_answer: "Task answered"},
    actor: {worker: "grid worker", device: "device", system: "system",
      supervision: "supervision"},
    confirm: "Confirm", cancel: "Cancel", reason: "Reason", reason_required: "Reason (required)",
    choose_unit: "Unit", routed: " (routed by category)", keep_unit: "routed by category",
    category: "Category", void_reason: "Void reason", note: "Note",
    duplicate_of: "Duplicate of case no.",
    void_reasons: {invalid: "invalid", duplicate: "duplicate", out_of_scope: "out of scope"},
    outcome: "Callback outcome", outcomes: {confirmed: "the caller confirms it is solved",
      not_fixed: "the caller says it is not (rework)", unreachable: "the caller could not be reached"},
    feedback_text: "Result", score: "Satisfaction (1–5)", comment: "Comment",
    review_at: "Review date", sup_level: "Supervision",
    sup_levels: {reminder: "reminder", rectification: "rectification notice",
      public_notice: "public notice", summons: "summons", listed: "listed supervision"},
    close_photos: "On-site photos", close_text: "Verification note", lat: "Latitude",
    lon: "Longitude", confirm_q: (a, id) => `${a} case ${id}?`,
    photo: "photo", audio: "audio", video: "video", file: "file",
    uploading: "still uploading", sensitive: "gate face / plate capture: audited endpoint only",
    open_file: "download",
    from: {report: "report", feedback: "feedback", close: "closing", reject: "verification",
      verify_refused: "verification", verify_pending: "verification", reopen: "rework"},
    map: "Location", no_location: "This case has no location: no map to show.",
    legend_grid: "this grid (centre)", legend_grids: "other grids of the community",
    legend_report: "report location", legend_verify: "verification location",
    legend_boundary: (v) => `grid boundary (version ${v})`,
    distance: (m) => `${m} m between the report and the verification`,
    no_verify: "No on-site verification location yet.", map_failed: "The map cannot be loaded.",
    enlarge: "click to enlarge", close_view: "Close",
    one_key: "one-key report", notices: "Liaison notices",
    reporter_check: {not_signed_in: "reporter not signed in on the device",
      not_on_grid: "reporter not a worker of this grid"},
    no_notices: "No liaison has been notified yet.", no_liaison: "the unit has no liaison",
    attempts: (n) => `${n} attempt${n === 1 ? "" : "s"}`,
    notice_kinds: {one_key_report: "one-key report", dispatch: "dispatch", escalation: "escalation",
      deadline_warning: "deadline warning", overdue: "overdue", supervision: "supervision",
      test: "test"},
    notice_delivery: {pending: "pending", delivered: "delivered", failed: "failed"},
    notice_channels: {webhook: "webhook", email: "e-mail"},
    hotline: "Hotline work order", ticket: "ticket", caller: "caller", callback: "callback",
    callback_needed: "callback asked, not made yet", callback_none: "no callback asked",
    units_h: "Handling units", lead: "lead", co: "co-handler",
    complaint_text: "Complaint", channel: "Channel", visit_outcome: "Outcome",
    channels_in: {phone: "phone", hotline: "hotline", web: "web", app: "app",
      visit: "in person", other: "other"},
    visit_outcomes: {satisfied: "satisfied", unsatisfied: "not satisfied",
      unreachable: "unreachable"},
    sup_h: "Supervision", sup_deadline: "Answer by (default: by kind)", sup_answer: "answer",
    tasks_h: "Tasks to the field", task_title: "Title", task_text: "What to do",
    task_deadline: "Due by", task_images: "Reference images (the handheld fetches and checks them)",
    task_seen: (n) => `${n} reference image(s) checked`, task_answer_h: "answer",
    task_status: {sent: "sent", delivered: "delivered", accepted: "accepted", done: "done",
      cancelled: "withdrawn"},
    sup_status: {open: "open", met: "met", escalated: "escalated (deadline passed)",
      withdrawn: "withdrawn", case_closed: "ended with the case"}, sup_auto: "automatic",
    unit_kinds: {territorial: "territorial", functional: "functional"},
    part: {assigned: "feedback awaited", done: "feedback given", released: "released"}},
};

const maps = new WeakMap();  // view -> the Leaflet map on it (removed before a re-render)
const content = (m) => `/api/media/${encodeURIComponent(m.sha256)}/content`;
const label = (name, code) =>
  `<span class="named" title="${esc(code)}">${esc(name ?? code ?? "—")}</span>`;

/** An actor by name, its recorded id on hover. */
function actorHtml(a, raw) {
  const s = t();
  if (!a) return esc(raw);
  let shown;
  if (a.kind === "worker") shown = `${s.actor.worker} ${a.name}`;
  else if (a.kind === "device") shown = `${s.actor.device} ${a.name}` +
    (a.area_name ? ` · ${a.area_name}` : "");
  else if (a.kind === "system") shown = a.ref.endsWith(":supervision") ? s.actor.supervision
    : s.actor.system;
  else shown = a.name + (a.area_name ? ` · ${a.area_name}` : "");
  return `<span class="named actor" title="${esc(a.ref)}">${esc(shown)}</span>`;
}

// The body each action's dialog asks for: fields, and how the form becomes the JSON body.
const FIELDS = {
  file: (c) => [c.category_code ? null : {name: "category_code", kind: "category"},
    {name: "reason", kind: "textarea"}],
  void: () => [{name: "reason", kind: "void", label: "void_reason", required: true}, {name: "note", kind: "textarea"},
    {name: "duplicate_of", kind: "number"}],
  dispatch: (c) => [{name: "unit_id", kind: "units", units: c.dispatch_units, required: true},
    {name: "reason", kind: "textarea"}],
  accept: () => [{name: "reason", kind: "textarea"}],
  feedback: () => [{name: "text", kind: "textarea", label: "feedback_text", required: true}],
  request_verification: () => [],
  close: (c) => [{name: "blobs", kind: "photos", media: c.media},
    {name: "lat", kind: "coord"}, {name: "lon", kind: "coord"},
    {name: "text", kind: "textarea", label: "close_text"}],
  reopen: () => [{name: "reason", kind: "textarea", required: true}],
  rate: () => [{name: "score", kind: "score", required: true},
    {name: "comment", kind: "textarea"}],
  escalate: (c) => [{name: "unit_id", kind: "units", units: c.escalate_units, optional: true},
    {name: "reason", kind: "textarea", required: true}],
  park: () => [{name: "review_at", kind: "datetime", required: true},
    {name: "reason", kind: "textarea", required: true}],
  supervise: () => [{name: "level", kind: "sup", label: "sup_level", required: true},
    {name: "deadline_at", kind: "datetime", label: "sup_deadline"},
    {name: "reason", kind: "textarea"}],
  callback: () => [{name: "outcome", kind: "outcome", label: "outcome", required: true},
    {name: "note", kind: "textarea"}],
  complaint: () => [{name: "channel", kind: "choice", choices: "channels_in", label: "channel",
    required: true}, {name: "text", kind: "textarea", label: "complaint_text", required: true}],
  return_visit: () => [{name: "outcome", kind: "choice", choices: "visit_outcomes",
    label: "visit_outcome", required: true}, {name: "note", kind: "textarea"}],
  co_assign: (c) => [{name: "unit_id", kind: "units", units: c.co_assign_units, required: true},
    {name: "reason", kind: "textarea"}],
  co_feedback: (c) => [state.session?.role === "unit" ? null
    : {name: "unit_id", kind: "units", units: openParts(c), required: true},
    {name: "text", kind: "textarea", label: "feedback_text", required: true}],
  co_release: (c) => [{name: "unit_id", kind: "units", units: openParts(c), required: true},
    {name: "reason", kind: "textarea", required: true}],
  task: (c) => [{name: "title", kind: "text", label: "task_title", required: true},
    {name: "text", kind: "textarea", label: "task_text"},
    {name: "deadline_at", kind: "datetime", label: "task_deadline"},
    {name: "blobs", kind: "photos", media: c.media, label: "task_images"}],
};

/** Not a workflow step: a task to the grid's handheld (POST /api/tasks), for the centre. */
const mayTask = (c) => ["admin", "operator"].includes(state.session?.role) &&
  c.status !== "voided" && c.grid_code;

/** The co-handlers whose part is still awaited, as unit choices. */
const openParts = (c) => c.co_units.filter((u) => u.status === "assigned")
  .map((u) => ({id: u.unit_id, name: u.name, routed: false}));

function fieldHtml(f) {
  const s = t();
  const req = f.required ? " required" : "";
  // (t() answers a missing key with the key itself, so every name here has a text)
  const title = f.label ? s[f.label]
    : f.name === "reason" ? (f.required ? s.reason_required : s.reason) : s[f.name];
  const options = (pairs) => pairs.map(([v, n, sel]) =>
    `<option value="${esc(v)}"${sel ? " selected" : ""}>${esc(n)}</option>`).join("");
  let input;
  switch (f.kind) {
    case "textarea":
      input = `<textarea name="${f.name}" rows="3" maxlength="2000"${req}></textarea>`; break;
    case "text":
      input = `<input name="${f.name}" maxlength="200"${req}>`; break;
    case "number":
      input = `<input name="${f.name}" type="number" min="1" step="1">`; break;
    case "coord":
      input = `<input name="${f.name}" type="number" step="0.000001" inputmode="decimal">`; break;
    case "datetime": input = `<input name="${f.name}" type="datetime-local"${req}>`; break;
    case "score":
      input = `<select name="${f.name}"${req}>${options([5, 4, 3, 2, 1].map((n) => [n, n]))}
        </select>`; break;
    case "void": input = `<select name="reason"${req}>${options(Object.entries(s.void_reasons))}
        </select>`; break;
    case "sup": input = `<select name="level"${req}>${options(Object.entries(s.sup_levels))}
        </select>`; break;
    case "outcome": input = `<select name="outcome"${req}>${options(Object.entries(s.outcomes))}
        </select>`; break;
    case "choice": input = `<select name="${f.name}"${req}>${options(
        Object.entries(s[f.choices]))}</select>`; break;
    case "category": {
      const cats = rowsOf("category").filter((r) => r.active !== false)
        .map((r) => [r.code, r.name]);
      input = `<select name="category_code" required>${options(cats)}</select>`;
      return `<label><span>${s.category}</span>${input}</label>`;
    }
    case "units": {
      const pairs = (f.units || []).map((u) => [u.id, u.name + (u.routed ? s.routed : ""),
        u.routed]);
      if (f.optional) pairs.unshift(["", s.keep_unit, false]);
      input = `<select name="unit_id"${req}>${options(pairs)}</select>`;
      return `<label><span>${s.choose_unit}</span>${input}</label>`;
    }
    case "photos": {
      const photos = (f.media || []).filter((m) => m.kind === "image" && m.stored);
      if (!photos.length) return "";
      return `<fieldset><legend>${s[f.label ?? "close_photos"]}</legend>${photos.map((m) =>
        `<label class="pick"><input type="checkbox" name="blobs" value="${esc(m.sha256)}">
          <img src="${content(m)}" alt="${s.photo}"></label>`).join("")}</fieldset>`;
    }
    default: input = `<input name="${f.name}"${req}>`;
  }
  return `<label><span>${title}</span>${input}</label>`;
}

function bodyOf(action, form, c) {
  const data = new FormData(form);
  const get = (k) => { const v = data.get(k); return v === null || v === "" ? undefined : v; };
  switch (action) {
    case "request_verification": return undefined;
    case "file": return {reason: get("reason"), category_code: get("category_code")};
    case "void": return {reason: get("reason"), note: get("note"),
      duplicate_of: get("duplicate_of") ? Number(get("duplicate_of")) : undefined};
    case "dispatch": case "escalate":
      return {unit_id: get("unit_id") ? Number(get("unit_id")) : undefined,
        reason: get("reason")};
    case "feedback": return {text: get("text") ?? ""};
    case "close": {
      const picked = new Set(data.getAll("blobs"));
      const blobs = c.media.filter((m) => picked.has(m.sha256))
        .map((m) => ({sha256: m.sha256, size: m.size, mime: m.mime}));
      const lat = get("lat"), lon = get("lon");
      const loc = lat !== undefined && lon !== undefined
        ? {lat_e6: Math.round(Number(lat) * 1e6), lon_e6: Math.round(Number(lon) * 1e6)}
        : undefined;
      return {blobs, loc, text: get("text")};
    }
    case "rate": return {score: Number(get("score")), comment: get("comment")};
    case "park": return {reason: get("reason") ?? "",
      review_at: get("review_at") ? new Date(get("review_at")).toISOString() : undefined};
    case "supervise": return {level: get("level"), reason: get("reason"),
      deadline_at: get("deadline_at") ? new Date(get("deadline_at")).toISOString() : undefined};
    case "callback": return {outcome: get("outcome"), note: get("note")};
    case "co_assign": return {unit_ids: [Number(get("unit_id"))], reason: get("reason")};
    case "complaint": return {channel: get("channel"), text: get("text") ?? ""};
    case "return_visit": return {outcome: get("outcome"), note: get("note")};
    case "co_feedback": return {text: get("text") ?? "",
      unit_id: get("unit_id") ? Number(get("unit_id")) : undefined};
    case "co_release": return {unit_id: Number(get("unit_id")), reason: get("reason") ?? ""};
    case "task": return {case_id: c.id, title: get("title") ?? "", text: get("text") ?? "",
      images: data.getAll("blobs"),
      deadline_at: get("deadline_at") ? new Date(get("deadline_at")).toISOString() : undefined};
    default: return {reason: get("reason")};
  }
}

const renders = new WeakMap();  // view -> the number of its latest render

export function render(view, {args}, ctx) {
  const id = args[0];
  const seq = (renders.get(view) ?? 0) + 1;
  renders.set(view, seq);
  view.dataset.caseId = id;
  let detail = view.querySelector("#detail");
  if (!detail || view.dataset.shown !== id) {  // a re-render keeps the page until the answer
    view.innerHTML = `<p><a href="#/cases">← ${t().back}</a></p><section id="detail"></section>`;
    detail = view.querySelector("#detail");
    view.dataset.shown = id;
  }
  return guarded(async () => {
    const c = await api("/api/cases/" + encodeURIComponent(id), {signal: ctx.signal});
    if (renders.get(view) !== seq) return;  // a later render answers instead: never older data
    show(view, detail, c, ctx);
  }, (err) => {
    if (renders.get(view) !== seq) return;
    detail.innerHTML = `<p class="error" role="alert">${esc(err.message)}</p>`;
  });
}

/** A "transition" of this case re-renders it (after an open dialog closes); a burst of them
 *  (accept, feedback, verification, close within a second) is one re-render. */
export function live(type, data, view, ctx) {
  if (type !== "transition" || String(data?.case_id) !== view.dataset.caseId) return;
  const dialog = view.querySelector("dialog.act[open]");
  if (dialog) { dialog.dataset.stale = "1"; return; }
  clearTimeout(view.liveTimer);
  view.liveTimer = setTimeout(() => {
    if (!ctx.signal.aborted) render(view, {args: [view.dataset.caseId]}, ctx);
  }, 200);
}

function show(view, detail, c, ctx) {
  const s = t();
  maps.get(view)?.remove();
  maps.delete(view);
  detail.innerHTML = `<h2>${esc(s.case_n(c.id))}
      <span class="badge status-${esc(c.status)}">${named("statuses", c.status)}</span>
      ${c.overdue ? `<span class="badge overdue">${s.overdue}</span>` : ""}
      ${c.rework_count ? `<span class="badge rework">${s.rework} ×${c.rework_count}</span>` : ""}
      ${c.one_key ? `<span class="badge one-key">${s.one_key}</span>` : ""}
      ${s.reporter_check[c.reporter_check] ? `<span class="badge unchecked-reporter">` +
        `${s.reporter_check[c.reporter_check]}</span>` : ""}
    </h2>
    <p class="case-text">${esc(c.text)}</p>
    <p class="muted meta">${nameOf("category", c.category_code)} · ${s.grid}
      ${label(c.grid_name, c.grid_code)} · ${named("levels", c.level)} · ${s.unit}
      ${c.unit_id === null ? "—" : label(c.unit_name, c.unit_id)} · ${s.reported}
      ${fmt(c.reported_at)}${c.reporter_worker_id ? ` · ${s.by}
      ${label(c.reporter_name, c.reporter_worker_id)}` : ""}
      ${c.deadline_at ? `· ${s.deadline} <span class="${c.overdue ? "overdue" : ""}">` +
        `${fmt(c.deadline_at)}</span>` : ""}
      ${c.satisfaction ? `· ${s.satisfaction} ${c.satisfaction}/5` : ""}</p>
    <section class="case-actions" aria-label="${s.actions}">
      <h3>${s.actions}</h3>
      <div class="actions">${[...c.allowed_actions, ...(mayTask(c) ? ["task"] : [])].map((a) =>
        `<button type="button" data-action="${esc(a)}">${esc(s.action[a] ?? a)}</button>`)
        .join("") || `<p class="muted">${s.no_actions}</p>`}</div>
    </section>
    <div class="case-grid">
      <div class="case-main">
        <h3>${s.steps}</h3><ol class="steps">${c.steps.map(stepHtml).join("")}</ol>
        <h3>${s.media}</h3><div class="media">${c.media.map(mediaHtml).join("") ||
          `<p class="muted">${s.none}</p>`}</div>
        <h3>${s.timeline}</h3><ol class="timeline">${c.timeline.map(entryHtml).join("")}</ol>
        ${c.co_units.length ? unitsHtml(c) : ""}
        ${c.supervisions.length ? supervisionsHtml(c) : ""}
        ${c.hotline ? hotlineHtml(c.hotline) : ""}
        ${c.tasks?.length ? tasksHtml(c) : ""}
        <h3>${s.notices}</h3><ul class="notices">${(c.notifications ?? []).map(noticeHtml)
          .join("") || `<li class="muted">${s.no_notices}</li>`}</ul>
      </div>
      <aside class="case-side">
        <h3>${s.map}</h3><div id="case-map-box"></div>
      </aside>
    </div>
    <dialog class="act"><form method="dialog"><p class="q"></p><div class="fields"></div>
      <p class="error dialog-error" role="alert"></p>
      <menu><button type="submit" value="ok" class="primary">${s.confirm}</button>
        <button type="button" value="cancel" class="cancel">${s.cancel}</button></menu>
    </form></dialog>
    <dialog class="viewer"><img alt=""><form method="dialog">
      <button>${s.close_view}</button></form></dialog>`;
  for (const button of detail.querySelectorAll(".actions button")) {
    button.onclick = () => openAction(view, detail, c, button.dataset.action, ctx);
  }
  const viewer = detail.querySelector("dialog.viewer");
  for (const thumb of detail.querySelectorAll("img.thumb")) {
    thumb.onclick = () => { viewer.querySelector("img").src = thumb.src; viewer.showModal(); };
  }
  drawMap(view, detail.querySelector("#case-map-box"), c, ctx);
}

function stepHtml(st) {
  const s = t();
  return `<li class="step ${st.state}" data-step="${st.step}">
    <b>${esc(s.step[st.step])}</b>
    <span class="state">${esc(s.step_state[st.state])}${st.passes > 1
      ? ` · ${s.passes(st.passes)}` : ""}</span>
    ${st.at ? `<span class="when">${fmt(st.at)}</span>
      <span class="who">${actorHtml(st.actor_by)}</span>
      ${st.level ? `<span class="lvl">${named("levels", st.level)}${st.unit_name
        ? ` · ${esc(st.unit_name)}` : ""}</span>` : ""}
      ${st.reason ? `<span class="why">${esc(st.reason)}</span>` : ""}` : ""}</li>`;
}

function entryHtml(e) {
  const s = t();
  return `<li class="${e.rework ? "rework" : ""}${e.step ? "" : " record"}" data-id="${e.id}"
      data-action="${esc(e.action)}">
    <b>${esc(s.action[e.action] ?? e.action)}</b>
    ${e.from_status ? named("statuses", e.from_status) + " → " : ""}
    ${named("statuses", e.to_status)}
    <span class="muted">${fmt(e.at)} · ${actorHtml(e.actor_by, e.actor)}
      ${e.level ? " · " + named("levels", e.level) : ""}
      ${e.unit_name ? " · " + label(e.unit_name, e.unit_id) : ""}</span>
    ${e.reason ? `<br><span class="why">${esc(e.reason)}</span>` : ""}</li>`;
}

/** A multi-department case's units: the lead, then each co-handler with its part. */
function unitsHtml(c) {
  const s = t();
  const kind = (k) => esc(s.unit_kinds[k] ?? k ?? "");
  const lead = `<li class="lead"><b>${s.lead}</b> ${label(c.unit_name, c.unit_id)}
    <span class="muted">${kind(c.unit_kind)}</span></li>`;
  const co = c.co_units.map((u) => `<li class="co ${esc(u.status)}" data-unit="${u.unit_id}">
    <b>${s.co}</b> ${label(u.name, u.unit_id)} <span class="muted">${kind(u.kind)}</span> ·
    ${esc(s.part[u.status] ?? u.status)}${u.done_at ? ` ${fmt(u.done_at)}` : ""}
    ${u.feedback ? `<br><span class="why">${esc(u.feedback)}</span>` : ""}
    ${u.released_reason ? `<br><span class="why">${esc(u.released_reason)}</span>` : ""}</li>`);
  return `<h3>${s.units_h}</h3><ul class="units">${lead}${co.join("")}</ul>`;
}

/** The case's supervision notices (督办), each with its deadline, answer and end. */
function supervisionsHtml(c) {
  const s = t();
  return `<h3>${s.sup_h}</h3><ol class="supervisions">${c.supervisions.map((n) =>
    `<li class="sup ${esc(n.status)}" data-kind="${esc(n.kind)}">
      <b>${esc(s.sup_levels[n.kind] ?? n.kind)}</b> ${fmt(n.issued_at)}
      <span class="muted">${n.automatic ? s.sup_auto : esc(n.issued_by)} ·
        ${s.deadline} ${fmt(n.deadline_at)}</span> ·
      <b class="state">${esc(s.sup_status[n.status] ?? n.status)}</b>
      ${n.reason ? `<br><span class="why">${esc(n.reason)}</span>` : ""}
      ${n.response ? `<br>${s.sup_answer}: <span class="why">${esc(n.response)}</span>` : ""}
    </li>`).join("")}</ol>`;
}

/** The tasks sent to the grid's handheld about this case (下发任务) and their answers. */
function tasksHtml(c) {
  const s = t();
  return `<h3>${s.tasks_h}</h3><ol class="tasks">${c.tasks.map((k) =>
    `<li class="task ${esc(k.status)}" data-task="${esc(k.task_id)}">
      <b>${esc(k.title)}</b> ${fmt(k.created_at)} ·
      <b class="state">${esc(s.task_status[k.status] ?? k.status)}</b>
      ${k.deadline_at ? `<span class="muted">· ${s.deadline} ${fmt(k.deadline_at)}</span>` : ""}
      ${k.images.length ? `<br><span class="muted">${esc(s.task_seen(k.seen_images.length))}
        / ${k.images.length}</span>` : ""}
      ${k.answer_text ? `<br>${s.task_answer_h}: <span class="why">${esc(k.answer_text)}</span>`
        : ""}
    </li>`).join("")}</ol>`;
}

function hotlineHtml(h) {
  const s = t();
  const callback = h.callback_outcome
    ? `${esc(s.outcomes[h.callback_outcome] ?? h.callback_outcome)} · ${fmt(h.callback_at)}`
    : h.callback_required ? s.callback_needed : s.callback_none;
  return `<h3>${s.hotline}</h3><p class="hotline">${s.ticket} ${esc(h.ticket_id)} ·
    ${esc(h.channel)} · ${s.caller} ${esc(h.caller_name ?? "—")} ${esc(h.caller_phone ?? "")}
    · ${s.callback}: ${callback}</p>`;
}

/** One notice to the unit's liaisons: its kind, time, and how each delivery went. */
function noticeHtml(n) {
  const s = t();
  const deliveries = n.deliveries.map((d) => `<li class="delivery ${esc(d.status)}"
      title="${esc(d.last_error ?? "")}">${esc(s.notice_channels[d.channel] ?? d.channel)}
      ${esc(d.address)} · <b>${esc(s.notice_delivery[d.status] ?? d.status)}</b>
      ${d.delivered_at ? fmt(d.delivered_at) : ""} · ${s.attempts(d.attempts)}</li>`).join("");
  return `<li class="notice" data-kind="${esc(n.kind)}"><b>${esc(s.notice_kinds[n.kind] ?? n.kind)}</b>
    <span class="muted">${fmt(n.created_at)}</span>
    <ul>${deliveries || `<li class="muted">${s.no_liaison}</li>`}</ul></li>`;
}

function mediaHtml(m) {
  const s = t();
  const kind = {image: s.photo, audio: s.audio, video: s.video}[m.kind] ?? s.file;
  const from = `<span class="muted">${esc(s.from[m.source] ?? m.source)} · ${esc(kind)}</span>`;
  if (m.sensitive) return `<figure class="blocked">${from}<p>${s.sensitive}</p></figure>`;
  if (!m.stored) return `<figure class="blocked">${from}<p>${s.uploading}</p></figure>`;
  const src = content(m);
  let shown;
  if (m.kind === "image") {
    shown = `<img class="thumb" src="${src}" alt="${s.photo}" title="${s.enlarge}">`;
  } else if (m.kind === "audio") {
    shown = `<audio controls preload="metadata" src="${src}"></audio>`;
  } else if (m.kind === "video") {
    shown = `<video controls preload="metadata" src="${src}"></video>`;
  } else {
    shown = `<a href="${src}" download>${s.open_file} ${esc(m.mime)}</a>`;
  }
  return `<figure class="${m.kind}" data-sha="${esc(m.sha256)}">${shown}
    <figcaption>${from}</figcaption></figure>`;
}

function openAction(view, detail, c, action, ctx) {
  const s = t();
  const dialog = detail.querySelector("dialog.act");
  const form = dialog.querySelector("form");
  dialog.dataset.action = action;
  dialog.querySelector(".q").textContent = s.confirm_q(s.action[action] ?? action, c.id);
  dialog.querySelector(".fields").innerHTML =
    (FIELDS[action]?.(c) ?? []).filter(Boolean).map(fieldHtml).join("");
  const error = dialog.querySelector(".dialog-error");
  error.textContent = "";
  dialog.querySelector(".cancel").onclick = () => dialog.close();
  dialog.onclose = () => { if (dialog.dataset.stale) render(view, {args: [c.id]}, ctx); };
  form.onsubmit = (event) => {
    event.preventDefault();
    const submit = form.querySelector("button.primary");
    submit.disabled = true;
    error.textContent = "";
    guarded(async () => {
      const body = bodyOf(action, form, c);
      if (action === "task") {  // answers the task, not the case: the case is read again
        await api("/api/tasks", {method: "POST", body, signal: ctx.signal});
        delete dialog.dataset.stale;
        dialog.close();
        render(view, {args: [c.id]}, ctx);
        return;
      }
      const fresh = await api(`/api/cases/${c.id}/${action.replaceAll("_", "-")}`,
        {method: "POST", body, signal: ctx.signal});
      delete dialog.dataset.stale;
      dialog.close();
      show(view, detail, fresh, ctx);
    }, (err) => {
      error.textContent = err.message.split("\n")[0];
      submit.disabled = false;
    });
  };
  dialog.showModal();
}

async function drawMap(view, box, c, ctx) {
  const s = t();
  const m = c.map;
  const grids = m.community_grids.filter((g) => g.lat_e6 !== null && g.lon_e6 !== null);
  if (!m.report && !m.verification && !grids.length && !m.boundary) {
    box.innerHTML = `<p class="muted no-location">${s.no_location}</p>`;
    return;
  }
  box.innerHTML = `<div id="case-map" class="case-map"></div>
    <ul class="legend">
      ${grids.length ? `<li><i class="sw grid"></i>${s.legend_grid}</li>
        <li><i class="sw grids"></i>${s.legend_grids}</li>` : ""}
      ${m.boundary ? `<li><i class="sw boundary"></i>${esc(s.legend_boundary(
        m.boundary_version))}</li>` : ""}
      ${m.report ? `<li><i class="sw report"></i>${s.legend_report}</li>` : ""}
      ${m.verification ? `<li><i class="sw verify"></i>${s.legend_verify}</li>` : ""}
    </ul>
    <p id="distance">${m.distance_m !== null ? esc(s.distance(m.distance_m.toFixed(1)))
      : m.report ? s.no_verify : ""}</p>`;
  try {
    await loadScript("leaflet/leaflet.js");
  } catch (err) {
    box.querySelector("#case-map").textContent = s.map_failed;
    return;
  }
  if (ctx.signal.aborted || !box.isConnected) return;
  const L = window.L;
  const ll = (p) => [p.lat_e6 / 1e6, p.lon_e6 / 1e6];
  // No tile layer: the hub's own points on a plain background, nothing fetched from outside.
  const map = L.map(box.querySelector("#case-map"), {attributionControl: false,
    zoomSnap: 0.25});
  const drawn = [];
  // GeoJSON positions are [lon, lat], as L.geoJSON reads them; a polygon is added once the
  // map has its view (before that its renderer has no bounds to clip against)
  const outline = m.boundary ? L.geoJSON(m.boundary, {style: {className: "m-boundary",
    color: "#1d3557", weight: 2, dashArray: "6 4", fillOpacity: 0.05}}) : null;
  if (outline) drawn.push(outline);
  for (const g of grids) {
    const marker = L.circleMarker(ll(g), {radius: g.current ? 9 : 6,
      className: g.current ? "m-grid" : "m-grids", color: g.current ? "#1d3557" : "#8fa6c4",
      fillOpacity: 0.35, weight: 2});
    marker.bindTooltip(esc(g.name), {permanent: g.current, direction: "top"});
    drawn.push(marker.addTo(map));
  }
  if (m.report) {
    if (m.report.acc_m) L.circle(ll(m.report), {radius: m.report.acc_m, className: "m-acc",
      color: "#d62828", weight: 1, fillOpacity: 0.08}).addTo(map);
    drawn.push(L.circleMarker(ll(m.report), {radius: 8, className: "m-report",
      color: "#d62828", fillOpacity: 0.8}).bindTooltip(s.legend_report).addTo(map));
  }
  if (m.verification) {
    drawn.push(L.circleMarker(ll(m.verification), {radius: 8, className: "m-verify",
      color: "#2a9d8f", fillOpacity: 0.8}).bindTooltip(s.legend_verify).addTo(map));
  }
  if (m.report && m.verification) {
    L.polyline([ll(m.report), ll(m.verification)], {className: "m-distance",
      color: "#444", dashArray: "4 4", weight: 2}).addTo(map);
  }
  const bounds = L.featureGroup(drawn).getBounds();
  map.invalidateSize();  // the box may have just been laid out
  if (drawn.length === 1 || !map.getSize().x) map.setView(bounds.getCenter(), 17);
  else map.fitBounds(bounds.pad(0.25), {maxZoom: 18});
  if (outline) outline.addTo(map);
  maps.set(view, map);
  ctx.signal.addEventListener("abort", () => { if (maps.get(view) === map) map.remove(); });
}

// The operator console. Signed in by the hub's session cookie (HttpOnly: this script never
// sees it); the session's CSRF token lives only in this page's memory. Signing out (or a
// session that ends) replaces every view with a fresh sign-in form: nothing of the previous
// user stays in the DOM.
"use strict";

const TEXT = {
  zh: {
    title: "网格指挥中心", signin: "登录", signout: "退出登录", account: "账号", password: "密码",
    any_status: "全部状态", any_level: "全部层级", overdue_only: "仅超期", filter: "筛选",
    status: "状态", category: "类别", grid: "网格", level: "层级", deadline: "处置时限",
    select_case: "请选择案件。", cases: (n) => `共 ${n} 件案件`, case_n: (id) => `案件 ${id}`,
    timeline: "处置过程", media: "附件", none: "无", next: "可执行操作", reported: "上报",
    by: "上报人", unit: "处置单位", rework: "返工", satisfaction: "满意度",
    signed_out: "已退出登录。", session_ended: "会话已结束，请重新登录。",
    sign_in_failed: "登录失败：账号或密码错误，或失败次数过多，请稍后再试。",
    network: "无法连接指挥中心服务器。", lang_switch: "English",
    roles: {admin: "管理员", operator: "值班员", unit: "处置单位"},
    levels: {community: "社区", street: "街道", district: "区"},
    statuses: {pending_acceptance: "待受理", filed: "已立案", dispatched: "已派遣",
      handling: "处理中", feedback: "已反馈", verifying: "核查中", closed: "已结案",
      evaluated: "已评价", voided: "已作废", parked: "挂账"},
  },
  en: {
    title: "Grid command centre", signin: "Sign in", signout: "Sign out", account: "Account",
    password: "Password", any_status: "any status", any_level: "any level",
    overdue_only: "overdue only", filter: "Filter", status: "status", category: "category",
    grid: "grid", level: "level", deadline: "deadline", select_case: "Select a case.",
    cases: (n) => `${n} case(s)`, case_n: (id) => `Case ${id}`, timeline: "Timeline",
    media: "Media", none: "none", next: "Next", reported: "reported", by: "by", unit: "unit",
    rework: "rework", satisfaction: "satisfaction", signed_out: "Signed out.",
    session_ended: "Your session has ended: sign in again.",
    sign_in_failed: "Sign-in failed: wrong account or password, or too many failed attempts.",
    network: "The hub cannot be reached.", lang_switch: "中文",
    roles: {admin: "admin", operator: "operator", unit: "unit"},
    levels: {community: "community", street: "street", district: "district"},
    statuses: {pending_acceptance: "pending acceptance", filed: "filed",
      dispatched: "dispatched", handling: "handling", feedback: "feedback",
      verifying: "verifying", closed: "closed", evaluated: "evaluated", voided: "voided",
      parked: "parked"},
  },
};

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g,
  (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
let lang = localStorage.getItem("gridlink.lang") === "en" ? "en" : "zh";
let session = null;  // {account, role, scope_code, csrf_token, ...} while signed in
const t = () => TEXT[lang];
const fmt = (v) => v ? new Date(v).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB") : "";
const named = (table, code) => `<span title="${esc(code)}">${esc(t()[table][code] ?? code)}</span>`;

class SessionEnded extends Error {}

async function api(path, options = {}) {
  const headers = {...(options.headers || {})};
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const method = options.method || "GET";
  if (session && !["GET", "HEAD"].includes(method)) headers["X-CSRF-Token"] = session.csrf_token;
  let res;
  try {
    res = await fetch(path, {method, headers, credentials: "same-origin", cache: "no-store",
      body: options.body === undefined ? undefined : JSON.stringify(options.body)});
  } catch (err) {
    throw new Error(t().network);
  }
  if (res.status === 204) return null;
  const body = await res.json().catch(() => ({code: "http_error", message: res.statusText}));
  if (res.status === 401 && session) throw new SessionEnded(body.message);
  if (!res.ok) throw Object.assign(new Error(body.message), {status: res.status});
  return body;
}

function translate(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t()[el.dataset.i18n];
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = `${t().title} · Gridlink`;
  $("#lang").textContent = t().lang_switch;
  $("#lang").lang = lang === "zh" ? "en" : "zh-CN";
}

function show(templateId) {
  const view = $("#view");
  view.replaceChildren($("#" + templateId).content.cloneNode(true));
  translate(view);
  return view;
}

function showSignIn(message = "") {
  session = null;
  $("#me").textContent = "";
  $("#signout").hidden = true;
  const view = show("signin-view");
  $("#signin-error", view).textContent = message;
  $("#signin", view).onsubmit = signIn;
  $("input[name=account]", view).focus();
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  const account = form.account.value, password = form.password.value;
  form.password.value = "";
  try {
    showSignedIn(await api("/api/session", {method: "POST", body: {account, password}}));
  } catch (err) {
    $("#signin-error").textContent = err.status === 401 ? t().sign_in_failed : err.message;
  }
}

function showSignedIn(opened) {
  session = opened;
  $("#me").textContent = `${session.account} · ${t().roles[session.role] ?? session.role}` +
    (session.scope_code ? ` · ${session.scope_code}` : "");
  $("#signout").hidden = false;
  const view = show("cases-view");
  const status = $("select[name=status]", view);
  for (const [code, name] of Object.entries(t().statuses)) status.append(new Option(name, code));
  const level = $("select[name=level]", view);
  for (const [code, name] of Object.entries(t().levels)) level.append(new Option(name, code));
  $("#filters", view).onsubmit = (e) => { e.preventDefault(); loadCases(); };
  $("#cases", view).onclick = (e) => {
    const row = e.target.closest("tr.case");
    if (row) showCase(row.dataset.id);
  };
  loadCases();
}

async function guarded(work, onError) {
  try {
    await work();
  } catch (err) {
    if (err instanceof SessionEnded) showSignIn(t().session_ended);
    else onError(err);
  }
}

function loadCases() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData($("#filters"))) if (v) params.set(k, v);
  return guarded(async () => {
    const page = await api("/api/cases?" + params);
    $("#summary").textContent = t().cases(page.total);
    $("#cases").innerHTML = page.items.map((c) => `<tr class="case" data-id="${c.id}">
      <td>${c.id}</td><td><span class="badge">${named("statuses", c.status)}</span></td>
      <td>${esc(c.category_code)}</td><td>${esc(c.grid_code)}</td>
      <td>${named("levels", c.level)}</td>
      <td class="${c.overdue ? "overdue" : ""}">${fmt(c.deadline_at)}</td></tr>`).join("");
  }, (err) => { $("#summary").innerHTML = `<span class="error">${esc(err.message)}</span>`; });
}

function showCase(id) {
  return guarded(async () => {
    const c = await api("/api/cases/" + encodeURIComponent(id));
    const s = t();
    $("#detail").innerHTML = `<h2>${esc(s.case_n(c.id))}
        <span class="badge">${named("statuses", c.status)}</span></h2>
      <p>${esc(c.text)}</p>
      <p class="muted">${esc(c.category_code)} · ${s.grid} ${esc(c.grid_code)} ·
        ${named("levels", c.level)} · ${s.unit} ${esc(c.unit_id)} · ${s.reported}
        ${fmt(c.reported_at)} · ${s.by} ${esc(c.reporter_worker_id)}
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
  }, (err) => { $("#detail").innerHTML = `<p class="error">${esc(err.message)}</p>`; });
}

async function signOut() {
  try {
    await api("/api/session", {method: "DELETE"});
  } catch (err) {
    if (!(err instanceof SessionEnded)) console.warn("sign-out:", err.message);
  }
  showSignIn(t().signed_out);
}

async function start() {
  // The console before sessions kept its API token in localStorage: never leave one behind.
  localStorage.removeItem("gridlink.token");
  translate();
  $("#lang").onclick = () => {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("gridlink.lang", lang);
    if (session) showSignedIn(session); else showSignIn();
  };
  $("#signout").onclick = signOut;
  // A link like /console#token=glt_... (printed by `make demo`) opens a session with that
  // token once; the token leaves the address bar and is never stored by the page.
  // The address bar is cleared first, so even a malformed link does not leave it there.
  if (location.hash.startsWith("#token=")) {
    const raw = location.hash.slice(7);
    history.replaceState(null, "", location.pathname + location.search);
    try {
      const token = decodeURIComponent(raw);
      showSignedIn(await api("/api/session", {method: "POST", body: {token}}));
    } catch (err) {
      showSignIn(t().sign_in_failed);
    }
    return;
  }
  try {
    showSignedIn(await api("/api/session"));
  } catch (err) {
    showSignIn(err.status === 401 ? "" : err.message);
  }
}

start();

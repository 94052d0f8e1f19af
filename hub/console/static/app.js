// The console's shell: sign-in and sign-out, the language switch, the navigation and the
// router. A page is a module of ./pages with `route`, `text`, and `render(view, params, ctx)`;
// `ctx.signal` aborts when the page is left (listeners and fetches given it go with it).
// Signing out (or a session that ends) replaces every view with a fresh sign-in form and
// drops every name table and live connection: nothing of the previous user stays.
"use strict";

import {$, $$, addText, api, esc, forgetNames, loadNames, nameOf, state, t, whenSessionEnds}
  from "./core.js";
import * as live from "./live.js";
import * as queue from "./pages/queue.js";
import * as casePage from "./pages/case.js";
import * as fleet from "./pages/fleet.js";
import * as community from "./pages/community.js";
import * as dashboard from "./pages/dashboard.js";
import * as assessment from "./pages/assessment.js";
import * as basedata from "./pages/basedata.js";

addText({
  zh: {
    title: "网格指挥中心", signin: "登录", signout: "退出登录", account: "账号", password: "密码",
    signed_out: "已退出登录。", session_ended: "会话已结束，请重新登录。",
    sign_in_failed: "登录失败：账号或密码错误，或失败次数过多，请稍后再试。",
    network: "无法连接指挥中心服务器。", lang_switch: "English", not_found: "页面不存在。",
    toast_alarm: "门禁告警", toast_offline: "设备离线", toast_case: "已立案",
    alarms: {door_forced: "门被强行打开", door_held: "门长时间未关", tailgating: "尾随进入",
      tamper: "设备被拆", duress: "胁迫报警", stranger_repeated: "陌生人多次出现",
      blacklist_hit: "黑名单人员", help: "求助", storage_low: "存储空间不足"},
    roles: {admin: "管理员", operator: "值班员", unit: "处置单位"},
    levels: {community: "社区", street: "街道", township: "乡镇", district: "区", county: "县",
      city: "市"},
    statuses: {pending_acceptance: "待受理", filed: "已立案", dispatched: "已派遣",
      handling: "处理中", feedback: "已反馈", verifying: "核查中", closed: "已结案",
      evaluated: "已评价", voided: "已作废", parked: "挂账"},
  },
  en: {
    title: "Grid command centre", signin: "Sign in", signout: "Sign out", account: "Account",
    password: "Password", signed_out: "Signed out.",
    session_ended: "Your session has ended: sign in again.",
    sign_in_failed: "Sign-in failed: wrong account or password, or too many failed attempts.",
    network: "The hub cannot be reached.", lang_switch: "中文", not_found: "No such page.",
    toast_alarm: "Gate alarm", toast_offline: "Device offline", toast_case: "case",
    alarms: {door_forced: "door forced open", door_held: "door held open",
      tailgating: "tailgating", tamper: "tamper", duress: "duress", stranger_repeated:
      "stranger seen repeatedly", blacklist_hit: "blacklisted person", help: "call for help",
      storage_low: "storage low"},
    roles: {admin: "admin", operator: "operator", unit: "unit"},
    levels: {community: "community", street: "street", township: "township",
      district: "district", county: "county", city: "city"},
    statuses: {pending_acceptance: "pending acceptance", filed: "filed",
      dispatched: "dispatched", handling: "handling", feedback: "feedback",
      verifying: "verifying", closed: "closed", evaluated: "evaluated", voided: "voided",
      parked: "parked"},
  },
});

// Navigation order; `casePage` has no entry of its own (it opens from the queue).
const PAGES = [queue, casePage, fleet, community, dashboard, assessment, basedata];
for (const page of PAGES) addText(page.text);
const NAV = [queue, fleet, community, dashboard, assessment, basedata];

let leave = null;  // AbortController of the page on screen
let current = null;  // the page module on screen
let toastWatch = null;  // AbortController of the shell's live listener (toasts)

// Alarms and devices going offline show as a toast for a few seconds, unless the page on
// screen shows that type itself (a page lists them in `liveShown`).
function watchToasts() {
  toastWatch?.abort();
  toastWatch = new AbortController();
  live.listen(toastWatch.signal, (type, data) => {
    if (current?.liveShown?.includes(type)) return;
    if (type === "alarm") {
      const kind = `<span title="${esc(data.kind)}">${esc(t().alarms[data.kind] ?? data.kind)}</span>`;
      toast("alarm", `${t().toast_alarm}：${kind} · ${nameOf("area", data.community_code)}` +
        ` · ${esc(data.device_id)}` + (data.case_id ? ` · ${t().toast_case} #${data.case_id}` : ""));
    } else if (type === "device" && !data.online) {
      toast("offline", `${t().toast_offline}：${esc(data.device_id)} · ${nameOf("grid", data.grid_code)}`);
    }
  });
}

function toast(kind, html) {
  let box = $("#toasts");
  if (!box) {
    box = Object.assign(document.createElement("div"), {id: "toasts"});
    box.setAttribute("role", "status");
    document.body.append(box);
  }
  const el = Object.assign(document.createElement("p"), {className: `toast ${kind}`});
  el.innerHTML = html;
  el.onclick = () => el.remove();
  box.prepend(el);
  while (box.children.length > 4) box.lastElementChild.remove();
  setTimeout(() => el.remove(), 8000);
}

function translate(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t()[el.dataset.i18n];
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.title = `${t().title} · Gridlink`;
  $("#lang").textContent = t().lang_switch;
  $("#lang").lang = state.lang === "zh" ? "en" : "zh-CN";
}

function clearPage() {
  if (leave) leave.abort();
  leave = null;
  current = null;
}

/** `#/cases/12?x=1` → ["cases", ["12"], URLSearchParams("x=1")] */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const [route = "", ...rest] = path.split("/").filter(Boolean).map(decodeURIComponent);
  return [route || queue.route, rest, new URLSearchParams(query)];
}

function findPage(route, rest) {
  if (route === queue.route && rest.length) return casePage;
  return PAGES.find((p) => p.route === route && p !== casePage) ?? null;
}

function render() {
  if (!state.session) return;
  clearPage();
  leave = new AbortController();
  const [route, rest, params] = parseHash();
  const page = findPage(route, rest);
  for (const link of $$("#nav a")) {
    link.classList.toggle("current", link.dataset.route === (page === casePage ? queue.route : route));
  }
  const view = $("#view");
  view.replaceChildren();
  if (!page) {
    view.innerHTML = `<p class="error">${t().not_found}</p>`;
    return;
  }
  view.dataset.page = page.route;
  current = page;
  const ctx = {signal: leave.signal, navigate};
  // A page that follows live events exports `live(type, data, view, ctx)` (types and data:
  // live.js); it is called while the page is on screen.
  if (page.live) live.listen(ctx.signal, (type, data) => page.live(type, data, view, ctx));
  page.render(view, {args: rest, params}, ctx);
}

/** Go to `#/<route>/...?...` (the hashchange renders it). */
export function navigate(hash) {
  if (location.hash === hash) render(); else location.hash = hash;
}

function showSignIn(message = "") {
  clearPage();
  live.stop();
  toastWatch?.abort();
  $("#toasts")?.remove();
  forgetNames();
  state.session = null;
  $("#me").textContent = "";
  $("#signout").hidden = true;
  $("#nav").hidden = true;
  $("#nav").replaceChildren();
  const view = $("#view");
  delete view.dataset.page;
  view.replaceChildren($("#signin-view").content.cloneNode(true));
  translate(view);
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
    await showSignedIn(await api("/api/session", {method: "POST", body: {account, password}}));
  } catch (err) {
    $("#signin-error").textContent = err.status === 401 ? t().sign_in_failed : err.message;
  }
}

async function showSignedIn(opened) {
  state.session = opened;
  const s = state.session;
  $("#me").textContent = `${s.account} · ${t().roles[s.role] ?? s.role}` +
    (s.scope_code ? ` · ${s.scope_code}` : "");
  $("#signout").hidden = false;
  const nav = $("#nav");
  nav.innerHTML = NAV.filter((p) => !p.roles || p.roles.includes(s.role)).map((p) =>
    `<a href="#/${p.route}" data-route="${p.route}">${t()[p.navKey]}</a>`).join("");
  nav.hidden = false;
  try {
    await loadNames();
  } catch (err) {
    if (!state.session) return;  // signed out meanwhile
    console.warn("names:", err.message);  // codes are shown instead of names
  }
  live.start();
  watchToasts();
  render();
}

async function signOut() {
  try {
    await api("/api/session", {method: "DELETE"});
  } catch (err) {
    console.warn("sign-out:", err.message);
  }
  showSignIn(t().signed_out);
}

async function start() {
  // The console before sessions kept its API token in localStorage: never leave one behind.
  localStorage.removeItem("gridlink.token");
  whenSessionEnds(showSignIn);
  translate();
  $("#lang").onclick = () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    localStorage.setItem("gridlink.lang", state.lang);
    translate();
    if (state.session) showSignedIn(state.session); else showSignIn();
  };
  $("#signout").onclick = signOut;
  window.addEventListener("hashchange", render);
  // A link like /console#token=glt_... (printed by `make demo`) opens a session with that
  // token once; the token leaves the address bar and is never stored by the page.
  // The address bar is cleared first, so even a malformed link does not leave it there.
  if (location.hash.startsWith("#token=")) {
    const raw = location.hash.slice(7);
    history.replaceState(null, "", location.pathname + location.search);
    try {
      const token = decodeURIComponent(raw);
      await showSignedIn(await api("/api/session", {method: "POST", body: {token}}));
    } catch (err) {
      showSignIn(t().sign_in_failed);
    }
    return;
  }
  try {
    await showSignedIn(await api("/api/session"));
  } catch (err) {
    showSignIn(err.status === 401 ? "" : err.message);
  }
}

start();

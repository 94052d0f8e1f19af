// What every page of the console shares: the hub's API over the session cookie, the texts in
// Chinese and English, formatting, and the names of areas, grids, units and categories.
// The session cookie is HttpOnly (this script never sees it); the CSRF token lives only in
// this module's memory, so a reload asks the hub for it again.
"use strict";

const TEXT = {zh: {}, en: {}};

/** Add a page's texts: `{zh: {...}, en: {...}}`; a later key of the same name wins. */
export function addText(texts) {
  Object.assign(TEXT.zh, texts.zh);
  Object.assign(TEXT.en, texts.en);
}

export const state = {
  lang: localStorage.getItem("gridlink.lang") === "en" ? "en" : "zh",
  session: null,  // {account, role, scope_code, csrf_token, ...} while signed in
};

/** The texts of the current language (a key missing in English falls back to Chinese). */
export const t = () => new Proxy(TEXT[state.lang], {
  get: (dict, key) => dict[key] ?? TEXT.zh[key] ?? key,
});

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
export const esc = (s) => String(s ?? "").replace(/[&<>"']/g,
  (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
export const locale = () => state.lang === "zh" ? "zh-CN" : "en-GB";
export const fmt = (v) => v ? new Date(v).toLocaleString(locale()) : "";
export const fmtDate = (v) => v ? new Date(v).toLocaleDateString(locale()) : "";
/** A translated code from one of the text tables (statuses, levels, ...), the code on hover. */
export const named = (table, code) =>
  `<span title="${esc(code)}">${esc(t()[table][code] ?? code)}</span>`;

export class SessionEnded extends Error {}

/** Call the hub's API; JSON in and out. Throws `SessionEnded` on a 401 while signed in, and
 *  an Error carrying the hub's own message (and `status`) on any other refusal. */
export async function api(path, options = {}) {
  const headers = {...(options.headers || {})};
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const method = options.method || "GET";
  if (state.session && !["GET", "HEAD"].includes(method)) {
    headers["X-CSRF-Token"] = state.session.csrf_token;
  }
  let res;
  try {
    res = await fetch(path, {method, headers, credentials: "same-origin", cache: "no-store",
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal});
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new Error(t().network);
  }
  if (res.status === 204) return null;
  const body = await res.json().catch(() => ({code: "http_error", message: res.statusText}));
  if (res.status === 401 && state.session) throw new SessionEnded(body.message);
  if (!res.ok) {
    const message = typeof body.message === "string" ? body.message : res.statusText;
    throw Object.assign(new Error(message), {status: res.status, code: body.code});
  }
  return body;
}

let onSessionEnded = () => {};
/** The shell registers what a 401 does (show the sign-in form, clearing every view). */
export function whenSessionEnds(handler) { onSessionEnded = handler; }

/** Run `work`; a session that ended goes to the shell, any other error to `onError`. An
 *  aborted request (the page was left) is dropped. */
export async function guarded(work, onError) {
  try {
    await work();
  } catch (err) {
    if (err instanceof SessionEnded) onSessionEnded(t().session_ended);
    else if (err.name !== "AbortError") onError(err);
  }
}

// Names of areas, grids, units and categories, fetched once per session (the lists the hub
// returns are already limited to what the session may see).
const NAME_SOURCES = {
  area: ["/api/areas", "code"],
  grid: ["/api/grids", "code"],
  unit: ["/api/units", "id"],
  category: ["/api/categories", "code"],
};
let names = null;

export function forgetNames() { names = null; }

/** Load the name tables (once per session). */
export async function loadNames() {
  if (names) return names;
  const loaded = {};
  await Promise.all(Object.entries(NAME_SOURCES).map(async ([kind, [path, key]]) => {
    const rows = await api(path);
    loaded[kind] = new Map(rows.map((row) => [String(row[key]), row]));
  }));
  names = loaded;
  return names;
}

/** The loaded row of `kind` ("area", "grid", "unit", "category") with this code or id. */
export const lookup = (kind, code) => names?.[kind]?.get(String(code)) ?? null;

/** Every loaded row of `kind` (for pickers). */
export const rowsOf = (kind) => [...(names?.[kind]?.values() ?? [])];

/** A name with its code on hover; the code itself when the name is not known. */
export function nameOf(kind, code) {
  if (code === null || code === undefined || code === "") return "—";
  const row = lookup(kind, code);
  return `<span class="named" title="${esc(code)}">${esc(row?.name ?? code)}</span>`;
}

const scripts = new Map();
/** Load a vendored library's script once (`loadScript("leaflet/leaflet.js")` → window.L). */
export function loadScript(vendorPath) {
  if (!scripts.has(vendorPath)) {
    scripts.set(vendorPath, new Promise((resolve, reject) => {
      const el = document.createElement("script");
      el.src = `/console/vendor/${vendorPath}`;
      el.onload = resolve;
      el.onerror = () => { scripts.delete(vendorPath); reject(new Error(t().network)); };
      document.head.append(el);
    }));
  }
  return scripts.get(vendorPath);
}

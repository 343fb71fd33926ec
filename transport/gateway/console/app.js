// The console's shell: the token, the API client, small DOM helpers and the hash router.
import * as pages from "./pages.js";
import { jobPage } from "./job.js";

const KEY = "avtomat.token";
export const token = () => sessionStorage.getItem(KEY);

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// fetch with the client's token; JSON in and out; a 4xx/5xx becomes an ApiError with the gateway's message
export async function api(path, { method = "GET", body, raw = false, headers = {}, signal } = {}) {
  const sent = { "X-Client-Token": token() || "", ...headers };
  if (body !== undefined) sent["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers: sent, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  if ((res.status === 401 || res.status === 403) && !path.startsWith("/_public/")) {
    signOut("The gateway refused your token: sign in again with a client token.");
    throw new ApiError(res.status, "not signed in");
  }
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try { message = (await res.json()).error || message; } catch { /* not JSON */ }
    throw new ApiError(res.status, message);
  }
  return raw ? res : res.json();
}

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value" || k === "checked") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export const when = (t) => (t ? new Date(t * 1000).toLocaleString() : "—");
export function duration(seconds) {
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  return seconds < 7200 ? `${Math.round(seconds / 60)} min` : `${(seconds / 3600).toFixed(1)} h`;
}
export const statusTag = (s) => h("span", { class: `status ${s}` }, s.replaceAll("_", " "));
export const note = (...text) => h("p", { class: "note" }, ...text);
export const errorBox = (err) => h("p", { class: "error", role: "alert" }, `${err.message}. `,
  err.status === 429 ? "Too many requests: wait a moment and reload." : "Check the gateway is up, then reload the page.");

export function table(heads, rows, empty) {
  if (!rows.length) return empty;
  return h("div", { class: "table" }, h("table", {},
    h("thead", {}, h("tr", {}, heads.map(([text, cls]) => h("th", { scope: "col", class: cls }, text)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c, i) => h("td", { class: heads[i][1] }, c)))))));
}

export function toast(text) {
  const box = document.getElementById("toast");
  box.textContent = text;
  setTimeout(() => { if (box.textContent === text) box.textContent = ""; }, 4000);
}

// runs load() now and every `ms` (while the tab is visible) until the page is left; renders into `box`
// only when the data changed
export function live(box, load, render, ms = 1000) {
  let last = null, stopped = false, timer = 0;
  const tick = async () => {
    if (document.hidden) { timer = setTimeout(tick, ms); return; }  // a background tab costs no calls
    try {
      const data = await load();
      const key = JSON.stringify(data);
      if (key !== last && !stopped) { last = key; box.replaceChildren(render(data)); }
    } catch (err) {
      if (!stopped && err.status !== 401) { last = null; box.replaceChildren(errorBox(err)); }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

function signInPage(main, message) {
  const input = h("input", { id: "token", type: "password", autocomplete: "off", required: true });
  const form = h("form", { class: "signin card", onsubmit: (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, input.value.trim());
    location.hash = "#/jobs";
    route();
  } },
  h("h1", {}, "Sign in"),
  message ? h("p", { class: "error", role: "alert" }, message) : null,
  h("p", {}, "Paste a client token (CLIENT_TOKEN, or one of clients.toml). It stays in this tab only."),
  h("label", { for: "token" }, "Client token", input),
  h("p", {}, h("button", { class: "primary", type: "submit" }, "Sign in")));
  main.append(form);
  input.focus();
}

export function signOut(message) {
  sessionStorage.removeItem(KEY);
  route(message);
}

const routes = {
  jobs: pages.jobsPage, job: jobPage, submit: pages.submitPage, workers: pages.workersPage,
  queues: pages.queuesPage, schedules: pages.schedulesPage, webhooks: pages.webhooksPage,
  quarantine: pages.quarantinePage,
};
let leave = null;

function route(message) {
  if (location.hash.startsWith("#token=")) {  // sign in from the link, and drop the token from the address bar
    sessionStorage.setItem(KEY, decodeURIComponent(location.hash.slice(7)));
    history.replaceState(null, "", `${location.pathname}#/jobs`);
  }
  if (leave) { leave(); leave = null; }
  const main = document.getElementById("main"), nav = document.getElementById("nav");
  main.replaceChildren();
  nav.hidden = !token();
  if (!token()) { signInPage(main, typeof message === "string" ? message : ""); return; }
  const [page, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  for (const a of nav.querySelectorAll("a")) {
    if (a.getAttribute("href") === `#/${page || "jobs"}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const show = routes[page || "jobs"];
  if (!show) { main.append(h("h1", {}, "Not found"), note("No such page. ", h("a", { href: "#/jobs" }, "Go to the jobs."))); return; }
  leave = show(main, rest.map(decodeURIComponent)) || null;
}

addEventListener("hashchange", () => { route(); if (token()) document.getElementById("main").focus(); });
document.getElementById("signout").addEventListener("click", () => signOut("Signed out."));
route();

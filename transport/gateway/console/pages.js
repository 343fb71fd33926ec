// The list pages: jobs (live), submit, workers, queues, schedules, failed webhooks, quarantine.
import { api, h, live, note, statusTag, table, toast, when } from "./app.js";

const STATUSES = ["pending", "running", "waiting_for_worker", "waiting_for_parallel", "waiting_for_human",
  "waiting_for_child", "finished", "failed", "quarantined", "cancelled"];
const TERMINAL = new Set(["finished", "failed", "quarantined", "cancelled"]);

// a job's id, shortened in tables (its full id is the link's name and title)
export const jobLink = (id) => h("a", { href: `#/job/${encodeURIComponent(id)}`, class: "mono", title: id, "aria-label": id },
  id.length > 12 ? `${id.slice(0, 8)}…` : id);
export function progressBar(job) {
  const value = TERMINAL.has(job.status) ? (job.status === "finished" ? 1 : job.progress ?? 0) : job.progress ?? 0;
  const label = `${Math.round(value * 100)}%`;
  return h("progress", { max: "1", value: String(value), "aria-label": `progress ${label}`, title: job.progress_message || label });
}

function select(id, text, options, onchange) {
  return h("label", { for: id }, text, h("select", { id, onchange },
    h("option", { value: "" }, "any"), options.map((o) => h("option", { value: o }, o.replaceAll("_", " ")))));
}

export function jobsPage(main) {
  const box = h("div", { "aria-live": "polite" });
  const filters = { status: "", blueprint: "", limit: 50 };
  const form = h("form", { class: "row", "aria-label": "Filters", onsubmit: (e) => e.preventDefault() },
    select("f-status", "Status", STATUSES, (e) => { filters.status = e.target.value; restart(); }),
    select("f-blueprint", "Blueprint", [], (e) => { filters.blueprint = e.target.value; restart(); }),
    h("button", { type: "button", onclick: () => { filters.limit += 50; restart(); } }, "Show more"));
  main.append(h("h1", {}, "Jobs"), form, box, note("The list refreshes by itself every 1.5 s."));
  api("/api/v1/blueprints").then((bps) => {
    form.querySelector("#f-blueprint").append(...bps.map((b) => h("option", { value: b.name }, b.name)));
  }).catch(() => {});
  const load = () => {
    const query = new URLSearchParams({ limit: String(filters.limit) });
    for (const k of ["status", "blueprint"]) if (filters[k]) query.set(k, filters[k]);
    return api(`/api/v1/jobs?${query}`);
  };
  const render = (jobs) => table(
    [["Job", "mono"], ["Blueprint"], ["Status"], ["State", "wide"], ["Progress"], ["Created", "wide"]],
    jobs.map((j) => [jobLink(j.job_id), j.blueprint_name, statusTag(j.status), j.current_state, progressBar(j), when(j.created_at)]),
    note(filters.status || filters.blueprint ? "No job matches these filters: choose “any” to see all." :
      "No jobs yet. ", h("a", { href: "#/submit" }, "Submit one"), " or create one through the API."));
  // every 1.5 s: 40 calls a minute, within the default client rate limit (100) with room for the rest
  let stop = live(box, load, render, 1500);
  function restart() { stop(); stop = live(box, load, render, 1500); }
  return () => stop();
}

export function submitPage(main) {
  const box = h("div", { class: "grid" });
  main.append(h("h1", {}, "Submit a job"), box);
  api("/api/v1/blueprints").then((bps) => {
    if (!bps.length) { box.replaceChildren(note("No blueprint is registered: put one in BLUEPRINTS_DIR and restart.")); return; }
    box.replaceChildren(...bps.map(submitForm));
  }).catch((err) => box.replaceChildren(note(err.message)));
}

function submitForm(bp) {
  const id = `data-${bp.name}`;
  const area = h("textarea", { id, rows: "5", spellcheck: "false", value: "{}" });
  const error = h("p", { role: "alert" });
  return h("form", { class: "card", "aria-label": `Submit ${bp.name}`, onsubmit: async (e) => {
    e.preventDefault();
    error.replaceChildren();
    let initial;
    try { initial = JSON.parse(area.value || "{}"); } catch (err) {
      error.replaceChildren(h("span", { class: "error" }, `initial_data is not valid JSON: ${err.message}`)); return;
    }
    try {
      const answer = await api(bp.path, { method: "POST", body: { initial_data: initial } });
      location.hash = `#/job/${encodeURIComponent(answer.job_id)}`;
    } catch (err) { error.replaceChildren(h("span", { class: "error" }, err.message)); }
  } },
  h("h2", {}, bp.name), h("p", { class: "mono" }, `POST ${bp.path} · ${bp.states.length} states`),
  h("label", { for: id }, "initial_data (JSON)", area), error,
  h("button", { type: "submit", class: "primary" }, `Submit ${bp.name}`));
}

export function workersPage(main) {
  const box = h("div");
  main.append(h("h1", {}, "Workers"), box);
  return live(box, () => api("/api/v1/workers"), (workers) => table(
    [["Worker", "mono"], ["Type", "wide"], ["Status"], ["Skills"], ["Hot skills", "wide"], ["Load"], ["Last seen", "wide"]],
    workers.map((w) => [w.worker_id, w.worker_type, w.status, w.skills.join(", "), (w.hot_skills || []).join(", ") || "—",
      String(w.load), when(w.last_seen)]),
    note("No worker is registered. Start one, e.g. the demo worker: ",
      h("code", {}, "python blueprints/workers/demo_worker.py"), " with ORCHESTRATOR_URL and WORKER_TOKEN set.")), 2000);
}

export function queuesPage(main) {
  const box = h("div");
  main.append(h("h1", {}, "Queues"), box);
  return live(box, () => api("/api/v1/dashboard"), (d) => h("div", { class: "grid" },
    h("section", { class: "card" }, h("h2", {}, "Waiting tasks per skill"), table([["Skill"], ["Waiting"]],
      Object.entries(d.queues).map(([skill, n]) => [skill, String(n)]),
      note("No skill queue is known: queues are listed for the skills of registered workers. Start a worker."))),
    h("section", { class: "card" }, h("h2", {}, "Your jobs by status"), table([["Status"], ["Jobs"]],
      Object.entries(d.jobs).filter(([s]) => s !== "queued").map(([s, n]) => [statusTag(s), String(n)]), note("No jobs yet."))),
    h("section", { class: "card" }, h("h2", {}, "Workers by status"), table([["Status"], ["Workers"]],
      Object.entries(d.workers).filter(([s]) => s !== "total").map(([s, n]) => [s, String(n)]), note("No worker is registered.")))), 2000);
}

export function schedulesPage(main) {
  const box = h("div");
  main.append(h("h1", {}, "Schedules"), box);
  return live(box, () => api("/api/v1/schedules"), (rows) => table(
    [["Name"], ["Blueprint"], ["Rule", "wide"], ["Next fire"], ["Last fire", "wide"], ["Last job", "wide mono"]],
    rows.map((s) => [s.name, s.blueprint, s.rule, s.next_fire_local, s.last_fire_local || "—", s.last_job_id ? jobLink(s.last_job_id) : "—"]),
    note("No schedules. Add them to schedules.toml (SCHEDULES_CONFIG_PATH) and restart.")), 5000);
}

function actionButton(text, cls, action, label) {
  return h("button", { type: "button", class: cls, "aria-label": label, onclick: async (e) => {
    e.target.disabled = true;
    try { toast(await action()); } catch (err) { toast(err.message); e.target.disabled = false; }
  } }, text);
}

export function webhooksPage(main) {
  const box = h("div");
  main.append(h("h1", {}, "Failed webhooks"), box);
  return live(box, () => api("/api/v1/webhooks/failed"), (rows) => table(
    [["Event"], ["Job", "mono"], ["URL", "wide mono"], ["Attempts", "wide"], ["Last error"], ["Failed", "wide"], [""]],
    rows.map((w) => [w.event, jobLink(w.job_id), w.url, String(w.attempts), w.last_error || "—", when(w.failed_at),
      actionButton("Redeliver", "", async () => {
        await api(`/api/v1/webhooks/failed/${encodeURIComponent(w.webhook_id)}/redeliver`, { method: "POST" });
        return `Redelivery of ${w.event} scheduled`;
      }, `Redeliver ${w.event} of job ${w.job_id}`)]),
    note("No failed webhooks: every delivery went through, or is still being retried.")), 3000);
}

export function quarantinePage(main) {
  const box = h("div");
  main.append(h("h1", {}, "Quarantine"), box);
  return live(box, () => api("/api/v1/jobs/quarantined"), (rows) => table(
    [["Job", "mono"], ["Blueprint"], ["State", "wide"], ["Error"], ["Since", "wide"], [""]],
    rows.map((j) => [jobLink(j.job_id), j.blueprint_name, j.current_state, j.error || "—", when(j.finished_at),
      actionButton("Redrive", "primary", async () => {
        await api(`/api/v1/jobs/${encodeURIComponent(j.job_id)}/retry`, { method: "POST" });
        return `Job ${j.job_id} redriven`;
      }, `Redrive job ${j.job_id}`)]),
    note("No quarantined jobs. A job lands here when its handler keeps failing; redrive it once fixed.")), 2000);
}

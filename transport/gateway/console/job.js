// A job's page: status, live progress, actions, the graph with the path taken, the timeline, result, files.
import { api, duration, errorBox, h, note, statusTag, toast, when } from "./app.js";
import { progressBar } from "./pages.js";

const TERMINAL = new Set(["finished", "failed", "quarantined", "cancelled"]);
const graphs = new Map();  // blueprint -> SVG text, fetched once

export function jobPage(main, [id]) {
  const head = h("div"), actions = h("div", { class: "actions" }), graph = h("div", { class: "graph" });
  const timeline = h("div"), result = h("div"), files = h("div");
  main.append(h("h1", {}, "Job ", h("span", { class: "mono" }, id)), head, actions,
    h("div", { class: "grid" },
      h("section", { class: "card" }, h("h2", {}, "Graph"), graph),
      h("section", { class: "card" }, h("h2", {}, "History"), timeline),
      h("section", { class: "card" }, h("h2", {}, "Result"), result),
      h("section", { class: "card" }, h("h2", {}, "Files"), files)));
  let job = null, history = [];
  const controller = new AbortController();
  const path = `/api/v1/jobs/${encodeURIComponent(id)}`;

  function showJob(view) {
    job = view;
    head.replaceChildren(h("p", { class: "row" }, statusTag(view.status), " in state ",
      h("strong", { id: "current-state" }, view.current_state), " · ", progressBar(view),
      view.progress_message ? ` ${view.progress_message}` : "", ` · created ${when(view.created_at)}`),
    view.error ? h("p", { class: "error" }, view.error) : "");
    actions.replaceChildren(...buttons(view, path));
    result.replaceChildren(TERMINAL.has(view.status)
      ? h("pre", { tabindex: "0", "aria-label": "result" }, JSON.stringify(view.result ?? {}, null, 2))
      : h("div", {}, note("The job is not over: this is its state_history so far."),
        h("pre", { tabindex: "0", "aria-label": "state_history" }, JSON.stringify(view.state_history ?? {}, null, 2))),
    h("details", {}, h("summary", {}, "The whole job as JSON"), h("pre", { tabindex: "0" }, JSON.stringify(view, null, 2))));
    showHistory();
  }
  function showHistory() {
    timeline.replaceChildren(history.length ? h("ol", { class: "timeline" }, history.map((e, i) => {
      const next = history[i + 1]?.at ?? (TERMINAL.has(job?.status) ? e.at : Date.now() / 1000);
      const { at, event, state, ...details } = e;
      const extra = Object.keys(details).length ? ` ${JSON.stringify(details)}` : "";
      return h("li", {}, h("strong", {}, event.replaceAll("_", " ")), ` in ${state}`,
        h("div", { class: "when" }, `${when(at)} · ${duration(Math.max(0, next - at))}${extra}`));
    })) : note("No history yet."));
    paint(graph, job, history);
  }

  api(path).then((view) => {
    showJob(view);
    loadGraph(graph, view.blueprint_name).then(() => paint(graph, job, history));
    loadFiles(files, path);
    follow(`${path}/events`, controller.signal, { history: (e) => { history.push(e); showHistory(); }, job: showJob },
      () => TERMINAL.has(job?.status));
  }).catch((err) => main.append(err.status === 404
    ? note(`No job ${id} of yours exists (it may have expired). `, h("a", { href: "#/jobs" }, "Back to the jobs."))
    : errorBox(err)));
  return () => controller.abort();
}

function buttons(job, path) {
  const post = (label, cls, url, body, done) => h("button", { type: "button", class: cls, onclick: async (e) => {
    e.target.disabled = true;
    try { await api(url, { method: "POST", body }); toast(done); } catch (err) { toast(err.message); e.target.disabled = false; }
  } }, label);
  const list = [];
  if (job.status === "waiting_for_human" && job.approval) {
    list.push(h("p", {}, `Waiting for a decision: ${job.approval.message}`));
    for (const d of job.approval.decisions) {
      list.push(post(`Decide: ${d}`, "primary", `/_public/webhooks/approval/${encodeURIComponent(job.job_id)}`, { decision: d }, `Decision ${d} sent`));
    }
  }
  if (!TERMINAL.has(job.status)) list.push(post("Cancel job", "danger", `${path}/cancel`, undefined, "Cancellation requested"));
  if (job.status === "failed" || job.status === "quarantined") list.push(post("Redrive", "primary", `${path}/retry`, undefined, "Redrive requested"));
  return list;
}

async function loadGraph(box, blueprint) {
  try {
    if (!graphs.has(blueprint)) {
      graphs.set(blueprint, await (await api(`/api/v1/blueprints/${encodeURIComponent(blueprint)}/graph?format=svg`, { raw: true })).text());
    }
    const svg = new DOMParser().parseFromString(graphs.get(blueprint), "image/svg+xml").documentElement;
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `graph of blueprint ${blueprint}`);
    box.replaceChildren(document.importNode(svg, true));
  } catch (err) {
    box.replaceChildren(note(err.status === 501 ? "The gateway has no Graphviz: install graphviz to see the graph." : err.message));
  }
}

// marks the states visited, the transitions taken, and the current or end state
function paint(box, job, history) {
  const svg = box.querySelector("svg");
  if (!svg || !job) return;
  const visited = [];
  for (const e of history) if (e.state && visited.at(-1) !== e.state) visited.push(e.state);
  if (visited.at(-1) !== job.current_state) visited.push(job.current_state);
  const taken = new Set(visited.slice(1).map((s, i) => `${visited[i]}->${s}`));
  for (const g of svg.querySelectorAll("g.node")) {
    const name = g.querySelector("title")?.textContent;
    g.classList.remove("visited", "current", "end-ok", "end-bad");
    if (visited.includes(name)) g.classList.add("visited");
    if (name === job.current_state) {
      const end = job.status === "finished" ? "end-ok" : TERMINAL.has(job.status) ? "end-bad" : "current";
      g.classList.add(end);
      g.setAttribute("data-mark", end);
    } else g.removeAttribute("data-mark");
  }
  for (const g of svg.querySelectorAll("g.edge")) g.classList.toggle("taken", taken.has(g.querySelector("title")?.textContent));
}

async function loadFiles(box, path) {
  try {
    const files = await api(`${path}/files`);
    box.replaceChildren(files.length ? h("ul", {}, files.map((f) => h("li", {},
      h("a", { href: f.url, download: f.name.split("/").at(-1) }, `Download ${f.name}`), ` (${f.size} bytes)`)))
      : note("This job has no files."));
  } catch (err) {
    box.replaceChildren(note(err.status === 501 ? "No object store is configured (OBJECT_STORE_PATH or S3_*): jobs have no files." : err.message));
  }
}

// reads the job's Server-Sent Events over fetch (EventSource cannot send X-Client-Token); resumes by Last-Event-ID
async function follow(url, signal, handlers, done) {
  let lastId = "0";
  while (!signal.aborted) {
    try {
      const res = await api(url, { raw: true, signal, headers: { "Last-Event-ID": lastId } });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done: closed } = await reader.read();
        if (closed) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const field = (name) => block.split("\n").filter((l) => l.startsWith(`${name}: `)).map((l) => l.slice(name.length + 2)).join("\n");
          if (field("id")) lastId = field("id");
          const handler = handlers[field("event")];
          if (handler) handler(JSON.parse(field("data")));
        }
      }
    } catch (err) {
      if (signal.aborted || err.status === 404 || err.status === 401) return;
    }
    if (done()) return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

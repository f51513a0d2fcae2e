// AMOSKYS Cortex: the live alerts table. Plain JavaScript, no build step.
// The token lives in localStorage; every call sends it as a bearer token. The live stream is read
// with fetch (EventSource cannot send an Authorization header) and resumes from its last event id.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { alerts: new Map(), open: new Set(), evidence: new Map(), cursor: null, lastEventId: "", streamAbort: null, filters: {} };

function token() { return localStorage.getItem("amoskys_token") || ""; }

async function api(path, opts = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token() }, opts.headers || {});
  const res = await fetch(path, Object.assign({}, opts, { headers }));
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function msg(text) { $("msg").textContent = text; }

function readFilters() {
  const f = { severity: $("f-severity").value, host: $("f-host").value.trim(), process: $("f-process").value.trim(),
    status: $("f-status").value, range: $("f-range").value };
  state.filters = f;
  return f;
}

function query(f, extra) {
  const p = new URLSearchParams();
  p.set("limit", "100");
  for (const k of ["severity", "host", "process", "status"]) if (f[k]) p.set(k, f[k]);
  if (f.range) p.set("since", new Date(Date.now() - Number(f.range) * 1000).toISOString());
  for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
  return p.toString();
}

function matches(a) {
  const f = state.filters;
  if (f.severity && !f.severity.split(",").includes(a.severity)) return false;
  if (f.host && a.host !== f.host) return false;
  if (f.process && !(a.entity || "").includes(f.process)) return false;
  if (f.status && a.status !== f.status) return false;
  if (f.range && new Date(a.time).getTime() < Date.now() - Number(f.range) * 1000) return false;
  return true;
}

async function load(more) {
  const f = readFilters();
  try {
    const body = await api("/api/alerts/recent?" + query(f, more && state.cursor ? { cursor: state.cursor } : null));
    if (!more) state.alerts.clear();
    for (const a of body.alerts) state.alerts.set(a.id, a);
    state.cursor = body.next_cursor || null;
    $("more").hidden = !state.cursor;
    render();
  } catch (e) { msg("error: " + e.message); }
}

function fmtTime(t) { const d = new Date(t); return d.toISOString().replace("T", " ").slice(0, 19); }
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k.nodeType ? k : document.createTextNode(String(k)));
  return e;
}

function sorted() {
  return [...state.alerts.values()].filter(matches)
    .sort((a, b) => (b.time > a.time ? 1 : b.time < a.time ? -1 : b.id > a.id ? 1 : -1));
}

function render(flashId) {
  const tb = $("rows");
  tb.replaceChildren();
  const list = sorted();
  msg(list.length + (list.length === 1 ? " alert" : " alerts"));
  for (const a of list) {
    const tr = el("tr", { class: "alert status-" + a.status + (a.id === flashId ? " new" : ""), "data-id": a.id, "data-severity": a.severity,
      onclick: () => toggle(a.id) },
      el("td", {}, fmtTime(a.time)),
      el("td", {}, el("span", { class: "sev sev-" + a.severity }, a.severity)),
      el("td", { class: "host" }, a.host),
      el("td", { class: "entity" }, a.entity),
      el("td", { class: "score" }, Number(a.score).toFixed(2)),
      el("td", {}, a.title),
      el("td", { class: "count" }, a.count),
      el("td", { class: "status" }, a.status + (a.status_by ? " by " + a.status_by : "")),
      el("td", {},
        a.status === "open" ? el("button", { class: "ack", onclick: (ev) => { ev.stopPropagation(); lifecycle(a.id, "ack"); } }, "Ack") : null,
        a.status !== "resolved" ? el("button", { class: "resolve", onclick: (ev) => { ev.stopPropagation(); lifecycle(a.id, "resolve"); } }, "Resolve") : null));
    tb.append(tr);
    if (state.open.has(a.id)) tb.append(detailRow(a));
  }
}

function detailRow(a) {
  const layers = el("div", { class: "layers" });
  for (const l of a.layers || []) {
    const abst = l.score == null;
    const box = el("div", { class: "layer" + (abst ? " abstain" : ""), "data-layer": l.layer },
      el("h4", {}, el("span", {}, l.layer), el("span", { class: "score" }, abst ? "abstained" : Number(l.score).toFixed(2))));
    if (abst) box.append(el("div", { class: "meta" }, l.abstain || "no result"));
    else {
      const bar = el("div", { class: "bar" }); bar.append(el("i", { style: "width:" + Math.round(l.score * 100) + "%" }));
      box.append(bar, el("div", { class: "meta" }, "weight " + Number(l.weight).toFixed(2) + " · contribution " + Number(l.contribution).toFixed(2)));
      const ul = el("ul", {});
      for (const r of l.reasons || []) ul.append(el("li", { class: "reason" }, (r.title ? r.title + ": " : "") + (r.text || r.id),
        ...(r.tags || []).map((t) => el("span", { class: "tag" }, t))));
      box.append(ul);
    }
    layers.append(box);
  }
  const hist = (a.history || []).map((h) => fmtTime(h.time) + " " + Number(h.score).toFixed(2) + " " + h.severity + (h.layer ? " (" + h.layer + ")" : "")).join(" → ");
  const td = el("td", { colspan: "9" }, el("div", { class: "summary" }, a.summary || ""), layers,
    el("div", { class: "meta" }, "id " + a.id + " · first " + fmtTime(a.first_seen) + " · last " + fmtTime(a.last_seen) +
      (a.tags && a.tags.length ? " · " + a.tags.join(" ") : "")),
    hist ? el("div", { class: "meta" }, "score history: " + hist) : null,
    el("div", { class: "meta evidence" }, "evidence: " + (a.evidence_ids || []).join(", ")),
    evidenceList(a.id));
  return el("tr", { class: "detail", "data-for": a.id }, td);
}

// evidenceList shows the stored events of an alert (fetched from /api/alerts/{id} on expand).
function evidenceList(id) {
  const ev = state.evidence.get(id);
  if (!ev || !ev.length) return null;
  const ul = el("ul", { class: "evidence-events" });
  for (const e of ev.slice(0, 20)) {
    const what = [e.table, e.time, e.kind, e.name || e.metric_name || "", e.exe || "", e.cmdline || e.remote_addr || ""]
      .filter((x) => x !== undefined && x !== "").join(" · ");
    ul.append(el("li", { class: "meta" }, what));
  }
  return ul;
}

function toggle(id) {
  if (state.open.has(id)) state.open.delete(id);
  else {
    state.open.add(id);
    api("/api/alerts/" + encodeURIComponent(id)).then((d) => {
      state.evidence.set(id, d.evidence || []);
      const cur = state.alerts.get(id);
      if (d.alert && (!cur || (d.alert.version || 0) >= (cur.version || 0))) state.alerts.set(id, d.alert);
      render();
    }).catch((e) => msg("error: " + e.message));
  }
  render();
}

async function lifecycle(id, action) {
  try {
    const a = await api("/api/alerts/" + encodeURIComponent(id) + "/" + action, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    state.alerts.set(a.id, a);
    render();
  } catch (e) { msg("error: " + e.message); }
}

function setLive(on) { const l = $("live"); l.textContent = on ? "live" : "offline"; l.className = "pill " + (on ? "on" : "off"); }

// stream reads text/event-stream over fetch and reconnects with Last-Event-ID.
async function stream() {
  if (state.streamAbort) state.streamAbort.abort();
  const ctl = new AbortController();
  state.streamAbort = ctl;
  while (!ctl.signal.aborted) {
    try {
      const headers = { Authorization: "Bearer " + token(), Accept: "text/event-stream" };
      if (state.lastEventId) headers["Last-Event-ID"] = state.lastEventId;
      const res = await fetch("/api/alerts/stream", { headers, signal: ctl.signal });
      if (!res.ok) throw new Error("stream: " + res.status);
      setLive(true);
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i); buf = buf.slice(i + 2);
          let id = "", event = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("id: ")) id = line.slice(4);
            else if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (id) state.lastEventId = id;
          if (event === "alert" && data) {
            const a = JSON.parse(data);
            const prev = state.alerts.get(a.id);
            if (!prev || (a.version || 0) >= (prev.version || 0)) state.alerts.set(a.id, a);
            render(a.id);
          }
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
      msg("stream: " + e.message);
    }
    setLive(false);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

async function health() {
  try {
    const res = await fetch("/healthz");
    const h = await res.json();
    const s = $("health"); s.textContent = h.status + (h.warehouse ? " · warehouse " + (h.warehouse.ok ? "ok" : "down") : "");
    s.className = "pill " + (h.status === "ok" ? "ok" : "bad");
    $("pipelines").replaceChildren(...(h.pipelines || []).map((p) =>
      el("span", { class: "pill " + (p.state === "running" ? "ok" : "bad"), title: p.error || "" }, p.name + ": " + p.state)));
  } catch (e) { $("health").textContent = "unreachable"; $("health").className = "pill bad"; }
}

function start() {
  $("token").value = token();
  $("tokenform").addEventListener("submit", (e) => {
    e.preventDefault();
    localStorage.setItem("amoskys_token", $("token").value.trim());
    load(); stream();
  });
  $("apply").addEventListener("click", () => load());
  for (const id of ["f-severity", "f-status", "f-range"]) $(id).addEventListener("change", () => load());
  for (const id of ["f-host", "f-process"]) $(id).addEventListener("keydown", (e) => { if (e.key === "Enter") load(); });
  $("more").addEventListener("click", () => load(true));
  health(); setInterval(health, 10000);
  if (token()) { load(); stream(); } else msg("enter the API token (AMOSKYS_API_TOKEN or data/api-token)");
}

start();

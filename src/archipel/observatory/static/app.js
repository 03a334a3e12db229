/* archipel observatory: vanilla JS, no build step.
 *
 * Views by URL hash: #/ (all domains), #/d/<domain>, #/dlq/<domain>, #/trace/<correlation id>.
 * One EventSource on /stream: "hello" carries every domain's summary and recent
 * events, then "events" (new messages of one domain) and "status" (summaries).
 * History for the charts comes from /api/history (sampled server-side).
 * All text goes through textContent: event data is user data, never parsed as HTML.
 * Actions (replay, purge) send the session's CSRF token from /api/session.
 */
"use strict";

const MAX_EVENTS = 300; // kept per domain in the page
const SHOWN_EVENTS = 120; // rendered at once

const state = {
  domains: new Map(), // name -> summary
  order: [], // domain names in server order
  events: new Map(), // name -> [event, ...] oldest first
  history: {}, // name -> [point, ...]
  view: "all",
  selected: null,
  expanded: new Set(), // event ids opened by the user
  fresh: new Set(), // event ids to highlight once
  filter: "",
  token: null,
  dlq: null, // last dead-letter listing
};

// -- tiny DOM helpers -------------------------------------------------------------------
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}
const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  return el;
}

const $ = (id) => document.getElementById(id);
const fmt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString());
const enc = encodeURIComponent;

function relativeTime(iso) {
  if (!iso) return "";
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return String(iso);
  const sec = Math.max(0, Math.round((Date.now() - then) / 1000));
  if (sec < 5) return "just now";
  if (sec < 60) return `${sec}s ago`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m ago`;
  if (sec < 86400) return `${Math.floor(sec / 3600)}h ago`;
  return new Date(then).toLocaleString();
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 1) return `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 0)} ms`;
  return `${seconds.toFixed(2)} s`;
}

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

async function postJSON(url, payload) {
  if (!state.token) state.token = (await getJSON("/api/session")).csrf_token;
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": state.token },
    body: JSON.stringify(payload || {}),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function worstHealth(summary) {
  const hl = summary.health || {};
  if (hl.failing) return "failing";
  if (hl.behind) return "behind";
  if (hl.unknown) return "unknown";
  if (hl.ok) return "ok";
  return "inline";
}

// -- routing -------------------------------------------------------------------------------
function route() {
  const parts = location.hash.split("?")[0].replace(/^#\/?/, "").split("/");
  const [view, ...rest] = parts;
  const arg = decodeURIComponent(rest.join("/"));
  if (view === "d" && arg) return { view: "domain", domain: arg };
  if (view === "dlq") return { view: "dlq", domain: arg };
  if (view === "trace") return { view: "trace", id: arg };
  return { view: "all" };
}

function applyRoute() {
  const r = route();
  state.view = r.view;
  if (r.domain) state.selected = r.domain;
  if (!state.selected || !state.domains.has(state.selected)) state.selected = state.order[0] || state.selected;
  for (const name of ["all", "domain", "dlq", "trace"]) $(`view-${name}`).hidden = name !== r.view;
  for (const link of document.querySelectorAll(".nav a")) {
    if (link.dataset.view === r.view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const name = state.selected || "";
  $("nav-domain").href = `#/d/${enc(name)}`;
  $("nav-domain").textContent = name || "Domain";
  $("nav-dlq").href = `#/dlq/${enc(name)}`;
  $("tile-dlq").href = `#/dlq/${enc(name)}`;
  renderAll();
  if (r.view === "dlq") loadDeadLetters();
  if (r.view === "trace") {
    $("trace-id").value = r.id || "";
    if (r.id) loadTrace(r.id);
    else $("trace-tree").replaceChildren();
  }
}

// -- state updates --------------------------------------------------------------------------
function applySummaries(domains) {
  state.order = domains.map((d) => d.name);
  for (const d of domains) state.domains.set(d.name, d);
  if (!state.selected || !state.domains.has(state.selected)) state.selected = state.order[0] || null;
}

function addEvents(name, events, markFresh) {
  const list = state.events.get(name) || [];
  const known = new Set(list.map((e) => e.id));
  for (const e of events) {
    if (known.has(e.id)) continue;
    list.push(e);
    if (markFresh) state.fresh.add(e.id);
  }
  if (list.length > MAX_EVENTS) list.splice(0, list.length - MAX_EVENTS);
  state.events.set(name, list);
}

// -- charts ------------------------------------------------------------------------------------
function chart(title, points, series, format) {
  const W = 300, H = 70;
  const values = points.flatMap((p) => series.map((k) => p[k])).filter((v) => v !== null && v !== undefined);
  const max = Math.max(1e-9, ...values);
  const t0 = points.length ? points[0].t : 0;
  const t1 = points.length ? points[points.length - 1].t : 1;
  const x = (t) => (t1 === t0 ? W : ((t - t0) / (t1 - t0)) * W);
  const y = (v) => H - 2 - (v / max) * (H - 6);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": title });
  svg.append(s("line", { x1: 0, y1: H - 1, x2: W, y2: H - 1, class: "axis" }));
  series.forEach((key, i) => {
    const pts = points.filter((p) => p[key] !== null && p[key] !== undefined);
    if (!pts.length) return;
    const d = pts.map((p, j) => `${j ? "L" : "M"}${x(p.t).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
    if (i === 0 && series.length === 1) {
      svg.append(s("path", { d: `${d} L${x(pts[pts.length - 1].t).toFixed(1)},${H} L${x(pts[0].t).toFixed(1)},${H} Z`, class: "area" }));
    }
    svg.append(s("path", { d, class: `line s${i}` }));
  });
  const last = points.length ? points[points.length - 1] : {};
  const now = series.map((k) => format(last[k])).join(" / ");
  const caption = h("figcaption", {}, h("span", {}, title), h("b", {}, points.length ? now : "no data yet"));
  const keys = series.length > 1
    ? h("div", { class: "keys" }, ...series.map((k, i) => h("span", { class: `key${i}` }, k.replace("latency_", ""))))
    : null;
  return h("figure", { class: "chart" }, caption, svg, keys,
    h("div", { class: "keys" }, h("span", {}, `peak ${format(values.length ? Math.max(...values) : null)}`),
      h("span", {}, points.length ? `${Math.round((t1 - t0) / 60)} min` : "")));
}

function charts(points) {
  const rate = (v) => (v === null || v === undefined ? "–" : `${Number(v).toFixed(1)}/s`);
  return [
    chart("Throughput", points, ["throughput"], rate),
    chart("Reaction time p50 / p99", points, ["latency_p50", "latency_p99"], duration),
    chart("Lag (waiting messages)", points, ["lag"], fmt),
    chart("Dead letters", points, ["dlq"], fmt),
  ];
}

function combinedHistory() {
  // all domains: sum per sample index (samples are taken together server-side)
  const lists = Object.values(state.history);
  const longest = Math.max(0, ...lists.map((l) => l.length));
  const out = [];
  for (let i = 0; i < longest; i++) {
    const at = lists.map((l) => l[l.length - longest + i]).filter(Boolean);
    if (!at.length) continue;
    const sum = (k) => at.reduce((acc, p) => acc + (p[k] || 0), 0);
    const maxOf = (k) => { const v = at.map((p) => p[k]).filter((x) => x !== null && x !== undefined); return v.length ? Math.max(...v) : null; };
    out.push({ t: at[0].t, throughput: sum("throughput"), lag: sum("lag"), dlq: sum("dlq"),
      latency_p50: maxOf("latency_p50"), latency_p99: maxOf("latency_p99") });
  }
  return out;
}

async function loadHistory() {
  try {
    state.history = (await getJSON("/api/history")).domains;
    renderCharts();
  } catch (err) {
    /* the next poll tries again */
  }
}

function renderCharts() {
  $("all-charts").replaceChildren(...charts(combinedHistory()));
  $("domain-charts").replaceChildren(...charts(state.history[state.selected] || []));
}

// -- all domains ---------------------------------------------------------------------------------
function renderOverview() {
  const cards = state.order.map((name) => {
    const d = state.domains.get(name);
    const dlq = d.dlq_depth || 0;
    const outbox = d.outbox_pending || 0;
    return h("a", { class: "domain-card" + (name === state.selected ? " selected" : ""), href: `#/d/${enc(name)}` },
      h("div", { class: "domain-card-head" },
        h("span", { class: "domain-card-name" }, name),
        h("span", { class: `state-dot ${worstHealth(d)}`, title: worstHealth(d), role: "img", "aria-label": worstHealth(d) })),
      h("div", { class: "domain-card-stats" },
        mini("messages", d.last_position),
        mini("handlers", (d.subscriptions || []).length),
        mini("outbox", d.outbox_pending, outbox > 0 ? "attn" : ""),
        mini("DLQ", d.dlq_depth, dlq > 0 ? "alert" : "")));
  });
  $("overview").replaceChildren(...(cards.length ? cards : [h("div", { class: "placeholder" }, "No domains.")]));
}

function mini(label, value, cls) {
  return h("div", { class: `mini ${cls || ""}` }, h("div", { class: "v" }, fmt(value)), h("div", { class: "l" }, label));
}

// -- one domain ---------------------------------------------------------------------------------
function renderDetail() {
  const d = state.domains.get(state.selected);
  if (!d) return;
  $("domain-name").textContent = d.name;
  const p = d.providers || {};
  const dbs = Object.entries(p.databases || {}).map(([n, v]) => `${n}: ${v}`).join(", ") || "none";
  const brokers = Object.entries(p.brokers || {}).map(([n, v]) => `${n}: ${v}`).join(", ") || "none";
  const badge = (label, value) => h("span", { class: "badge" }, `${label} `, h("b", {}, value));
  $("domain-badges").replaceChildren(
    badge("commands", d.processing.commands), badge("events", d.processing.events),
    badge("database", dbs), badge("broker", brokers),
    badge("event store", p.event_store || "memory"), badge("outbox", d.outbox ? "on" : "off"));
  $("domain-health").replaceChildren(
    ...Object.entries(d.health || {}).map(([word, n]) => h("span", { class: `pill ${word}` }, `${n} ${word}`)));
  setTile("tile-messages", d.last_position);
  setTile("tile-subscriptions", (d.subscriptions || []).length);
  setTile("tile-outbox", d.outbox_pending, d.outbox_pending > 0 ? "attn" : "");
  setTile("tile-dlq", d.dlq_depth, d.dlq_depth > 0 ? "alert" : "");
  $("status-source").textContent =
    d.status_source === "engine" ? "live status from the engine" : "from the routing table (no engine status)";
  renderDeadlines(d);
  const rows = (d.subscriptions || []).map((x) =>
    h("tr", {},
      h("td", { class: "name" }, ...nameCell(x.name)),
      h("td", { class: "kind" }, String(x.kind).replace(/_/g, " ")),
      h("td", { class: "streams" }, ...((x.streams || []).length ? x.streams.map((st) => h("span", {}, st)) : ["–"])),
      h("td", { class: "num" }, fmt(x.lag)),
      h("td", { class: "num" }, fmt(x.pending)),
      h("td", { class: "num" }, x.dlq_depth ? h("a", { href: `#/dlq/${enc(d.name)}?s=${enc(x.name)}` }, fmt(x.dlq_depth)) : fmt(x.dlq_depth)),
      h("td", {}, h("span", { class: `pill ${x.health}` }, x.health))));
  $("subs-body").replaceChildren(
    ...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No handlers registered."))]));
}

function dueIn(iso) {
  // a deadline's due time, relative to now ("in 29m", "overdue 3s")
  if (!iso) return "–";
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return String(iso);
  const sec = Math.round((then - Date.now()) / 1000);
  const span = (n) => (n < 60 ? `${n}s` : n < 3600 ? `${Math.floor(n / 60)}m` : n < 86400 ? `${Math.floor(n / 3600)}h` : `${Math.floor(n / 86400)}d`);
  return sec >= 0 ? `in ${span(sec)}` : `overdue ${span(-sec)}`;
}

function renderDeadlines(d) {
  const found = d.deadlines || { process_managers: [], next: [] };
  const managers = found.process_managers || [];
  $("deadlines-panel").hidden = managers.length === 0;
  $("deadlines-body").replaceChildren(...managers.map((pm) =>
    h("tr", {},
      h("td", { class: "name" }, pm.name),
      h("td", { class: "num" }, fmt(pm.pending)),
      h("td", { class: "num" }, fmt(pm.fired)),
      h("td", { class: "num" }, fmt(pm.cancelled)),
      h("td", { class: "num" + (pm.failed ? " alert" : "") }, fmt(pm.failed)),
      h("td", { title: pm.next_due_at || "" }, dueIn(pm.next_due_at)))));
  const next = found.next || [];
  $("deadlines-next").replaceChildren(...next.map((x) =>
    h("li", { class: `deadline ${x.state}` },
      h("span", { class: "type" }, x.type),
      h("span", { class: "muted" }, ` ${x.process_manager} · ${x.correlation} · `),
      h("span", { title: x.due_at || "" }, x.state === "failed" ? `failed after ${x.attempts} attempt(s): ${x.error || ""}` : dueIn(x.due_at)))));
  $("deadlines-empty").hidden = next.length > 0;
}

function nameCell(name) {
  // qualified names (module.Class): the class stands out, its module stays readable
  const text = String(name);
  const dot = text.lastIndexOf(".");
  if (dot < 0) return [text];
  return [h("div", {}, text.slice(dot + 1)), h("div", { class: "module" }, text.slice(0, dot))];
}

function setTile(id, value, cls) {
  const el = $(id);
  el.textContent = fmt(value);
  el.className = `tile-value ${cls || ""}`;
}

function renderEvents() {
  const all = state.events.get(state.selected) || [];
  const needle = state.filter.toLowerCase();
  const matching = needle ? all.filter((e) => `${e.type} ${e.stream}`.toLowerCase().includes(needle)) : all;
  const shown = matching.slice(-SHOWN_EVENTS).reverse();
  $("event-list").replaceChildren(...shown.map(eventItem));
  $("events-empty").hidden = shown.length > 0;
  $("events-empty").textContent = all.length
    ? "No message matches the filter."
    : "No messages stored yet. They appear here as they are written.";
  state.fresh.clear();
}

function eventItem(e) {
  const open = state.expanded.has(e.id);
  const item = h("li", { class: "event" + (state.fresh.has(e.id) ? " fresh" : "") },
    h("button", { class: "event-row", type: "button", "aria-expanded": open ? "true" : "false", onclick: () => toggle(e.id) },
      h("span", { class: `kind-tag ${e.kind}` }, e.kind),
      h("span", { class: "event-main" },
        h("span", { class: "event-type" }, e.type || "?"),
        h("span", { class: "event-stream" }, e.stream || "")),
      h("span", { class: "event-time", dataset: { time: e.time || "" }, title: e.time || "" }, relativeTime(e.time))));
  if (open) {
    const meta = [["position", e.position], ["id", e.id], ["time", e.time],
      ["correlation", e.correlation_id], ["causation", e.causation_id]];
    item.append(h("div", { class: "event-detail" },
      h("dl", { class: "event-meta" }, ...meta.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "–")])),
      e.correlation_id ? h("p", {}, h("a", { class: "trace-link", href: `#/trace/${enc(e.correlation_id)}` }, "Show the whole correlation chain")) : null,
      h("pre", { class: "json" }, JSON.stringify(e.data, null, 2))));
  }
  return item;
}

function toggle(id) {
  if (state.expanded.has(id)) state.expanded.delete(id);
  else state.expanded.add(id);
  renderEvents();
}

// -- dead letters --------------------------------------------------------------------------------
function dlqFilters() {
  return { subscription: $("f-subscription").value, type: $("f-type").value.trim(), error: $("f-error").value.trim() };
}

function say(text, bad) {
  const el = $("dlq-message");
  el.hidden = !text;
  el.textContent = text || "";
  el.className = bad ? "message bad" : "message";
}

async function loadDeadLetters() {
  const name = state.selected;
  if (!name) return;
  $("dlq-title").textContent = `Dead letters of ${name}`;
  const wanted = new URLSearchParams(location.hash.split("?")[1] || "").get("s");
  if (wanted && !$("f-subscription").value) ensureOption(wanted);
  const query = new URLSearchParams(Object.entries(dlqFilters()).filter(([, v]) => v));
  try {
    state.dlq = await getJSON(`/api/domains/${enc(name)}/dead-letters?${query}`);
  } catch (err) {
    say(`Could not read the dead letters: ${err.message}`, true);
    return;
  }
  renderDeadLetters();
}

function ensureOption(value) {
  const select = $("f-subscription");
  if (![...select.options].some((o) => o.value === value)) select.append(h("option", { value }, value));
  select.value = value;
}

function renderDeadLetters() {
  const data = state.dlq;
  if (!data) return;
  const d = state.domains.get(state.selected);
  const select = $("f-subscription");
  const current = select.value;
  const names = (d ? d.subscriptions || [] : []).map((x) => x.name);
  select.replaceChildren(h("option", { value: "" }, "any"), ...names.map((n) => h("option", { value: n }, n)));
  if (current) ensureOption(current);
  $("dlq-total").textContent = `${fmt(data.total)} matching`;
  $("dlq-groups").replaceChildren(...(data.groups.length ? data.groups.map((g) =>
    h("li", {},
      h("div", {}, h("span", { class: "count" }, fmt(g.count)), h("span", { class: "sub" }, g.subscription)),
      h("div", { class: "err" }, g.error_summary),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "small", onclick: () => groupAction("replay", g) }, `Replay group (${g.count})`),
        h("button", { type: "button", class: "small danger", onclick: () => groupAction("purge", g) }, "Purge group"),
        h("button", { type: "button", class: "small secondary", onclick: () => loadGroup(g.group) }, "Show only")))) :
    [h("li", { class: "muted" }, "No dead letters. Messages that fail every retry show up here.")]));
  $("dlq-body").replaceChildren(...(data.dead_letters.length ? data.dead_letters.map((x) =>
    h("tr", {},
      h("td", { class: "sub" }, x.subscription),
      h("td", { class: "type" }, x.type || "–"),
      h("td", { class: "num" }, fmt(x.attempts)),
      h("td", { title: x.last_failed_at || "" }, relativeTime(x.last_failed_at)),
      h("td", { class: "err" }, x.error_summary),
      h("td", {}, h("div", { class: "actions" },
        h("button", { type: "button", class: "small secondary", onclick: () => inspect(x.id) }, "Inspect"),
        h("button", { type: "button", class: "small", onclick: () => oneAction("replay", x) }, "Replay"),
        h("button", { type: "button", class: "small danger", onclick: () => oneAction("purge", x) }, "Purge"))))) :
    [h("tr", {}, h("td", { colspan: 6, class: "muted" }, "Nothing matches."))]));
}

async function loadGroup(group) {
  const query = new URLSearchParams({ group });
  state.dlq = await getJSON(`/api/domains/${enc(state.selected)}/dead-letters?${query}`);
  renderDeadLetters();
}

async function inspect(id) {
  try {
    const x = await getJSON(`/api/domains/${enc(state.selected)}/dead-letters/${enc(id)}`);
    const facts = [["id", x.id], ["subscription", x.subscription], ["message id", x.message_id], ["type", x.type],
      ["stream", x.stream], ["attempts", x.attempts], ["first failed", x.first_failed_at], ["last failed", x.last_failed_at]];
    $("detail-facts").replaceChildren(...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "–")]));
    $("detail-error").textContent = x.error || "";
    $("detail-payload").textContent = JSON.stringify(x.payload, null, 2);
    const meta = (x.payload || {}).metadata || {};
    $("detail-title").textContent = `Dead letter ${x.id}`;
    if (meta.correlation_id) {
      $("detail-facts").append(h("dt", {}, "trace"), h("dd", {}, h("a", { href: `#/trace/${enc(meta.correlation_id)}` }, meta.correlation_id)));
    }
    $("dlq-detail").hidden = false;
    $("dlq-detail").focus();
  } catch (err) {
    say(err.message, true);
  }
}

async function oneAction(action, x) {
  if (action === "purge" && !confirm(`Delete dead letter ${x.id} for good?`)) return;
  try {
    await postJSON(`/api/domains/${enc(state.selected)}/dead-letters/${enc(x.id)}/${action}`);
    say(`${action === "replay" ? "Replayed" : "Purged"} dead letter ${x.id}.`);
  } catch (err) {
    say(`${action} failed: ${err.message}`, true);
  }
  $("dlq-detail").hidden = true;
  loadDeadLetters();
}

async function groupAction(action, g) {
  if (action === "purge" && !confirm(`Delete the ${g.count} dead letter(s) of this group for good?`)) return;
  try {
    const done = await postJSON(`/api/domains/${enc(state.selected)}/dead-letters/${action}`, { group: g.group });
    say(`${action === "replay" ? "Replayed" : "Purged"} ${done.count} dead letter(s).`);
  } catch (err) {
    say(`${action} failed: ${err.message}`, true);
  }
  loadDeadLetters();
}

// -- traces ------------------------------------------------------------------------------------------
async function loadTrace(id) {
  $("trace-summary").textContent = "Loading…";
  let data;
  try {
    data = await getJSON(`/api/trace/${enc(id)}`);
  } catch (err) {
    $("trace-summary").textContent = `Could not read the trace: ${err.message}`;
    return;
  }
  if (!data.count) {
    $("trace-summary").textContent = `No message has correlation id ${id}.`;
    $("trace-tree").replaceChildren();
    return;
  }
  const total = data.duration_ms === null ? "" : `, ${data.duration_ms.toFixed(1)} ms from first to last`;
  $("trace-summary").textContent = `${data.count} message(s) in ${data.domains.join(", ")}${total}.`;
  $("trace-tree").replaceChildren(...data.roots.map(traceNode));
}

function traceNode(node) {
  const timing = node.after_ms === null ? `+${(node.offset_ms || 0).toFixed(1)} ms`
    : `+${node.offset_ms.toFixed(1)} ms (${node.after_ms.toFixed(1)} ms after its cause)`;
  return h("li", {},
    h("div", { class: "node", tabindex: "0", title: node.id },
      h("span", { class: `kind-tag ${node.kind}` }, node.kind),
      h("span", {}, h("span", { class: "event-type" }, node.type || "?"), " ",
        h("span", { class: "domain" }, node.domain), " ", h("span", { class: "event-stream" }, node.stream || "")),
      h("span", { class: "timing" }, timing)),
    node.children.length ? h("ul", {}, ...node.children.map(traceNode)) : null);
}

// -- rendering and the live stream ----------------------------------------------------------------
function renderAll() {
  renderOverview();
  renderDetail();
  renderEvents();
  renderCharts();
}

function setConnection(cls, label) {
  const el = $("connection");
  el.className = `connection ${cls}`;
  el.querySelector(".label").textContent = label;
}

function touched() {
  $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function connect() {
  if (!("EventSource" in window)) return poll();
  const source = new EventSource("/stream");
  source.addEventListener("open", () => setConnection("live", "live"));
  source.addEventListener("hello", (msg) => {
    const data = JSON.parse(msg.data);
    state.events.clear();
    applySummaries(data.domains);
    for (const d of data.domains) addEvents(d.name, d.events || [], false);
    setConnection("live", "live");
    touched();
    applyRoute();
  });
  source.addEventListener("events", (msg) => {
    const data = JSON.parse(msg.data);
    addEvents(data.domain, data.events, true);
    if (data.domain === state.selected) renderEvents();
  });
  source.addEventListener("status", (msg) => {
    applySummaries(JSON.parse(msg.data).domains);
    touched();
    renderOverview();
    renderDetail();
  });
  source.addEventListener("failure", () => setConnection("down", "stream failed, retrying"));
  source.addEventListener("error", () => {
    // the browser retries on its own unless the stream was closed for good
    if (source.readyState === EventSource.CLOSED) {
      setConnection("down", "disconnected");
      setTimeout(connect, 3000);
    } else {
      setConnection("connecting", "reconnecting");
    }
  });
}

async function poll() {
  // fallback without EventSource: summaries and every domain's latest events
  try {
    applySummaries((await getJSON("/api/domains")).domains);
    for (const name of state.order) addEvents(name, (await getJSON(`/api/domains/${enc(name)}/events`)).events, false);
    setConnection("live", "polling");
    touched();
    renderAll();
  } catch (err) {
    setConnection("down", "unreachable");
  }
  setTimeout(poll, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  $("event-filter").addEventListener("input", (e) => {
    state.filter = e.target.value.trim();
    renderEvents();
  });
  $("dlq-filters").addEventListener("submit", (e) => { e.preventDefault(); loadDeadLetters(); });
  $("f-clear").addEventListener("click", () => {
    $("f-subscription").value = ""; $("f-type").value = ""; $("f-error").value = "";
    loadDeadLetters();
  });
  $("detail-close").addEventListener("click", () => { $("dlq-detail").hidden = true; });
  $("trace-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = $("trace-id").value.trim();
    if (id) location.hash = `#/trace/${enc(id)}`;
  });
  document.addEventListener("keydown", (e) => {
    // "/" focuses the view's search field, as in many dashboards
    if (e.key === "/" && !["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)) {
      const field = { domain: "event-filter", dlq: "f-error", trace: "trace-id" }[state.view];
      if (field) { e.preventDefault(); $(field).focus(); }
    }
    if (e.key === "Escape" && !$("dlq-detail").hidden) $("dlq-detail").hidden = true;
  });
  window.addEventListener("hashchange", applyRoute);
  setInterval(() => {
    for (const el of document.querySelectorAll(".event-time")) el.textContent = relativeTime(el.dataset.time);
  }, 5000);
  applyRoute();
  loadHistory();
  setInterval(loadHistory, 10000);
  connect();
});

/* archipel observatory: vanilla JS, no build step.
 *
 * One EventSource on /stream: "hello" carries every domain's summary and recent
 * events, then "events" (new messages of one domain) and "status" (summaries)
 * arrive every second. All text goes through textContent: event data is user
 * data and is never parsed as HTML.
 */
"use strict";

const MAX_EVENTS = 300; // kept per domain in the page
const SHOWN_EVENTS = 120; // rendered at once

const state = {
  domains: new Map(), // name -> summary
  order: [], // domain names in server order
  events: new Map(), // name -> [event, ...] oldest first
  selected: null,
  expanded: new Set(), // event ids opened by the user
  fresh: new Set(), // event ids to highlight once
  filter: "",
};

// -- tiny DOM helper ----------------------------------------------------------------
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

const $ = (id) => document.getElementById(id);
const fmt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString());

function relativeTime(iso) {
  if (!iso) return "";
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return String(iso);
  const s = Math.max(0, Math.round((Date.now() - then) / 1000));
  if (s < 5) return "just now";
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return new Date(then).toLocaleString();
}

function worstHealth(summary) {
  const h = summary.health || {};
  if (h.failing) return "failing";
  if (h.behind) return "behind";
  if (h.unknown) return "unknown";
  if (h.ok) return "ok";
  return "inline";
}

// -- state updates ----------------------------------------------------------------
function applySummaries(domains) {
  state.order = domains.map((d) => d.name);
  for (const d of domains) state.domains.set(d.name, d);
  if (!state.selected || !state.domains.has(state.selected)) {
    const wanted = decodeURIComponent(location.hash.slice(1));
    state.selected = state.domains.has(wanted) ? wanted : state.order[0] || null;
  }
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

// -- rendering ------------------------------------------------------------------------
function renderOverview() {
  const cards = state.order.map((name) => {
    const d = state.domains.get(name);
    const dlq = d.dlq_depth || 0;
    const outbox = d.outbox_pending || 0;
    return h(
      "button",
      {
        class: "domain-card" + (name === state.selected ? " selected" : ""),
        type: "button",
        onclick: () => select(name),
        title: `Show ${name}`,
      },
      h("div", { class: "domain-card-head" },
        h("span", { class: "domain-card-name" }, name),
        h("span", { class: `state-dot ${worstHealth(d)}`, title: worstHealth(d) })),
      h("div", { class: "domain-card-stats" },
        mini("messages", d.last_position),
        mini("handlers", (d.subscriptions || []).length),
        mini("outbox", d.outbox_pending, outbox > 0 ? "attn" : ""),
        mini("DLQ", d.dlq_depth, dlq > 0 ? "alert" : "")),
    );
  });
  $("overview").replaceChildren(...(cards.length ? cards : [h("div", { class: "placeholder" }, "No domains.")]));
}

function mini(label, value, cls) {
  return h("div", { class: `mini ${cls || ""}` }, h("div", { class: "v" }, fmt(value)), h("div", { class: "l" }, label));
}

function renderDetail() {
  const d = state.domains.get(state.selected);
  $("detail").hidden = !d;
  if (!d) return;
  $("domain-name").textContent = d.name;
  const p = d.providers || {};
  const dbs = Object.entries(p.databases || {}).map(([n, v]) => `${n}: ${v}`).join(", ") || "none";
  const brokers = Object.entries(p.brokers || {}).map(([n, v]) => `${n}: ${v}`).join(", ") || "none";
  const badge = (label, value) => h("span", { class: "badge" }, `${label} `, h("b", {}, value));
  $("domain-badges").replaceChildren(
    badge("commands", d.processing.commands),
    badge("events", d.processing.events),
    badge("database", dbs),
    badge("broker", brokers),
    badge("event store", p.event_store || "memory"),
    badge("outbox", d.outbox ? "on" : "off"),
  );
  const health = d.health || {};
  $("domain-health").replaceChildren(
    ...Object.entries(health).map(([word, n]) => h("span", { class: `pill ${word}` }, `${n} ${word}`)),
  );
  setTile("tile-messages", d.last_position);
  setTile("tile-subscriptions", (d.subscriptions || []).length);
  setTile("tile-outbox", d.outbox_pending, d.outbox_pending > 0 ? "attn" : "");
  setTile("tile-dlq", d.dlq_depth, d.dlq_depth > 0 ? "alert" : "");
  $("status-source").textContent =
    d.status_source === "engine" ? "live status from the engine" : "from the routing table (no engine status)";
  const rows = (d.subscriptions || []).map((s) =>
    h("tr", {},
      h("td", { class: "name" }, ...nameCell(s.name)),
      h("td", { class: "kind" }, String(s.kind).replace(/_/g, " ")),
      h("td", { class: "streams" }, ...((s.streams || []).length ? s.streams.map((x) => h("span", {}, x)) : ["–"])),
      h("td", { class: "num" }, fmt(s.lag)),
      h("td", { class: "num" }, fmt(s.pending)),
      h("td", { class: "num" }, fmt(s.dlq_depth)),
      h("td", {}, h("span", { class: `pill ${s.health}` }, s.health))));
  $("subs-body").replaceChildren(
    ...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No handlers registered."))]),
  );
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
  const matching = needle
    ? all.filter((e) => `${e.type} ${e.stream}`.toLowerCase().includes(needle))
    : all;
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
    h("div", { class: "event-row", onclick: () => toggle(e.id), title: "Show details" },
      h("span", { class: `kind-tag ${e.kind}` }, e.kind),
      h("div", { class: "event-main" },
        h("div", { class: "event-type" }, e.type || "?"),
        h("div", { class: "event-stream" }, e.stream || "")),
      h("span", { class: "event-time", dataset: { time: e.time || "" }, title: e.time || "" }, relativeTime(e.time))));
  if (open) {
    const meta = [["position", e.position], ["id", e.id], ["time", e.time],
      ["correlation", e.correlation_id], ["causation", e.causation_id]];
    item.append(h("div", { class: "event-detail" },
      h("dl", { class: "event-meta" }, ...meta.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "–")])),
      h("pre", { class: "json" }, JSON.stringify(e.data, null, 2))));
  }
  return item;
}

function toggle(id) {
  if (state.expanded.has(id)) state.expanded.delete(id);
  else state.expanded.add(id);
  renderEvents();
}

function select(name) {
  state.selected = name;
  history.replaceState(null, "", `#${encodeURIComponent(name)}`);
  renderAll();
}

function renderAll() {
  renderOverview();
  renderDetail();
  renderEvents();
}

function setConnection(cls, label) {
  const el = $("connection");
  el.className = `connection ${cls}`;
  el.querySelector(".label").textContent = label;
}

function touched() {
  $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

// -- live stream ------------------------------------------------------------------------
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
    renderAll();
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
  // fallback without EventSource: summaries and the selected domain's events
  try {
    const response = await fetch("/api/domains");
    applySummaries((await response.json()).domains);
    for (const name of state.order) {
      const r = await fetch(`/api/domains/${encodeURIComponent(name)}/events`);
      addEvents(name, (await r.json()).events, false);
    }
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
  window.addEventListener("hashchange", () => {
    const wanted = decodeURIComponent(location.hash.slice(1));
    if (state.domains.has(wanted) && wanted !== state.selected) select(wanted);
  });
  setInterval(() => {
    for (const el of document.querySelectorAll(".event-time")) el.textContent = relativeTime(el.dataset.time);
  }, 5000);
  connect();
});

"""The status page: one HTML document that draws ``/status`` and redraws it every second.

Self-contained (inline CSS and script, no external assets, no framework) so that it works
on a machine with no network. Every value from the service reaches the page as text
(``textContent``), never as markup: node ids and exit reasons come from user code.

Each node of the supervision tree is an element with ``class="node"``, ``data-node`` set
to its path (``runtime/services/pipe etl``) and ``data-state`` to its state, for tests and
for anyone scripting the page.
"""

from __future__ import annotations

__all__ = ["PAGE"]

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>slither_actors status</title>
<style>
:root { --running: #2f9e44; --restarting: #f08c00; --stopped: #868e96; --ink: #212529;
        --muted: #6c757d; --line: #dee2e6; --panel: #f8f9fa; --bad: #c92a2a; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--ink); background: #fff; }
header { display: flex; gap: 1.5em; align-items: baseline; padding: .6em 1.2em;
         border-bottom: 1px solid var(--line); background: var(--panel); }
header h1 { font-size: 16px; margin: 0; }
header .facts { color: var(--muted); }
#link { margin-left: auto; font-weight: 600; color: var(--running); }
body.disconnected #link { color: var(--bad); }
body.disconnected main { opacity: .45; }
main { display: grid; grid-template-columns: minmax(420px, 1fr) minmax(380px, 1fr);
       gap: 1.2em; padding: 1em 1.2em; }
section h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .06em;
             color: var(--muted); margin: 0 0 .5em; }
.node { border-left: 4px solid var(--stopped); padding: .15em 0 .15em .6em; margin: .3em 0; }
.node[data-state="running"] { border-left-color: var(--running); }
.node[data-state="restarting"] { border-left-color: var(--restarting); }
.node > .row { display: flex; gap: .6em; align-items: center; flex-wrap: wrap; }
.node .children { margin-left: 1.1em; }
.id { font-weight: 600; }
.kind { font-size: 11px; color: var(--muted); border: 1px solid var(--line);
        border-radius: 3px; padding: 0 .35em; }
.state { font-size: 11px; color: #fff; border-radius: 3px; padding: 0 .4em;
         background: var(--stopped); }
.state.running { background: var(--running); }
.state.restarting { background: var(--restarting); }
.restarts { color: var(--restarting); font-weight: 600; }
.exit { color: var(--bad); font-family: ui-monospace, monospace; font-size: 12px;
        word-break: break-all; }
.bar { display: inline-flex; align-items: center; gap: .4em; font-size: 12px;
       color: var(--muted); }
.bar .track { width: 70px; height: 8px; background: var(--line); border-radius: 4px;
              overflow: hidden; }
.bar .fill { height: 100%; background: #4c6ef5; }
.bar .fill.high { background: var(--restarting); }
.bar .fill.full { background: var(--bad); }
.block { margin-bottom: 1em; }
.block h3 { font-size: 14px; margin: .2em 0; }
.block h3 .facts { font-weight: 400; color: var(--muted); margin-left: .6em; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: .2em .6em .2em 0; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 500; }
td.number { font-variant-numeric: tabular-nums; }
.worker-busy { color: #1971c2; font-weight: 600; }
.worker-draining { color: var(--restarting); }
.empty { color: var(--muted); }
</style>
</head>
<body>
<header>
  <h1 id="service">slither_actors</h1>
  <span class="facts" id="facts">waiting for the first status</span>
  <span class="facts" id="refreshed"></span>
  <span id="link">connecting</span>
</header>
<main>
  <section><h2>Supervision tree</h2><div id="tree"></div></section>
  <section>
    <h2>Pools</h2><div id="pools"></div>
    <h2>Pipes</h2><div id="pipes"></div>
    <h2>Stores</h2><div id="stores"></div>
  </section>
</main>
<script>
"use strict";
const REFRESH_MS = 1000;

// Builds an element; strings become text nodes, so nothing from the service is markup.
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "className") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function number(value, digits) {
  if (value === null || value === undefined) return "-";
  return Number(value).toLocaleString("en", {maximumFractionDigits: digits || 0});
}

function duration(seconds) {
  const whole = Math.floor(seconds), hours = Math.floor(whole / 3600);
  const minutes = Math.floor(whole / 60) % 60, rest = whole % 60;
  if (hours) return hours + "h " + minutes + "m " + rest + "s";
  return minutes ? minutes + "m " + rest + "s" : seconds.toFixed(1) + "s";
}

function bar(queue) {
  if (!queue) return null;
  const share = queue.bound > 0 ? Math.min(1, queue.depth / queue.bound) : 0;
  const fill = el("div", {className: "fill" + (share >= 1 ? " full" : share >= .5 ? " high" : "")});
  fill.style.width = (share * 100).toFixed(1) + "%";
  return el("span", {className: "bar", title: "waiting / bound"},
            el("span", {className: "track"}, fill), queue.depth + "/" + queue.bound);
}

function treeNode(node, parentPath) {
  const path = parentPath ? parentPath + "/" + node.id : node.id;
  const row = el("div", {className: "row"},
    el("span", {className: "id"}, String(node.id)),
    el("span", {className: "kind"}, node.kind + (node.strategy ? " · " + node.strategy : "")),
    el("span", {className: "state " + node.state}, node.state),
    node.restarts ? el("span", {className: "restarts"}, "↻ " + node.restarts) : null,
    node.mailbox ? bar(node.mailbox) : null,
    node.last_exit ? el("span", {className: "exit"}, "last exit: " + node.last_exit) : null);
  const children = el("div", {className: "children"});
  for (const child of node.children || []) children.append(treeNode(child, path));
  return el("div", {className: "node", "data-node": path, "data-state": node.state},
            row, children);
}

function table(headings, rows) {
  const head = el("tr", {}, ...headings.map((text) => el("th", {}, text)));
  const body = rows.map((cells) => el("tr", {}, ...cells.map((cell) =>
    typeof cell === "number" ? el("td", {className: "number"}, number(cell, 1))
                             : el("td", {}, cell))));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...body));
}

function block(title, facts, content) {
  return el("div", {className: "block"},
            el("h3", {}, title, el("span", {className: "facts"}, facts)), content);
}

function pools(list) {
  return list.map((pool) => block("pool " + pool.name,
    pool.live + "/" + pool.size + " live · " + pool.in_flight + " in flight · " +
      pool.waiting + " waiting · " + pool.sessions + " sessions",
    table(["worker", "pid", "state", "in flight", "calls done", "RSS MB"],
          pool.workers.map((worker) => [
            String(worker.worker_id), String(worker.pid),
            el("span", {className: "worker-" + worker.state}, worker.state),
            worker.in_flight, worker.calls_done,
            worker.rss_mb === null ? "-" : worker.rss_mb]))));
}

function pipes(list) {
  return list.map((pipe) => {
    const delivered = Object.entries(pipe.delivered || {})
      .map(([output, count]) => output + " " + number(count)).join(", ");
    return block("pipe " + pipe.name,
      (pipe.running ? "running" : "stopped") + " · delivered " + (delivered || "0") +
        " · " + pipe.errors + " errors",
      table(["stage", "kind", "inbox", "in flight", "items", "items/s"],
            pipe.stages.map((stage) => [
              String(stage.name), stage.kind, bar(stage.inbox) || "-",
              stage.in_flight, stage.items, stage.items_per_second])));
  });
}

function stores(list) {
  const rows = [];
  for (const store of list) {
    for (const [name, size] of Object.entries(store.tables)) rows.push([store.name, name, size]);
  }
  return rows.length ? [table(["store", "table", "rows"], rows)] : [];
}

function fill(id, nodes) {
  const target = document.getElementById(id);
  target.replaceChildren(...(nodes.length ? nodes : [el("div", {className: "empty"}, "none")]));
}

function draw(status) {
  document.getElementById("service").textContent = status.service;
  document.getElementById("facts").textContent =
    "pid " + status.pid + " · up " + duration(status.uptime);
  document.getElementById("refreshed").textContent =
    "refreshed " + new Date().toLocaleTimeString("en-GB");
  fill("tree", [treeNode(status.tree, "")]);
  fill("pools", pools(status.pools || []));
  fill("pipes", pipes(status.pipes || []));
  fill("stores", stores(status.stores || []));
}

function linked(connected, why) {
  document.body.classList.toggle("disconnected", !connected);
  document.getElementById("link").textContent = connected ? "live" : "disconnected";
  document.getElementById("link").title = why || "";
}

async function refresh() {
  try {
    const response = await fetch("status", {cache: "no-store"});
    if (!response.ok) throw new Error("HTTP " + response.status);
    draw(await response.json());
    linked(true);
  } catch (error) {
    linked(false, String(error));
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}
refresh();
</script>
</body>
</html>
"""

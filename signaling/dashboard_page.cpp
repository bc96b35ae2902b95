#include "signaling/dashboard_page.hpp"

namespace meshcast::signaling {

// The tracker's dashboard: one self-contained page (no CDN, no external fetch) that polls
// GET /api/streams and GET /api/streams/NAME/overlay every second and draws the overlay
// as an SVG graph, layered by hop distance from the broadcaster along parent links.
// Every string from the tracker (peer ids, stream names) is untrusted: the script only
// ever sets it through textContent / setAttribute, never innerHTML.
// docs/dashboard.md describes it; tests/integration/dashboard/ opens it in headless Chromium.
const std::string& dashboard_html() {
  static const std::string kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>meshcast tracker</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f4f6fa}
header{display:flex;align-items:center;gap:1em;padding:.6em 1.2em;background:#1d2330;color:#fff}
header h1{font-size:17px;margin:0;font-weight:600}
header a{color:#9cc3ff;font-size:12px}
#conn{margin-left:auto;font-size:12px}
#conn.bad{color:#ff8a80}
main{display:flex;gap:1em;padding:1em;align-items:flex-start}
aside{width:260px;flex:none}
section{flex:1;min-width:0}
.card{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:.8em 1em;margin-bottom:1em}
.card h2{font-size:13px;text-transform:uppercase;letter-spacing:.05em;color:#5b6478;margin:0 0 .5em}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.25em .5em;border-bottom:1px solid #eceff4;font-size:13px;white-space:nowrap}
th{color:#5b6478;font-weight:600}
#streams tr.stream{cursor:pointer}
#streams tr.stream:hover{background:#eef3ff}
#streams tr.sel{background:#dde8ff}
.lock{color:#b26a00;font-size:12px}
#summary{display:flex;flex-wrap:wrap;gap:1.5em;font-size:13px}
#summary b{font-size:18px;display:block}
#graph{width:100%;height:auto;display:block;background:#fbfcfe;border-radius:6px}
#graph text{font-size:11px;fill:#1d2330;text-anchor:middle;pointer-events:none}
#graph text.id{font-weight:700;font-size:12px}
#graph .peer circle{stroke:#1d2330;stroke-width:1.2}
#graph .peer.broadcaster circle{stroke:#b26a00;stroke-width:4}
#graph .peer.stale{opacity:.45}
#graph .link.push{stroke:#3a66d6;stroke-width:2;fill:none}
#graph .link.pull{stroke:#9aa3b5;stroke-width:1.3;stroke-dasharray:5 4;fill:none}
.legend{display:flex;flex-wrap:wrap;gap:1.2em;font-size:12px;color:#5b6478;margin-top:.5em;align-items:center}
.legend svg{vertical-align:middle}
.sw{display:inline-block;width:12px;height:12px;border-radius:50%;vertical-align:middle;border:1px solid #1d2330}
.muted{color:#8a93a6}
#msg{padding:2em;text-align:center}
</style>
</head><body>
<header><h1>meshcast tracker</h1>
<a href="/api/streams">/api/streams</a><a href="/metrics">/metrics</a><a href="/healthz">/healthz</a>
<span id="conn">connecting…</span></header>
<main>
<aside><div class="card"><h2>Streams</h2>
<table id="streams"><thead><tr><th>name</th><th>viewers</th><th></th></tr></thead><tbody></tbody></table>
<p id="nostreams" class="muted">no streams yet</p></div></aside>
<section>
<div class="card"><h2 id="title">Overlay</h2><div id="summary"></div></div>
<div class="card"><div id="msg" class="muted">select a stream</div>
<svg id="graph" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="overlay graph"></svg>
<div class="legend">
<span><span class="sw" style="background:#ffd54f;border:3px solid #b26a00"></span> broadcaster</span>
<span><svg width="34" height="10"><line x1="0" y1="5" x2="34" y2="5" class="lg-push" stroke="#3a66d6" stroke-width="2"/></svg> push (parent &rarr; child)</span>
<span><svg width="34" height="10"><line x1="0" y1="5" x2="34" y2="5" stroke="#9aa3b5" stroke-width="1.3" stroke-dasharray="5 4"/></svg> pull partner</span>
<span>continuity: <span class="sw" style="background:hsl(120,65%,55%)"></span> 100% <span class="sw" style="background:hsl(60,65%,55%)"></span> 95% <span class="sw" style="background:hsl(0,65%,55%)"></span> &le;90% <span class="sw" style="background:#cfd5e0"></span> no data</span>
<span>faded: no report for 5 s</span>
</div></div>
<div class="card"><h2>Peers</h2><table id="peers"><thead><tr><th>peer</th><th>role</th><th>hops</th><th>lag</th><th>continuity</th><th>upload</th><th>parents</th><th>children</th><th>pull</th><th>report age</th></tr></thead><tbody></tbody></table></div>
</section></main>
<script>
"use strict";
const SVGNS = "http://www.w3.org/2000/svg";
const params = new URLSearchParams(location.search);
const key = params.get("key") || "";
let selected = params.get("stream") || decodeURIComponent(location.hash.slice(1)) || "";

function q(path) { return key ? path + "?key=" + encodeURIComponent(key) : path; }
function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = String(text);
  return e;
}
function sv(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = String(text);
  return e;
}
function num(v) { return typeof v === "number" && isFinite(v) ? v : null; }
// Natural order so v2 comes before v10.
function natcmp(a, b) { return a.localeCompare(b, undefined, {numeric: true}); }

function select(name) {
  selected = name;
  const u = new URL(location.href);
  u.searchParams.set("stream", name);
  u.hash = "";
  history.replaceState(null, "", u);
  refresh();
}

function renderStreams(list) {
  const tb = document.querySelector("#streams tbody");
  tb.textContent = "";
  list.sort((a, b) => natcmp(a.name, b.name));
  for (const s of list) {
    const tr = el("tr", {"class": "stream" + (s.name === selected ? " sel" : ""), "data-stream": s.name});
    tr.appendChild(el("td", {}, s.name));
    tr.appendChild(el("td", {}, s.viewers === undefined ? "?" : s.viewers));
    tr.appendChild(el("td", {"class": "lock"}, s.private ? "private" : ""));
    tr.addEventListener("click", () => select(s.name));
    tb.appendChild(tr);
  }
  document.getElementById("nostreams").style.display = list.length ? "none" : "";
  // No stream chosen yet: show the first one.
  if (!selected && list.length) select(list[0].name);
}

// Continuity 1.0 -> green, 0.95 -> yellow, <= 0.90 -> red; no playback yet -> grey.
function colour(p) {
  if (p.role === "broadcaster") return "#ffd54f";
  const c = num(p.stats && p.stats.continuity);
  const played = num(p.stats && p.stats.played);
  if (c === null || !played) return "#cfd5e0";
  const h = Math.max(0, Math.min(1, (c - 0.9) / 0.1)) * 120;
  return "hsl(" + h.toFixed(0) + ",65%,55%)";
}

// Links from both ends' reports, one per pair. A push link (either end said parent/child)
// wins over pull and points parent -> child.
function buildLinks(peers) {
  const ids = new Set(peers.map(p => p.peer_id));
  const links = new Map();
  for (const p of peers) {
    for (const x of p.partners || []) {
      if (!ids.has(x.id) || x.id === p.peer_id) continue;
      const k = p.peer_id < x.id ? p.peer_id + "\u0000" + x.id : x.id + "\u0000" + p.peer_id;
      const cur = links.get(k);
      let l = null;
      if (x.role === "parent") l = {from: x.id, to: p.peer_id, push: true};
      else if (x.role === "child") l = {from: p.peer_id, to: x.id, push: true};
      else l = {from: p.peer_id < x.id ? p.peer_id : x.id, to: p.peer_id < x.id ? x.id : p.peer_id, push: false};
      if (!cur || (l.push && !cur.push)) links.set(k, l);
    }
  }
  return [...links.values()].sort((a, b) => natcmp(a.from + " " + a.to, b.from + " " + b.to));
}

// Layers: hops from the broadcaster along push links; peers only reachable by pull links
// go one layer below their nearest reached partner; the rest form a last layer.
function layout(peers, links, owner) {
  const depth = new Map();
  const kids = new Map(), adj = new Map();
  for (const l of links) {
    if (l.push) { if (!kids.has(l.from)) kids.set(l.from, []); kids.get(l.from).push(l.to); }
    for (const [a, b] of [[l.from, l.to], [l.to, l.from]]) {
      if (!adj.has(a)) adj.set(a, []);
      adj.get(a).push(b);
    }
  }
  const bfs = (start, next) => {
    const queue = [...start];
    while (queue.length) {
      const u = queue.shift();
      for (const v of next.get(u) || []) {
        if (!depth.has(v)) { depth.set(v, depth.get(u) + 1); queue.push(v); }
      }
    }
  };
  if (peers.some(p => p.peer_id === owner)) { depth.set(owner, 0); bfs([owner], kids); }
  bfs([...depth.keys()].sort((a, b) => depth.get(a) - depth.get(b)), adj);
  let maxd = 0;
  for (const d of depth.values()) maxd = Math.max(maxd, d);
  const layers = [];
  for (const p of [...peers].sort((a, b) => natcmp(a.peer_id, b.peer_id))) {
    let d = depth.has(p.peer_id) ? depth.get(p.peer_id) : maxd + 1;
    p.hops = depth.has(p.peer_id) ? d : null;
    (layers[d] = layers[d] || []).push(p);
  }
  const pos = new Map();
  const W = Math.max(900, 120 * Math.max(1, ...layers.map(l => (l || []).length)));
  const gapY = 120, top = 50;
  const parentsOf = new Map();
  for (const l of links) if (l.push) { if (!parentsOf.has(l.to)) parentsOf.set(l.to, []); parentsOf.get(l.to).push(l.from); }
  layers.forEach((layer, d) => {
    if (!layer) return;
    // Order each layer by the mean x of its parents (fewer crossings), then by id.
    const bary = p => {
      const xs = (parentsOf.get(p.peer_id) || []).filter(id => pos.has(id)).map(id => pos.get(id).x);
      return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : W / 2;
    };
    layer.sort((a, b) => (bary(a) - bary(b)) || natcmp(a.peer_id, b.peer_id));
    layer.forEach((p, i) => pos.set(p.peer_id, {x: W * (i + 1) / (layer.length + 1), y: top + d * gapY}));
  });
  return {pos, W, H: top + Math.max(1, layers.length) * gapY, layers};
}

function fmtLag(v) { v = num(v); return v === null ? "–" : (v >= 10000 ? (v / 1000).toFixed(1) + " s" : v.toFixed(0) + " ms"); }
function fmtPct(v) { v = num(v); return v === null ? "–" : (100 * v).toFixed(v >= 0.9995 ? 0 : 1) + "%"; }

function renderGraph(ov) {
  const svg = document.getElementById("graph");
  svg.textContent = "";
  const peers = ov.peers || [];
  const links = buildLinks(peers);
  const {pos, W, H} = layout(peers, links, ov.owner);
  const R = 22;
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  svg.setAttribute("data-stream", ov.name);
  svg.setAttribute("data-peers", peers.length);
  svg.setAttribute("data-links", links.length);
  const defs = sv("defs");
  const m = sv("marker", {id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse"});
  m.appendChild(sv("path", {d: "M0,0 L10,5 L0,10 z", fill: "#3a66d6"}));
  defs.appendChild(m);
  svg.appendChild(defs);
  const gl = sv("g", {"class": "links"});
  for (const l of links) {
    const a = pos.get(l.from), b = pos.get(l.to);
    const dx = b.x - a.x, dy = b.y - a.y, len = Math.hypot(dx, dy) || 1;
    const ux = dx / len, uy = dy / len;
    const x1 = a.x + ux * R, y1 = a.y + uy * R, x2 = b.x - ux * (R + 2), y2 = b.y - uy * (R + 2);
    let d;
    if (l.push && Math.abs(dy) > 1) d = "M" + x1 + "," + y1 + " L" + x2 + "," + y2;
    else {
      // Bend pull links (and same-layer links) so they do not run through other nodes.
      const bend = Math.min(60, 0.25 * len);
      const cx = (a.x + b.x) / 2 - uy * bend, cy = (a.y + b.y) / 2 + ux * bend;
      d = "M" + a.x + "," + a.y + " Q" + cx + "," + cy + " " + b.x + "," + b.y;
    }
    const path = sv("path", {"class": "link " + (l.push ? "push" : "pull"), "data-from": l.from, "data-to": l.to, d});
    if (l.push) path.setAttribute("marker-end", "url(#arrow)");
    path.appendChild(sv("title", {}, l.from + (l.push ? " \u2192 " : " \u2194 ") + l.to + (l.push ? " (push)" : " (pull)")));
    gl.appendChild(path);
  }
  svg.appendChild(gl);
  const gp = sv("g", {"class": "peers"});
  for (const p of peers) {
    const at = pos.get(p.peer_id);
    const isB = p.role === "broadcaster";
    const st = p.stats || {};
    const age = num(p.report_age_ms);
    const g = sv("g", {"class": "peer" + (isB ? " broadcaster" : "") + (age === null || age > 5000 ? " stale" : ""),
                       "data-peer-id": p.peer_id, "data-role": p.role, transform: "translate(" + at.x + "," + at.y + ")"});
    g.appendChild(sv("circle", {r: isB ? R + 4 : R, fill: colour(p)}));
    const short = p.peer_id.length > 7 ? p.peer_id.slice(0, 6) + "…" : p.peer_id;
    g.appendChild(sv("text", {"class": "id", y: "4"}, isB ? "\u25b6" : short));
    if (isB) {
      g.appendChild(sv("text", {"class": "id", y: R + 18}, p.peer_id));
      g.appendChild(sv("text", {y: R + 31}, "source · " + (num(st.upload_kbps) === null ? "–" : st.upload_kbps.toFixed(0)) + " kbps up"));
    } else {
      g.appendChild(sv("text", {y: R + 14}, "lag " + fmtLag(st.lag_ms)));
      g.appendChild(sv("text", {y: R + 27}, "cont " + fmtPct(st.played ? st.continuity : null)));
    }
    const tip = [p.peer_id + " (" + p.role + ")", "lag " + fmtLag(st.lag_ms), "continuity " + fmtPct(st.continuity),
                 "upload " + (num(st.upload_kbps) === null ? "–" : st.upload_kbps.toFixed(0) + " kbps"),
                 "hops " + (p.hops === null ? "–" : p.hops), "report age " + (age === null ? "never" : age + " ms")];
    g.appendChild(sv("title", {}, tip.join("\n")));
    gp.appendChild(g);
  }
  svg.appendChild(gp);
  return links;
}

function renderPeers(ov, links) {
  const tb = document.querySelector("#peers tbody");
  tb.textContent = "";
  const count = (id, f) => links.filter(f(id)).length;
  const peers = [...(ov.peers || [])].sort((a, b) => (a.role === "broadcaster" ? -1 : b.role === "broadcaster" ? 1 : natcmp(a.peer_id, b.peer_id)));
  for (const p of peers) {
    const st = p.stats || {};
    const tr = el("tr", {"class": "peer-row", "data-peer-id": p.peer_id});
    const age = num(p.report_age_ms);
    for (const v of [p.peer_id, p.role, p.hops === null ? "–" : p.hops, p.role === "broadcaster" ? "" : fmtLag(st.lag_ms),
                     p.role === "broadcaster" ? "" : fmtPct(st.played ? st.continuity : null),
                     num(st.upload_kbps) === null ? "–" : st.upload_kbps.toFixed(0) + " kbps",
                     count(p.peer_id, id => l => l.push && l.to === id), count(p.peer_id, id => l => l.push && l.from === id),
                     count(p.peer_id, id => l => !l.push && (l.from === id || l.to === id)),
                     age === null ? "never" : (age / 1000).toFixed(1) + " s"])
      tr.appendChild(el("td", {}, v));
    tb.appendChild(tr);
  }
}

function renderSummary(ov, links) {
  const box = document.getElementById("summary");
  box.textContent = "";
  const viewers = (ov.peers || []).filter(p => p.role !== "broadcaster");
  const conts = viewers.map(p => p.stats && p.stats.played ? num(p.stats.continuity) : null).filter(v => v !== null);
  const lags = viewers.map(p => num(p.stats && p.stats.lag_ms)).filter(v => v !== null).sort((a, b) => a - b);
  const items = [["viewers", viewers.length], ["push links", links.filter(l => l.push).length],
                 ["pull links", links.filter(l => !l.push).length],
                 ["mean continuity", conts.length ? fmtPct(conts.reduce((s, v) => s + v, 0) / conts.length) : "–"],
                 ["median lag", lags.length ? fmtLag(lags[Math.floor(lags.length / 2)]) : "–"],
                 ["bit rate", num(ov.bitrate_kbps) === null ? "–" : ov.bitrate_kbps + " kbps"],
                 ["owner", ov.owner || "–"]];
  for (const [k, v] of items) { const d = el("div", {}, k); d.prepend(el("b", {}, v)); box.appendChild(d); }
  // How to watch it in a browser: a viewer of your own serves it over WHEP (the tracker
  // starts no relay). textContent only: the stream name is untrusted.
  const ws = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  const cmd = "meshcast watch --tracker " + ws + " --stream " + ov.name +
              (ov.private ? " --view-key KEY" : "") + " --whep-listen 127.0.0.1:8081";
  const how = el("div", {"class": "watch"}, "watch in a browser: ");
  how.appendChild(el("code", {"id": "watchcmd"}, cmd));
  how.appendChild(document.createTextNode(" then open http://127.0.0.1:8081/"));
  box.appendChild(how);
}

function showMessage(text) {
  const m = document.getElementById("msg");
  m.textContent = text;
  m.style.display = text ? "" : "none";
  document.getElementById("graph").style.display = text ? "none" : "";
}

let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  const conn = document.getElementById("conn");
  try {
    const r = await fetch(q("/api/streams"), {cache: "no-store"});
    const j = await r.json();
    renderStreams(j.streams || []);
    document.getElementById("title").textContent = selected ? "Overlay of “" + selected + "”" : "Overlay";
    if (selected) {
      const o = await fetch(q("/api/streams/" + encodeURIComponent(selected) + "/overlay"), {cache: "no-store"});
      if (o.status === 404) { showMessage("no such stream (or private: open this page with ?stream=NAME&key=VIEW_KEY)"); }
      else {
        const ov = await o.json();
        showMessage(""); const links = renderGraph(ov); renderPeers(ov, links); renderSummary(ov, links);
      }
    }
    conn.textContent = "updated " + new Date().toLocaleTimeString();
    conn.className = "";
  } catch (e) {
    conn.textContent = "tracker unreachable";
    conn.className = "bad";
  } finally {
    busy = false;
  }
}
window.addEventListener("hashchange", () => { if (location.hash.length > 1) select(decodeURIComponent(location.hash.slice(1))); });
refresh();
setInterval(refresh, 1000);
</script></body></html>
)HTML";
  return kPage;
}

}  // namespace meshcast::signaling

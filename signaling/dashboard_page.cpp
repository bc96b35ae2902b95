#include "signaling/dashboard_page.hpp"

namespace meshcast::signaling {

// Placeholder: lists streams from /api/streams. The real dashboard replaces this function.
const std::string& dashboard_html() {
  static const std::string kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>meshcast tracker</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:.2em .8em;text-align:left}</style>
</head><body>
<h1>meshcast tracker</h1>
<p>Placeholder dashboard. JSON: <a href="/api/streams">/api/streams</a>,
<code>/api/streams/NAME/overlay</code>, <a href="/metrics">/metrics</a>,
<a href="/healthz">/healthz</a>.</p>
<table id="s"><tr><th>stream</th><th>owner</th><th>viewers</th><th>private</th></tr></table>
<script>
fetch('/api/streams').then(r => r.json()).then(j => {
  const t = document.getElementById('s');
  for (const s of j.streams) {
    const tr = document.createElement('tr');
    for (const v of [s.name, s.owner ?? '', s.viewers ?? '', s.private]) {
      const td = document.createElement('td'); td.textContent = String(v); tr.appendChild(td);
    }
    t.appendChild(tr);
  }
});
</script></body></html>
)HTML";
  return kPage;
}

}  // namespace meshcast::signaling

"""The console's only script and style sheet, served as they are (no build step, no CDN).

The script makes the event log live: every second it asks
`/console/api/events?after=<last sequence>&<the page's filters>` for the rows
of newer matching events (HTML rendered and escaped by the server, the same
function as the page's), and puts them at the top. It also keeps each row's
age current, reloads the subscribers page every two seconds and the ingest
chart every ten.
"""

from __future__ import annotations

__all__ = ["SCRIPT", "STYLE"]

SCRIPT = r"""
"use strict";
(function () {
  function age(iso) {
    var seconds = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
    var units = [["d", 86400], ["h", 3600], ["m", 60]];
    for (var i = 0; i < units.length; i++) {
      if (seconds >= units[i][1]) return Math.floor(seconds / units[i][1]) + units[i][0] + " ago";
    }
    return seconds + "s ago";
  }
  function refreshAges() {
    var times = document.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      times[i].textContent = age(times[i].getAttribute("datetime"));
    }
  }
  function poll(table) {
    var rows = document.getElementById("log-rows");
    var query = table.getAttribute("data-query");
    var url = "/console/api/events?after=" + encodeURIComponent(table.getAttribute("data-after")) +
      (query ? "&" + query : "");
    var options = {credentials: "same-origin", headers: {"Accept": "text/html"}};
    fetch(url, options).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      var last = response.headers.get("X-Last-Sequence");
      return response.text().then(function (html) {
        if (html) rows.insertAdjacentHTML("afterbegin", html);
        if (last) {
          table.setAttribute("data-after", last);
          var head = document.getElementById("head");
          if (head) head.textContent = last;
        }
        while (rows.rows.length > 500) rows.deleteRow(rows.rows.length - 1);
      });
    }).catch(function () {}).then(function () { setTimeout(function () { poll(table); }, 1000); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var table = document.getElementById("log");
    if (table) poll(table);
    if (document.getElementById("subscribers")) {
      setTimeout(function () { location.reload(); }, 2000);
    }
    if (document.getElementById("ingest")) {
      setTimeout(function () { location.reload(); }, 10000);
    }
    setInterval(refreshAges, 1000);
  });
})();
"""

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1b1b1b; }
nav { background: #222; padding: 8px 16px; }
nav a { color: #fff; margin-right: 16px; text-decoration: none; }
nav .logout { display: inline; float: right; }
main { padding: 8px 16px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #ddd; vertical-align: top; }
td.svix, td.filter { font-family: ui-monospace, monospace; font-size: 12px; }
pre { background: #f5f5f5; padding: 8px; overflow-x: auto; white-space: pre-wrap; }
.filters label { margin-right: 12px; }
.stale { color: #a60; font-size: 11px; }
.error { color: #b00; }
.note { color: #666; }
table.facts { width: auto; }
"""

// A device page's own live feed: the device's inspector entries from its SSE stream, newest on
// top by the server's order key. Device data only ever goes in through textContent.
"use strict";
(() => {
  const MAX_ROWS = 300;
  const table = document.getElementById("feed");
  const rows = document.getElementById("feed-rows");
  const status = document.getElementById("feed-status");
  if (!table || !rows || !window.EventSource) return;
  const seen = new Set();

  function iso(ms) { return new Date(ms).toISOString().replace("T", " ").replace("Z", ""); }

  function makeRow(e) {
    const tr = document.createElement("tr");
    tr.dataset.order = e.order || "";
    tr.dataset.type = e.type;
    for (const [i, text] of [iso(e.time), e.type, e.summary].entries()) {
      const td = document.createElement("td");
      td.textContent = text;
      if (i === 1) td.className = "type-" + e.type;
      tr.appendChild(td);
    }
    return tr;
  }

  function receive(entries) {
    for (const e of entries) {
      const key = e.time + "|" + e.type + "|" + e.uid;
      if (seen.has(key)) continue;
      seen.add(key);
      const tr = makeRow(e);
      let at = rows.firstElementChild;
      while (at && (at.dataset.order || "") > tr.dataset.order) at = at.nextElementSibling;
      rows.insertBefore(tr, at);
    }
    while (rows.childElementCount > MAX_ROWS) rows.lastElementChild.remove();
  }

  const source = new EventSource(table.dataset.stream);
  source.addEventListener("open", () => { status.textContent = "live"; });
  source.addEventListener("error", () => { status.textContent = "reconnecting…"; });
  source.addEventListener("entries", (ev) => receive(JSON.parse(ev.data)));
})();

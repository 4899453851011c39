// The Live page: one EventSource; batches are coalesced into one DOM update per animation
// frame; the newest MAX_ROWS rows are kept; filters, pause/resume, clear, messages per second.
// Device data only ever goes in through textContent: it is text, never markup.
"use strict";
(() => {
  const MAX_ROWS = 1000;
  const RATE_WINDOW_MS = 5000;
  const rows = document.getElementById("rows");
  const detail = document.getElementById("detail");
  const f = {
    device: document.getElementById("f-device"),
    type: document.getElementById("f-type"),
    topic: document.getElementById("f-topic"),
    text: document.getElementById("f-text"),
  };
  const pauseButton = document.getElementById("pause");
  const held = document.getElementById("held");
  const rate = document.getElementById("rate");
  const status = document.getElementById("status");
  let paused = false;
  let pending = [];   // arrived, not drawn yet (while paused: all of them)
  let scheduled = false;
  const arrivals = []; // publish arrival times, for msg/s
  const seen = new Set();
  const publishers = new Map(); // traceid -> "action/<id>" of the stack's own publishes

  function topicMatches(filter, topic) {
    if (!filter) return true;
    if (topic == null) return false;
    const fl = filter.split("/"), tl = topic.split("/");
    if ((fl[0] === "+" || fl[0] === "#") && topic.startsWith("$")) return false;
    for (let i = 0; i < fl.length; i++) {
      if (fl[i] === "#") return i === fl.length - 1;
      if (i >= tl.length) return false;
      if (fl[i] !== "+" && fl[i] !== tl[i]) return false;
    }
    return fl.length === tl.length || (fl.length === tl.length + 1 && fl[fl.length - 1] === "#");
  }

  function visible(e) {
    const device = f.device.value.trim();
    if (device && e.device !== device) return false;
    if (f.type.value && e.type !== f.type.value) return false;
    if (f.topic.value.trim() && !topicMatches(f.topic.value.trim(), e.topic)) return false;
    const text = f.text.value.trim().toLowerCase();
    if (text && !(e.device + " " + e.type + " " + e.summary).toLowerCase().includes(text)) return false;
    return true;
  }

  function iso(ms) { return new Date(ms).toISOString().replace("T", " ").replace("Z", ""); }

  function makeRow(e) {
    const tr = document.createElement("tr");
    tr.tabIndex = 0;
    tr.dataset.device = e.device; tr.dataset.time = e.time; tr.dataset.uid = e.uid;
    tr.dataset.traceid = e.traceid || ""; tr.dataset.type = e.type; tr.dataset.order = e.order || "";
    tr.entry = e;
    // Published by an action or analysis: named after it (its outcomes too, by the traceid).
    const by = e.by || (e.traceid && publishers.get(e.traceid));
    const who = by ? String(by).replace("/", " ") : e.device;
    const cells = [iso(e.time), who, e.type, e.qos == null ? "—" : String(e.qos), e.summary];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i === 2) td.className = "type-" + e.type;
      tr.appendChild(td);
    });
    tr.hidden = !visible(e);
    return tr;
  }

  function draw() {
    scheduled = false;
    if (paused || pending.length === 0) return;
    const batch = pending; pending = [];
    // Newest on top, by when it happened (the server's order key): an entry stored late (a
    // restart, a retry, another client id's events) goes to its place, not to the top.
    batch.sort((a, b) => (a.order < b.order ? 1 : a.order > b.order ? -1 : 0));
    let at = rows.firstElementChild;
    const frag = document.createDocumentFragment();
    for (const e of batch) {
      if (!at || e.order >= (at.dataset.order || "")) { frag.appendChild(makeRow(e)); continue; }
      rows.insertBefore(frag, at); // what was newer than `at` goes above it
      while (at && e.order < (at.dataset.order || "")) at = at.nextElementSibling;
      frag.appendChild(makeRow(e));
    }
    rows.insertBefore(frag, at);
    while (rows.childElementCount > MAX_ROWS) rows.lastElementChild.remove();
    held.textContent = "";
  }

  function schedule() {
    if (!scheduled) { scheduled = true; window.requestAnimationFrame(draw); }
  }

  function receive(entries) {
    const now = Date.now();
    for (const e of entries) {
      const key = e.device + "|" + e.time + "|" + e.type + "|" + e.uid;
      if (seen.has(key)) continue;
      seen.add(key);
      if (e.type === "publish") arrivals.push(now);
      if (e.by && e.traceid) publishers.set(e.traceid, e.by);
      pending.push(e);
    }
    if (seen.size > 4 * MAX_ROWS) seen.clear();
    if (publishers.size > 4 * MAX_ROWS) publishers.clear();
    if (pending.length > MAX_ROWS) pending = pending.slice(-MAX_ROWS);
    if (paused) held.textContent = pending.length + " new while paused";
    else schedule();
  }

  function refilter() { for (const tr of rows.children) tr.hidden = !visible(tr.entry); }
  for (const input of Object.values(f)) input.addEventListener("input", refilter);
  document.getElementById("filters").addEventListener("submit", (ev) => ev.preventDefault());

  pauseButton.addEventListener("click", () => {
    paused = !paused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    pauseButton.setAttribute("aria-pressed", String(paused));
    if (!paused) { held.textContent = pending.length ? "showing " + pending.length + " held" : ""; schedule(); }
    else held.textContent = "0 new while paused";
  });
  document.getElementById("clear").addEventListener("click", () => {
    rows.replaceChildren(); pending = []; held.textContent = "";
  });

  window.setInterval(() => {
    const cut = Date.now() - RATE_WINDOW_MS;
    while (arrivals.length && arrivals[0] < cut) arrivals.shift();
    rate.textContent = (arrivals.length / (RATE_WINDOW_MS / 1000)).toFixed(1) + " msg/s";
  }, 1000);

  function open(tr) {
    for (const other of rows.querySelectorAll("tr[aria-selected]")) other.removeAttribute("aria-selected");
    tr.setAttribute("aria-selected", "true");
    const q = new URLSearchParams({ device: tr.dataset.device, time: tr.dataset.time, uid: tr.dataset.uid, traceid: tr.dataset.traceid });
    window.htmx.ajax("GET", "/live/entry?" + q.toString(), { target: detail, swap: "innerHTML" });
  }
  rows.addEventListener("click", (ev) => { const tr = ev.target.closest("tr"); if (tr) open(tr); });
  rows.addEventListener("keydown", (ev) => {
    const tr = ev.target.closest("tr");
    if (!tr) return;
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(tr); }
    if (ev.key === "ArrowDown" && tr.nextElementSibling) { ev.preventDefault(); tr.nextElementSibling.focus(); }
    if (ev.key === "ArrowUp" && tr.previousElementSibling) { ev.preventDefault(); tr.previousElementSibling.focus(); }
  });

  const source = new EventSource("/live/stream");
  source.addEventListener("open", () => { status.textContent = "live"; });
  source.addEventListener("error", () => { status.textContent = "reconnecting…"; });
  source.addEventListener("entries", (ev) => receive(JSON.parse(ev.data)));
})();

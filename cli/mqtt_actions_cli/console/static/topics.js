// The Topics page, as MQTT Explorer shows a broker: a tree fed by one EventSource (publishes as
// they happen, and the retained messages), each topic's last value, messages per minute, a
// retained marker and a sparkline of its numbers; the selected topic's value (text, or hex and
// base64 for bytes), chart, clear-retained; publishing to any topic. Updates are coalesced into
// one DOM pass per animation frame. Device data only ever goes in through textContent.
"use strict";
(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const SERIES_MAX = 120;     // numbers kept per topic for its chart
  const RATE_WINDOW_MS = 60_000;
  const SHORT_VALUE = 80;     // characters of a value shown in the tree
  const SEEN_MAX = 100_000;   // message keys remembered against a reconnected stream's repeats
  const $ = (id) => document.getElementById(id);
  const root = { name: "", path: "", children: new Map(), ul: $("t-root"), depth: -1 };
  const nodes = new Map();    // path -> node
  const dirty = new Set();
  let scheduled = false;
  let selected = null;
  let clockSkew = 0;          // server time - browser time, from the newest message seen
  const seen = new Set();     // messages counted (a reconnected stream sends the last hour again)

  // ---------------------------------------------------------------- values
  function bytesOf(b64) {
    const bin = window.atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function hex(bytes, limit) {
    const parts = [];
    for (let i = 0; i < Math.min(bytes.length, limit); i++) parts.push(bytes[i].toString(16).padStart(2, "0"));
    return parts.join(" ") + (bytes.length > limit ? " …" : "");
  }
  function hexdump(bytes) {
    const lines = [];
    for (let at = 0; at < bytes.length; at += 16) {
      const chunk = bytes.slice(at, at + 16);
      const text = Array.from(chunk, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
      lines.push(at.toString(16).padStart(8, "0") + "  " + hex(chunk, 16).padEnd(48) + " " + text);
    }
    return lines.join("\n");
  }
  function numberOf(text) {
    const t = text.trim();
    if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
    if (t[0] !== "{" && t[0] !== "[") return null;
    let v;
    try { v = JSON.parse(t); } catch (_e) { return null; }
    if (Array.isArray(v)) v = v[0];
    if (!v || typeof v !== "object") return null;
    if (typeof v.value === "number") return v.value;   // a TagoIO data point
    const numeric = Object.values(v).filter((x) => typeof x === "number");
    return numeric.length === 1 ? numeric[0] : null;
  }
  function short(last) {
    if (last.encoding === "base64") return "binary " + last.size + " B: " + hex(bytesOf(last.preview), 8);
    const text = last.preview.replace(/\s+/g, " ");
    return text.length > SHORT_VALUE ? text.slice(0, SHORT_VALUE) + "…" : text;
  }

  // ---------------------------------------------------------------- the tree
  function makeNode(parent, name) {
    const path = parent === root ? name : parent.path + "/" + name;
    const node = {
      name, path, parent, children: new Map(), depth: parent.depth + 1,
      count: 0, total: 0, times: [], last: null, series: [], retained: null,
    };
    const li = document.createElement("li");
    li.dataset.topic = path;
    const row = document.createElement("div");
    row.className = "node";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "name";
    button.textContent = name === "" ? "(empty)" : name;
    button.setAttribute("aria-label", "topic " + path);
    button.addEventListener("click", () => select(node));
    const mark = document.createElement("span");
    mark.className = "retained-mark";
    mark.textContent = "R";
    mark.title = "retained message";
    mark.hidden = true;
    const count = document.createElement("span");
    count.className = "count";
    const rate = document.createElement("span");
    rate.className = "rate";
    const value = document.createElement("code");
    value.className = "value";
    const spark = document.createElementNS(SVG, "svg");
    spark.setAttribute("class", "spark");
    spark.setAttribute("viewBox", "0 0 60 16");
    spark.setAttribute("aria-hidden", "true");
    row.append(button, mark, count, rate, value, spark);
    li.appendChild(row);
    Object.assign(node, { li, row, button, mark, countEl: count, rateEl: rate, valueEl: value, spark });
    // keep siblings sorted by name
    const after = [...parent.children.keys()].filter((k) => k > name).sort()[0];
    if (!parent.ul) {
      parent.ul = document.createElement("ul");
      parent.li.appendChild(parent.ul);
    }
    parent.ul.insertBefore(li, after === undefined ? null : parent.children.get(after).li);
    parent.children.set(name, node);
    nodes.set(path, node);
    li.hidden = !visible(node);
    return node;
  }
  function nodeOf(topic) {
    let node = root;
    for (const level of topic.split("/")) node = node.children.get(level) || makeNode(node, level);
    return node;
  }
  function touch(node) {
    for (let n = node; n && n !== root; n = n.parent) dirty.add(n);
    schedule();
  }

  function receive(messages) {
    for (const m of messages) {
      if (typeof m.topic !== "string") continue;
      const key = m.uid + "|" + m.time + "|" + m.topic;
      if (seen.has(key)) continue;
      seen.add(key);
      const node = nodeOf(m.topic);
      node.count++;
      for (let n = node; n !== root; n = n.parent) n.total++;
      node.times.push(m.time);
      if (!node.last || m.time >= node.last.time) {
        node.last = m;
        clockSkew = m.time - Date.now();
      }
      if (m.encoding !== "base64") {
        const x = numberOf(m.preview);
        if (x !== null && Number.isFinite(x)) {
          node.series.push([m.time, x]);
          node.series.sort((a, b) => a[0] - b[0]);
          if (node.series.length > SERIES_MAX) node.series.shift();
        }
      }
      touch(node);
    }
    if (seen.size > SEEN_MAX) seen.clear();  // bounded; only a reconnect could count one twice
  }
  function receiveRetained(list) {
    const now = new Set();
    for (const r of list) {
      const node = nodeOf(r.topic);
      now.add(node);
      if (!node.retained || node.retained.size !== r.size || node.retained.time !== r.time) {
        node.retained = r;
        touch(node);
      }
    }
    for (const node of nodes.values()) {
      if (node.retained && !now.has(node)) { node.retained = null; touch(node); }
    }
  }

  function perMinute(node) {
    const cut = Date.now() + clockSkew - RATE_WINDOW_MS;
    while (node.times.length && node.times[0] < cut) node.times.shift();
    return node.times.length;
  }
  function sparkline(svg, series, width, height) {
    svg.replaceChildren();
    if (series.length < 2) return;
    const xs = series.map((p) => p[0]), ys = series.map((p) => p[1]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const sx = (x) => (x1 === x0 ? width : ((x - x0) / (x1 - x0)) * width);
    const sy = (y) => (y1 === y0 ? height / 2 : height - 1 - ((y - y0) / (y1 - y0)) * (height - 2));
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", series.map((p) => sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "#0b5cad");
    line.setAttribute("stroke-width", "1.5");
    line.setAttribute("vector-effect", "non-scaling-stroke");
    svg.appendChild(line);
  }
  function drawNode(node) {
    node.mark.hidden = !node.retained;
    node.li.classList.toggle("is-topic", node.count > 0 || !!node.retained);
    node.countEl.textContent = node.children.size ? node.total + " msg" : node.count ? node.count + " msg" : "";
    const rate = node.count ? perMinute(node) : 0;
    node.rateEl.textContent = rate ? rate + "/min" : "";
    node.valueEl.textContent = node.last ? short(node.last) : node.retained ? "retained, " + node.retained.size + " B" : "";
    node.valueEl.classList.toggle("binary-value", !!node.last && node.last.encoding === "base64");
    sparkline(node.spark, node.series, 60, 16);
    if (filter.value.trim()) node.li.hidden = !visible(node);
    if (node === selected) drawSelected();
  }
  function draw() {
    scheduled = false;
    for (const node of dirty) drawNode(node);
    dirty.clear();
    $("t-empty").hidden = nodes.size > 0;
    const topics = [...nodes.values()].filter((n) => n.count || n.retained).length;
    $("t-count").textContent = topics + " topic" + (topics === 1 ? "" : "s");
  }
  function schedule() {
    if (!scheduled) { scheduled = true; window.requestAnimationFrame(draw); }
  }
  window.setInterval(() => {  // messages per minute fall as time passes
    for (const node of nodes.values()) if (node.count) dirty.add(node);
    schedule();
  }, 5000);

  // ---------------------------------------------------------------- filter
  const filter = $("t-filter");
  function visible(node) {
    const text = filter.value.trim().toLowerCase();
    if (!text) return true;
    if (node.path.toLowerCase().includes(text)) return true;
    for (const child of node.children.values()) if (visible(child)) return true;
    return false;
  }
  filter.addEventListener("input", () => { for (const node of nodes.values()) node.li.hidden = !visible(node); });
  $("t-bar").addEventListener("submit", (ev) => ev.preventDefault());

  // ---------------------------------------------------------------- the selected topic
  function select(node) {
    if (selected) selected.row.removeAttribute("aria-current");
    selected = node;
    node.row.setAttribute("aria-current", "true");
    $("t-none").hidden = true;
    $("t-selected").hidden = false;
    $("t-pub-topic").value = node.path;
    $("t-history").href = "/topics/view?topic=" + encodeURIComponent(node.path);
    drawSelected();
    if (!node.last && node.retained) fetchRetained(node);
  }
  function showValue(text, bytes, size, whole) {
    const value = $("t-value"), dump = $("t-hex");
    if (bytes) {
      $("t-size").textContent = "(binary, " + size + " B" + (whole ? "" : "; the first " + bytes.length + " B shown") + ": hex and base64)";
      dump.hidden = false;
      dump.textContent = hexdump(bytes);
      value.textContent = text;  // the base64
    } else {
      $("t-size").textContent = "(" + size + " B)";
      dump.hidden = true;
      dump.textContent = "";
      let shown = text;
      try { if (/^\s*[[{]/.test(text)) shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_e) { shown = text; }
      value.textContent = shown;
    }
  }
  function drawSelected() {
    const node = selected;
    $("t-topic").textContent = node.path;
    const meta = [];
    if (node.count) meta.push(node.count + " message" + (node.count === 1 ? "" : "s") + ", " + perMinute(node) + "/min");
    if (node.last) meta.push("last " + new Date(node.last.time).toISOString().replace("T", " ").replace("Z", "") + " from " + node.last.device);
    $("t-meta").textContent = meta.join(" · ");
    $("t-retained-text").textContent = node.retained
      ? "Retained message: " + node.retained.size + " B, QoS " + node.retained.qos + " (new subscribers get it)."
      : "No retained message.";
    $("t-clear").hidden = !node.retained;
    if (node.last) {
      const m = node.last;
      if (m.encoding === "base64") showValue(m.preview, bytesOf(m.preview), m.size, bytesOf(m.preview).length === m.size);
      else showValue(m.preview, null, m.size, true);
    } else if (!node.retained) {
      $("t-size").textContent = "";
      $("t-value").textContent = "(no message on this exact topic)";
      $("t-hex").hidden = true;
    }
    const chart = $("t-chart");
    if (node.series.length >= 2) {
      const ys = node.series.map((p) => p[1]);
      const svg = document.createElementNS(SVG, "svg");
      svg.setAttribute("class", "chart-line");
      svg.setAttribute("viewBox", "0 0 300 80");
      svg.setAttribute("preserveAspectRatio", "none");
      svg.setAttribute("role", "img");
      svg.setAttribute("aria-label", "chart of " + node.series.length + " values");
      sparkline(svg, node.series, 300, 80);
      const scale = document.createElement("p");
      scale.className = "muted";
      scale.textContent = node.series.length + " values, min " + Math.min(...ys) + ", max " + Math.max(...ys) + ", last " + ys[ys.length - 1];
      chart.replaceChildren(svg, scale);
    } else {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = node.series.length ? "one number so far: " + node.series[0][1] : "no numbers on this topic yet";
      chart.replaceChildren(p);
    }
  }
  async function fetchRetained(node) {
    const answer = await fetch("/topics/retained?topic=" + encodeURIComponent(node.path), { credentials: "same-origin" });
    if (!answer.ok || node !== selected || node.last) return;
    const r = await answer.json();
    if (!r.retained) return;
    showValue(r.text === null ? r.base64 : r.text, r.text === null ? bytesOf(r.base64) : null, r.size, true);
  }

  // ---------------------------------------------------------------- publish, clear retained
  const said = $("t-said");
  async function post(form) {
    said.className = "";
    said.textContent = "sending…";
    let body;
    try {
      const answer = await fetch(form.action, { method: "POST", body: new URLSearchParams(new FormData(form)), credentials: "same-origin" });
      body = await answer.json();
    } catch (e) {
      body = { ok: false, error: "the console did not answer: " + e };
    }
    if (body.ok) {
      said.textContent = body.said + (body.warnings && body.warnings.length ? " — " + body.warnings.join("; ") : "");
    } else {
      said.className = "error";
      said.textContent = body.error + (body.hint ? " (" + body.hint + ")" : "");
    }
    return body.ok;
  }
  $("t-publish").addEventListener("submit", (ev) => { ev.preventDefault(); post(ev.target); });
  $("t-clear").addEventListener("click", async () => {
    const node = selected;
    if (!node || !window.confirm("Clear the retained message on " + node.path + "? New subscribers will no longer get it.")) return;
    $("t-clear-topic").value = node.path;
    if (await post($("t-clear-form"))) { node.retained = null; touch(node); }
  });

  // ---------------------------------------------------------------- the stream
  const status = $("status");
  const source = new EventSource("/topics/stream");
  // "live" once the stream's first read is in (the retained list follows it): from then on
  // every message shows as it arrives.
  source.addEventListener("open", () => { status.textContent = "loading…"; });
  source.addEventListener("error", () => { status.textContent = "reconnecting…"; });
  source.addEventListener("messages", (ev) => receive(JSON.parse(ev.data)));
  source.addEventListener("retained", (ev) => { receiveRetained(JSON.parse(ev.data)); status.textContent = "live"; });
  source.addEventListener("problem", (ev) => { status.textContent = "live; " + JSON.parse(ev.data).error; });
})();

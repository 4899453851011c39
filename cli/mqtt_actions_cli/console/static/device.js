// The device page's charts: one uPlot per numeric variable, from the JSON data block.
"use strict";
(() => {
  const block = document.getElementById("series");
  const holder = document.getElementById("charts");
  if (!block || !holder || !window.uPlot) return;
  const series = JSON.parse(block.textContent);
  const width = Math.max(320, Math.min(holder.clientWidth || 900, 1100));
  for (const [name, data] of Object.entries(series)) {
    const box = document.createElement("figure");
    box.className = "chart";
    const caption = document.createElement("figcaption");
    caption.textContent = name;
    box.appendChild(caption);
    holder.appendChild(box);
    new window.uPlot({
      width: width, height: 220,
      series: [{}, { label: name, stroke: "#0b5cad", width: 2, points: { show: data[0].length < 60 } }],
      axes: [{}, {}],
    }, data, box);
  }
})();

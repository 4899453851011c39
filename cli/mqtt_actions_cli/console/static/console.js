// Console-wide behaviour (no inline script anywhere: the CSP forbids it).
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
// A button with data-copy="ID" copies that element's text (the new token) to the clipboard.
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("button[data-copy]") : null;
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  const state = document.getElementById("copy-state");
  if (!source) return;
  navigator.clipboard.writeText(source.textContent).then(
    () => { if (state) state.textContent = "copied"; },
    () => { if (state) state.textContent = "copy failed: select the text and copy it"; },
  );
});

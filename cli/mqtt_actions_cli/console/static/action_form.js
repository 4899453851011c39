// The action form's condition builder: add and remove rows (variable, operator, value). Each
// row's fields are when-N-variable / when-N-op / when-N-value; the server reads them in order.
"use strict";
(() => {
  const body = document.getElementById("condition-rows");
  const add = document.getElementById("add-condition");
  if (!body || !add) return;

  function renumber() {
    [...body.rows].forEach((tr, i) => {
      for (const field of tr.querySelectorAll("input, select")) {
        const part = field.name.split("-").pop();
        field.name = "when-" + i + "-" + part;
        field.setAttribute("aria-label", "Condition " + (i + 1) + " " + (part === "op" ? "operator" : part));
      }
      tr.querySelector(".remove-condition").setAttribute("aria-label", "Remove condition " + (i + 1));
    });
  }

  add.addEventListener("click", () => {
    const last = body.rows[body.rows.length - 1];
    const row = last.cloneNode(true);
    for (const input of row.querySelectorAll("input")) input.value = "";
    row.querySelector("select").value = "==";
    showValue(row.querySelector("select"));
    body.appendChild(row);
    renumber();
    row.querySelector("input").focus();
  });

  body.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest(".remove-condition") : null;
    if (!button) return;
    const tr = button.closest("tr");
    if (body.rows.length > 1) tr.remove();
    else for (const input of tr.querySelectorAll("input")) input.value = "";
    renumber();
  });

  // "exists" takes no value: the value box says so.
  body.addEventListener("change", (event) => {
    const select = event.target;
    if (!(select instanceof HTMLSelectElement)) return;
    showValue(select);
    if (select.value === "exists") select.closest("tr").querySelector("input[name$='-value']").value = "";
  });
  function showValue(select) {
    const value = select.closest("tr").querySelector("input[name$='-value']");
    value.disabled = select.value === "exists";
    value.placeholder = value.disabled ? "(none)" : "30";
  }
  for (const select of body.querySelectorAll("select")) showValue(select);
})();

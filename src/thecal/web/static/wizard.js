// Wizard forms (implant, refill): keep the entries across the browser's Back button.
// Pages are sent with Cache-Control: no-store, so going Back re-fetches the empty first
// step; this keeps a copy of the entries in sessionStorage (this tab only) and puts them
// back when the step is reached by Back/Forward. Cleared once the wizard is saved.
// Without JavaScript the review step's "Edit entries" button does the same job.
"use strict";
(() => {
  const key = "thecal-wizard:" + location.pathname;
  const done = document.querySelector("[data-wizard-done]");
  if (done) {
    sessionStorage.removeItem("thecal-wizard:" + done.dataset.wizardDone);
    return;
  }
  const form = document.querySelector("form[data-wizard]");
  if (!form || !form.querySelector("fieldset")) {
    return;
  }
  const skip = new Set(["csrf_token", "action"]);
  const save = () => {
    const entries = {};
    for (const field of form.elements) {
      if (field.name && !skip.has(field.name) && field.type !== "submit") {
        entries[field.name] = field.value;
      }
    }
    sessionStorage.setItem(key, JSON.stringify(entries));
  };
  const navigation = performance.getEntriesByType("navigation")[0];
  const saved = sessionStorage.getItem(key);
  if (saved && navigation && navigation.type === "back_forward") {
    const entries = JSON.parse(saved);
    for (const field of form.elements) {
      if (field.name && Object.hasOwn(entries, field.name) && field.type !== "submit") {
        field.value = entries[field.name];
      }
    }
    // Let the live panel (priming or bridge bolus) recompute from the restored entries.
    // (after the page has loaded, when htmx listens).
    window.addEventListener("load", () => {
      form.querySelector("[hx-post] input, [hx-post] select")
        ?.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }
  form.addEventListener("input", save);
  form.addEventListener("change", save);
  save();
})();

// Body map: a click or tap on a region of the drawing ticks the region's checkbox (the
// real control, which also works by keyboard and without this file), and each ticked box
// highlights its region. Ticking fires "change" so htmx refreshes the results panel.
"use strict";
(() => {
  const boxFor = (id) => document.querySelector(`input[data-region-box="${CSS.escape(id)}"]`);
  const paint = (box) => {
    for (const shape of document.querySelectorAll(`[data-region="${CSS.escape(box.value)}"]`)) {
      shape.classList.toggle("selected", box.checked);
    }
  };
  document.addEventListener("click", (event) => {
    const shape = event.target.closest?.("[data-region]");
    if (!shape) return;
    const box = boxFor(shape.dataset.region);
    if (!box) return;
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change", { bubbles: true }));
  });
  document.addEventListener("change", (event) => {
    if (event.target.matches?.("input[data-region-box]")) paint(event.target);
  });
  for (const box of document.querySelectorAll("input[data-region-box]")) paint(box);
})();

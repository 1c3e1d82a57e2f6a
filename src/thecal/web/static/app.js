// thecal pages: small progressive enhancements; every page works without this file.
"use strict";
document.addEventListener("click", (event) => {
  const back = event.target.closest("[data-back]");
  if (back && history.length > 1) {
    event.preventDefault();
    history.back();
  }
});
// After htmx swaps in an error message, move focus to it so keyboard and screen-reader
// users learn what happened.
document.addEventListener("htmx:afterSwap", (event) => {
  const alert = event.detail.target.querySelector?.("[role=alert]");
  if (alert) {
    alert.setAttribute("tabindex", "-1");
    alert.focus();
  }
});

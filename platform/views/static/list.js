// List pages: confirm before deleting a saved view, and keep one pop-over open at a time
// (closed by Escape or a click outside). Everything else is plain links and forms, made
// partial by htmx attributes in the template.
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
  }, true);

  function closeOthers(except) {
    document.querySelectorAll("details.popover[open]").forEach(function (item) {
      if (item !== except) item.open = false;
    });
  }

  document.addEventListener("toggle", function (event) {
    var item = event.target;
    if (item.matches && item.matches("details.popover") && item.open) closeOthers(item);
  }, true);

  document.addEventListener("click", function (event) {
    if (!event.target.closest("details.popover")) closeOthers(null);
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var open = document.querySelector("details.popover[open]");
    if (open) {
      open.open = false;
      var summary = open.querySelector("summary");
      if (summary) summary.focus();
    }
  });
})();

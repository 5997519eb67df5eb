// Flowdeck's shared behaviour: navigation toggle, toasts, the dialog. No inline scripts
// (the Content Security Policy forbids them); pages add their own files.
(function () {
  "use strict";

  function toast(message, kind) {
    var box = document.getElementById("toasts");
    if (!box || !message) return;
    var item = document.createElement("div");
    item.className = "toast" + (kind ? " " + kind : "");
    item.textContent = message;
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, 6000);
  }
  window.flowdeckToast = toast;

  // Words for messages made here, in the page's language: the JSON block in base.html
  // (English stand-ins only if a page lacks it).
  var FALLBACK = { forbidden: "Forbidden", error: "Error {status}", network: "Network error" };
  var words = null;
  function text(key, values) {
    if (words === null) {
      var block = document.getElementById("i18n");
      try { words = block ? JSON.parse(block.textContent) : {}; } catch (e) { words = {}; }
    }
    var out = words[key] || FALLBACK[key] || key;
    Object.keys(values || {}).forEach(function (name) { out = out.split("{" + name + "}").join(String(values[name])); });
    return out;
  }
  window.flowdeckText = text;

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-toggle]");
    if (toggle) {
      var target = document.getElementById(toggle.getAttribute("data-toggle"));
      if (target) {
        var open = target.classList.toggle("open");
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
      }
    }
    if (event.target.closest("[data-close-dialog]")) {
      var dialog = document.getElementById("dialog");
      if (dialog && dialog.open) dialog.close();
    }
  });

  // Server-sent toasts: HX-Trigger: {"flowdeck:toast": {"message": "...", "kind": "error"}}
  document.body.addEventListener("flowdeck:toast", function (event) {
    toast(event.detail.message, event.detail.kind);
  });

  // The top bar's badge after an action that stays on the page (a decision on a board
  // card): HX-Trigger: {"flowdeck:counts": {"approvals": 2, "approvals_label": "2 waiting"}}
  document.body.addEventListener("flowdeck:counts", function (event) {
    var link = document.getElementById("nav-approvals");
    if (!link || typeof event.detail.approvals !== "number") return;
    var badge = link.querySelector(".badge-count");
    if (event.detail.approvals <= 0) {
      if (badge) badge.remove();
      return;
    }
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "badge-count";
      link.appendChild(badge);
    }
    badge.textContent = String(event.detail.approvals);
    badge.setAttribute("aria-label", event.detail.approvals_label || "");
  });

  // A fragment swapped into the dialog opens it; an empty one closes it.
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "dialog-body") {
      var dialog = document.getElementById("dialog");
      if (event.detail.target.innerHTML.trim()) {
        if (!dialog.open) dialog.showModal();
        var first = dialog.querySelector("input, select, textarea, button");
        if (first) first.focus();
      } else if (dialog.open) {
        dialog.close();
      }
    }
  });

  // Errors from htmx requests become toasts instead of silent failures.
  document.body.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.getResponseHeader("HX-Trigger")) return;
    toast(xhr.status === 403 ? text("forbidden") : text("error", { status: xhr.status }), "error");
  });
})();

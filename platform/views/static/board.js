// Boards: drag a card to another column (Sortable.js) or use its "Move to" menu; either way
// the move is POSTed to the server, which decides. A refused move puts the card back where
// it was and shows the reason; a move that needs fields or a comment opens the record's
// transition dialog; a stale card reloads the board. Folded columns open on click.
(function () {
  "use strict";

  var opened = {};          // folded columns (by data-ci) the user has opened
  var dialogMove = null;    // a move waiting for its transition dialog to be submitted
  var suppressClick = false;

  function board() { return document.getElementById("board"); }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function parseTrigger(header) {
    if (!header) return {};
    try { return JSON.parse(header); } catch (e) { return {}; }
  }

  function toast(message, kind) {
    if (window.flowdeckToast) window.flowdeckToast(message, kind);
  }

  function text(key, values) { return window.flowdeckText ? window.flowdeckText(key, values) : key; }

  function headerOf(ci) { return document.getElementById("h" + ci); }

  function labelOf(ci) {
    var head = headerOf(ci);
    var title = head && head.querySelector("h2");
    return title ? title.textContent.trim() : "";
  }

  function targetsOf(list) {
    var head = headerOf(list.getAttribute("data-ci"));
    var to = head ? head.getAttribute("data-to") : "";
    return to ? to.split(" ") : [];
  }

  function siblingList(list, column) {
    var row = list.parentElement;
    return row ? row.querySelector('ul.cards[data-col="' + column + '"]') : null;
  }

  // -- moving ---------------------------------------------------------------------------

  function putBack(item, from, index) {
    var before = from.children[index] || null;
    if (before === item) return;
    from.insertBefore(item, before);
  }

  function move(item, from, index, to, viaMenu) {
    var b = board();
    if (!b) return;
    var id = item.id.slice(1);
    var body = new URLSearchParams();
    body.set("view", b.getAttribute("data-view"));
    body.set("to", to.getAttribute("data-col"));
    body.set("version", item.getAttribute("data-v"));
    body.set("query", b.getAttribute("data-query") || "");
    item.classList.add("pending");
    item.setAttribute("aria-busy", "true");
    fetch(b.getAttribute("data-move").replace("{id}", id), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true", "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString()
    }).then(function (response) {
      return response.text().then(function (text) { return { response: response, text: text }; });
    }).then(function (result) {
      var response = result.response;
      var events = parseTrigger(response.headers.get("HX-Trigger"));
      item.classList.remove("pending");
      item.removeAttribute("aria-busy");
      if (response.headers.get("HX-Redirect")) {
        window.location.href = response.headers.get("HX-Redirect");
        return;
      }
      if (response.ok && !events["flowdeck:move-dialog"]) {
        window.htmx.swap(b, result.text, { swapStyle: "none" });
        syncMoveButtons();
        var fresh = document.getElementById(item.id);
        if (fresh) {
          fresh.classList.add("flash");
          if (viaMenu) focusCard(fresh);
        }
        if (viaMenu) toast(b.getAttribute("data-moved").replace("{column}", labelOf(to.getAttribute("data-ci"))), "ok");
        return;
      }
      putBack(item, from, index);
      syncMoveButtons();
      if (viaMenu) focusCard(item);
      if (events["flowdeck:move-dialog"]) {
        dialogMove = { card: item.id };
        window.htmx.ajax("GET", events["flowdeck:move-dialog"].url, { target: "#dialog-body", swap: "innerHTML" });
        return;
      }
      var note = events["flowdeck:toast"];
      toast(note ? note.message : (result.text || text("error", { status: response.status })), "error");
      if (response.status === 409) reloadBoard();
    }).catch(function () {
      item.classList.remove("pending");
      item.removeAttribute("aria-busy");
      putBack(item, from, index);
      toast(board() ? board().getAttribute("data-offline") : text("network"), "error");
    });
  }

  function focusCard(card) {
    var button = card.querySelector(".mv") || card.querySelector("a");
    if (button) button.focus();
  }

  // The whole board again (after a dialog completed a move, or a stale card), keeping the
  // sideways scroll position; folded columns fold again.
  function reloadBoard() {
    var b = board();
    if (!b) return;
    var left = b.scrollLeft;
    opened = {};
    window.htmx.ajax("GET", window.location.pathname + window.location.search, { target: "#board", swap: "outerHTML" }).then(function () {
      var fresh = board();
      if (fresh) fresh.scrollLeft = left;
    });
  }

  // Redraw some columns (cards, counts, WIP flags) from the server, e.g. after an approval
  // decided on a card moved it. A folded column the user did not open stays folded.
  function refreshColumns(tokens) {
    var b = board();
    if (!b) return;
    var base = b.getAttribute("data-column");
    if (!base) { reloadBoard(); return; }
    base = base.slice(0, base.lastIndexOf("/") + 1);
    var query = b.getAttribute("data-query") || "";
    var seen = {};
    tokens.forEach(function (token) {
      if (!token || seen[token]) return;
      seen[token] = true;
      var head = null;
      b.querySelectorAll(".colhead[data-col]").forEach(function (h) { if (h.getAttribute("data-col") === token) head = h; });
      if (!head) return;
      var ci = head.getAttribute("data-ci");
      var folded = head.classList.contains("folded");
      var url = base + encodeURIComponent(token) + "?" + (query ? query + "&" : "") + "offset=0";
      window.htmx.ajax("GET", url, { target: "#m" + ci, swap: "outerHTML" }).then(function () {
        if (folded && !opened[ci]) setFolded(ci, true);
      });
    });
  }

  // A decision made on a card (its Approve / Reject form): redraw the card's column and the
  // columns the server names (where the record went).
  document.body.addEventListener("flowdeck:card-decided", function (event) {
    var detail = event.detail || {};
    var tokens = (detail.columns || []).slice();
    var card = document.getElementById("k" + detail.record);
    var list = card ? card.closest("ul.cards") : null;
    if (list) tokens.unshift(list.getAttribute("data-col"));
    refreshColumns(tokens);
  });

  // -- Sortable -------------------------------------------------------------------------

  function markTargets(from, on) {
    var b = board();
    if (!b) return;
    b.classList.toggle("dragging", on);
    var allowed = on ? targetsOf(from) : [];
    b.querySelectorAll("ul.cards").forEach(function (list) {
      list.classList.remove("drop-ok", "drop-no");
      if (!on || list === from || list.parentElement !== from.parentElement) return;
      list.classList.add(allowed.indexOf(list.getAttribute("data-col")) >= 0 ? "drop-ok" : "drop-no");
    });
  }

  // Cards carry no buttons in the HTML (a board may hold hundreds): each card in a column
  // the user may move cards from gets its "Move to" button here.
  function syncMoveButtons() {
    var b = board();
    if (!b) return;
    var label = b.getAttribute("data-menu-title");
    b.querySelectorAll("ul.cards > li").forEach(function (card) {
      var button = card.querySelector(":scope > .mv");
      var movable = card.parentElement.hasAttribute("data-drag");
      if (movable && !button) {
        button = document.createElement("button");
        button.type = "button";
        button.className = "mv";
        button.setAttribute("aria-label", label);
        button.setAttribute("aria-haspopup", "menu");
        button.setAttribute("aria-expanded", "false");
        button.textContent = "⋯";
        card.appendChild(button);
      } else if (!movable && button) {
        button.remove();
      }
    });
  }

  function initLists() {
    var b = board();
    if (!b) return;
    syncMoveButtons();
    if (!window.Sortable || !b.hasAttribute("data-can-move")) return;
    b.querySelectorAll("ul.cards:not([data-sortable])").forEach(function (list) {
      list.setAttribute("data-sortable", "");
      window.Sortable.create(list, {
        group: { name: "lane-" + (list.getAttribute("data-lane") || ""), pull: list.hasAttribute("data-drag"), put: true },
        sort: false,
        draggable: list.hasAttribute("data-drag") ? "li:not(.pending)" : ".none",
        filter: ".mv, .appr",
        preventOnFilter: false,
        forceFallback: true,
        fallbackTolerance: 5,
        delay: 180,
        delayOnTouchOnly: true,
        animation: 120,
        onStart: function (event) { markTargets(event.from, true); },
        onEnd: function (event) {
          markTargets(event.from, false);
          suppressClick = true;
          setTimeout(function () { suppressClick = false; }, 50);
          if (event.from !== event.to) move(event.item, event.from, event.oldIndex, event.to, false);
        }
      });
    });
  }

  document.addEventListener("click", function (event) {
    if (suppressClick && event.target.closest("#board .cards > li")) {
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);

  // -- the "Move to" menu (keyboard and touch alternative to dragging) ------------------

  var menu = null;

  function closeMenu(focusBack) {
    if (!menu) return;
    var opener = menu.opener;
    menu.remove();
    menu = null;
    opener.setAttribute("aria-expanded", "false");
    if (focusBack) opener.focus();
  }

  function openMenu(button) {
    var card = button.closest("li");
    var list = card.parentElement;
    var b = board();
    closeMenu(false);
    menu = document.createElement("div");
    menu.className = "movemenu";
    menu.setAttribute("role", "menu");
    menu.opener = button;
    var title = document.createElement("p");
    title.textContent = b.getAttribute("data-menu-title");
    menu.appendChild(title);
    targetsOf(list).forEach(function (column) {
      var target = siblingList(list, column);
      if (!target) return;
      var item = document.createElement("button");
      item.type = "button";
      item.setAttribute("role", "menuitem");
      item.textContent = labelOf(target.getAttribute("data-ci"));
      item.addEventListener("click", function () {
        var index = Array.prototype.indexOf.call(list.children, card);
        closeMenu(false);
        target.insertBefore(card, target.firstChild);
        move(card, list, index, target, true);
      });
      menu.appendChild(item);
    });
    document.body.appendChild(menu);
    var box = button.getBoundingClientRect();
    var left = Math.min(window.scrollX + box.right - menu.offsetWidth, window.scrollX + document.documentElement.clientWidth - menu.offsetWidth - 8);
    menu.style.left = Math.max(8, left) + "px";
    menu.style.top = (window.scrollY + box.bottom + 4) + "px";
    button.setAttribute("aria-expanded", "true");
    var first = menu.querySelector("button");
    if (first) first.focus();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("#board .mv");
    if (button) {
      event.preventDefault();
      if (menu && menu.opener === button) closeMenu(true); else openMenu(button);
      return;
    }
    if (menu && !event.target.closest(".movemenu")) closeMenu(false);
  });

  document.addEventListener("keydown", function (event) {
    if (!menu) return;
    var items = Array.prototype.slice.call(menu.querySelectorAll("button"));
    var at = items.indexOf(document.activeElement);
    if (event.key === "Escape") {
      event.preventDefault();
      closeMenu(true);
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      var step = event.key === "ArrowDown" ? 1 : -1;
      if (items.length) items[(at + step + items.length) % items.length].focus();
    } else if (event.key === "Tab") {
      closeMenu(false);
    }
  });

  // -- folded columns -------------------------------------------------------------------

  function setFolded(ci, folded) {
    var b = board();
    if (!b) return;
    b.querySelectorAll('[data-ci="' + ci + '"]').forEach(function (el) { el.classList.toggle("folded", folded); });
    var button = b.querySelector('[data-fold="' + ci + '"]');
    if (button) button.setAttribute("aria-expanded", folded ? "false" : "true");
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("#board [data-fold]");
    if (!button) return;
    var ci = button.getAttribute("data-fold");
    var open = button.getAttribute("aria-expanded") !== "true";
    if (open) opened[ci] = true; else delete opened[ci];
    setFolded(ci, !open);
  });

  // -- after htmx swaps: new lists become sortable, opened columns stay open, no card twice

  function dedupe() {
    var seen = {};
    document.querySelectorAll("#board .cards > li").forEach(function (card) {
      if (seen[card.id]) card.remove(); else seen[card.id] = true;
    });
  }

  document.body.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.id === "board") opened = {};
    Object.keys(opened).forEach(function (ci) { setFolded(ci, false); });
    dedupe();
    initLists();
  });

  // A transition dialog opened by a drop: when it succeeds (the records page answers with
  // HX-Redirect to the record), stay on the board and reload it instead.
  document.body.addEventListener("htmx:beforeOnLoad", function (event) {
    var detail = event.detail;
    if (!dialogMove || !detail || !detail.xhr) return;
    var dialog = document.getElementById("dialog");
    if (!dialog || !dialog.contains(detail.elt)) return;
    if (detail.requestConfig && detail.requestConfig.verb === "post" && detail.xhr.status < 300 && detail.xhr.getResponseHeader("HX-Redirect")) {
      event.preventDefault();
      dialogMove = null;
      if (dialog.open) dialog.close();
      document.getElementById("dialog-body").innerHTML = "";
      reloadBoard();
    }
  });

  document.addEventListener("close", function (event) {
    if (event.target && event.target.id === "dialog") dialogMove = null;
  }, true);

  initLists();
})();

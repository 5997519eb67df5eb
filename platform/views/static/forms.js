// Record forms: live show-if / required-if, line items, reference pickers, file chips.
// No inline scripts (the Content Security Policy forbids them): everything hangs off data
// attributes in the templates and delegated events, so fragments htmx swaps in (the
// transition dialog) work without setup. The server stays the authority on every value.
(function () {
  "use strict";

  var DEBOUNCE_MS = 300;

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrf_token]");
    return input ? input.value : "";
  }

  // --- show-if / required-if --------------------------------------------------------------
  // The form's values go to the conditions endpoint, which answers with the engine's own
  // judgement per field: {"key": {"visible": bool, "required": bool}}.
  var timers = new WeakMap();
  var sequence = new WeakMap();

  function scheduleConditions(form) {
    if (!form || !form.dataset.conditions) return;
    clearTimeout(timers.get(form));
    timers.set(form, setTimeout(function () { refreshConditions(form); }, DEBOUNCE_MS));
  }

  function refreshConditions(form) {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (typeof value === "string") params.append(name, value);
    });
    var ticket = (sequence.get(form) || 0) + 1;
    sequence.set(form, ticket);
    fetch(form.dataset.conditions, {
      method: "POST",
      body: params,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(form), "Accept": "application/json" }
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (states) {
      if (states && sequence.get(form) === ticket) applyConditions(form, states);
    }).catch(function () { /* offline: the server still checks on submit */ });
  }

  function applyConditions(form, states) {
    Object.keys(states).forEach(function (key) {
      var wrapper = form.querySelector('[data-field="' + CSS.escape(key) + '"]');
      if (!wrapper) return;
      var state = states[key];
      wrapper.hidden = !state.visible;
      var marker = wrapper.querySelector(":scope > label .req, :scope > legend .req");
      if (marker) marker.hidden = !state.required;
      wrapper.querySelectorAll("[data-req]").forEach(function (input) {
        if (input.closest("[data-lineitems]") && !wrapper.matches("[data-lineitems]")) return;
        input.required = state.required && state.visible;
      });
    });
  }

  function changed(element) {
    var form = element && element.closest("form");
    if (form) scheduleConditions(form);
  }

  document.addEventListener("input", function (event) {
    var search = event.target.closest(".ref-search");
    if (search) {
      scheduleLookup(search);
      return;
    }
    changed(event.target);
  });
  document.addEventListener("change", function (event) {
    if (!event.target.closest(".ref-search")) changed(event.target);
  });

  // --- line items -----------------------------------------------------------------------------
  function addRow(button) {
    var box = button.closest("[data-lineitems]");
    var template = box.querySelector("template[data-row-template]");
    var index = parseInt(box.dataset.nextIndex || "0", 10);
    box.dataset.nextIndex = String(index + 1);
    var body = box.querySelector("[data-rows]");
    body.insertAdjacentHTML("beforeend", template.innerHTML.replace(/__i__/g, String(index)));
    var row = body.lastElementChild;
    if (window.htmx) window.htmx.process(row);
    var first = row.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus();
    changed(box);
  }

  function removeRow(button) {
    var box = button.closest("[data-lineitems]");
    var row = button.closest("[data-row]");
    var next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    var focus = next ? next.querySelector("[data-remove-row]") : box.querySelector("[data-add-row]");
    if (focus) focus.focus();
    changed(box);
  }

  // --- chips (references and files) ---------------------------------------------------------
  function removeChip(button) {
    var chip = button.closest(".chip");
    var picker = chip.closest(".refpicker, .attach");
    if (picker.dataset.many !== "true") {
      var kept = picker.querySelector("[data-ref-value]");
      if (kept) kept.value = "";
    }
    chip.remove();
    var focus = picker.querySelector(".ref-search, input[type=file]");
    if (focus) focus.focus();
    changed(picker);
  }

  function makeChip(picker, id, title) {
    var chip = document.createElement("span");
    chip.className = "chip";
    chip.dataset.id = id;
    if (picker.dataset.many === "true") {
      var hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = picker.dataset.name;
      hidden.value = id;
      chip.appendChild(hidden);
    }
    var label = document.createElement("span");
    label.textContent = title;
    chip.appendChild(label);
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "chip-remove";
    remove.setAttribute("aria-label", (picker.dataset.removeLabel || "Remove") + " " + title);
    remove.textContent = "×";
    chip.appendChild(remove);
    return chip;
  }

  // --- reference type-ahead over htmx -----------------------------------------------------
  var lookupTimers = new WeakMap();

  function scheduleLookup(search) {
    clearTimeout(lookupTimers.get(search));
    lookupTimers.set(search, setTimeout(function () { lookup(search); }, 250));
  }

  function lookup(search) {
    var picker = search.closest(".refpicker");
    var results = picker.querySelector(".lookup-results");
    if (!window.htmx) return;
    var url = picker.dataset.lookup + "?q=" + encodeURIComponent(search.value.trim());
    window.htmx.ajax("GET", url, { target: results, swap: "innerHTML" }).then(function () {
      results.hidden = false;
      search.setAttribute("aria-expanded", "true");
    });
  }

  function closeResults(picker) {
    var results = picker.querySelector(".lookup-results");
    var search = picker.querySelector(".ref-search");
    if (results) results.hidden = true;
    if (search) search.setAttribute("aria-expanded", "false");
  }

  function pick(option) {
    var picker = option.closest(".refpicker");
    var id = option.dataset.id;
    var chips = picker.querySelector(".chips");
    var search = picker.querySelector(".ref-search");
    var exists = chips.querySelector('.chip[data-id="' + CSS.escape(id) + '"]');
    if (!exists) {
      if (picker.dataset.many !== "true") {
        chips.replaceChildren();
        picker.querySelector("[data-ref-value]").value = id;
      }
      chips.appendChild(makeChip(picker, id, option.dataset.title));
    }
    closeResults(picker);
    search.value = "";
    // Back to the search box for the next choice, without opening the list again at once.
    search.dataset.justPicked = "1";
    search.focus();
    changed(picker);
  }

  function moveFocus(picker, step) {
    var options = Array.prototype.slice.call(picker.querySelectorAll(".lookup-option"));
    if (!options.length) return;
    var at = options.indexOf(document.activeElement);
    var next = at + step;
    if (next < 0) {
      picker.querySelector(".ref-search").focus();
      return;
    }
    options[Math.min(next, options.length - 1)].focus();
  }

  document.addEventListener("keydown", function (event) {
    var picker = event.target.closest(".refpicker");
    if (!picker) return;
    var results = picker.querySelector(".lookup-results");
    if (event.key === "ArrowDown") {
      event.preventDefault();
      if (results.hidden) lookup(picker.querySelector(".ref-search"));
      else moveFocus(picker, 1);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      moveFocus(picker, -1);
    } else if (event.key === "Escape" && !results.hidden) {
      event.preventDefault();
      event.stopPropagation();
      closeResults(picker);
      picker.querySelector(".ref-search").focus();
    } else if (event.key === "Enter" && event.target.classList.contains("ref-search")) {
      // Enter chooses the only match instead of submitting the whole form.
      event.preventDefault();
      var options = picker.querySelectorAll(".lookup-option");
      if (options.length === 1) pick(options[0]);
      else if (!results.hidden && options.length) options[0].focus();
    }
  });

  document.addEventListener("focusin", function (event) {
    var search = event.target.closest && event.target.closest(".ref-search");
    if (search) {
      if (search.dataset.justPicked) {
        delete search.dataset.justPicked;
        return;
      }
      var results = search.closest(".refpicker").querySelector(".lookup-results");
      if (results.hidden) lookup(search);
    }
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    var button;
    if ((button = target.closest("[data-add-row]"))) return addRow(button);
    if ((button = target.closest("[data-remove-row]"))) return removeRow(button);
    if ((button = target.closest(".chip-remove"))) return removeChip(button);
    if ((button = target.closest(".lookup-option"))) return pick(button);
    document.querySelectorAll(".refpicker").forEach(function (picker) {
      if (!picker.contains(target)) closeResults(picker);
    });
  });
})();

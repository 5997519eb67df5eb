// The app editor (admin): tabs, the JSON textarea with line numbers and problem marks,
// live validation and hints (debounced POSTs answered with JSON), problems that move the
// cursor to their line, the builder's Enter key, and the preview tab. No inline scripts:
// the server renders the builder and the editor; this file only wires them.
(function () {
  "use strict";

  var CHECK_DELAY = 500;
  var HINT_DELAY = 250;

  function csrf(form) {
    var input = form.querySelector("input[name=csrf_token]");
    return input ? input.value : "";
  }

  function post(url, form, fields) {
    var body = new FormData();
    body.append("csrf_token", csrf(form));
    Object.keys(fields).forEach(function (name) { body.append(name, fields[name]); });
    return fetch(url, { method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRFToken": csrf(form) } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      });
  }

  function lineStarts(text) {
    var starts = [0];
    for (var i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
    return starts;
  }

  function setup(root) {
    if (!root || root.dataset.ready) return;
    root.dataset.ready = "1";
    var form = root.querySelector("#schema-form");
    var textarea = root.querySelector("textarea#document");
    var editor = root.querySelector("[data-code-editor]");
    var gutter = root.querySelector("[data-gutter]");
    var marks = root.querySelector("[data-marks]");
    var status = root.querySelector("[data-status]");
    var problemsBox = root.querySelector("[data-problems]");
    var hintsBox = root.querySelector("#hints");
    var tabInput = root.querySelector("[data-tab-input]");
    var previewButton = root.querySelector("[data-preview-button]");
    var refreshButton = root.querySelector("[data-refresh]");
    var rendered = textarea ? textarea.value : "";
    var problems = [];
    var lineCount = 0;
    var checkTimer = null, hintTimer = null, sequence = 0, hintSequence = 0;
    var lastPreviewed = null;

    try { problems = JSON.parse(root.querySelector("[data-problems-json]").textContent) || []; } catch (e) { problems = []; }

    // -- tabs ----------------------------------------------------------------------------
    root.classList.add("js-tabs");
    function showTab(name) {
      root.querySelectorAll("[role=tab]").forEach(function (tab) {
        tab.setAttribute("aria-selected", tab.dataset.tab === name ? "true" : "false");
        tab.tabIndex = tab.dataset.tab === name ? 0 : -1;
      });
      root.querySelectorAll("[data-panel]").forEach(function (panel) {
        panel.classList.toggle("active", panel.dataset.panel === name);
      });
      if (tabInput) tabInput.value = name;
      root.dataset.tab = name;
      if (name === "json") sync();
      // The builder is drawn by the server: after edits in the JSON, draw it again.
      if (name === "builder" && textarea && textarea.value !== rendered && refreshButton) refreshButton.click();
      if (name === "preview" && previewButton && lastPreviewed !== textarea.value) {
        lastPreviewed = textarea.value;
        previewButton.click();
      }
    }
    root.querySelectorAll("[role=tab]").forEach(function (tab) {
      tab.addEventListener("click", function () { showTab(tab.dataset.tab); });
      tab.addEventListener("keydown", function (event) {
        if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
        var tabs = Array.prototype.slice.call(root.querySelectorAll("[role=tab]"));
        var next = tabs[(tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
        next.focus();
        showTab(next.dataset.tab);
      });
    });
    showTab(root.dataset.tab || "builder");

    // -- the code editor ------------------------------------------------------------------
    function lineHeight() {
      return parseFloat(getComputedStyle(textarea).lineHeight) || 20;
    }
    function padTop() {
      return parseFloat(getComputedStyle(textarea).paddingTop) || 0;
    }
    function renderGutter() {
      var count = textarea.value.split("\n").length;
      if (count !== lineCount) {
        var parts = [];
        for (var i = 1; i <= count; i++) parts.push("<div data-line=\"" + i + "\">" + i + "</div>");
        gutter.innerHTML = parts.join("");
        lineCount = count;
      }
      renderMarks();
    }
    function renderMarks() {
      var byLine = {};
      problems.forEach(function (p) { (byLine[p.line] = byLine[p.line] || []).push((p.path ? p.path + ": " : "") + p.message); });
      gutter.querySelectorAll("div.bad").forEach(function (div) { div.classList.remove("bad"); div.removeAttribute("title"); });
      marks.textContent = "";
      var height = lineHeight(), top = padTop();
      Object.keys(byLine).forEach(function (line) {
        var div = gutter.children[Number(line) - 1];
        if (div) { div.classList.add("bad"); div.title = byLine[line].join("\n"); }
        var mark = document.createElement("div");
        mark.style.top = (top + (Number(line) - 1) * height) + "px";
        mark.dataset.line = line;
        marks.appendChild(mark);
      });
      sync();
    }
    function sync() {
      if (!textarea) return;
      var y = -textarea.scrollTop;
      gutter.style.transform = "translateY(" + y + "px)";
      marks.style.transform = "translateY(" + y + "px)";
    }
    function currentLine() {
      return textarea.value.slice(0, textarea.selectionStart).split("\n").length;
    }
    function markCurrent() {
      var here = gutter.querySelector("div.here");
      if (here) here.classList.remove("here");
      var div = gutter.children[currentLine() - 1];
      if (div) div.classList.add("here");
    }

    function goTo(line, column) {
      showTab("json");
      var starts = lineStarts(textarea.value);
      var start = starts[Math.max(0, Math.min(line, starts.length) - 1)] || 0;
      var offset = Math.min(start + Math.max(0, (column || 1) - 1), textarea.value.length);
      textarea.focus();
      textarea.setSelectionRange(offset, offset);
      textarea.scrollTop = Math.max(0, (line - 1) * lineHeight() - textarea.clientHeight / 3);
      sync();
      markCurrent();
      scheduleHints();
    }

    function showProblems(data) {
      problems = data.problems || [];
      status.textContent = data.summary;
      status.classList.remove("busy");
      status.classList.toggle("ok", !!data.ok);
      status.classList.toggle("bad", !data.ok);
      problemsBox.innerHTML = data.html || "";
      renderMarks();
      if (data.hints && hintsBox && root.dataset.tab === "json") hintsBox.innerHTML = data.hints;
    }

    function check() {
      var mine = ++sequence;
      status.classList.add("busy");
      post(root.dataset.check, form, { document: textarea.value, cursor: String(textarea.selectionStart) })
        .then(function (data) { if (mine === sequence) showProblems(data); })
        .catch(function () {
          if (mine !== sequence) return;
          status.classList.remove("busy");
          if (window.flowdeckToast) window.flowdeckToast(window.flowdeckText ? window.flowdeckText("network") : "Network error", "error");
        });
    }
    function scheduleCheck() {
      clearTimeout(checkTimer);
      checkTimer = setTimeout(check, CHECK_DELAY);
    }
    function hints() {
      var mine = ++hintSequence;
      post(root.dataset.hints, form, { document: textarea.value, cursor: String(textarea.selectionStart) })
        .then(function (data) { if (mine === hintSequence && hintsBox && data.hints) hintsBox.innerHTML = data.hints; })
        .catch(function () { /* hints are a help; validation reports connection problems */ });
    }
    function scheduleHints() {
      clearTimeout(hintTimer);
      hintTimer = setTimeout(hints, HINT_DELAY);
    }

    if (textarea && editor) {
      editor.dataset.ready = "1";
      textarea.addEventListener("scroll", sync);
      textarea.addEventListener("input", function () {
        renderGutter();
        markCurrent();
        scheduleCheck();
      });
      ["click", "keyup"].forEach(function (name) {
        textarea.addEventListener(name, function (event) {
          if (name === "keyup" && event.key && event.key.length === 1) return;  // typing: the check brings the hints
          markCurrent();
          scheduleHints();
        });
      });
      textarea.addEventListener("focus", scheduleHints);
      textarea.addEventListener("keydown", function (event) {
        if (event.key !== "Enter" || event.shiftKey || event.ctrlKey || event.metaKey || event.altKey) return;
        // keep the indentation of the line (one step more after an opening bracket)
        var value = textarea.value, at = textarea.selectionStart;
        var lineStart = value.lastIndexOf("\n", at - 1) + 1;
        var indent = /^[ \t]*/.exec(value.slice(lineStart, at))[0];
        var before = value.slice(lineStart, at).trim();
        if (/[{[]$/.test(before)) indent += "  ";
        event.preventDefault();
        textarea.setRangeText("\n" + indent, at, textarea.selectionEnd, "end");
        textarea.dispatchEvent(new Event("input", { bubbles: true }));
      });
      renderGutter();
      gutter.addEventListener("click", function (event) {
        var div = event.target.closest("div.bad");
        if (!div) return;
        var line = Number(div.dataset.line);
        var first = problems.filter(function (p) { return p.line === line; })[0];
        goTo(line, first ? first.column : 1);
      });
    }

    problemsBox.addEventListener("click", function (event) {
      var link = event.target.closest(".problem-link");
      if (link) goTo(Number(link.dataset.line), Number(link.dataset.column));
    });

    if (hintsBox) {
      hintsBox.addEventListener("click", function (event) {
        var button = event.target.closest("button.insert");
        if (!button) return;
        var text = button.dataset.insert || "";
        textarea.focus();
        textarea.setRangeText(text, textarea.selectionStart, textarea.selectionEnd, "end");
        textarea.dispatchEvent(new Event("input", { bubbles: true }));
      });
    }

    // -- the builder ----------------------------------------------------------------------
    // Enter in a builder input runs that group's action (not the first button of the form).
    root.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || event.target.tagName !== "INPUT") return;
      var group = event.target.closest("[data-enter]");
      if (!group) return;
      var action = group.getAttribute("data-enter");
      var button = Array.prototype.filter.call(group.querySelectorAll("button[name=action]"), function (b) { return b.value === action; })[0];
      if (!button) return;
      event.preventDefault();
      button.click();
    });
    // The add-field form shows the settings of the chosen type only.
    root.querySelectorAll("[data-type-select]").forEach(function (select) {
      function update() {
        var box = select.closest("fieldset");
        box.querySelectorAll("[data-for-types]").forEach(function (el) {
          el.hidden = el.getAttribute("data-for-types").split(" ").indexOf(select.value) < 0;
        });
      }
      select.addEventListener("change", update);
      update();
    });
    // A builder action answered: its details stay open and in view.
    var opened = root.querySelector(".bitem details[open]");
    if (opened && root.dataset.tab === "builder" && root.querySelector(".alert.ok, .alert.error")) {
      opened.closest(".bitem").scrollIntoView({ block: "nearest" });
    }
  }

  function init(scope) {
    var root = scope && scope.id === "editor" ? scope : (scope || document).querySelector && (scope || document).querySelector("#editor");
    if (root) setup(root);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.target); });
})();

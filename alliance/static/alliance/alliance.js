/* Progressive enhancement for the session page and the client forms: live values and totals,
   "not yet rated" lines, hand-over mode, saving without a page reload, and live updates when a
   client's form arrives by link. Everything works without this file. */
(function () {
  "use strict";

  // Scores a person reads use the page language's decimal separator ("31,8" in Spanish, as the
  // server writes them); the values the form sends keep the dot.
  var SEPARATOR = ".";
  try {
    SEPARATOR = (1.5).toLocaleString(document.documentElement.lang || undefined).charAt(1) || ".";
  } catch (ignored) { /* an unknown language tag: keep the dot */ }

  function formatScore(value, decimals) {
    var places = decimals === undefined ? 1 : decimals;
    var factor = Math.pow(10, places);
    return (Math.round(value * factor) / factor).toFixed(places).replace(".", SEPARATOR);
  }

  function decimalsOf(form) {
    var items = form.querySelector(".rating-items");
    var decimals = items ? parseInt(items.getAttribute("data-decimals"), 10) : 1;
    return isNaN(decimals) ? 1 : decimals;
  }

  // A line counts only once the client moved it: untouched lines stay "not yet rated" and the
  // form is not sent (without JavaScript a required tick box plays this part).
  function markRated(range) {
    var line = range.closest(".vas");
    if (line) { line.classList.remove("unset"); }
    var max = range.getAttribute("max");
    range.setAttribute("aria-valuetext", formatScore(parseFloat(range.value)) + " / " + max);
  }

  function unrated(form) {
    var missing = Array.prototype.slice.call(form.querySelectorAll(".vas.unset input[type=range]"));
    form.querySelectorAll("fieldset.likert").forEach(function (group) {
      if (!group.querySelector("input[type=radio]:checked")) {
        missing.push(group.querySelector("input[type=radio]"));
      }
    });
    return missing;
  }

  function updateTotals(form) {
    var total = 0;
    var complete = true;
    form.querySelectorAll('input[type="range"]').forEach(function (range) {
      var set = !range.closest(".vas.unset");
      var output = form.querySelector('output[for="' + range.id + '"]');
      if (output && set) { output.textContent = formatScore(parseFloat(range.value)); }
      if (!set) { complete = false; }
      total += parseFloat(range.value);
    });
    form.querySelectorAll("fieldset.likert").forEach(function (group) {
      var chosen = group.querySelector("input[type=radio]:checked");
      if (chosen) { total += parseFloat(chosen.value); } else { complete = false; }
    });
    var confirm = form.querySelector('input[name="confirmed"]');
    if (confirm) { confirm.checked = complete; }
    var totalOnly = form.querySelector('input[type="number"]');
    var live = form.querySelector("output.live-total");
    if (totalOnly && totalOnly.value !== "") { total = parseFloat(totalOnly.value); complete = true; }
    if (live) { live.textContent = complete && !isNaN(total) ? formatScore(total, decimalsOf(form)) : "\u2013"; }
  }

  // Pointer and touch on a line: the value is where the line was pressed, measured along the
  // whole line as on paper (the browser's own mapping leaves out half a thumb at each end, and
  // a tap on the spot where the thumb already sits, such as the midpoint, changed nothing).
  // Keyboard operation stays the browser's: arrows 0.1, PageUp/PageDown 1, Home/End.
  function valueAt(range, clientX) {
    var box = range.getBoundingClientRect();
    var min = parseFloat(range.min);
    var max = parseFloat(range.max);
    var step = parseFloat(range.step) || 1;
    var fraction = box.width > 0 ? (clientX - box.left) / box.width : 0;
    fraction = Math.min(1, Math.max(0, fraction));
    var steps = Math.round((fraction * (max - min)) / step);
    var decimals = (String(range.step).split(".")[1] || "").length;
    return (min + steps * step).toFixed(decimals);
  }

  function bindLine(range, form) {
    var pointer = null;
    var place = function (event, settle) {
      range.value = valueAt(range, event.clientX);
      markRated(range);
      range.dispatchEvent(new Event("input", { bubbles: true }));
      if (settle) { range.dispatchEvent(new Event("change", { bubbles: true })); }
      updateTotals(form);
    };
    range.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) { return; }
      // Stops the browser's own handling (its mousedown), so one value is set, not two.
      event.preventDefault();
      pointer = event.pointerId;
      try { range.setPointerCapture(pointer); } catch (ignored) { /* not capturable */ }
      range.focus({ preventScroll: true });
      place(event, false);
    });
    range.addEventListener("pointermove", function (event) {
      if (pointer === event.pointerId) { place(event, false); }
    });
    range.addEventListener("pointerup", function (event) {
      if (pointer !== event.pointerId) { return; }
      pointer = null;
      place(event, true);
    });
    range.addEventListener("pointercancel", function () { pointer = null; });
    // The browser's own touch handling would move the thumb by its mapping; the pointer events
    // above do the work (the line has touch-action: none, so nothing scrolls from it).
    var swallow = function (event) { if (event.cancelable) { event.preventDefault(); } };
    range.addEventListener("touchstart", swallow, { passive: false });
    range.addEventListener("touchmove", swallow, { passive: false });
  }

  function readyToSend(form) {
    var totalOnly = form.querySelector('input[type="number"]');
    if (totalOnly && totalOnly.value !== "") { return true; }
    var missing = unrated(form);
    var message = form.querySelector(".rate-all-message");
    if (missing.length) {
      if (message) { message.hidden = false; }
      missing[0].focus();
      return false;
    }
    if (message) { message.hidden = true; }
    return true;
  }

  function bind(root) {
    root.querySelectorAll("form.instrument-form").forEach(function (form) {
      form.classList.add("js-tracked");
      form.querySelectorAll('.vas input[type="range"]').forEach(function (range) { bindLine(range, form); });
      // The script checks the (hidden) confirmation box itself once every line was chosen.
      form.querySelectorAll('input[name="confirmed"]').forEach(function (box) { box.required = false; });
      // A client's form shown again (after a language switch) with every line set is ready.
      if (form.classList.contains("client-form")) { updateTotals(form); }
      var chosen = function (event) {
        if (event.target.type === "range") { markRated(event.target); }
        updateTotals(form);
      };
      // A tap on the thumb's current spot is a choice too, though the value does not change.
      form.addEventListener("input", chosen);
      form.addEventListener("change", chosen);
      form.addEventListener("click", function (event) { if (event.target.type === "range") { chosen(event); } });
      // Capture phase: runs before the fetch handler below and can stop it.
      form.addEventListener("submit", function (event) {
        // The client's language switch sends the form without rating anything: lines not yet
        // moved are left out, so they come back "not yet rated" in the other language.
        if (event.submitter && event.submitter.hasAttribute("data-switch-language")) {
          form.querySelectorAll(".vas.unset input[type=range]").forEach(function (range) { range.disabled = true; });
          return;
        }
        if (!readyToSend(form)) { event.preventDefault(); event.stopImmediatePropagation(); }
      }, true);
    });
    root.querySelectorAll("form[data-fetch]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        submitWithoutReload(form);
      });
    });
  }

  function submitWithoutReload(form) {
    var container = document.getElementById("session-live");
    var button = form.querySelector('button[type="submit"]');
    if (button) { button.disabled = true; }
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { "X-Requested-With": "fetch" },
      credentials: "same-origin"
    }).then(function (response) {
      return response.text().then(function (html) { return { ok: response.ok, html: html }; });
    }).then(function (result) {
      container.innerHTML = result.html;
      bind(container);
      var target = container.querySelector(result.ok ? "#results-heading" : ".error");
      if (target && !document.body.classList.contains("handover")) {
        target.setAttribute("tabindex", "-1");
        target.focus();
      }
    }).catch(function () {
      // Network trouble: fall back to an ordinary form post.
      form.removeAttribute("data-fetch");
      form.submit();
    });
  }

  // While a link or kiosk code is out, ask the server every few seconds whether a rating
  // arrived, and redraw the session's live part when it did (no reload).
  function poll(container) {
    var url = container.dataset.liveUrl;
    window.setInterval(function () {
      if (document.hidden || document.body.classList.contains("handover")) { return; }
      if (container.contains(document.activeElement) && document.activeElement !== document.body) { return; }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data || data.stamp === container.dataset.liveStamp) { return; }
          container.dataset.liveStamp = data.stamp;
          return fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
            .then(function (response) { return response.text(); })
            .then(function (html) { container.innerHTML = html; bind(container); });
        })
        .catch(function () { /* try again next time */ });
    }, 4000);
  }

  function bindCopy() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var field = document.getElementById(button.dataset.copy);
      if (!field || !navigator.clipboard) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(field.value).then(function () { button.textContent = button.dataset.done || "\u2713"; });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.documentElement.classList.add("js");
    var container = document.getElementById("session-live");
    if (container) {
      bind(container);
      if (container.hasAttribute("data-live-poll")) { poll(container); }
    } else {
      bind(document);
    }
    bindCopy();
  });
})();

/* Hand-over (the client's side of a session, one scale at a time): after a saved scale the page
   names it in a polite live region and focus moves to the next scale (or the thank-you page). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var heading = document.getElementById("handover-heading");
    var status = document.getElementById("handover-status");
    if (!heading || !status) { return; }
    heading.focus();
    var text = status.textContent.trim();
    if (text) {
      // Emptied, then filled again: a change a screen reader announces (page-load text is not).
      status.textContent = "";
      window.setTimeout(function () { status.textContent = text; }, 150);
    }
  });
})();

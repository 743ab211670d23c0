// The page's only script: buttons call the JSON API; the live stream swaps in a fresh alert list.
(function () {
  "use strict";
  var list = document.getElementById("alerts");
  var flash = document.getElementById("flash");
  var live = document.getElementById("live");

  function show(message) { flash.textContent = message ? flash.dataset.prefix + message : ""; }

  // What the user has typed or chosen in the list survives a live swap: a half-written note stays.
  function typed() {
    var kept = { opened: [] };
    list.querySelectorAll("article details[open]").forEach(function (d) { kept.opened.push(d.closest("article").id); });
    list.querySelectorAll("form[data-dirty]").forEach(function (form) {
      kept[form.dataset.api] = {};
      new FormData(form).forEach(function (value, name) { kept[form.dataset.api][name] = value; });
    });
    return kept;
  }

  function restore(kept) {
    kept.opened.forEach(function (id) {
      var details = document.querySelector("#" + id + " details");
      if (details) { details.open = true; }
    });
    list.querySelectorAll("form[data-api]").forEach(function (form) {
      var values = kept[form.dataset.api];
      if (!values) { return; }
      form.dataset.dirty = "1";
      Object.keys(values).forEach(function (name) { if (form.elements[name]) { form.elements[name].value = values[name]; } });
    });
  }

  function refresh() {
    if (!list) { return; }
    fetch(list.dataset.src, { credentials: "same-origin" }).then(function (r) {
      if (r.status === 401) { location.href = "/login"; return; }
      if (r.ok) {
        return r.text().then(function (html) { var kept = typed(); list.innerHTML = html; restore(kept); });
      }
    });
  }

  ["input", "change"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      var form = event.target.form;
      if (form && form.dataset.api) { form.dataset.dirty = "1"; }
    });
  });

  // A form with data-api posts its fields as JSON to that API route, with the sign-in cookie.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.dataset.api) { return; }
    event.preventDefault();
    var body = {};
    new FormData(form).forEach(function (value, name) { if (value !== "") { body[name] = value; } });
    form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    fetch(form.dataset.api, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) {
      if (r.ok) {
        show("");
        delete form.dataset.dirty;
        if (form.dataset.after === "reload") { location.reload(); } else { refresh(); }
        return;
      }
      return r.json().then(function (e) { show(e.detail); }, function () { show(r.status + " " + r.statusText); });
    }).catch(function (e) { show(String(e)); }).finally(function () {
      form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    });
  });

  if (list && window.EventSource) {
    var source = new EventSource("/events");
    source.addEventListener("alerts", refresh);
    source.addEventListener("signed-out", function () { source.close(); location.href = "/login"; });
    source.onopen = function () { if (live) { live.textContent = live.dataset.on; live.className = ""; } };
    source.onerror = function () { if (live) { live.textContent = live.dataset.off; live.className = "off"; } };
  }
})();

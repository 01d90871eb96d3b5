// The article editor's live preview: the server renders the Markdown safely (the same renderer
// operators see) and measures the Gulpease index; this only sends the text and shows the answer.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  document.addEventListener("DOMContentLoaded", function () {
    var body = document.querySelector("textarea[data-preview]");
    if (!body) { return; }
    var timer = null;
    function refresh() {
      fetch(body.dataset.preview, {
        method: "POST",
        body: new URLSearchParams({ body: body.value }),
        headers: { "Accept": "application/json", "X-CSRF-Token": csrf },
        credentials: "same-origin"
      }).then(function (r) { return r.json(); }).then(function (data) {
        document.getElementById("kb-preview").innerHTML = data.html;
        document.getElementById("kb-gulpease").textContent = data.gulpease === null ? "—" : String(data.gulpease);
        document.getElementById("kb-level").textContent = data.level || "";
        document.getElementById("kb-warn").hidden = !data.warn;
      });
    }
    body.addEventListener("input", function () {
      if (timer) { window.clearTimeout(timer); }
      timer = window.setTimeout(refresh, 300);
    });
  });
})();

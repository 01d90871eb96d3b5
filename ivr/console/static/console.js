// Live updates for the console: server-sent events refresh the operator's state, pop new calls
// and keep the wallboard current; forms marked data-json are sent without leaving the page so a
// popped call never wipes a form being filled. Every page also works without this script.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function sendJson(form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var status = form.querySelector(".form-status");
      var body = new URLSearchParams(new FormData(form, event.submitter || null));  // before disabling it
      var button = form.querySelector('button[type="submit"]');
      if (button) { button.disabled = true; }
      fetch(form.action, {
        method: "POST",
        body: body,
        headers: { "Accept": "application/json", "X-CSRF-Token": csrf },
        credentials: "same-origin"
      }).then(function (response) {
        return response.json().then(function (data) { return { ok: response.ok, data: data }; });
      }).then(function (result) {
        if (button) { button.disabled = false; }
        if (!result.ok) {
          var message = result.data.error || "Operazione non riuscita";
          var where = status || (form.hasAttribute("data-keep") && form.closest(".call-controls")
            ? form.closest(".call-controls").querySelector(".form-status") : null);
          if (where) { where.textContent = message; where.className = "form-status error"; } else { window.alert(message); }
          return;
        }
        var card = form.closest(".call-card");
        if (form.hasAttribute("data-keep")) {  // a call control: the card stays, the result is said
          var said = form.closest(".call-controls");
          said = said ? said.querySelector(".form-status") : status;
          if (said) { said.textContent = result.data.message || "Fatto."; said.className = "form-status"; }
          if (result.data.call) { showHeld(form.closest(".call-controls"), result.data.call.held); }
        } else if (card) {
          card.remove();
          announce("Scheda della pratica " + result.data.ticket + " registrata.");
          var calls = document.getElementById("desk-calls");
          var empty = document.getElementById("no-calls");
          if (calls && empty && !calls.querySelector(".call-card")) { empty.hidden = false; }
        } else if (status) {
          status.textContent = "Fatto.";
        }
      }).catch(function () {
        if (button) { button.disabled = false; }
        if (status) { status.textContent = "Connessione non riuscita: riprova."; }
      });
    });
  }

  // On hold or not, as the engine says after each control: the status line and the one button
  // that applies (both buttons always shown left the operator guessing).
  function showHeld(controls, held) {
    if (!controls) { return; }
    var line = controls.querySelector(".call-held");
    var hold = controls.querySelector('button[name="hold"]');
    var resume = controls.querySelector('button[name="resume"]');
    if (line) { line.hidden = !held; }
    if (hold) { hold.hidden = held; }
    if (resume) { resume.hidden = !held; }
    controls.dataset.held = held ? "1" : "0";
  }

  function bindForms(root) {
    root.querySelectorAll("form[data-json]").forEach(function (form) {
      if (!form.dataset.bound) { form.dataset.bound = "1"; sendJson(form); }
    });
  }

  // The desk's knowledge-base search: results come as JSON and each gets its own
  // "Risolta con l'articolo N" form, built with DOM calls (titles are text, never markup).
  function kbResult(ticket, article) {
    var item = document.createElement("li");
    item.className = "kb-item" + (article.review_overdue ? " review-overdue" : "");
    item.dataset.article = String(article.id);
    var link = document.createElement("a");
    link.href = article.url;
    link.target = "_blank";
    link.textContent = article.id + ". " + article.title;
    item.appendChild(link);
    if (article.review_overdue) {
      var tag = document.createElement("span");
      tag.className = "tag overdue";
      tag.textContent = "da rivedere";
      item.appendChild(document.createTextNode(" "));
      item.appendChild(tag);
    }
    var form = document.createElement("form");
    form.method = "post";
    form.action = "/console/desk/tickets/" + ticket + "/article";
    form.className = "inline kb-answer";
    form.setAttribute("data-json", "");
    [["_csrf", csrf], ["article", String(article.id)]].forEach(function (pair) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = pair[0];
      input.value = pair[1];
      form.appendChild(input);
    });
    var button = document.createElement("button");
    button.type = "submit";
    button.textContent = "Risolta con l'articolo " + article.id;
    form.appendChild(button);
    item.appendChild(form);
    return item;
  }

  function bindKbSearch(root) {
    root.querySelectorAll("form[data-kb-search]").forEach(function (form) {
      if (form.dataset.bound) { return; }
      form.dataset.bound = "1";
      var ticket = form.dataset.ticket;
      var input = form.querySelector('input[name="q"]');
      var list = document.getElementById("kb-results-" + ticket);
      var timer = null;
      function search() {
        var q = input.value.trim();
        if (!q) { list.hidden = true; list.textContent = ""; return; }
        var topicParam = form.dataset.topic ? "&topic=" + encodeURIComponent(form.dataset.topic) : "";
        fetch(form.dataset.kbSearch + "?q=" + encodeURIComponent(q) + topicParam, {
          headers: { "Accept": "application/json" }, credentials: "same-origin"
        }).then(function (r) { return r.json(); }).then(function (data) {
          list.textContent = "";
          if (!data.articles.length) {
            var none = document.createElement("li");
            none.className = "empty";
            none.textContent = "Nessun articolo trovato.";
            list.appendChild(none);
          }
          data.articles.forEach(function (article) { list.appendChild(kbResult(ticket, article)); });
          list.hidden = false;
          bindForms(list);
        });
      }
      form.addEventListener("submit", function (event) { event.preventDefault(); search(); });
      input.addEventListener("input", function () {
        if (timer) { window.clearTimeout(timer); }
        timer = window.setTimeout(search, 250);
      });
    });
  }

  function announce(text) {
    var alertBox = document.getElementById("call-alert");
    if (alertBox) { alertBox.textContent = text; }
  }

  // The call's card, put on the desk once (by the live view, or by the desk's phone as it rings).
  function showCard(ticket, html) {
    var present = document.getElementById("ticket-" + ticket);
    if (present || !html) { return present; }
    var calls = document.getElementById("desk-calls");
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var card = holder.firstElementChild;
    if (!calls || !card) { return null; }
    calls.insertBefore(card, calls.firstChild);
    bindForms(card);
    bindKbSearch(card);
    var empty = document.getElementById("no-calls");
    if (empty) { empty.hidden = true; }
    var caller = card.querySelector(".caller");
    announce("Chiamata in arrivo da " + (caller ? caller.textContent : "numero nascosto"));
    return card;
  }
  window.nulDesk = { showCard: showCard };

  function onDeskView(data) {
    var state = document.getElementById("desk-state");
    if (state && data.state_html !== undefined) { state.innerHTML = data.state_html; }
    var ticket = data.view && data.view.ticket;
    if (ticket && data.card) { showCard(ticket, data.card); }
  }

  function onBoardView(data) {
    var board = document.getElementById("wallboard");
    if (board && data.board_html !== undefined) { board.innerHTML = data.board_html; }
  }

  function live(element) {
    var source = new EventSource(element.dataset.live);
    source.addEventListener("view", function (event) {
      var data = JSON.parse(event.data);
      if (data.board_html !== undefined) { onBoardView(data); } else { onDeskView(data); }
    });
    source.addEventListener("logout", function () {
      source.close();
      window.location.assign("/console/login?msg=expired");
    });
  }

  function tick() {
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = Math.max(0, parseInt(el.dataset.countdown, 10) - 1);
      el.dataset.countdown = String(left);
      el.textContent = String(left);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    bindForms(document);
    bindKbSearch(document);
    document.querySelectorAll("[data-live]").forEach(live);
    window.setInterval(tick, 1000);
  });
})();

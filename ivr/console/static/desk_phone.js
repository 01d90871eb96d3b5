/* The desk's phone: JsSIP over the console's own WebSocket (/ws, relayed by the engine to the
   line's Asterisk), DTLS-SRTP media straight to Asterisk.
   The microphone is asked for once, when the desk opens, and kept for every call. An incoming
   call rings (tone and banner) only once its card is on the page, so both arrive together.
   While the desk is open it says so every few seconds; closing the tab says so at once. */
(function () {
  "use strict";
  var panel, statusEl, ringEl, answerBtn, hangupBtn, muteBtn, meter, audioEl;
  var ua = null, account = null, session = null, micStream = null;
  var ringer = null, audioCtx = null, analyser = null, renewTimer = null;
  var api = window.nulPhone = { state: "starting", registered: false, lastOffer: null, lastAnswer: null,
                                level: 0, peak: 0, calls: 0, ringAt: null };

  function csrf() { return document.querySelector('meta[name="csrf-token"]').content; }
  function say(text) { statusEl.textContent = text; }

  // A newer desk of the same operator has the phone (409): this one says so and stops asking,
  // until the operator takes the phone back here ("Usa il telefono qui").
  function getAccount(take) {
    var url = "/console/desk/phone/account" + (take ? "?take=1" : "");
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 409) { return r.json().then(function (body) { throw { displaced: body.displaced }; }); }
        if (!r.ok) { throw new Error("account " + r.status); }
        return r.json();
      });
  }

  function displaced(text) {
    api.state = "displaced"; api.registered = false;
    window.clearTimeout(renewTimer);
    if (ua) {  // its "unregistered" and "disconnected" would say "trying again" over what is said here
      var old = ua; ua = null;
      old.removeAllListeners();
      old.stop();
    }
    say("Telefono: " + text);
    document.getElementById("phone-take").hidden = false;
  }

  function takeBack() {
    document.getElementById("phone-take").hidden = true;
    getAccount(true).then(function (fresh) {
      account = fresh;
      connect();
      scheduleRenewal();
    }).catch(function (err) { if (err && err.displaced) { displaced(err.displaced); } });
  }

  function scheduleRenewal() {
    window.clearTimeout(renewTimer);
    renewTimer = window.setTimeout(renew, Math.max(30, account.expires_in_s / 2) * 1000);
  }

  function renew() {
    getAccount().then(function (fresh) {
      var changed = fresh.password !== account.password;
      account = fresh;
      if (changed && ua) { ua.set("password", fresh.password); ua.register(); }
      scheduleRenewal();
    }).catch(function (err) {
      if (err && err.displaced) { displaced(err.displaced); return; }
      renewTimer = window.setTimeout(renew, 10000);
    });
  }

  function start() {
    say("Telefono: attivazione del microfono…");
    getAccount().then(function (acc) {
      account = acc;
      if (acc.unusable) { throw { unusable: acc.unusable }; }  // it could never register: say why, not "trying again"
      var processing = acc.audio_processing;  // echo cancellation, noise suppression, gain control
      return navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing }, video: false
      });
    }).then(function (stream) {
      micStream = stream;
      connect();
      scheduleRenewal();
    }).catch(function (err) {
      api.state = "error";
      if (err && err.unusable) { say("Telefono non utilizzabile: " + err.unusable); return; }
      if (err && err.displaced) { displaced(err.displaced); return; }
      say("Telefono non disponibile: " + (err && err.name === "NotAllowedError"
        ? "il browser non permette l'uso del microfono." : "riprova ricaricando la pagina."));
    });
  }

  // Same origin as the page: wss behind the console's HTTPS, ws only on a plain-HTTP console
  // (localhost in the lab); the session cookie goes along, as with every request of the page.
  function wsUrl(path) {
    return (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + path;
  }

  function connect() {
    say("Telefono: collegamento…");
    ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(wsUrl(account.ws_path))],
      uri: account.uri,
      authorization_user: account.username,
      password: account.password,
      realm: account.realm,
      display_name: account.display_name,
      register: true,
      register_expires: 120,
      session_timers: false,
      user_agent: "NUL scrivania"
    });
    ua.on("registered", function () {
      api.registered = true; api.state = "registered";
      if (!session) { say("Telefono pronto: le chiamate squillano qui."); }
    });
    ua.on("unregistered", function () { api.registered = false; say("Telefono non registrato."); });
    ua.on("registrationFailed", function (e) {
      api.registered = false;
      say("Telefono non registrato (" + (e.cause || "nessuna risposta") + "): nuovo tentativo…");
      if (e.cause === JsSIP.C.causes.AUTHENTICATION_ERROR || e.cause === JsSIP.C.causes.REJECTED) {
        window.setTimeout(renew, 1000);  // the engine restarted or the password expired: ask again
      }
    });
    ua.on("disconnected", function () { api.registered = false; say("Telefono scollegato: nuovo tentativo…"); });
    ua.on("newRTCSession", function (e) { if (e.originator === "remote") { incoming(e.session, e.request); } });
    ua.start();
  }

  function incoming(call, request) {
    if (session) { call.terminate({ status_code: 486 }); return; }
    session = call;
    api.peak = 0;
    api.lastOffer = request.body || null;
    api.state = "ringing";
    call.on("peerconnection", function (ev) { watchMedia(ev.peerconnection); });
    call.on("accepted", function () {
      stopRing();
      api.state = "talking"; api.calls += 1;
      if (call.connection && call.connection.localDescription) { api.lastAnswer = call.connection.localDescription.sdp; }
      say("In conversazione.");
      show(false, true);
    });
    call.on("ended", finished);
    call.on("failed", finished);
    fetch("/console/desk/phone/card", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : {}; })
      .catch(function () { return {}; })
      .then(function (data) {
        if (session !== call) { return; }  // it stopped ringing meanwhile
        var card = data.ticket && window.nulDesk ? window.nulDesk.showCard(data.ticket, data.card) : null;
        ring(card, data.who);
      });
  }

  function ring(card, who) {
    var topic = card && card.querySelector(".topic"), caller = card && card.querySelector(".caller");
    ringEl.querySelector(".who").textContent = who ||
      ((topic ? topic.textContent : "Chiamata") + " · " + (caller ? caller.textContent : "numero nascosto"));
    if (card) { card.classList.add("ringing"); }
    api.ringAt = Date.now();
    ringEl.hidden = false;
    say("Squilla: rispondi o lascia squillare.");
    show(true, true);
    playRing();
    answerBtn.focus();
  }

  function finished() {
    stopRing();
    session = null;
    api.state = api.registered ? "registered" : "idle";
    document.querySelectorAll(".call-card.ringing").forEach(function (c) { c.classList.remove("ringing"); });
    ringEl.hidden = true;
    show(false, false);
    setMuted(false);
    say(api.registered ? "Chiamata terminata. Telefono pronto." : "Chiamata terminata.");
  }

  function show(ringing, inCall) {
    answerBtn.hidden = !ringing;
    hangupBtn.hidden = !inCall;
    muteBtn.hidden = !inCall || ringing;
  }

  function answer() {
    if (!session || api.state !== "ringing") { return; }
    stopRing();
    session.answer({
      mediaStream: micStream,
      pcConfig: { iceServers: account.ice_servers, rtcpMuxPolicy: "require", bundlePolicy: "max-bundle" }
    });
  }

  function hangup() { if (session) { session.terminate(); } }

  function setMuted(on) {
    if (session && session.isEstablished()) { if (on) { session.mute({ audio: true }); } else { session.unmute({ audio: true }); } }
    muteBtn.setAttribute("aria-pressed", on ? "true" : "false");
    muteBtn.textContent = on ? "Riattiva il microfono" : "Spegni il microfono";
  }

  // --- sound: the ring tone (425 Hz, 1 s on, 4 s off) and the call's level ---------------------
  function context() {
    if (!audioCtx) { audioCtx = new (window.AudioContext || window.webkitAudioContext)(); }
    if (audioCtx.state === "suspended") { audioCtx.resume(); }
    return audioCtx;
  }

  function playRing() {
    stopRing();
    var ctx = context(), gain = ctx.createGain(), osc = ctx.createOscillator();
    osc.frequency.value = 425; gain.gain.value = 0; osc.connect(gain); gain.connect(ctx.destination); osc.start();
    function beat() { var t = ctx.currentTime; gain.gain.setValueAtTime(0.2, t); gain.gain.setValueAtTime(0, t + 1); }
    beat();
    ringer = { osc: osc, timer: window.setInterval(beat, 5000) };
  }

  function stopRing() {
    if (!ringer) { return; }
    window.clearInterval(ringer.timer);
    ringer.osc.stop();
    ringer = null;
  }

  function watchMedia(pc) {
    pc.addEventListener("track", function (ev) {
      var stream = ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]);
      audioEl.srcObject = stream;  // Chrome feeds WebAudio from a remote stream only while it plays
      var ctx = context(), source = ctx.createMediaStreamSource(stream);
      analyser = ctx.createAnalyser(); analyser.fftSize = 1024;
      source.connect(analyser);
    });
  }

  function measure() {
    if (analyser && session) {
      var data = new Float32Array(analyser.fftSize), sum = 0;
      analyser.getFloatTimeDomainData(data);
      for (var i = 0; i < data.length; i++) { sum += data[i] * data[i]; }
      var rms = Math.sqrt(sum / data.length);
      api.level = rms; api.peak = Math.max(api.peak, rms);
      meter.value = Math.min(1, rms * 4);
    } else {
      meter.value = 0; api.level = 0;
    }
  }

  // --- presence: the desk is here -----------------------------------------------------------
  function heartbeat() {
    fetch("/console/desk/phone/heartbeat", {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json" },
      body: JSON.stringify({ registered: api.registered })
    }).then(function (r) { return r.ok ? r.json() : {}; }).then(function (said) {
      if (said.displaced && api.state !== "displaced") { displaced(said.displaced); }
    }).catch(function () { /* the next beat tries again; the engine pauses only after many */ });
  }

  function leaving() {
    var data = new FormData();
    data.append("_csrf", csrf());
    navigator.sendBeacon("/console/desk/phone/closed", data);
    if (ua) { ua.stop(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    panel = document.getElementById("phone");
    if (!panel || !window.JsSIP) { return; }
    statusEl = document.getElementById("phone-status");
    ringEl = document.getElementById("phone-ringing");
    answerBtn = document.getElementById("phone-answer");
    hangupBtn = document.getElementById("phone-hangup");
    muteBtn = document.getElementById("phone-mute");
    meter = document.getElementById("phone-level");
    audioEl = document.getElementById("phone-audio");
    answerBtn.addEventListener("click", answer);
    hangupBtn.addEventListener("click", hangup);
    document.getElementById("phone-take").addEventListener("click", takeBack);
    muteBtn.addEventListener("click", function () { setMuted(muteBtn.getAttribute("aria-pressed") !== "true"); });
    window.addEventListener("pagehide", leaving);
    var every = parseFloat(panel.dataset.heartbeat || "5") * 1000;
    heartbeat();
    window.setInterval(heartbeat, every);
    window.setInterval(measure, 100);
    start();
  });
})();

/* The browser caller page: sign in with an invitation code, ask for a nurse, wait in the
 * queue, take the video call, see the agreed plan. Plain ES2017, no build step.
 * Messages are built only by messages.js (TelehubMessages.build). */
"use strict";

var TelehubCaller = (function () {
  var M = TelehubMessages.build;
  var $ = function (id) { return document.getElementById(id); };
  var SCREENS = ["signin", "prepare", "waiting", "incall", "ended"];

  var state = {
    token: null, patient: null, principal: null, ws: null, callId: null, requestId: null,
    heartbeatTimeout: 12, lastHeard: 0, local: null, pc: null, peer: null, me: null,
    iceServers: [], phase: "signin", muted: false, cameraOff: false, closing: false,
    reconnectTimer: null, watchdog: null, sent: [], signedIn: 0,
    planFor: null, plans: {}, needsTap: false, urgency: "urgent", lastPosition: null,
    liveness: null, lastPackets: -1, lastArrival: 0, stalled: false, stalledSaid: 0,
    hadMedia: false, lastStall: null, cameraId: null, handedOver: false,
    photoRequest: null, photoSent: null,
    status: null, messages: [], chimes: 0, heldSince: null, holdTimer: null,
    hubs: [], hubAt: 0, hubsLoaded: null, api: "",
    // Calls this page hung up on (call id -> the call_cancel or call_end it sent) whose
    // call_ended has not come: that message may have died with a hub (see hungUp); and
    // requests cancelled before their call_queued (request id -> the call_request).
    hangUps: {}, askedAgain: {}, unqueued: {}
  };

  // HD when the camera and the line allow (the browser steps down by itself on a poor line).
  var VIDEO = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
  var STALL_AFTER_MS = 600;  // nothing at all arrived this long: say so (audio is 50/s)
  var CAMERA_KEY = "telehub.camera";

  function videoConstraints() {
    var c = { width: VIDEO.width, height: VIDEO.height, frameRate: VIDEO.frameRate };
    if (state.cameraId) { c.deviceId = { exact: state.cameraId }; }
    return c;
  }

  function show(screen) {
    state.phase = screen;
    SCREENS.forEach(function (s) { $(s).hidden = (s !== screen); });
    $("talk").hidden = !(screen === "waiting" || screen === "incall");
    showStatus();
  }

  function say(text, assertive) {
    // To assistive technology, through the live regions: assertive for an emergency call
    // or a nurse's message (it interrupts whatever the screen reader is saying), polite
    // otherwise.
    var loud = assertive || state.urgency === "emergency";
    $(loud ? "live-polite" : "live-assertive").textContent = "";
    $(loud ? "live-assertive" : "live-polite").textContent = text;
  }

  function land(id) {
    // Focus on what the screen now says (a heading), never on a button that a second press
    // of the same key would set off (Cancel after "Call the nurse", End call).
    $(id).focus();
  }

  function notice(text, isError) {
    var n = $("notice");
    n.textContent = text || "";
    n.hidden = !text;
    n.className = isError ? "notice error" : "notice";
  }

  // --- signing in ----------------------------------------------------------------------

  function codeFromLink() {
    var m = /(?:^#|&)code=([^&]+)/.exec(window.location.hash);
    return m ? decodeURIComponent(m[1]) : "";
  }

  async function signIn(code) {
    notice("");
    $("signin-button").disabled = true;
    try {
      var r = await fetch("/api/v1/auth/invitation-login", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ code: code })
      });
      if (r.status === 401 || r.status === 422) {
        show("signin");
        notice("That code did not work. Check it and type it again, or ask the hub " +
               "for a new invitation. (It may have expired or been withdrawn.)", true);
        return;
      }
      if (!r.ok) { throw new Error("status " + r.status); }
      var body = await r.json();
      state.token = body.token;
      state.patient = body.patient;
      state.principal = body.principal;
      $("who").textContent = "Calling for " + (body.patient.name || body.principal.name);
      // The code has done its job: keep it out of the address bar and the history.
      if (window.history && window.history.replaceState) {
        window.history.replaceState(null, "", window.location.pathname);
      }
      show("prepare");
      land("prepare-title");
      checkMedia();
      checkHub();
      // Connected before the call, so the page can say at once when nobody can answer
      // (hub_status) rather than after the patient has asked.
      await loadHubs();
      if (!state.ws) { connect(); }
    } catch (e) {
      show("signin");
      notice("We could not reach the hub. Check your internet connection and try again.",
             true);
    } finally {
      $("signin-button").disabled = false;
    }
  }

  // --- the pre-call check --------------------------------------------------------------

  function mark(id, ok, text) {
    var li = $(id);
    li.textContent = text;
    li.className = ok ? "ok" : "bad";
  }

  function howTo() {
    var ua = navigator.userAgent;
    if (/iPhone|iPad|Macintosh/.test(ua) && !/Chrome|Firefox/.test(ua)) {
      return "On an iPad or iPhone: open Settings, then Safari, then Camera and Microphone, " +
             "and choose Allow. Then press the button below.";
    }
    if (/Firefox/.test(ua)) {
      return "In Firefox: press the camera symbol at the left of the address bar, remove " +
             "the block, then press the button below.";
    }
    return "Press the padlock or camera symbol next to the address at the top of the " +
           "screen, set Camera and Microphone to Allow, then press the button below.";
  }

  function mediaProblem(err) {
    var name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError") {
      return "You (or your browser) said no to the camera and microphone.";
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      return "We could not find a camera or microphone on this device.";
    }
    if (name === "NotReadableError" || name === "AbortError") {
      return "Your camera or microphone is being used by another app. Close it and try again.";
    }
    return "Your camera and microphone could not be started.";
  }

  async function checkMedia() {
    $("media-help").hidden = true;
    stopLocal();
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      mark("check-camera", false, "Camera: this browser cannot use it here");
      mark("check-mic", false, "Microphone: this browser cannot use it here");
      $("media-problem").textContent = "This browser cannot use the camera here. Open the " +
        "link in a current version of Chrome, Firefox, Edge or Safari.";
      $("media-howto").textContent = "";
      $("media-help").hidden = false;
      return;
    }
    try {
      try { state.cameraId = window.localStorage.getItem(CAMERA_KEY); } catch (e) { /* private */ }
      try {
        state.local = await navigator.mediaDevices.getUserMedia(
          { audio: true, video: videoConstraints() });
      } catch (err) {
        if (!state.cameraId || err.name !== "OverconstrainedError") { throw err; }
        state.cameraId = null;  // the remembered camera is gone: any camera will do
        state.local = await navigator.mediaDevices.getUserMedia(
          { audio: true, video: videoConstraints() });
      }
      listCameras();
      $("preview").srcObject = state.local;
      $("preview").hidden = false;
      mark("check-camera", state.local.getVideoTracks().length > 0, "Camera: working");
      mark("check-mic", state.local.getAudioTracks().length > 0, "Microphone: working");
    } catch (err) {
      state.local = null;
      $("preview").hidden = true;
      mark("check-camera", false, "Camera: not available");
      mark("check-mic", false, "Microphone: not available");
      $("media-problem").textContent = mediaProblem(err) +
        " You can still call: you will see and hear the nurse, but the nurse will not see " +
        "or hear you.";
      $("media-howto").textContent = err && err.name === "NotAllowedError" ? howTo() : "";
      $("media-help").hidden = false;
    }
  }

  async function checkHub() {
    try {
      var started = performance.now();
      var r = await fetch("/health", { cache: "no-store" });
      var ms = Math.round(performance.now() - started);
      if (!r.ok) { throw new Error("status " + r.status); }
      mark("check-hub", true, ms < 800 ? "Connection to the nurses: good"
                                        : "Connection to the nurses: slow, but working");
    } catch (e) {
      mark("check-hub", false, "Connection to the nurses: not reachable – check your internet");
    }
  }

  // --- the camera -----------------------------------------------------------------------

  async function listCameras() {
    // Labels are only given once the camera is allowed, so this runs after getUserMedia.
    var box = $("camera-choice-box"), select = $("camera-choice");
    var devices = [];
    try { devices = await navigator.mediaDevices.enumerateDevices(); } catch (e) { devices = []; }
    var cameras = devices.filter(function (d) { return d.kind === "videoinput"; });
    var track = state.local ? state.local.getVideoTracks()[0] : null;
    var current = track && track.getSettings ? track.getSettings().deviceId : null;
    select.textContent = "";
    cameras.forEach(function (d, i) {
      var o = document.createElement("option");
      o.value = d.deviceId;
      o.textContent = d.label || ("Camera " + (i + 1));
      if (d.deviceId === current) { o.selected = true; }
      select.appendChild(o);
    });
    box.hidden = cameras.length < 2;
    return cameras.length;
  }

  async function switchCamera(deviceId) {
    // The new camera goes on the same sender (replaceTrack): no new offer, no redial.
    var fresh = await navigator.mediaDevices.getUserMedia(
      { video: { deviceId: { exact: deviceId }, width: VIDEO.width, height: VIDEO.height,
                 frameRate: VIDEO.frameRate } });
    var track = fresh.getVideoTracks()[0];
    track.enabled = !state.cameraOff;
    if (state.pc) {
      var senders = state.pc.getSenders().filter(function (x) {
        return x.track && x.track.kind === "video"; });
      if (!senders.length) {
        senders = state.pc.getTransceivers().filter(function (tr) {
          return tr.receiver.track.kind === "video"; }).map(function (tr) { return tr.sender; });
      }
      for (var i = 0; i < senders.length; i++) { await senders[i].replaceTrack(track); }
    }
    if (state.local) {
      state.local.getVideoTracks().forEach(function (t) { state.local.removeTrack(t); t.stop(); });
      state.local.addTrack(track);
    } else {
      state.local = fresh;
    }
    state.cameraId = deviceId;
    try { window.localStorage.setItem(CAMERA_KEY, deviceId); } catch (e) { /* private */ }
    say("Camera changed.");
  }

  // --- is the nurse's picture arriving? --------------------------------------------------

  function pictureStatus(text, bad) {
    var el = $("picture-status");
    if (el.textContent !== text) { el.textContent = text; }
    el.className = bad ? "picture-status bad" : "picture-status";
    $("remote").classList.toggle("stale", !!bad);
  }

  function startLiveness(replacing) {
    // Packets, not frames: every 250 ms, has anything arrived? Within a second of the
    // nurse's media stopping the page says so, and asks the desk for a new connection
    // (the desk probes until one works: aiortc has no ICE restart). A connection that
    // replaces one that carried media goes on counting from that one's last packet.
    state.lastPackets = -1;
    if (!replacing) {
      state.lastArrival = Date.now();
      state.hadMedia = false;
      state.stalled = false;
    }
    if (state.liveness) { return; }  // one beat for the whole call, whichever connection
    state.liveness = setInterval(async function () {
      var pc = state.pc;
      if (!pc) { return; }
      var packets = 0;
      try {
        (await pc.getStats()).forEach(function (s) {
          if (s.type === "inbound-rtp") { packets += s.packetsReceived || 0; }
        });
      } catch (e) { return; }
      if (pc !== state.pc) { return; }  // replaced while the figures came
      var now = Date.now();
      if (packets !== state.lastPackets) {
        state.lastPackets = packets;
        if (packets > 0) { state.lastArrival = now; state.hadMedia = true; }
      }
      var silent = now - state.lastArrival;
      if (packets > 0 && silent < STALL_AFTER_MS) {
        if (state.stalled) {
          state.stalled = false;
          pictureStatus("", false);
          say("The picture is back.");
        }
        return;
      }
      if (!state.hadMedia || silent < STALL_AFTER_MS) { return; }
      var seconds = Math.max(1, Math.round(silent / 1000));
      if (!state.stalled) {
        state.stalled = true;
        state.stalledSaid = 0;
        state.lastStall = { at: now, silentMs: silent };  // for support and the tests
        say("No picture from the nurse. Reconnecting.");
        if (state.callId && state.peer) { send(M.renegotiate(state.callId, state.peer)); }
      }
      if (seconds !== state.stalledSaid) {
        state.stalledSaid = seconds;
        pictureStatus("No picture for " + seconds + " s — reconnecting", true);
      }
    }, 250);
  }

  function keepResolution(pc) {
    // A nurse judging a wound needs the detail: on a poor line send fewer frames, not
    // smaller ones (the browser's default halves the size first).
    pc.getSenders().forEach(function (sender) {
      if (!sender.track || sender.track.kind !== "video" || !sender.getParameters) { return; }
      var params = sender.getParameters();
      params.degradationPreference = "maintain-resolution";
      if (sender.setParameters) { sender.setParameters(params).catch(function () {}); }
    });
  }

  function preferH264(pc) {
    // H.264 costs the desk a fifth of VP8's CPU at 720p: put it first where this browser
    // has it (Chromium; Firefox only with its OpenH264 plugin), VP8 after it.
    if (!window.RTCRtpReceiver || !RTCRtpReceiver.getCapabilities) { return; }
    var caps = RTCRtpReceiver.getCapabilities("video");
    if (!caps) { return; }
    var rank = function (c) {
      var t = c.mimeType.toLowerCase();
      return t === "video/h264" ? 0 : t === "video/vp8" ? 1 : 2;
    };
    var order = caps.codecs.slice().sort(function (a, b) { return rank(a) - rank(b); });
    pc.getTransceivers().forEach(function (tr) {
      if (tr.receiver.track.kind === "video" && tr.setCodecPreferences) {
        try { tr.setCodecPreferences(order); } catch (e) { /* the browser's own order */ }
      }
    });
  }

  function stopLocal() {
    if (state.local) { state.local.getTracks().forEach(function (t) { t.stop(); }); }
    state.local = null;
  }

  // --- the hub connection --------------------------------------------------------------

  function send(msg) {
    state.sent.push(msg);
    if (state.sent.length > 100) { state.sent.shift(); }
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  function wsOf(origin) {
    // http://host:port -> ws://host:port/ws (wss:// beside https://)
    return origin.replace(/^http/, "ws") + "/ws";
  }

  function api(path) {
    // The hub this page is signed in at now: its own until it moves (the other hubs allow
    // the page's origin, and its Content-Security-Policy allows theirs).
    return state.api + path;
  }

  function loadHubs() {
    // The service's hubs as this hub was told them (serve --peer-url), this page's own
    // first: with no load balancer in front, a lost hub's callers move to the next one.
    // The token is good at any of them (one database). Asked once; any failure leaves the
    // page with its own hub alone, as before.
    if (!state.hubsLoaded) {
      state.hubs = [wsOf(window.location.origin)];
      state.hubsLoaded = fetch("/call/hubs", { cache: "no-store" }).then(function (r) {
        return r.ok ? r.json() : { hubs: [] };
      }).then(function (body) {
        (body.hubs || []).forEach(function (origin) {
          if (typeof origin !== "string" || !/^https?:\/\/[^\/?#@]+$/.test(origin)) { return; }
          var ws = wsOf(origin);
          if (state.hubs.indexOf(ws) < 0) { state.hubs.push(ws); }
        });
      }).catch(function () { /* this hub alone */ });
    }
    return state.hubsLoaded;
  }

  function connect() {
    if (!state.hubs.length) { state.hubs = [wsOf(window.location.origin)]; }
    var ws = new WebSocket(state.hubs[state.hubAt % state.hubs.length]);
    state.ws = ws;
    state.welcomed = false;  // until this connection's welcome: a request waits for it
    ws.onopen = function () { send(M.hello(state.token)); };
    ws.onmessage = function (ev) {
      state.lastHeard = Date.now();
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (hungUp(msg)) { return; }
      var handler = handlers[msg.type];
      if (handler) { handler(msg); }
    };
    ws.onclose = function (ev) {
      if (ws !== state.ws || state.closing) { return; }
      if (ev.code === 4401) {
        state.closing = true;
        state.ws = null;
        clearInterval(state.watchdog);
        notice("Your invitation is no longer valid. Ask the hub for a new one.", true);
        if (state.phase !== "ended") { finish("Your invitation is no longer valid"); }
        return;
      }
      reconnectSoon();
    };
  }

  function reconnectSoon() {
    if (state.reconnectTimer || state.closing) { return; }
    // After any loss the next hub of the list, as calls/signaling.py does (one hub: itself).
    state.hubAt = (state.hubAt + 1) % Math.max(1, state.hubs.length);
    if (state.phase !== "ended") {
      notice("The connection dropped. Reconnecting – please stay on this page…");
    }
    state.reconnectTimer = setTimeout(function () {
      state.reconnectTimer = null;
      connect();
    }, 1000 + Math.random() * 1000);
  }

  function startWatchdog() {
    clearInterval(state.watchdog);
    state.watchdog = setInterval(function () {
      if (state.ws && state.ws.readyState === WebSocket.OPEN &&
          Date.now() - state.lastHeard > state.heartbeatTimeout * 1000) {
        var dead = state.ws;
        state.ws = null;
        dead.close();
        reconnectSoon();
      }
    }, 1000);
  }

  function waitText(seconds) {
    // No estimate: nobody can answer now; the hub's status (shown above) says what to do.
    if (seconds === undefined || seconds === null) { return ""; }
    if (seconds < 60) { return "Expected wait: less than a minute"; }
    var minutes = Math.ceil(seconds / 60);
    return "Expected wait: about " + minutes + (minutes === 1 ? " minute" : " minutes");
  }

  function showPosition(position, wait) {
    $("position").textContent = position === 1 ? "You are next in the queue"
                                               : "You are number " + position + " in the queue";
    $("wait").textContent = waitText(wait);
    // Said when the place changes, not at every new estimate of the wait.
    if (position !== state.lastPosition) {
      state.lastPosition = position;
      say($("position").textContent + "." + (waitText(wait) ? " " + waitText(wait) + "." : ""));
    }
  }

  // --- nobody there, messages, hold --------------------------------------------------

  var WHY = { unstaffed: "No nurse is signed in at the hub right now.",
              closed: "The hub is closed right now.",
              suspended: "The hub's service is suspended right now." };

  function statusText(status) {
    if (!status || status.state === "open") { return ""; }
    return (WHY[status.state] || "") + " " + (status.advice || "") +
      (status.phone ? " Phone: " + status.phone + "." : "");
  }

  function showStatus() {
    var text = statusText(state.status);
    var el = $("hub-status");
    el.textContent = text;
    el.hidden = !text || !(state.phase === "prepare" || state.phase === "waiting");
  }

  function chime() {
    // A short tone (no file to fetch): the nurse wrote. A page that has not been touched
    // yet may not be allowed to sound; the message still shows and is said.
    state.chimes += 1;
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) { return; }
      state.audio = state.audio || new Ctx();
      var osc = state.audio.createOscillator(), gain = state.audio.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.2;
      osc.connect(gain);
      gain.connect(state.audio.destination);
      osc.start();
      osc.stop(state.audio.currentTime + 0.35);
    } catch (e) { /* no sound here: the message shows and is said all the same */ }
  }

  function addMessage(msg) {
    state.messages.push(msg);
    var at = new Date(msg.sent_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    var mine = msg.from === state.me || msg.role === "caller";
    if (mine) {
      var li = document.createElement("li");
      li.textContent = "You, " + at + ": " + msg.text;
      $("messages").insertBefore(li, $("messages").firstChild);
      return;
    }
    var latest = $("message-latest");
    if (latest.textContent) {
      var old = document.createElement("li");
      old.textContent = $("message-from").textContent + ": " + latest.textContent;
      $("messages").insertBefore(old, $("messages").firstChild);
    }
    $("message-from").textContent = "Message from " + msg.name + " at " + at;
    latest.textContent = msg.text;
    latest.hidden = false;
    $("message-from").hidden = false;
    chime();
    say("Message from " + msg.name + ": " + msg.text, true);
  }

  function clearMessages() {
    state.messages = [];
    $("messages").textContent = "";
    $("message-latest").textContent = "";
    $("message-latest").hidden = true;
    $("message-from").hidden = true;
  }

  function showHold(msg) {
    clearInterval(state.holdTimer);
    state.holdTimer = null;
    var el = $("hold-status");
    if (!msg.held || !msg.since) {
      if (state.heldSince !== null) { say("The nurse is back. The call goes on."); }
      state.heldSince = null;
      el.hidden = true;
      return;
    }
    var wasHeld = state.heldSince !== null;
    state.heldSince = new Date(msg.since).getTime();
    var tick = function () {
      var s = Math.max(0, Math.floor((Date.now() - state.heldSince) / 1000));
      el.textContent = "On hold for " + Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0") +
        " – the nurse will be back";
    };
    tick();
    el.hidden = false;
    state.holdTimer = setInterval(tick, 1000);
    if (!wasHeld) { say(msg.by + " has put the call on hold. Please stay on this page.", true); }
  }

  function hangUp(msg) {
    // The user cancelled or ended the call: kept until the hub's call_ended says so.
    state.hangUps[msg.call_id] = msg;
    send(msg);
  }

  function hungUp(msg) {
    // A message on a call this page hung up on (true: dealt with here, the page has left
    // it). call_ended, or the hub refusing the resume or the hang-up (no such open call):
    // nothing is left to do. The call still open after a welcome (call_queued or
    // call_connected, the answer to the welcome's call_resume): the hang-up died with a
    // hub, so it is sent again, once a welcome, as calls/engine.py does.
    var request = msg.request_id && state.unqueued[msg.request_id];
    if (request && (msg.type === "call_queued" || msg.type === "error")) {
      // Cancelled before the hub had queued it: cancel it now that it has an id.
      delete state.unqueued[msg.request_id];
      if (msg.type === "call_queued") { hangUp(M.call_cancel(msg.call_id)); }
      return true;
    }
    var id = msg.call_id;
    if (!id || !state.hangUps[id] || msg.type === "call_plan") { return false; }
    if (msg.type === "call_ended" || (msg.type === "error" && (msg.ref === "call_resume" ||
        msg.ref === "call_cancel" || msg.ref === "call_end"))) {
      delete state.hangUps[id];
      delete state.askedAgain[id];
    } else if ((msg.type === "call_queued" || msg.type === "call_connected") &&
               state.askedAgain[id]) {
      delete state.askedAgain[id];
      send(state.hangUps[id]);
    }
    return true;
  }

  var handlers = {
    welcome: function (msg) {
      state.heartbeatTimeout = msg.heartbeat_timeout;
      state.signedIn += 1;
      state.welcomed = true;
      state.api = state.ws ? state.ws.url.replace(/^ws/, "http").replace(/\/ws$/, "") : "";
      notice("");
      startWatchdog();
      // The hub pushes the plan (call_plan) to live connections only: after a reconnect,
      // ask once for a plan written or corrected while this page was away.
      var planCall = state.callId || state.planFor;
      if (state.signedIn > 1 && planCall) { fetchPlan(planCall); }
      state.askedAgain = {};
      Object.keys(state.hangUps).forEach(function (id) {
        state.askedAgain[id] = true;
        send(M.call_resume(id));
      });
      Object.keys(state.unqueued).forEach(function (rid) { send(state.unqueued[rid]); });
      if (state.callId) {
        send(M.call_resume(state.callId));
      } else if (state.requestId) {
        // Same request_id: the hub treats a retry as the same call, never a second one.
        send(M.call_request(state.requestId, state.reason, state.urgency, state.patient));
      }
    },
    error: function (msg) {
      if (msg.ref === "call_request" || msg.ref === "call_resume") {
        notice("The hub could not take your call: " + msg.message, true);
        finish("The call could not be made");
      }
    },
    ping: function (msg) { send(M.pong(msg.t)); },
    pong: function () {},
    call_queued: function (msg) {
      state.callId = msg.call_id;
      show("waiting");
      showPosition(msg.position, msg.estimated_wait_s);
    },
    queue_position: function (msg) { showPosition(msg.position, msg.estimated_wait_s); },
    call_requeued: function (msg) {
      closePeer();
      stopLiveness();
      show("waiting");
      land("position");
      notice(state.handedOver
        ? "Your nurse has passed your call to the next free nurse. You are at the front of the queue."
        : "The nurse's connection was lost. You are at the front of the queue again.");
      state.handedOver = false;
      state.lastPosition = msg.position;  // the notice (an alert) says it already
      showPosition(msg.position, msg.estimated_wait_s);
    },
    call_connected: function (msg) {
      state.callId = msg.call_id;
      state.me = msg.you;
      state.iceServers = msg.ice_servers;
      var nurse = msg.participants.filter(function (x) { return x.role === "nurse"; })[0];
      $("remote-status").textContent = nurse ? "Connecting to " + nurse.name + "…"
                                             : "Connecting to the nurse…";
      $("remote-status").hidden = false;
      show("incall");
      land("incall-title");
      notice("");
      say("A nurse has answered. The call has started.");
      $("self").srcObject = state.local;
    },
    offer: function (msg) { answerOffer(msg); },
    participant_joined: function (msg) {
      // A nurse taking over the call (a hand-over): her offer follows by itself.
      if (msg.participant.role === "nurse" && state.handedOver) {
        state.handedOver = false;
        $("remote-status").textContent = "Connecting to " + msg.participant.name + "…";
        $("remote-status").hidden = false;
        say("Your call is now with " + msg.participant.name + ".");
      }
    },
    participant_left: function (msg) {
      if (msg.reason === "connection_lost") {
        $("remote-status").textContent = "The nurse's connection dropped. Please wait…";
        $("remote-status").hidden = false;
      } else if (msg.reason === "handed_over") {
        state.handedOver = true;
        $("remote-status").textContent = "Your nurse is passing your call to a colleague. " +
                                         "Please stay here…";
        $("remote-status").hidden = false;
        say($("remote-status").textContent);
      }
    },
    photo_requested: function (msg) { askPhoto(msg); },
    call_plan: function (msg) {
      state.plans[msg.call_id] = msg;
      if (msg.call_id === state.planFor) { showPlan(msg); }
    },
    chat_message: function (msg) {
      // Only the connection that made a call gets its messages: one that comes before
      // call_queued (a nurse quicker than the request's durable write) is this call's.
      if (msg.call_id === state.callId || (!state.callId && state.phase === "waiting")) {
        addMessage(msg);
      }
    },
    call_held: function (msg) {
      if (msg.call_id === state.callId) { showHold(msg); }
    },
    hub_status: function (msg) {
      var was = state.status;
      state.status = msg;
      showStatus();
      if (was && was.state === msg.state) { return; }
      if (msg.state !== "open") {
        say(statusText(msg), state.phase === "waiting");
      } else if (was && state.phase === "waiting") {
        say("A nurse is at the hub again and will answer as soon as they can.");
      }
    },
    call_ended: function (msg) {
      if (msg.call_id !== state.callId && state.phase === "ended") { return; }  // our own end
      finish(msg.reason === "completed" ? "The call has ended" :
             msg.reason === "abandoned" ? "You cancelled the call" : "The call has ended");
    }
  };

  // --- the video call ------------------------------------------------------------------

  // --- a photo the nurse asks for (issue 17) -------------------------------------------

  function askPhoto(msg) {
    if (msg.call_id !== state.callId) { return; }
    state.photoRequest = msg.request_id;
    $("photo-question").textContent = msg.by + " asks for a photo, to see the skin or " +
      "wound closely. Do you agree to a photo being taken and kept in your record? If so, " +
      "hold the camera still on the place the nurse asks about.";
    $("photo-status").textContent = "";
    $("photo-answers").hidden = false;
    $("photo").hidden = false;
    land("photo-question");
    say($("photo-question").textContent);
  }

  async function takeStill() {
    // The camera's own picture at its full resolution, never a frame of the compressed
    // video: ImageCapture where the browser has it, else the camera track's frame drawn at
    // its own size (the self view plays the camera itself).
    var track = state.local && state.local.getVideoTracks()[0];
    if (!track || state.cameraOff) { throw new Error("camera"); }
    if (window.ImageCapture) {
      try {
        var photo = await new ImageCapture(track).takePhoto();
        if (photo && (photo.type === "image/jpeg" || photo.type === "image/png")) {
          return photo;
        }
      } catch (e) { /* a camera without a photo mode: take its frame below */ }
    }
    var video = $("self");
    var settings = track.getSettings();
    var canvas = document.createElement("canvas");
    canvas.width = video.videoWidth || settings.width;
    canvas.height = video.videoHeight || settings.height;
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    return await new Promise(function (resolve) {
      canvas.toBlob(resolve, "image/jpeg", 0.92);
    });
  }

  async function sendPhoto() {
    var requestId = state.photoRequest, callId = state.callId;
    if (!requestId || !callId) { return; }
    $("photo-answers").hidden = true;
    $("photo-status").textContent = "Taking the photo…";
    try {
      var still = await takeStill();
      var r = await fetch(api("/api/v1/calls/" + encodeURIComponent(callId) +
                              "/photos?request_id=" + encodeURIComponent(requestId) +
                              "&consent=given"), {
        method: "POST", body: still,
        headers: { "Authorization": "Bearer " + state.token, "Content-Type": still.type }
      });
      if (!r.ok) { throw new Error("status " + r.status); }
      var kept = await r.json();
      state.photoSent = kept;
      $("photo-status").textContent = "Photo sent to the nurse (" + kept.width + " × " +
        kept.height + ").";
    } catch (e) {
      $("photo-status").textContent = e.message === "camera"
        ? "Your camera is off: turn it on, then ask the nurse to ask again."
        : "The photo could not be sent. Tell the nurse; they can ask again.";
    }
    state.photoRequest = null;
    say($("photo-status").textContent);
  }

  function declinePhoto() {
    if (state.photoRequest && state.callId) {
      send(M.photo_decline(state.callId, state.photoRequest));
    }
    state.photoRequest = null;
    $("photo-answers").hidden = true;
    $("photo-status").textContent = "You said no: no photo was taken. The nurse has been told.";
    say($("photo-status").textContent);
  }

  function closePeer() {
    if (state.pc) { state.pc.close(); }
    state.pc = null;
    state.stalled = false;
    state.hadMedia = false;
    pictureStatus("", false);
  }

  function stopLiveness() {
    clearInterval(state.liveness);
    state.liveness = null;
  }

  function gathered(pc) {
    // aiortc has no trickle ICE: send the answer with every candidate in it.
    if (pc.iceGatheringState === "complete") { return Promise.resolve(); }
    return new Promise(function (resolve) {
      var done = function () {
        if (pc.iceGatheringState === "complete") {
          pc.removeEventListener("icegatheringstatechange", done);
          resolve();
        }
      };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 5000);
    });
  }

  async function answerOffer(msg) {
    // A new offer replaces the old connection (aiortc has no ICE restart). While no picture
    // arrives the words stay up: only media on the new connection takes them down.
    var replacing = state.hadMedia, wasStalled = state.stalled, said = state.stalledSaid;
    var since = state.lastArrival;
    closePeer();
    var pc = new RTCPeerConnection({ iceServers: state.iceServers });
    state.pc = pc;
    state.peer = msg.from;
    // Watched from now on, through the offer and answer: the outage goes on being counted
    // from the last packet that came on the connection this one replaces.
    state.lastArrival = since;
    state.hadMedia = replacing;
    startLiveness(replacing);
    if (wasStalled) {
      state.stalled = true;
      state.stalledSaid = said;
      pictureStatus("No picture for " + Math.max(1, said) + " s — reconnecting", true);
    }
    pc.ontrack = function (ev) {
      if (ev.track.kind === "video") {
        var stream = ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]);
        $("remote").srcObject = stream;
        $("remote-status").hidden = true;
        playRemote();
      }
      if (ev.track.kind === "audio" && !$("remote").srcObject) {
        $("remote").srcObject = new MediaStream([ev.track]);
        playRemote();
      }
    };
    pc.onconnectionstatechange = function () {
      if (pc !== state.pc) { return; }
      if (pc.connectionState === "failed" || pc.connectionState === "disconnected") {
        $("remote-status").textContent = "Reconnecting the video…";
        $("remote-status").hidden = false;
      } else if (pc.connectionState === "connected") {
        $("remote-status").hidden = true;
      }
    };
    await pc.setRemoteDescription({ type: msg.type, sdp: msg.sdp });  // msg.type is "offer"
    preferH264(pc);
    var local = state.local;
    pc.getTransceivers().forEach(function (tr) {
      var kind = tr.receiver.track.kind;
      var track = local ? local.getTracks().filter(function (t) { return t.kind === kind; })[0]
                        : null;
      if (track) {
        tr.sender.replaceTrack(track);
        tr.direction = "sendrecv";
      } else {
        tr.direction = "recvonly";
      }
    });
    var answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    keepResolution(pc);
    await gathered(pc);
    if (pc !== state.pc) { return; }
    send(M.answer(msg.call_id, msg.from, pc.localDescription.sdp));

  }

  function playRemote() {
    // Safari and Firefox may refuse to start sound without a tap (for example when the
    // camera was refused, so nothing is being captured): then ask for one.
    var started = $("remote").play();
    if (started && started.catch) {
      started.catch(function (err) {
        if (err && err.name === "NotAllowedError") {
          $("remote-status").textContent = "Tap here to see and hear the nurse";
          $("remote-status").hidden = false;
          state.needsTap = true;
        }
      });
    }
  }

  function setMuted(muted) {
    state.muted = muted;
    if (state.local) { state.local.getAudioTracks().forEach(function (t) { t.enabled = !muted; }); }
    $("mute-button").textContent = muted ? "Unmute" : "Mute";
    $("mute-button").setAttribute("aria-pressed", String(muted));
  }

  function setCameraOff(off) {
    state.cameraOff = off;
    if (state.local) { state.local.getVideoTracks().forEach(function (t) { t.enabled = !off; }); }
    $("camera-button").textContent = off ? "Camera on" : "Camera off";
    $("camera-button").setAttribute("aria-pressed", String(off));
  }

  // --- the end of a call ---------------------------------------------------------------

  function finish(title) {
    $("photo").hidden = true;  // a photo is asked for during the call only
    state.photoRequest = null;
    // The hub connection stays open: the nurse's plan (call_plan) arrives on it.
    closePeer();
    showHold({ held: false });
    stopLiveness();
    $("ended-title").textContent = title;
    show("ended");
    land("ended-title");
    say(title + ".");
    var callId = state.callId;
    state.callId = null;
    state.requestId = null;
    state.planFor = callId;
    if (callId && state.plans[callId]) { showPlan(state.plans[callId]); }
  }

  function showPlan(plan) {
    // From the push (written_by) or from GET /plan (written_by_name).
    $("plan-decision").textContent = plan.decision;
    $("plan-again").textContent = plan.call_again || "If you are worried, call again.";
    $("plan-by").textContent = "Written by " + (plan.written_by || plan.written_by_name) +
      " at " + new Date(plan.written_at).toLocaleString();
    $("plan").hidden = false;
    $("plan-waiting").hidden = true;
  }

  async function fetchPlan(callId) {
    // Only after a reconnect (the push is the normal way): one GET, never a poll.
    try {
      var r = await fetch(api("/api/v1/calls/" + encodeURIComponent(callId) + "/plan"),
                          { headers: { Authorization: "Bearer " + state.token },
                            cache: "no-store" });
      if (!r.ok) { return; }  // 404: not written yet; the push will bring it
      var plan = await r.json();
      state.plans[callId] = plan;
      if (callId === state.planFor) { showPlan(plan); }
    } catch (e) { /* the next reconnect asks again */ }
  }

  // --- wiring --------------------------------------------------------------------------

  function start() {
    $("signin-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var code = $("code").value.trim();
      if (!code) { notice("Please type your code.", true); return; }
      signIn(code);
    });
    $("retry-media").addEventListener("click", checkMedia);
    $("request-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var reason = $("reason").value.trim();
      if (!reason) {
        notice("Please say in a few words what the problem is.", true);
        $("reason").focus();
        return;
      }
      var urgency = document.querySelector("input[name=urgency]:checked");
      state.reason = reason;
      state.urgency = urgency ? urgency.value : "urgent";
      state.lastPosition = null;
      clearMessages();
      state.requestId = "web-" + Date.now().toString(36) + "-" +
                        Math.random().toString(36).slice(2, 10);
      state.closing = false;
      notice("");
      $("position").textContent = "Calling…";
      $("wait").textContent = "";
      show("waiting");
      land("position");
      say("Calling the nurses. Please stay on this page.");
      var ws = state.ws;
      if (ws && ws.readyState === WebSocket.OPEN && state.welcomed) {
        send(M.call_request(state.requestId, state.reason, state.urgency, state.patient));
      } else if (!ws || ws.readyState === WebSocket.CLOSING ||
                 ws.readyState === WebSocket.CLOSED) {
        if (state.reconnectTimer) { clearTimeout(state.reconnectTimer); }
        state.reconnectTimer = null;
        connect();
      }  // else: connecting, or open and not yet welcomed: the welcome sends the request
    });
    $("reply-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = $("reply").value.trim();
      if (!text || !state.callId) { return; }
      if (send(M.chat_send(state.callId, text.slice(0, 500)))) { $("reply").value = ""; }
    });
    $("cancel-button").addEventListener("click", function () {
      if (state.callId) {
        hangUp(M.call_cancel(state.callId));
      } else if (state.requestId) {  // asked, not yet queued: cancelled once call_queued comes
        state.unqueued[state.requestId] = M.call_request(state.requestId, state.reason,
                                                         state.urgency, state.patient);
      }
      finish("You cancelled the call");
    });
    $("end-button").addEventListener("click", function () {
      if (state.callId) { hangUp(M.call_end(state.callId)); }
      finish("The call has ended");
    });
    $("photo-agree").addEventListener("click", sendPhoto);
    $("photo-decline").addEventListener("click", declinePhoto);
    $("mute-button").addEventListener("click", function () { setMuted(!state.muted); });
    $("camera-button").addEventListener("click", function () { setCameraOff(!state.cameraOff); });
    $("camera-choice").addEventListener("change", function () {
      switchCamera($("camera-choice").value).catch(function () {
        notice("That camera could not be started. The call goes on with the other one.", true);
      });
    });
    $("print-button").addEventListener("click", function () { window.print(); });
    $("remote-status").addEventListener("click", function () {
      if (state.needsTap) {
        state.needsTap = false;
        $("remote-status").hidden = true;
        playRemote();
      }
    });
    $("again-button").addEventListener("click", function () {
      state.planFor = null;
      $("plan").hidden = true;
      $("plan-waiting").hidden = false;
      $("reason").value = "";
      setMuted(false);
      setCameraOff(false);
      show("prepare");
      land("prepare-title");
      if (!state.local) { checkMedia(); } else { $("preview").srcObject = state.local; }
    });
    var code = codeFromLink();
    if (code) {
      $("code").value = code;
      signIn(code);
    } else {
      show("signin");
    }
  }

  async function stats() {
    // For tests and support: what this page is receiving.
    var out = { videoFramesDecoded: 0, audioPacketsReceived: 0, videoFramesSent: 0,
                frameWidth: 0, frameHeight: 0, codecIn: "", codecOut: "" };
    if (!state.pc) { return out; }
    var report = await state.pc.getStats();
    var codecs = {};
    report.forEach(function (s) { if (s.type === "codec") { codecs[s.id] = s.mimeType; } });
    report.forEach(function (s) {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        out.frameWidth = s.frameWidth || 0;
        out.frameHeight = s.frameHeight || 0;
        out.codecIn = codecs[s.codecId] || "";
      }
      if (s.type === "outbound-rtp" && s.kind === "video") { out.codecOut = codecs[s.codecId] || ""; }
      if (s.type === "inbound-rtp" && s.kind === "video") { out.videoFramesDecoded += s.framesDecoded || 0; }
      if (s.type === "inbound-rtp" && s.kind === "audio") { out.audioPacketsReceived += s.packetsReceived || 0; }
      if (s.type === "outbound-rtp" && s.kind === "video") { out.videoFramesSent += s.framesSent || s.framesEncoded || 0; }
    });
    return out;
  }

  document.addEventListener("DOMContentLoaded", start);
  return { state: state, handlers: handlers, stats: stats, waitText: waitText,
           listCameras: listCameras, switchCamera: switchCamera };
})();

/* The hub messages this page sends and handles: the page's only copy of their shapes.
 * The definition is hub/contract/signaling.py; tests/e2e/test_caller_page.py checks every builder
 * and every handled type here against it, and the browser test validates each frame the
 * page really sends. Change this file only together with hub/contract/signaling.py. */
"use strict";

var TelehubMessages = (function () {
  var PROTOCOL_VERSION = 2;

  function drop(obj) {
    // Optional fields without a value are left out, never sent as null.
    var out = {};
    Object.keys(obj).forEach(function (k) {
      if (obj[k] !== undefined && obj[k] !== null) { out[k] = obj[k]; }
    });
    return out;
  }

  var build = {
    hello: function (token) {
      return { type: "hello", protocol: PROTOCOL_VERSION, token: token,
               client: "telehub-caller-page 0.1.0" };
    },
    pong: function (t) { return drop({ type: "pong", t: t }); },
    ping: function (t) { return { type: "ping", t: t }; },
    call_request: function (requestId, reason, urgency, patient) {
      return drop({ type: "call_request", request_id: requestId, reason: reason,
                    urgency: urgency, patient: patient });
    },
    call_cancel: function (callId) { return { type: "call_cancel", call_id: callId }; },
    call_resume: function (callId) { return { type: "call_resume", call_id: callId }; },
    call_end: function (callId) { return { type: "call_end", call_id: callId }; },
    answer: function (callId, to, sdp) {
      return { type: "answer", call_id: callId, to: to, sdp: sdp };
    },
    // No media arrives from the desk: ask it for a new connection (it offers; we answer).
    renegotiate: function (callId, to) {
      return { type: "renegotiate", call_id: callId, to: to };
    },
    photo_decline: function (callId, requestId) {
      return { type: "photo_decline", call_id: callId, request_id: requestId };
    },
    chat_send: function (callId, text) {
      return { type: "chat_send", call_id: callId, text: text };
    }
  };

  // Every hub message type the page acts on; anything else is ignored.
  var HANDLED = ["welcome", "error", "ping", "pong", "call_queued", "queue_position",
                 "call_connected", "call_ended", "call_requeued", "offer",
                 "participant_joined", "participant_left", "call_plan", "photo_requested",
                 "chat_message", "call_held", "hub_status"];

  return { PROTOCOL_VERSION: PROTOCOL_VERSION, build: build, HANDLED: HANDLED };
})();

/* SPDX-License-Identifier: MIT */
/* Demo only: ?assistant=N picks the assistant the embedded widget talks to, through the
 * widget's documented settings hook (read by chatai.js when it runs). */
(function () {
  'use strict';
  var m = /[?&]assistant=(\d+)/.exec(location.search);
  if (m) window.chataiSettings = { assistant: m[1] };
  var m2 = /[?&]open=1/.test(location.search);
  if (m2) window.chataiSettings = Object.assign(window.chataiSettings || {}, { open: true });
  // ?fullurl=1: operators see this page's address with its query and fragment.
  if (/[?&]fullurl=1/.test(location.search)) {
    window.chataiSettings = Object.assign(window.chataiSettings || {}, { fullPageUrl: true });
  }
})();

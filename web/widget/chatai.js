/* SPDX-License-Identifier: MIT */
/* ChatAI widget loader. Embed with:
 *   <script src="https://chat.example/widget/chatai.js" data-assistant="1" async></script>
 * The API base is this script's own origin; the widget itself is an ES module next to it. */
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script) {
    var all = document.querySelectorAll('script[src*="chatai.js"][data-assistant]');
    script = all[all.length - 1];
  }
  if (!script || script.getAttribute('data-chatai-loaded')) return;
  script.setAttribute('data-chatai-loaded', '1');
  var src = new URL(script.src, document.baseURI);
  // window.chataiSettings (optional, set before this script runs) overrides the attributes,
  // like intercomSettings: {assistant: "2"}.
  var settings = window.chataiSettings || {};
  var options = {
    assistantId: String(settings.assistant || script.getAttribute('data-assistant') || '1'),
    apiBase: script.getAttribute('data-api') || src.origin,
    open: settings.open === true || script.getAttribute('data-open') === 'true',
    // The page address goes to operators without its query and fragment unless the site
    // opts in: data-full-url="true" (or chataiSettings.fullPageUrl = true).
    fullPageUrl: settings.fullPageUrl === true || script.getAttribute('data-full-url') === 'true',
  };
  import(new URL('widget.js', src).href).then(function (mod) {
    mod.mount(options);
  }, function (err) {
    if (window.console) window.console.error('ChatAI widget failed to load', err);
  });
})();

/* SPDX-License-Identifier: MIT */
// Runs the client snippets of the real-time guide (shared/seed/000_cef5a922ed0f2a29.txt)
// against a running stack, with their logic unchanged. The code blocks are read from the
// guide itself at run time; the only edit is the one API.md asks for: `visitor_token`
// added to the widget URL. React's hooks are replaced by the smallest stand-ins that
// keep their meaning (useState setters take a value or an updater function, useCallback
// returns its function, useEffect runs its effect once). Node 20 has no global
// WebSocket: the `ws` package (package.json here) provides a browser-compatible one.
//
// usage: node run_snippets.js GUIDE API_URL DIALOG_ID TOKEN ASSISTANT_ID VISITOR_TOKEN
// Prints one JSON object per line: {"ev": "open" | "admin" | "widget" | "conntest", ...}.
'use strict';
const fs = require('fs');
const WS = require('ws');

const [guidePath, API_URL, dialogIdArg, token, assistantIdArg, visitorToken] = process.argv.slice(2);
const dialogId = Number(dialogIdArg);
const assistantId = Number(assistantIdArg);
const md = fs.readFileSync(guidePath, 'utf8');

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// The first ```javascript block after a heading of the guide.
function snippet(heading) {
  const at = md.indexOf(heading);
  if (at < 0) throw new Error(`heading not found in the guide: ${heading}`);
  const start = md.indexOf('```javascript', at);
  const end = md.indexOf('```', start + 13);
  return md.slice(start + 13, end);
}

// A WebSocket that reports when it opens and closes (the snippets set their own handlers).
class WebSocket extends WS {
  constructor(url, protocols) {
    super(url, protocols);
    const who = url.includes('/widget/') ? 'widget' : url.includes('/inbox') ? 'inbox' : 'admin';
    this.addEventListener('open', () => emit({ ev: 'open', who }));
    this.addEventListener('close', (e) => emit({ ev: 'close', who, code: e.code }));
  }
}

function useCallback(fn) { return fn; }
function useEffect(fn) { fn(); }
function makeState(name, initial, state) {
  state[name] = initial;
  return (v) => {
    state[name] = typeof v === 'function' ? v(state[name]) : v;
  };
}

// --- Admin panel: "Basic Setup" -------------------------------------------------------
{
  const state = {};
  const setMessagesRaw = makeState('messages', [], state);
  const setWsConnectedRaw = makeState('wsConnected', false, state);
  const setMessages = (v) => { setMessagesRaw(v); emit({ ev: 'admin', state }); };
  const setWsConnected = (v) => { setWsConnectedRaw(v); emit({ ev: 'admin', state }); };
  const websocketRef = { current: null };
  const code = snippet('#### Basic Setup');
  const make = new Function('useCallback', 'setWsConnected', 'setMessages', 'websocketRef', 'API_URL',
    'dialogId', 'token', 'WebSocket', `${code}\nreturn connectWebSocket;`);
  const connectWebSocket = make(useCallback, setWsConnected, setMessages, websocketRef, API_URL,
    dialogId, token, WebSocket);
  connectWebSocket();
}

// --- Widget: "Basic Widget Connection" ------------------------------------------------
{
  const state = {};
  const setMessagesRaw = makeState('messages', [], state);
  const setTypingRaw = makeState('typing', false, state);
  const setMessages = (v) => { setMessagesRaw(v); emit({ ev: 'widget', state }); };
  const setTyping = (v) => { setTypingRaw(v); emit({ ev: 'widget', state }); };
  const original = snippet('#### Basic Widget Connection');
  const needle = '?assistant_id=${assistantId}`';
  if (!original.includes(needle)) throw new Error('the widget URL of the guide changed');
  const code = original.replace(needle, '?assistant_id=${assistantId}&visitor_token=${visitorToken}`');
  const run = new Function('useEffect', 'setTyping', 'setMessages', 'API_URL', 'dialogId', 'assistantId',
    'visitorToken', 'WebSocket', code);
  run(useEffect, setTyping, setMessages, API_URL, dialogId, assistantId, visitorToken, WebSocket);
}

// --- "WebSocket Connection Test" ------------------------------------------------------
{
  const code = snippet('#### WebSocket Connection Test');
  const make = new Function('WebSocket', `${code}\nreturn testWebSocketConnection;`);
  const testWebSocketConnection = make(WebSocket);
  const wsBase = API_URL.replace(/^http/, 'ws');
  testWebSocketConnection(`${wsBase}/ws/inbox`, token)
    .then((r) => emit({ ev: 'conntest', result: String(r) }))
    .catch((e) => emit({ ev: 'conntest', error: String(e) }));
}

// Stop when the test closes our stdin.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

/* SPDX-License-Identifier: MIT */
// The widget's stylesheet, adopted by its shadow root as a constructed stylesheet
// (no <style> element, so it holds under a strict style-src CSP).
export default `
:host {
  all: initial !important;
  display: block !important;
  position: static !important;
  contain: style !important;
}
*, *::before, *::after { box-sizing: border-box; }
.root {
  --brand: #4f46e5;
  --brand-dark: #4338ca;
  --brand-soft: #eef2ff;
  --ink: #111827;
  --muted: #4b5563;
  --line: #e5e7eb;
  --bg: #ffffff;
  --bubble: #f3f4f6;
  --danger: #b91c1c;
  --ok: #047857;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 14px;
  line-height: 1.45;
  color: var(--ink);
  -webkit-font-smoothing: antialiased;
  text-align: left;
  letter-spacing: normal;
  text-transform: none;
  font-weight: 400;
  font-style: normal;
}
button { font: inherit; color: inherit; cursor: pointer; }
.launcher {
  position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
  width: 60px; height: 60px; border-radius: 50%; border: 0; padding: 0; margin: 0;
  background: var(--brand); color: #fff;
  box-shadow: 0 10px 25px rgba(79, 70, 229, .35), 0 2px 6px rgba(0, 0, 0, .15);
  display: flex; align-items: center; justify-content: center;
  transition: background-color .15s ease;
}
.launcher:hover { background: var(--brand-dark); box-shadow: 0 12px 28px rgba(79, 70, 229, .42), 0 2px 6px rgba(0, 0, 0, .15); }
.launcher:focus-visible, .root button:focus-visible {
  outline: 3px solid #a5b4fc; outline-offset: 2px;
}
.launcher svg { width: 28px; height: 28px; fill: none; stroke: currentColor; stroke-width: 2;
  stroke-linejoin: round; stroke-linecap: round; }
.launcher[aria-expanded="true"] .i-chat { display: none; }
.launcher[aria-expanded="false"] .i-close { display: none; }
.badge {
  position: absolute; top: -4px; right: -4px; min-width: 22px; height: 22px; padding: 0 6px;
  border-radius: 11px; background: #dc2626; color: #fff; font-size: 12px; font-weight: 700;
  line-height: 22px; text-align: center; border: 2px solid #fff;
}
.badge[hidden] { display: none; }
.panel {
  position: fixed; right: 20px; bottom: 92px; z-index: 2147483000;
  width: 380px; height: min(620px, calc(100vh - 120px));
  display: flex; flex-direction: column; overflow: hidden;
  background: var(--bg); border-radius: 16px;
  box-shadow: 0 24px 60px rgba(17, 24, 39, .22), 0 4px 12px rgba(17, 24, 39, .08);
  border: 1px solid rgba(17, 24, 39, .06);
  transform-origin: bottom right;
  animation: pop .16s ease-out;
}
.panel[hidden] { display: none; }
@keyframes pop { from { opacity: 0; transform: translateY(8px) scale(.98); } to { opacity: 1; transform: none; } }
@media (prefers-reduced-motion: reduce) { .panel { animation: none; } .launcher { transition: none; } .dots span { animation: none; } }
.header {
  display: flex; align-items: center; gap: 12px; padding: 14px 14px 14px 18px;
  background: linear-gradient(135deg, #4f46e5, #6d28d9); color: #fff; flex: none;
}
.avatar {
  width: 38px; height: 38px; border-radius: 50%; background: rgba(255, 255, 255, .2);
  display: flex; align-items: center; justify-content: center; font-weight: 700; font-size: 16px; flex: none;
}
.titles { flex: 1; min-width: 0; display: block; }
.title { font-size: 16px; font-weight: 650; margin: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.subtitle { font-size: 12.5px; opacity: .92; display: flex; align-items: center; gap: 6px; margin: 0; }
.presence { width: 8px; height: 8px; border-radius: 50%; background: #9ca3af; flex: none; }
.presence.on { background: #34d399; }
.icon-btn {
  width: 34px; height: 34px; border-radius: 8px; border: 0; background: transparent; color: #fff;
  display: flex; align-items: center; justify-content: center; padding: 0; margin: 0; flex: none;
}
.icon-btn:hover { background: rgba(255, 255, 255, .16); }
.icon-btn svg { width: 20px; height: 20px; fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; }
.conn {
  font-size: 12px; padding: 6px 16px; background: #fef3c7; color: #78350f; flex: none; display: block;
}
.conn[hidden] { display: none; }
.messages {
  flex: 1; overflow-y: auto; padding: 16px 14px 8px; display: flex; flex-direction: column; gap: 6px;
  background: #fafafa; overscroll-behavior: contain; scrollbar-width: thin; scrollbar-color: #d1d5db transparent;
}
.msg { display: flex; flex-direction: column; max-width: 82%; align-self: flex-start; }
.msg.user { align-self: flex-end; align-items: flex-end; }
.msg .who { font-size: 11.5px; color: var(--muted); margin: 6px 4px 2px; display: block; }
.msg .who[hidden] { display: none; }
.bubble {
  padding: 9px 13px; border-radius: 16px; background: #fff; border: 1px solid var(--line);
  white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word; display: block;
  font-size: 14px; color: var(--ink);
}
.msg.ai .bubble, .msg.manager .bubble { border-bottom-left-radius: 5px; }
.msg.manager .bubble { background: var(--brand-soft); border-color: #c7d2fe; }
.msg.user .bubble { background: var(--brand); color: #fff; border-color: var(--brand); border-bottom-right-radius: 5px; }
.msg.pending .bubble { opacity: .72; }
.msg.failed .bubble { background: #fff; color: var(--danger); border: 1px solid #fca5a5; }
.meta { font-size: 11px; color: var(--muted); margin: 2px 6px 0; display: flex; gap: 8px; align-items: center; }
.retry {
  border: 0; background: none; color: var(--danger); font-weight: 600; padding: 0; margin: 0;
  text-decoration: underline; font-size: 11.5px;
}
.notice {
  align-self: center; text-align: center; font-size: 12px; color: var(--muted); padding: 4px 12px;
  margin: 6px 0; background: #f3f4f6; border-radius: 999px; max-width: 90%; display: block;
}
.typing {
  display: flex; align-items: center; gap: 8px; padding: 4px 18px 8px; font-size: 12px; color: var(--muted);
  background: #fafafa; flex: none;
}
.typing[hidden] { display: none; }
.dots { display: inline-flex; gap: 3px; padding: 8px 10px; background: #fff; border: 1px solid var(--line); border-radius: 12px; }
.dots span { width: 6px; height: 6px; border-radius: 50%; background: #9ca3af; animation: blink 1.2s infinite ease-in-out; display: block; }
.dots span:nth-child(2) { animation-delay: .15s; }
.dots span:nth-child(3) { animation-delay: .3s; }
@keyframes blink { 0%, 80%, 100% { opacity: .3; transform: translateY(0); } 40% { opacity: 1; transform: translateY(-2px); } }
.mail-offer {
  align-self: stretch; margin: 6px 0; padding: 10px 12px; border: 1px solid var(--line); border-radius: 12px;
  background: #fff; font-size: 12.5px; display: flex; flex-direction: column; gap: 6px;
}
.mail-offer p { margin: 0; }
.mail-row { display: flex; gap: 6px; }
.mail-input { flex: 1; min-width: 0; border: 1px solid var(--line); border-radius: 8px; padding: 6px 8px; font: inherit; }
.mail-consent, .mail-status { color: var(--muted); font-size: 11.5px; }
.actions { display: flex; gap: 8px; padding: 8px 14px 0; background: #fff; flex: none; border-top: 1px solid var(--line); }
.actions[hidden] { display: none; }
.chip {
  border: 1px solid #c7d2fe; background: var(--brand-soft); color: var(--brand-dark); border-radius: 999px;
  padding: 5px 12px; font-size: 12.5px; font-weight: 600; display: inline-flex; align-items: center; gap: 6px; margin: 0;
}
.chip:hover { background: #e0e7ff; }
.chip svg { width: 14px; height: 14px; fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; }
.chip[hidden] { display: none; }
.composer { display: flex; align-items: flex-end; gap: 8px; padding: 10px 12px 12px 14px; background: #fff; flex: none; }
.composer[hidden] { display: none; }
.input {
  flex: 1; resize: none; border: 1px solid #d1d5db; border-radius: 12px; padding: 9px 12px;
  font: inherit; font-size: 14px; color: var(--ink); background: #fff; max-height: 120px; min-height: 40px;
  line-height: 1.4; margin: 0; display: block; width: auto;
}
.input::placeholder { color: #6b7280; }
.input:focus { border-color: var(--brand); outline: none; box-shadow: 0 0 0 3px rgba(79, 70, 229, .18); }
.send {
  width: 40px; height: 40px; border-radius: 12px; border: 0; background: var(--brand); color: #fff;
  display: flex; align-items: center; justify-content: center; flex: none; padding: 0; margin: 0;
}
.send:hover { background: var(--brand-dark); }
.send:disabled { background: #c7d2fe; cursor: default; }
.send svg { width: 18px; height: 18px; fill: currentColor; stroke: currentColor; stroke-width: 1.5; stroke-linejoin: round; }
.closed-bar { padding: 12px 14px; background: #fff; border-top: 1px solid var(--line); text-align: center; flex: none; display: block; }
.closed-bar[hidden] { display: none; }
.primary {
  border: 0; background: var(--brand); color: #fff; border-radius: 10px; padding: 9px 16px; font-weight: 600; margin: 0;
}
.intro { text-align: center; color: var(--muted); font-size: 13px; margin: auto 12px; display: block; }
.intro strong { display: block; color: var(--ink); font-size: 15px; margin-bottom: 4px; }
.footer { font-size: 11px; color: var(--muted); text-align: center; padding: 0 0 8px; background: #fff; flex: none; display: block; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (max-width: 480px) {
  .panel { inset: 0; right: 0; bottom: 0; width: 100vw; height: 100vh; height: 100dvh; border-radius: 0; border: 0; }
  .root.open .launcher { display: none; }
  .msg { max-width: 88%; }
  .input { font-size: 16px; }
}
`;

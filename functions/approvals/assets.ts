/**
 * The page's only style sheet and script, served from /approvals/assets/ (the CSP allows nothing
 * inline). No build step: plain CSS and a few lines of script for live updates.
 */
export const CSS = `
:root { color-scheme: light dark; --bg: #fbfaf7; --fg: #1d1d1b; --muted: #5c5b57; --line: #d9d6cf; --accent: #2d5b3a;
  --read: #2f6f4e; --write: #8a5a00; --external: #1f5b99; --risky: #a3262a; --unknown: #555; }
@media (prefers-color-scheme: dark) { :root { --bg: #161615; --fg: #ecebe7; --muted: #a7a59f; --line: #3a3936; --accent: #8fc79e;
  --read: #7fd1a3; --write: #e5b45a; --external: #8cb8ec; --risky: #f08a8d; --unknown: #bbb; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; background: var(--bg); color: var(--fg); }
header.top { display: flex; gap: 1.5rem; align-items: center; padding: .75rem 1.5rem; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
header.top strong { font-size: 1.1rem; }
header.top nav { display: flex; gap: 1rem; flex: 1; }
header.top form { margin: 0; }
main { padding: 1rem 1.5rem 3rem; max-width: 72rem; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; }
th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: .85rem; color: var(--muted); font-weight: 600; }
.cat { display: inline-block; padding: 0 .5rem; border: 2px solid currentColor; border-radius: 1rem; font-size: .85rem; font-weight: 600; }
.cat-read { color: var(--read); } .cat-write { color: var(--write); } .cat-external { color: var(--external); }
.cat-risky { color: var(--risky); } .cat-unknown { color: var(--unknown); }
.cat-risky::before { content: "⚠ "; }
.muted { color: var(--muted); }
.mono, pre, code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .9rem; }
pre { background: color-mix(in srgb, var(--fg) 6%, transparent); padding: .75rem; overflow: auto; max-height: 24rem; white-space: pre-wrap; word-break: break-word; }
.hidden-char { background: #ffd54a; color: #000; border-radius: 3px; padding: 0 .15rem; font-size: .75rem; }
.notice { border: 2px solid var(--accent); padding: .6rem .9rem; margin: 1rem 0; }
.error { border-color: var(--risky); }
.decide { display: grid; grid-template-columns: repeat(auto-fit, minmax(18rem, 1fr)); gap: 1.5rem; margin-top: 1rem; }
.decide form { border: 1px solid var(--line); padding: 1rem; }
label { display: block; font-weight: 600; margin: .5rem 0 .25rem; }
textarea, input[type=text], input[type=password], select { width: 100%; font: inherit; padding: .4rem; border: 1px solid var(--line); background: var(--bg); color: var(--fg); }
button { font: inherit; padding: .45rem 1rem; border: 2px solid var(--fg); background: var(--bg); color: var(--fg); cursor: pointer; margin-top: .75rem; }
button.approve { border-color: var(--read); } button.reject { border-color: var(--risky); }
.filters { display: flex; gap: 1rem; align-items: end; flex-wrap: wrap; margin-bottom: 1rem; }
.filters label { margin: 0; } .filters select { width: auto; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 1rem 0; } svg.chart rect.bar { fill: var(--accent); }
#spend-table th[scope=row] { color: var(--fg); font-size: 1rem; font-weight: 400; } #spend-table tfoot th, #spend-table tfoot td { font-weight: 600; }
input[type=date] { font: inherit; padding: .4rem; border: 1px solid var(--line); background: var(--bg); color: var(--fg); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; word-break: break-all; }
.login { max-width: 28rem; }
/* Timestamps stay on one line; JSON and ids wrap anywhere instead of widening the page. */
time { white-space: nowrap; }
td.mono, dd.mono { overflow-wrap: anywhere; }
td { overflow-wrap: break-word; }
/* Narrow screens: each row of a list becomes a block, each cell a labelled line. */
@media (max-width: 40rem) {
  header.top, main { padding-left: .75rem; padding-right: .75rem; }
  table.stack caption { display: block; }
  table.stack thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  table.stack, table.stack tbody, table.stack tr, table.stack td { display: block; width: 100%; }
  table.stack tr { border-bottom: 1px solid var(--line); padding: .5rem 0; }
  table.stack td { border: 0; padding: .15rem 0; }
  table.stack td[data-label]::before { content: attr(data-label) ": "; color: var(--muted); font-size: .85rem; font-weight: 600; }
  dl.facts { grid-template-columns: 1fr; } dl.facts dd { margin-bottom: .4rem; }
}
`;

/**
 * Live inbox: re-fetches the list every few seconds (no-op without a #live element). The polite live
 * region speaks only when what it says changes (the waiting count, or that updates paused), not on
 * every refresh; a refresh that replaces the table puts keyboard focus back on the same control of the
 * same row (or on the list when that row is gone), so a keyboard or screen reader user is not thrown
 * to the top of the page every few seconds.
 */
export const JS = `
(function () {
  var live = document.getElementById('live');
  if (!live) return;
  var status = document.getElementById('live-status');
  var said = status ? status.textContent.trim() : '';
  var FOCUSABLE = 'a[href],button,input,select,textarea,[tabindex]';
  function say(text) {
    if (!status) return;
    status.setAttribute('data-updated', new Date().toISOString());
    if (text !== said) { status.textContent = text; said = text; }
  }
  function replace(html) {
    var focused = document.activeElement;
    var row = focused && focused !== live && live.contains(focused) ? focused.closest('[data-id]') : null;
    var id = row ? row.getAttribute('data-id') : null;
    var index = row ? Array.prototype.indexOf.call(row.querySelectorAll(FOCUSABLE), focused) : -1;
    live.innerHTML = html;
    if (!row) return;
    var again = null;
    live.querySelectorAll('[data-id]').forEach(function (candidate) { if (candidate.getAttribute('data-id') === id) again = candidate; });
    var target = again ? again.querySelectorAll(FOCUSABLE)[index] : null;
    if (target) { target.focus(); return; }
    live.setAttribute('tabindex', '-1');
    live.focus();
  }
  async function refresh() {
    try {
      var response = await fetch(location.pathname + location.search, { headers: { 'x-myca-fragment': 'inbox' }, credentials: 'same-origin' });
      if (response.redirected || response.status === 401) { location.reload(); return; }
      if (!response.ok) throw new Error(String(response.status));
      var html = await response.text();
      if (html !== live.innerHTML) replace(html);
      say(live.querySelectorAll('tbody tr[data-id]').length + ' waiting');
    } catch (error) {
      say('Live updates paused (' + error.message + '); retrying');
    }
  }
  setInterval(refresh, Number(live.getAttribute('data-interval') || 3000));
})();
`;

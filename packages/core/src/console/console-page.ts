/**
 * The admin console's one page: inline style and script, nothing fetched from elsewhere (its
 * Content-Security-Policy forbids it), every value written with `textContent`. It calls the API at
 * `./<page>/api/…` relative to where it is served, so a prefix needs no setting.
 */
export const CONSOLE_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>evict console</title>
<style>
  :root { font: 15px/1.4 system-ui, sans-serif; color: #1b1f24; background: #f6f7f9; }
  body { margin: 0 auto; max-width: 1100px; padding: 1rem 1.5rem 3rem; }
  h1 { font-size: 1.3rem; margin: .3rem 0 1rem; }
  h2 { font-size: 1.05rem; margin: 1.6rem 0 .4rem; }
  form { display: flex; flex-wrap: wrap; gap: .6rem; align-items: end; margin-bottom: .6rem; }
  label { display: flex; flex-direction: column; font-size: .8rem; color: #444; gap: .15rem; }
  input, select, button { font: inherit; padding: .35rem .55rem; border: 1px solid #9aa3ad; border-radius: 4px; background: #fff; }
  button { cursor: pointer; background: #eef1f4; }
  button.danger { background: #b42318; border-color: #8f1c13; color: #fff; }
  :focus-visible { outline: 3px solid #2f6feb; outline-offset: 1px; }
  table { border-collapse: collapse; width: 100%; background: #fff; }
  th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #e1e4e8; font-size: .88rem; vertical-align: top; }
  th { background: #eef1f4; font-weight: 600; }
  td.actions { white-space: nowrap; }
  .empty { color: #666; font-style: italic; }
  #status { min-height: 1.4em; margin: .4rem 0; }
  #status.error { color: #b42318; }
  .muted { color: #666; font-size: .85rem; }
</style>
</head>
<body>
<h1>evict console</h1>
<form id="find" aria-label="Find a user">
  <label>Manager token <input id="token" type="password" autocomplete="off" spellcheck="false"></label>
  <label>User id <input id="uid" required autocomplete="off" spellcheck="false"></label>
  <button type="submit">Look up</button>
</form>
<p id="status" role="status" aria-live="polite"></p>
<section id="user" hidden aria-labelledby="user-title">
  <h2 id="user-title"></h2>
  <form id="user-actions" aria-label="Actions on the user">
    <button type="button" id="kick" class="danger">Kick user (every device)</button>
    <label>Device flag <input id="device-flag" type="number" min="0" max="255" value="1"></label>
    <button type="button" id="quit">Quit device</button>
  </form>
  <h2>Sessions</h2>
  <table id="sessions" aria-label="Sessions"><thead><tr><th>Device</th><th>Device id</th><th>User agent</th><th>IP</th><th>Created</th><th>Last seen</th><th><span class="muted">actions</span></th></tr></thead><tbody></tbody></table>
  <h2>Live connections</h2>
  <table id="connections" aria-label="Live connections"><thead><tr><th>Node</th><th>Connection</th><th>Device</th><th>Device id</th><th>IP</th><th>Connected</th><th><span class="muted">actions</span></th></tr></thead><tbody></tbody></table>
  <h2>Push tokens</h2>
  <table id="push-tokens" aria-label="Push tokens"><thead><tr><th>Kind</th><th>Device</th><th>Token (end)</th><th>Updated</th></tr></thead><tbody></tbody></table>
  <p class="muted">Updates by itself: at once for what happens to the user on this node, every ten seconds for the rest.</p>
</section>
<script>
(() => {
  const api = location.pathname.replace(/\\/+$/, '') + '/api/';
  const $ = (id) => document.getElementById(id);
  const token = $('token');
  token.value = sessionStorage.getItem('evict-console-token') || '';
  let uid = '';
  let generation = 0;

  const status = (text, error) => { $('status').textContent = text; $('status').className = error ? 'error' : ''; };
  const time = (ms) => ms == null ? '—' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
  const headers = () => ({ 'content-type': 'application/json', token: token.value });

  async function call(method, name, body) {
    const query = method === 'GET' ? '?' + new URLSearchParams(body) : '';
    const response = await fetch(api + name + query, {
      method, headers: headers(), ...(method === 'GET' ? {} : { body: JSON.stringify(body) }),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.message || 'HTTP ' + response.status);
    return answer;
  }

  function cell(row, text) { const td = row.insertCell(); td.textContent = text == null ? '—' : String(text); return td; }
  function button(td, label, action) {
    const b = document.createElement('button');
    b.type = 'button'; b.textContent = label; b.addEventListener('click', action); td.append(b, ' ');
  }
  function fill(id, items, render, columns) {
    const body = $(id).tBodies[0];
    body.replaceChildren();
    if (items.length === 0) {
      const td = body.insertRow().insertCell(); td.colSpan = columns; td.className = 'empty'; td.textContent = 'none';
      return;
    }
    for (const item of items) render(body.insertRow(), item);
  }

  async function act(label, name, body) {
    try {
      const done = await call('POST', name, body);
      status(label + ': done, ' + done.connections_closed + ' connection(s) closed.');
    } catch (error) { status(label + ' failed: ' + error.message, true); }
    await show();
  }

  async function show() {
    if (!uid) return;
    let user;
    try { user = await call('GET', 'user', { uid }); } catch (error) { status(error.message, true); return; }
    $('user').hidden = false;
    $('user-title').textContent = 'User ' + user.uid;
    fill('sessions', user.sessions, (row, s) => {
      cell(row, s.device_flag); cell(row, s.device_id); cell(row, s.user_agent); cell(row, s.ip);
      cell(row, time(s.created_at)); cell(row, time(s.last_seen_at));
      const td = row.insertCell(); td.className = 'actions';
      button(td, 'Revoke session', () => act('Revoke session', 'session-revoke', { uid, session_id: s.id }));
    }, 7);
    fill('connections', user.connections, (row, c) => {
      cell(row, c.node_id); cell(row, c.conn_id); cell(row, c.device_flag); cell(row, c.device_id); cell(row, c.ip);
      cell(row, time(c.connected_at));
      const td = row.insertCell(); td.className = 'actions';
      const ref = { uid, conn_id: c.conn_id, node_id: c.node_id };
      button(td, 'Remove', () => act('Remove connection', 'connection-remove', ref));
      button(td, 'Kick', () => act('Kick connection', 'connection-kick', ref));
    }, 7);
    fill('push-tokens', user.push_tokens, (row, t) => {
      cell(row, t.kind); cell(row, t.device_flag); cell(row, '…' + t.token_end); cell(row, time(t.updated_at));
    }, 4);
  }

  /** Refreshes once after a burst of changes, not once per change. */
  let pending;
  const refreshSoon = () => { clearTimeout(pending); pending = setTimeout(show, 100); };

  /**
   * Follows the user's server-sent events (read with fetch, which can send the token header where
   * EventSource cannot); reconnects after a drop. Another node's changes show at the next refresh.
   */
  let stream;
  async function follow(mine) {
    while (mine === generation) {
      stream = new AbortController();
      try {
        const response = await fetch(api + 'events?' + new URLSearchParams({ uid }), { headers: headers(), signal: stream.signal });
        if (!response.ok) throw new Error('HTTP ' + response.status);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffered = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done || mine !== generation) break;
          buffered += value;
          for (let end = buffered.indexOf('\\n\\n'); end !== -1; end = buffered.indexOf('\\n\\n')) {
            if (/^event: change$/m.test(buffered.slice(0, end))) refreshSoon();
            buffered = buffered.slice(end + 2);
          }
        }
      } catch {}
      if (mine !== generation) return;
      await new Promise((r) => setTimeout(r, 3000));
    }
  }
  setInterval(() => { if (uid) show(); }, 10000);

  $('find').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem('evict-console-token', token.value);
    uid = $('uid').value.trim();
    status('');
    generation += 1;
    stream?.abort();
    const mine = generation;
    show().then(() => follow(mine));
  });
  $('kick').addEventListener('click', () => act('Kick user', 'kick', { uid }));
  $('quit').addEventListener('click', () => act('Quit device', 'device-quit', { uid, device_flag: Number($('device-flag').value) }));
})();
</script>
</body>
</html>
`;

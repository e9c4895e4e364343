// Coffer web UI: one plain script, no framework, no build step, nothing from elsewhere.
// It builds every page with DOM calls and textContent (never HTML strings), talks to
// the JSON API with the session cookie, and sends the CSRF token with every change.
// What a role may do is the server's decision (GET /api/v1/session lists the
// capabilities of the signed-in role); pages a role lacks are not offered, and the API
// refuses them anyway.
'use strict';
(function () {
  // Each route renders into a fresh container: a page still loading when the user moves
  // on writes into a detached element, never into the next page.
  const root = document.getElementById('main');
  let current = root;
  function view() { return current; }
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  const status = document.getElementById('status');
  let session = null;
  let idleTimer = null;
  let loginNotice = '';

  // ---- DOM helpers -------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2), value);
      } else if (key === 'class') {
        el.className = value;
      } else if (key === 'text') {
        el.textContent = value;
      } else {
        el.setAttribute(key, value === true ? '' : String(value));
      }
    }
    append(el, children);
    return el;
  }
  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
  function announce(text) { status.textContent = text; }
  function field(labelText, input, cls) {
    if (!input.id) input.id = 'f-' + Math.random().toString(36).slice(2, 9);
    return h('div', { class: 'field ' + (cls || '') }, h('label', { for: input.id }, labelText), input);
  }
  function checkField(labelText, input) {
    if (!input.id) input.id = 'f-' + Math.random().toString(36).slice(2, 9);
    return h('div', { class: 'field check' }, input, h('label', { for: input.id }, labelText));
  }
  function errorBox(err) {
    return h('div', { class: 'error', role: 'alert', 'data-testid': 'error' }, err && err.message ? err.message : String(err));
  }
  function notice(text) { return h('div', { class: 'notice', role: 'status', 'data-testid': 'notice' }, text); }
  // opts.stack: on a narrow screen each row becomes a block of labelled cells.
  function table(headers, rows, opts) {
    const head = h('tr', {}, headers.map((t) => h('th', { scope: 'col', class: (opts && opts.numeric && opts.numeric.includes(t)) ? 'num' : null }, t)));
    if (opts && opts.stack) {
      for (const row of rows) [...row.children].forEach((cell, i) => { if (headers[i]) cell.setAttribute('data-label', headers[i]); });
    }
    return h('div', { class: 'table-wrap' }, h('table', { 'data-testid': opts && opts.testid, class: opts && opts.stack ? 'stack' : null },
      opts && opts.caption ? h('caption', { class: 'visually-hidden' }, opts.caption) : null,
      h('thead', {}, head), h('tbody', {}, rows)));
  }
  function td(value, cls) { return h('td', { class: cls || null }, value); }
  function bytes(n) {
    if (n === null || n === undefined) return '';
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0; let v = Number(n);
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? String(v) : v.toFixed(1)) + ' ' + units[i];
  }
  function when(value) {
    if (value === null || value === undefined || value === '') return '';
    const d = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
    if (isNaN(d.getTime())) return String(value);
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');
  }
  function words(text) { return String(text || '').split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean); }
  // Renders a page again (after a change) with a notice above it.
  async function rerender(render, text) {
    const main = view();
    clear(main);
    await render([], parseHash().params);
    if (main !== view()) return;
    const heading = main.querySelector('h1');
    if (heading) heading.after(notice(text)); else main.prepend(notice(text));
  }
  function badge(text, kind) { return h('span', { class: 'badge ' + (kind || '') }, text); }
  function can(capability) { return !!(session && session.capabilities.includes(capability)); }

  // ---- API -----------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }
  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && session && session.csrf) headers['X-CSRF-Token'] = session.csrf;
    let response;
    try {
      response = await fetch('/api/v1' + path, {
        method, headers, credentials: 'same-origin', cache: 'no-store',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, 'network', 'The server cannot be reached.');
    }
    const type = response.headers.get('content-type') || '';
    const data = type.includes('json') ? await response.json().catch(() => null) : null;
    if (response.status === 401 && session && path !== '/session/password') {
      sessionEnded('Your session has ended. Sign in again.');
      throw new ApiError(401, 'unauthenticated', 'Your session has ended.');
    }
    if (!response.ok) {
      const e = data && data.error ? data.error : {};
      throw new ApiError(response.status, e.code || 'http_' + response.status, e.message || response.statusText);
    }
    touch();
    return data;
  }

  // The server ends a session after its idle timeout; the page follows it so that an
  // unattended screen does not keep showing what was open.
  function touch() {
    if (idleTimer) clearTimeout(idleTimer);
    if (!session) return;
    const ms = Math.max(30, session.idle_timeout_secs) * 1000;
    idleTimer = setTimeout(() => sessionEnded('Signed out after ' + Math.round(ms / 60000) + ' minutes without activity.'), ms);
  }
  function sessionEnded(message) {
    session = null;
    if (idleTimer) clearTimeout(idleTimer);
    loginNotice = message || '';
    renderChrome();
    if (location.hash !== '#/login') location.hash = '#/login'; else route();
  }

  // ---- Routing -------------------------------------------------------------------------
  const PAGES = [
    { path: 'search', title: 'Search', cap: 'content.read', render: pageSearch },
    { path: 'browse', title: 'My archive', cap: 'content.read', role: 'user', render: pageBrowse },
    { path: 'message', title: 'Message', cap: 'content.read', hidden: true, render: pageMessage },
    { path: 'holds', title: 'Legal holds', cap: 'holds.read', render: pageHolds },
    { path: 'volumes', title: 'Volumes', cap: 'volumes.read', render: pageVolumes },
    { path: 'audit', title: 'Audit trail', cap: 'audit.read', render: pageAudit },
    { path: 'retention', title: 'Retention', cap: 'retention.read', render: pageRetention },
    { path: 'dispositions', title: 'Dispositions', cap: 'dispositions.read', render: pageDispositions },
    { path: 'users', title: 'Users', cap: 'accounts.manage', render: pageUsers },
    { path: 'groups', title: 'Groups', cap: 'accounts.manage', render: pageGroups },
    { path: 'domains', title: 'Domains', cap: 'accounts.manage', render: pageDomains },
    { path: 'tokens', title: 'Journal tokens', cap: 'accounts.manage', render: pageTokens },
    { path: 'account', title: 'Account', cap: 'session', hidden: true, render: pageAccount },
  ];
  function allowed(page) { return can(page.cap) && (!page.role || page.role === session.role); }
  function home() {
    const first = { user: 'browse', officer: 'search', auditor: 'volumes', admin: 'users' }[session.role];
    return '#/' + (first || 'account');
  }
  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const [pathPart, query] = raw.split('?');
    const segments = pathPart.split('/').filter(Boolean).map(decodeURIComponent);
    return { page: segments[0] || '', rest: segments.slice(1), params: new URLSearchParams(query || '') };
  }
  function go(page, params) {
    const q = params ? new URLSearchParams(params).toString() : '';
    location.hash = '#/' + page + (q ? '?' + q : '');
  }

  function renderChrome() {
    clear(nav); clear(who);
    if (!session) return;
    const current = parseHash().page;
    for (const page of PAGES) {
      if (page.hidden || !allowed(page)) continue;
      nav.append(h('a', { href: '#/' + page.path, 'aria-current': page.path === current ? 'page' : null }, page.title));
    }
    who.append(
      h('span', { 'data-testid': 'whoami' }, session.username + ' (' + session.role + ')'),
      h('a', { href: '#/account' }, 'Account'),
      h('button', { type: 'button', onclick: logout, 'data-testid': 'logout' }, 'Sign out'));
  }

  async function route() {
    const { page, rest, params } = parseHash();
    clear(root);
    current = h('div', {});
    root.append(current);
    const main = current;
    if (!session) { pageLogin(); return; }
    if (page === 'login' || page === '') { location.replace(home()); return; }
    renderChrome();
    const def = PAGES.find((p) => p.path === page);
    if (!def) {
      main.append(h('h1', {}, 'Not found'), h('p', {}, 'There is no such page. '), h('a', { href: home() }, 'Go to the start page'));
      return;
    }
    document.title = def.title + ' — Coffer';
    if (!allowed(def)) {
      main.append(h('h1', {}, def.title),
        h('div', { class: 'error', role: 'alert', 'data-testid': 'denied' },
          'The ' + session.role + ' role cannot open this page (it needs the capability ' + def.cap + '). ' +
          'The server refuses these requests too, and records the attempt.'));
      return;
    }
    try {
      await def.render(rest, params);
    } catch (e) {
      if (e.status !== 401) main.append(errorBox(e));
    }
    if (main === current && !root.contains(document.activeElement)) root.focus({ preventScroll: true });
  }

  // ---- Sign in and out -----------------------------------------------------------------
  function pageLogin() {
    const main = view();
    document.title = 'Sign in — Coffer';
    const user = h('input', { type: 'text', name: 'username', autocomplete: 'username', required: true, autofocus: true });
    const pass = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
    const msg = h('div', {});
    if (loginNotice) msg.append(notice(loginNotice));
    const form = h('form', { 'data-testid': 'login-form' },
      field('Username', user), field('Password', pass),
      h('button', { type: 'submit' }, 'Sign in'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clear(msg);
      try {
        const info = await api('POST', '/session/cookie', { username: user.value, password: pass.value });
        session = info; loginNotice = '';
        touch();
        location.hash = home();
      } catch (e) {
        pass.value = '';
        msg.append(errorBox(e.status === 401 ? 'Wrong username or password.' : e));
        pass.focus();
      }
    });
    main.append(h('div', { class: 'login' }, h('h1', {}, 'Sign in to Coffer'), msg, form));
    user.focus();
  }
  async function logout() {
    try { await api('DELETE', '/session'); } catch (e) { /* ended either way */ }
    sessionEnded('You have signed out.');
  }

  // ---- Search (officer, user) ------------------------------------------------------------
  const SYNTAX = [
    ['budget forecast', 'both words, anywhere in the message'],
    ['"quarterly report"', 'the exact phrase'],
    ['from:alice@example.com', 'sender (also to: cc: bcc: participant:)'],
    ['subject:contract -draft', 'a word in the subject, without "draft" anywhere'],
    ['attachment:invoice', 'a word inside an attachment; filename:report.pdf by name'],
    ['has:attachment', 'messages with attachments'],
    ['after:2024-01-31 before:2024-03', 'date range (after:, before:, during:2024)'],
    ['size>1M', 'larger than 1 MB'],
    ['(merger OR acquisition) AND NOT press', 'AND, OR, NOT and parentheses'],
    ['negotiat*', 'words starting with "negotiat"'],
    ['mailbox:legal@example.com', 'only one archive mailbox'],
  ];
  function snippetNodes(snippet) {
    // The API's snippet is escaped text with <b> around matched words: rebuild it as
    // text nodes and <mark> elements, nothing else.
    const out = [];
    const decode = (s) => s.replace(/&(lt|gt|quot|#39|#x27|amp);/g, (m, e) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'", amp: '&' })[e]);
    const parts = String(snippet || '').split(/(<b>|<\/b>)/);
    let marked = false;
    for (const part of parts) {
      if (part === '<b>') { marked = true; continue; }
      if (part === '</b>') { marked = false; continue; }
      const text = decode(part.replace(/<[^>]*>/g, ''));
      if (text) out.push(marked ? h('mark', {}, text) : text);
    }
    return out;
  }
  function composeQuery(params) {
    const parts = [];
    const q = (params.get('q') || '').trim();
    if (q) parts.push(q.includes(' OR ') ? '(' + q + ')' : q);
    const mailbox = (params.get('mailbox') || '').trim();
    if (mailbox) parts.push('mailbox:' + mailbox);
    if (params.get('after')) parts.push('after:' + params.get('after'));
    if (params.get('before')) parts.push('before:' + params.get('before'));
    if (params.get('attachments') === '1') parts.push('has:attachment');
    return parts.join(' ');
  }
  function queryError(e, query) {
    const box = errorBox(e);
    const m = /at position (\d+)/.exec(e.message || '');
    if (m && query) {
      const pos = Math.min(Number(m[1]), query.length);
      box.append(h('pre', { 'data-testid': 'query-caret', 'aria-label': 'the problem is at character ' + (pos + 1) },
        query + '\n' + ' '.repeat(pos) + '^'));
    }
    return box;
  }
  async function pageSearch(rest, params) {
    const main = view();
    const q = h('input', { type: 'search', name: 'q', value: params.get('q') || '', placeholder: 'e.g. from:alice@example.com contract', 'aria-describedby': 'syntax-help', 'data-testid': 'query' });
    const mailbox = h('input', { type: 'text', name: 'mailbox', value: params.get('mailbox') || '', placeholder: 'any' });
    const after = h('input', { type: 'date', name: 'after', value: params.get('after') || '' });
    const before = h('input', { type: 'date', name: 'before', value: params.get('before') || '' });
    const attachments = h('input', { type: 'checkbox', name: 'attachments', checked: params.get('attachments') === '1' });
    const sort = h('select', { name: 'sort' },
      [['relevance', 'Relevance'], ['date_desc', 'Newest first'], ['date_asc', 'Oldest first']].map(([v, t]) =>
        h('option', { value: v, selected: (params.get('sort') || 'relevance') === v }, t)));
    const perPage = h('select', { name: 'limit' }, ['20', '50', '100'].map((v) => h('option', { value: v, selected: (params.get('limit') || '20') === v }, v)));
    const form = h('form', { class: 'panel', role: 'search', 'data-testid': 'search-form' },
      h('div', { class: 'row' }, field('Query', q, 'grow'), h('button', { type: 'submit' }, 'Search')),
      h('div', { class: 'row' }, field('Mailbox', mailbox), field('From date', after), field('To date', before),
        checkField('With attachments only', attachments), field('Sort', sort), field('Per page', perPage)));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const p = { q: q.value };
      if (mailbox.value.trim()) p.mailbox = mailbox.value.trim();
      if (after.value) p.after = after.value;
      if (before.value) p.before = before.value;
      if (attachments.checked) p.attachments = '1';
      if (sort.value !== 'relevance') p.sort = sort.value;
      if (perPage.value !== '20') p.limit = perPage.value;
      go('search', p);
    });
    const help = h('details', { class: 'help', id: 'syntax-help' }, h('summary', {}, 'Query syntax and examples'),
      h('p', {}, 'Choose an example to put it in the query field.'),
      table(['Example', 'Finds'], SYNTAX.map(([ex, what]) => h('tr', {},
        h('td', {}, h('button', { type: 'button', class: 'secondary', onclick: () => { q.value = ex; q.focus(); } }, ex)), td(what)))));
    main.append(h('h1', {}, session.role === 'user' ? 'Search my archive' : 'Search'), form, help);
    const query = composeQuery(params);
    if (!query) { main.append(h('p', { class: 'muted' }, 'Type a query and press Enter.')); q.focus(); return; }
    await showResults(main, query, params, 'search');
  }
  async function showResults(container, query, params, page) {
    const limit = Number(params.get('limit') || 20);
    const pageNo = Math.max(1, Number(params.get('page') || 1));
    const results = h('section', { 'aria-label': 'Results', 'data-testid': 'results' });
    container.append(results);
    let data;
    try {
      data = await api('GET', '/search?' + new URLSearchParams({ q: query, limit: String(limit), offset: String((pageNo - 1) * limit), sort: params.get('sort') || (page === 'browse' ? 'date_desc' : 'relevance') }));
    } catch (e) {
      if (e.status === 400) { results.append(queryError(e, query)); return; }
      throw e;
    }
    const pages = Math.max(1, Math.ceil(data.total / limit));
    results.append(h('p', { 'data-testid': 'total' }, data.total.toLocaleString('en') + (data.total === 1 ? ' message' : ' messages') + (data.total > limit ? ' — page ' + pageNo + ' of ' + pages : '')));
    announce(data.total + ' messages found');
    if (data.offline_years && data.offline_years.length) {
      results.append(h('p', { class: 'badge warn' }, 'Offline volumes (listed, cannot be opened now): ' + data.offline_years.join(', ')));
    }
    const list = h('ul', { class: 'hits' });
    for (const hit of data.hits) {
      list.append(h('li', { class: 'hit', 'data-testid': 'hit' },
        h('a', { class: 'subject', href: '#/message/' + encodeURIComponent(hit.id) }, hit.subject || '(no subject)'),
        h('div', { class: 'meta' },
          h('span', {}, 'From ', hit.from || '—'),
          h('span', {}, 'To ', (hit.to || []).slice(0, 3).join(', ') + ((hit.to || []).length > 3 ? ' …' : '')),
          h('span', {}, when(hit.date || hit.received)),
          hit.attachments ? h('span', {}, hit.attachments + ' attachment' + (hit.attachments === 1 ? '' : 's')) : null,
          page === 'search' && session.role !== 'user' ? h('span', {}, 'Mailboxes: ' + (hit.mailboxes || []).join(', ')) : null),
        hit.snippet ? h('p', { class: 'snippet' }, snippetNodes(hit.snippet)) : null));
    }
    results.append(list);
    if (pages > 1) {
      const to = (n) => { const p = Object.fromEntries(params.entries()); p.page = String(n); return '#/' + page + '?' + new URLSearchParams(p); };
      results.append(h('nav', { class: 'pager', 'aria-label': 'Pages' },
        pageNo > 1 ? h('a', { class: 'button secondary', href: to(pageNo - 1), rel: 'prev' }, '← Previous') : null,
        h('span', {}, 'Page ' + pageNo + ' of ' + pages),
        pageNo < pages ? h('a', { class: 'button secondary', href: to(pageNo + 1), rel: 'next', 'data-testid': 'next-page' }, 'Next →') : null));
    }
  }

  // ---- Personal archive by year and month (user) ------------------------------------------
  // The years and months listed are those that hold the user's mail (GET /calendar,
  // counted by the server inside the user's scope), so mail from 2009 is one click away
  // and no empty year is offered.
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  async function pageBrowse(rest, params) {
    const main = view();
    const year = /^\d{4}$/.test(params.get('year') || '') ? params.get('year') : '';
    const month = year && /^(0[1-9]|1[0-2])$/.test(params.get('month') || '') ? params.get('month') : '';
    main.append(h('h1', {}, 'My archive'),
      h('p', { class: 'muted' }, 'Your own mail, read-only. ', h('a', { href: '#/search' }, 'Search it'), ' with the query language.'));
    const cal = await api('GET', '/calendar' + (year ? '?year=' + year : ''));
    const link = (href, text, current, testid) => h('a', { href, class: 'button ' + (current ? '' : 'secondary'), 'aria-current': current ? 'page' : null, 'data-testid': testid }, text);
    const years = h('nav', { class: 'row', 'aria-label': 'Years', 'data-testid': 'years' },
      link('#/browse', 'All (' + cal.total.toLocaleString('en') + ')', !year, 'year-all'));
    for (const y of cal.years) {
      years.append(link('#/browse?year=' + y.year, y.year + ' (' + y.messages.toLocaleString('en') + ')', String(y.year) === year, 'year-' + y.year));
    }
    main.append(years);
    if (year) {
      const counts = new Map((cal.months || []).map((m) => [m.month, m.messages]));
      const months = h('nav', { class: 'row', 'aria-label': 'Months of ' + year, 'data-testid': 'months' });
      MONTHS.forEach((name, i) => {
        const m = String(i + 1).padStart(2, '0');
        const n = counts.get(i + 1) || 0;
        if (n === 0) { months.append(h('span', { class: 'button secondary disabled', 'aria-disabled': 'true', title: 'No mail in ' + name + ' ' + year }, name)); return; }
        months.append(link('#/browse?year=' + year + (m === month ? '' : '&month=' + m), name + ' (' + n.toLocaleString('en') + ')', m === month, 'month-' + m));
      });
      main.append(h('div', { class: 'panel' }, months));
    }
    const query = year ? 'during:' + year + (month ? '-' + month : '') : '*';
    await showResults(main, query, params, 'browse');
  }

  // ---- One message (officer, user) --------------------------------------------------------
  function people(list) { return (list || []).map((a) => (a.name ? a.name + ' <' + a.email + '>' : a.email)).join(', '); }
  function safeLinks(html) {
    // The sanitized HTML's links, read from an inert document (nothing in it loads or
    // runs), so the user can open one deliberately from outside the frame.
    const doc = new DOMParser().parseFromString(html, 'text/html');
    const seen = new Set();
    for (const a of doc.querySelectorAll('a[href]')) {
      const href = a.getAttribute('href');
      if (/^(https?:|mailto:)/i.test(href)) seen.add(href);
    }
    return [...seen];
  }
  async function pageMessage(rest) {
    const main = view();
    const id = rest[0] || '';
    const m = await api('GET', '/messages/' + encodeURIComponent(id));
    const base = '/api/v1/messages/' + encodeURIComponent(m.id);
    main.append(h('h1', { 'data-testid': 'message-subject' }, m.subject || '(no subject)'));
    const rows = [
      ['From', people(m.from)], ['To', people(m.to)], ['Cc', people(m.cc)], ['Bcc', people(m.bcc)],
      ['Date', when(m.date)], ['Received', when(m.received)], ['Message-ID', m.message_id],
      ['Archive mailboxes', (m.mailboxes || []).join(', ')], ['Size', bytes(m.size)],
      ['SHA-256', h('span', { class: 'mono' }, m.sha256)], ['Id', m.id],
      ['Flags', (m.flags || []).length ? m.flags.map((f) => badge(f, 'warn')) : null],
    ].filter(([, v]) => v !== null && v !== undefined && v !== '');
    main.append(h('section', { class: 'panel', 'aria-label': 'Headers' },
      h('dl', { class: 'headers', 'data-testid': 'headers' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))));
    const extra = h('div', {});
    const actions = h('div', { class: 'actions' },
      h('a', { class: 'button', href: base + '/raw', download: m.id + '.eml', 'data-testid': 'raw-download' }, 'Download original (.eml)'));
    if (can('proof.read')) {
      actions.append(h('button', { type: 'button', class: 'secondary', 'data-testid': 'show-proof', onclick: async () => {
        clear(extra);
        try {
          const p = await api('GET', '/messages/' + encodeURIComponent(m.id) + '/proof');
          extra.append(h('section', { class: 'panel', 'aria-label': 'Inclusion proof', 'data-testid': 'proof' }, h('h2', {}, 'Inclusion proof'),
            h('dl', { class: 'headers' },
              h('dt', {}, 'Record'), h('dd', {}, (p.leaf_index + 1) + ' of ' + p.tree_size + ' in volume ' + p.year),
              h('dt', {}, 'Record hash'), h('dd', { class: 'mono' }, p.record_hash),
              h('dt', {}, 'Merkle root'), h('dd', { class: 'mono' }, p.tree_head.root),
              h('dt', {}, 'Signed'), h('dd', {}, when(p.tree_head.time_us / 1e6) + ' by key ' + p.tree_head.key),
              h('dt', {}, 'Audit path'), h('dd', {}, p.audit_path.length + ' hashes')),
            h('p', {}, h('a', { href: base + '/proof', download: m.id + '.proof.json' }, 'Download the proof'),
              ' and check it offline: ', h('code', {}, 'coffer proof verify ' + m.id + '.proof.json --public-key KEY'))));
        } catch (e) { extra.append(errorBox(e)); }
      } }, 'Inclusion proof'));
    }
    if (can('retention.read')) {
      actions.append(h('button', { type: 'button', class: 'secondary', 'data-testid': 'show-retention', onclick: async () => {
        clear(extra);
        try { extra.append(explanation(await api('GET', '/retention/messages/' + encodeURIComponent(m.id)))); } catch (e) { extra.append(errorBox(e)); }
      } }, 'Retention'));
    }
    if (can('holds.manage')) {
      const custodians = (m.mailboxes || []).join(' ');
      actions.append(h('a', { class: 'button secondary', href: '#/holds?' + new URLSearchParams({ custodians }) }, 'Place a hold on these mailboxes'));
    }
    main.append(actions, extra);
    if (m.attachments && m.attachments.length) {
      main.append(h('h2', {}, 'Attachments'), table(['Name', 'Type', 'Size', ''], m.attachments.map((a) => h('tr', {},
        td(a.filename || '(unnamed)'), td(a.content_type), td(bytes(a.size), 'num'),
        td(h('a', { href: base + '/attachments/' + a.index, download: a.filename || (m.id + '-attachment-' + a.index), 'data-testid': 'attachment-download' }, 'Download')))),
      { numeric: ['Size'], testid: 'attachments' }));
    }
    if (m.html) {
      const frame = h('iframe', { class: 'message-html', title: 'Message body (HTML, sanitized; nothing in it runs or loads from elsewhere)', src: base + '/html', referrerpolicy: 'no-referrer', loading: 'lazy', 'data-testid': 'html-frame' });
      frame.setAttribute('sandbox', '');
      main.append(h('h2', {}, 'HTML body'), h('p', { class: 'muted' }, 'Sanitized: scripts, forms and remote images or fonts are removed. Links do not open from inside the frame.'), frame);
      const links = safeLinks(m.html);
      if (links.length) {
        main.append(h('details', { 'data-testid': 'links' }, h('summary', {}, 'Links in this message (' + links.length + ')'),
          h('p', { class: 'muted' }, 'Opening one contacts that site. It opens in a new tab, without telling it where you came from.'),
          h('ul', { class: 'links' }, links.map((href) => h('li', {}, h('button', { type: 'button', class: 'secondary', onclick: () => window.open(href, '_blank', 'noopener,noreferrer') }, 'Open'), ' ', h('span', { class: 'mono' }, href))))));
      }
    }
    main.append(h('h2', {}, 'Text'), h('pre', { class: 'body-text', 'data-testid': 'text-body' }, m.text || '(no text part)'));
  }
  function explanation(x) {
    return h('section', { class: 'panel', 'data-testid': 'retention-explanation' }, h('h2', {}, 'Retention of ' + x.id),
      h('dl', { class: 'headers' },
        h('dt', {}, 'Clock starts'), h('dd', {}, when(x.clock_start)),
        h('dt', {}, 'Kept until'), h('dd', {}, x.keep_until ? when(x.keep_until) : 'forever'),
        h('dt', {}, 'Because'), h('dd', { class: 'mono' }, JSON.stringify(x.because)),
        h('dt', {}, 'Held by'), h('dd', {}, (x.held_by || []).length ? x.held_by.map((hb) => 'hold ' + hb.id + ' ' + hb.name).join(', ') : 'no hold'),
        h('dt', {}, 'Eligible for disposition'), h('dd', {}, x.eligible ? badge('yes', 'warn') : badge('no', 'ok'))));
  }

  // ---- Legal holds (officer: place and release; auditor: read) ----------------------------
  async function pageHolds(rest, params) {
    const main = view();
    main.append(h('h1', {}, 'Legal holds'));
    const msg = h('div', {});
    main.append(msg);
    if (can('holds.manage')) {
      const name = h('input', { type: 'text', required: true, 'data-testid': 'hold-name' });
      const reason = h('input', { type: 'text', required: true, 'data-testid': 'hold-reason' });
      const custodians = h('input', { type: 'text', value: params.get('custodians') || '', placeholder: 'alice@example.com bob@example.com', 'data-testid': 'hold-custodians' });
      const query = h('input', { type: 'text', placeholder: 'optional: query language' });
      const from = h('input', { type: 'date' });
      const until = h('input', { type: 'date' });
      const form = h('form', { class: 'panel', 'data-testid': 'hold-form' }, h('h2', {}, 'Place a hold'),
        h('div', { class: 'row' }, field('Name', name), field('Reason', reason, 'grow')),
        h('div', { class: 'row' }, field('Custodian mailboxes', custodians, 'grow'), field('Query', query, 'grow')),
        h('div', { class: 'row' }, field('Messages from', from), field('Messages until', until), h('button', { type: 'submit' }, 'Place hold')));
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault(); clear(msg);
        const body = { name: name.value, reason: reason.value, custodians: words(custodians.value) };
        if (query.value.trim()) body.query = query.value.trim();
        if (from.value) body.from = from.value;
        if (until.value) body.until = until.value;
        try {
          const held = await api('POST', '/holds', body);
          msg.append(notice('Hold ' + held.id + ' "' + held.name + '" is in force.'));
          form.reset(); await list();
        } catch (e) { msg.append(errorBox(e)); }
      });
      main.append(form);
    }
    const listing = h('section', { 'aria-label': 'Holds' });
    main.append(listing);
    async function list() {
      const data = await api('GET', '/holds');
      clear(listing).append(h('h2', {}, 'Holds'));
      if (!data.holds.length) { listing.append(h('p', { class: 'muted' }, 'No legal holds.')); return; }
      listing.append(table(['Id', 'Name', 'Reason', 'Scope', 'Placed', 'State', ''], data.holds.map((hold) => {
        const scope = [hold.custodians.join(', '), hold.query ? 'query: ' + hold.query : '', hold.from || hold.until ? (hold.from || '…') + ' – ' + (hold.until || '…') : ''].filter(Boolean).join('; ');
        let action = null;
        if (can('holds.manage') && hold.in_force) {
          const why = h('input', { type: 'text', 'aria-label': 'Reason to release hold ' + hold.id, placeholder: 'reason to release' });
          action = h('form', { class: 'inline' }, why, h('button', { type: 'submit', class: 'secondary' }, 'Release'));
          action.addEventListener('submit', async (ev) => {
            ev.preventDefault(); clear(msg);
            try { await api('POST', '/holds/' + hold.id + '/release', { reason: why.value }); msg.append(notice('Hold ' + hold.id + ' released.')); await list(); } catch (e) { msg.append(errorBox(e)); }
          });
        }
        return h('tr', { 'data-testid': 'hold-row' }, td(String(hold.id)), td(hold.name), td(hold.reason), td(scope || 'everything in scope'),
          td([when(hold.placed), ' by ', hold.placed_by]),
          td(hold.in_force ? badge('in force', 'warn') : [badge('released'), ' ', when(hold.released), ' by ', hold.released_by || '', hold.release_reason ? ': ' + hold.release_reason : '']),
          td(action));
      }), { testid: 'holds' }));
    }
    await list();
  }

  // ---- Volumes and verification (auditor runs it; admin, officer read) ---------------------
  async function pageVolumes() {
    const main = view();
    main.append(h('h1', {}, 'Volumes'));
    const data = await api('GET', '/volumes');
    const report = h('div', { 'aria-live': 'polite' });
    const rows = data.volumes.map((v) => {
      const head = v.tree_head;
      const verify = can('volumes.verify') ? h('button', { type: 'button', 'data-testid': 'verify-' + v.year, onclick: async (ev) => {
        const b = ev.currentTarget; b.disabled = true; clear(report).append(h('p', {}, 'Verifying ' + v.year + '…'));
        try { clear(report).append(verifyReport(v.year, await api('POST', '/volumes/' + v.year + '/verify'))); } catch (e) { clear(report).append(errorBox(e)); }
        b.disabled = false;
      } }, 'Verify') : null;
      return h('tr', { 'data-testid': 'volume-row' }, td(String(v.year)), td(badge(v.state, v.state === 'open' ? 'ok' : '')),
        td(v.records.toLocaleString('en'), 'num'), td(v.messages.toLocaleString('en'), 'num'),
        td(bytes(v.stored_bytes), 'num'), td(v.ratio ? v.ratio.toFixed(2) + '×' : '', 'num'),
        td(head ? [String(head.tree_size) + ' records, ', when(head.time_us / 1e6), h('br'), h('span', { class: 'mono' }, head.root.slice(0, 16) + '…')] : 'none yet', 'wide-only'),
        td(v.location, 'wide-only'), td(verify));
    });
    main.append(table(['Year', 'State', 'Records', 'Messages', 'Stored', 'Ratio', 'Latest signed head', 'Location', ''], rows,
      { numeric: ['Records', 'Messages', 'Stored', 'Ratio'], testid: 'volumes' }), report);
    try {
      const w = await api('GET', '/witnesses');
      main.append(h('h2', {}, 'Witnesses'), w.witnesses.length ? table(['Witness', 'Last head taken', 'Published', 'Pending', 'Failures'], w.witnesses.map((x) => h('tr', {},
        td(x.target), td(x.last_success_us ? when(x.last_success_us / 1e6) : 'never'), td(Object.entries(x.published || {}).map(([k, n]) => k + ': ' + n).join(', ')),
        td(String(x.pending), 'num'), td(String(x.failures) + (x.last_error ? ' (' + x.last_error + ')' : ''), 'num'))), { testid: 'witnesses' })
        : h('p', { class: 'muted' }, 'No witness is configured: signed heads stay on this host.'));
    } catch (e) { if (e.status !== 403) main.append(errorBox(e)); }
  }
  function verifyReport(year, r) {
    const intact = !r.problems || r.problems.length === 0;
    return h('section', { class: 'panel', 'data-testid': 'verify-report' }, h('h2', {}, 'Verification of ' + year + ': ', intact ? badge('intact', 'ok') : badge('damaged', 'bad')),
      h('dl', { class: 'headers' },
        h('dt', {}, 'Records'), h('dd', {}, String(r.records)), h('dt', {}, 'Messages'), h('dd', {}, String(r.messages)),
        h('dt', {}, 'Signatures verified'), h('dd', {}, String(r.signatures_verified)),
        h('dt', {}, 'Merkle root'), h('dd', { class: 'mono' }, r.root),
        h('dt', {}, 'Not yet signed'), h('dd', {}, String(r.unsigned_records || 0))),
      intact ? null : h('ul', {}, r.problems.map((p) => h('li', {}, typeof p === 'string' ? p : JSON.stringify(p)))),
      h('p', { class: 'muted' }, 'The run is recorded in the audit trail.'));
  }

  // ---- Audit trail ---------------------------------------------------------------------------
  async function pageAudit(rest, params) {
    const main = view();
    main.append(h('h1', {}, 'Audit trail'));
    if (session.role === 'officer') main.append(h('p', { class: 'muted' }, 'Officers see their own actions.'));
    const actor = h('input', { type: 'text', value: params.get('actor') || '' });
    const action = h('input', { type: 'text', value: params.get('action') || '', placeholder: 'e.g. search or message.' });
    const from = h('input', { type: 'date', value: params.get('from') || '' });
    const to = h('input', { type: 'date', value: params.get('to') || '' });
    const form = h('form', { class: 'panel row', 'data-testid': 'audit-form' }, field('Actor', actor), field('Action', action), field('From', from), field('Before', to), h('button', { type: 'submit' }, 'Filter'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const p = {};
      if (actor.value.trim()) p.actor = actor.value.trim();
      if (action.value.trim()) p.action = action.value.trim();
      if (from.value) p.from = from.value;
      if (to.value) p.to = to.value;
      go('audit', p);
    });
    main.append(form);
    const limit = 50;
    const pageNo = Math.max(1, Number(params.get('page') || 1));
    const query = { limit: String(limit), offset: String((pageNo - 1) * limit) };
    for (const k of ['actor', 'action', 'from', 'to']) if (params.get(k)) query[k] = params.get(k);
    const data = await api('GET', '/audit?' + new URLSearchParams(query));
    main.append(h('p', { 'data-testid': 'total' }, data.total.toLocaleString('en') + ' entries'));
    main.append(table(['Time', 'Actor', 'Action', 'Target', 'Outcome', 'Client', 'Detail'], data.entries.map((e) => h('tr', { 'data-testid': 'audit-row' },
      td(when(e.time)), td(e.actor), td(e.action), td(e.target), td(badge(e.outcome, e.outcome === 'success' ? 'ok' : e.outcome === 'denied' ? 'bad' : 'warn')),
      td(e.client, 'wide-only'), td(e.detail && Object.keys(e.detail).length ? h('span', { class: 'mono' }, JSON.stringify(e.detail)) : '', 'wide-only'))), { testid: 'audit' }));
    const pages = Math.max(1, Math.ceil(data.total / limit));
    if (pages > 1) {
      const to2 = (n) => { const p = Object.fromEntries(params.entries()); p.page = String(n); return '#/audit?' + new URLSearchParams(p); };
      main.append(h('nav', { class: 'pager', 'aria-label': 'Pages' },
        pageNo > 1 ? h('a', { class: 'button secondary', href: to2(pageNo - 1) }, '← Newer') : null,
        h('span', {}, 'Page ' + pageNo + ' of ' + pages),
        pageNo < pages ? h('a', { class: 'button secondary', href: to2(pageNo + 1) }, 'Older →') : null));
    }
  }

  // ---- Retention: report, policies, proposals (admin changes; others read) ------------------
  async function pageRetention() {
    const main = view();
    main.append(h('h1', {}, 'Retention'));
    const msg = h('div', {});
    main.append(msg);
    const report = await api('GET', '/retention/report');
    main.append(h('h2', {}, 'Report'), h('p', { class: 'muted' }, 'Generated ' + when(report.generated) + '. Holds in force: ' + (report.holds_in_force.length ? report.holds_in_force.join(', ') : 'none') + '.'),
      table(['Year', 'Policy', 'Kept', 'Held', 'Eligible', 'Disposed', 'Next eligible'], report.lines.map((l) => h('tr', {},
        td(String(l.year)), td(l.policy), td(String(l.kept), 'num'), td(String(l.held), 'num'), td(String(l.eligible), 'num'), td(String(l.disposed), 'num'), td(l.next_eligible ? when(l.next_eligible) : '—'))),
      { numeric: ['Kept', 'Held', 'Eligible', 'Disposed'], testid: 'retention-report' }));
    {
      const id = h('input', { type: 'text', placeholder: '2026-42' });
      const out = h('div', {});
      const form = h('form', { class: 'panel row' }, field('Why is this message kept? Message id', id), h('button', { type: 'submit' }, 'Explain'));
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault(); clear(out);
        try { out.append(explanation(await api('GET', '/retention/messages/' + encodeURIComponent(id.value.trim())))); } catch (e) { out.append(errorBox(e)); }
      });
      main.append(form, out);
    }
    const page = await api('GET', '/retention/policies');
    const listing = h('div', {});
    main.append(listing);
    const me = session.username;
    listing.append(h('h2', {}, 'Policies'), table(['Name', 'Period', 'Version', 'Updated'], page.policies.map((p) => h('tr', {}, td(p.name), td(p.period), td(String(p.version), 'num'), td([when(p.updated), ' by ', p.updated_by]))), { testid: 'policies' }),
      h('h2', {}, 'Assignments'), table(['Applies to', 'Policy', 'Assigned'], page.assignments.map((a) => h('tr', {}, td(a.kind + (a.name ? ' ' + a.name : '')), td(a.policy), td([when(a.assigned), ' by ', a.assigned_by]))), { testid: 'assignments' }),
      h('h2', {}, 'Proposals'), page.proposals.length ? table(['Id', 'Change', 'Proposed', 'State', ''], page.proposals.map((p) => {
        let act = null;
        if (can('retention.manage') && p.state === 'pending') {
          act = p.proposed_by === me ? h('span', { class: 'muted' }, 'awaiting a second administrator') : h('span', { class: 'row' },
            h('button', { type: 'button', 'data-testid': 'approve-proposal-' + p.id, onclick: () => decide(p.id, 'approve') }, 'Approve'),
            h('button', { type: 'button', class: 'secondary', onclick: () => decide(p.id, 'reject') }, 'Reject'));
        }
        return h('tr', { 'data-testid': 'proposal-row' }, td(String(p.id)), td([p.summary, h('br'), h('span', { class: 'mono' }, JSON.stringify(p.change))]), td([when(p.proposed), ' by ', p.proposed_by]),
          td([badge(p.state, p.state === 'pending' ? 'warn' : ''), p.decided_by ? ' by ' + p.decided_by : '']), td(act));
      }), { testid: 'proposals' }) : h('p', { class: 'muted' }, 'No proposals.'));
    async function decide(id, verdict) {
      clear(msg);
      try { await api('POST', '/retention/proposals/' + id + '/' + verdict); await rerender(pageRetention, 'Proposal ' + id + ': ' + verdict + 'd.'); } catch (e) { msg.append(errorBox(e)); }
    }
    if (can('retention.manage')) {
      const name = h('input', { type: 'text', required: true, 'data-testid': 'policy-name' });
      const period = h('input', { type: 'text', required: true, placeholder: '7y, 90d or forever', 'data-testid': 'policy-period' });
      const pform = h('form', { class: 'panel row', 'data-testid': 'policy-form' }, field('Policy', name), field('Period', period), h('button', { type: 'submit' }, 'Set policy'));
      pform.addEventListener('submit', async (ev) => {
        ev.preventDefault(); clear(msg);
        try { const r = await api('PUT', '/retention/policies/' + encodeURIComponent(name.value.trim()), { period: period.value.trim() }); await rerender(pageRetention, r.outcome === 'proposed' ? 'A shorter period needs a second administrator: proposal ' + r.proposal + ' is waiting.' : 'Policy saved.'); } catch (e) { msg.append(errorBox(e)); }
      });
      const kind = h('select', {}, ['default', 'domain', 'group', 'mailbox'].map((k) => h('option', { value: k }, k)));
      const target = h('input', { type: 'text', placeholder: 'domain, group or mailbox' });
      const policy = h('select', {}, page.policies.map((p) => h('option', { value: p.name }, p.name)));
      const aform = h('form', { class: 'panel row' }, field('Assign to', kind), field('Name', target), field('Policy', policy), h('button', { type: 'submit' }, 'Assign'));
      aform.addEventListener('submit', async (ev) => {
        ev.preventDefault(); clear(msg);
        const body = { kind: kind.value, policy: policy.value };
        if (kind.value !== 'default') body.name = target.value.trim();
        try { const r = await api('PUT', '/retention/assignments', body); await rerender(pageRetention, r.outcome === 'proposed' ? 'Proposal ' + r.proposal + ' waits for a second administrator.' : 'Assigned.'); } catch (e) { msg.append(errorBox(e)); }
      });
      main.append(h('h2', {}, 'Change'), pform, aform);
    }
  }

  // ---- Disposition runs (four eyes; certificates) --------------------------------------------
  // One administrator proposes a run of everything eligible now; a second one reviews
  // what it would destroy (per volume and policy, the holds it was checked against) and
  // approves it — the server then executes it and signs a certificate — or rejects it
  // with a reason. The proposer may withdraw (reject) their own run, never approve it.
  function runCounts(counts) {
    return (counts || []).map((c) => h('div', {}, c.messages + ' · ' + c.policy + ' · ' + c.year + ' volume'));
  }
  async function pageDispositions() {
    const main = view();
    main.append(h('h1', {}, 'Dispositions'),
      h('p', { class: 'muted' }, 'A run destroys the content of every message past its retention and under no legal hold (its data key is destroyed; every volume still verifies). One administrator proposes it, a second one approves it, and the server signs a certificate of what was disposed of.'));
    const msg = h('div', {});
    main.append(msg);
    let data;
    try {
      data = await api('GET', '/dispositions');
    } catch (e) {
      if (e.status === 404) { main.append(h('p', { class: 'muted', 'data-testid': 'dispositions-absent' }, 'Disposition runs are not available on this server.')); return; }
      throw e;
    }
    const runs = data.dispositions || [];
    const manage = can('dispositions.manage');
    if (manage) {
      main.append(h('div', { class: 'actions' }, h('button', { type: 'button', 'data-testid': 'propose-disposition', onclick: async (ev) => {
        clear(msg); ev.target.disabled = true;
        try { const r = await api('POST', '/dispositions'); await rerender(pageDispositions, 'Run ' + r.id + ' proposed: ' + r.total + ' messages. A second administrator must approve it.'); } catch (e) { ev.target.disabled = false; msg.append(errorBox(e)); }
      } }, 'Propose a disposition run')));
    }
    const detail = h('div', { 'aria-live': 'polite' });
    main.append(runs.length ? table(['Run', 'State', 'Proposed', 'Messages', 'Total', 'Decision', ''], runs.map((r) => {
      const acts = h('div', { class: 'row' });
      if (manage && r.state === 'proposed') {
        if (r.proposed_by === session.username) acts.append(h('span', { class: 'muted' }, 'awaiting a second administrator'));
        acts.append(h('button', { type: 'button', class: r.proposed_by === session.username ? 'secondary' : null, 'data-testid': 'review-disposition-' + r.id, onclick: () => review(r) },
          r.proposed_by === session.username ? 'Withdraw…' : 'Review…'));
      }
      if (r.certified) {
        acts.append(h('button', { type: 'button', class: 'secondary', 'data-testid': 'certificate-' + r.id, onclick: () => certificate(r.id) }, 'Certificate'));
      }
      const decision = [];
      if (r.decided_by) decision.push(h('div', {}, (r.state === 'rejected' ? 'rejected by ' : 'approved by ') + r.decided_by), h('div', { class: 'muted' }, when(r.decided_at)));
      if (r.reason) decision.push(h('div', { 'data-testid': 'disposition-reason' }, 'Reason: ' + r.reason));
      if (r.executed_at) decision.push(h('div', {}, (r.disposed === null || r.disposed === undefined ? '' : r.disposed + ' disposed of, ') + when(r.executed_at)));
      const kinds = { proposed: 'warn', executed: 'ok', rejected: 'bad' };
      return h('tr', { 'data-testid': 'disposition-row', 'data-run': String(r.id) }, td(String(r.id)), td(badge(r.state, kinds[r.state] || 'warn')),
        td([r.proposed_by, h('div', { class: 'muted' }, when(r.proposed_at))]), td(runCounts(r.counts)), td(String(r.total), 'num'), td(decision), td(acts));
    }), { numeric: ['Total'], testid: 'dispositions', caption: 'Disposition runs, newest first', stack: true }) : h('p', { class: 'muted' }, 'No disposition runs.'), detail);

    // The second pair of eyes: what the run would destroy, then approve or reject it.
    function review(r) {
      clear(detail); clear(msg);
      const own = r.proposed_by === session.username;
      const reason = h('input', { type: 'text', 'data-testid': 'reject-reason', placeholder: 'optional' });
      const panel = h('section', { class: 'panel', 'data-testid': 'disposition-review', 'aria-label': 'Review of run ' + r.id },
        h('h2', { tabindex: '-1' }, 'Run ' + r.id + ': ' + r.total + ' message' + (r.total === 1 ? '' : 's')),
        h('p', {}, 'Proposed by ', h('strong', {}, r.proposed_by), ' on ' + when(r.proposed_at) + '.'),
        table(['Volume', 'Deciding policy', 'Messages'], (r.counts || []).map((c) => h('tr', {}, td(String(c.year)), td(c.policy), td(String(c.messages), 'num'))),
          { numeric: ['Messages'], testid: 'review-counts', caption: 'What the run disposes of' }),
        h('p', {}, r.holds_in_force.length ? 'Legal holds in force at proposal, by id (their mail is left out): ' + r.holds_in_force.join(', ') + '.' : 'No legal hold was in force at proposal.',
          ' Each message is decided again when the run executes; a hold placed since the proposal stops it.'));
      if (!own) {
        panel.append(h('p', { class: 'error' }, 'Approving destroys the content of these messages for good. A signed certificate records the run.'),
          h('div', { class: 'actions' }, h('button', { type: 'button', class: 'danger', 'data-testid': 'approve-disposition-' + r.id, onclick: async (ev) => {
            ev.target.disabled = true;
            try { const done = await api('POST', '/dispositions/' + r.id + '/approve'); await rerender(pageDispositions, 'Run ' + r.id + ' approved and ' + done.state + ': ' + (done.disposed === null || done.disposed === undefined ? r.total : done.disposed) + ' messages disposed of.'); } catch (e) { ev.target.disabled = false; panel.append(errorBox(e)); }
          } }, 'Approve and dispose of ' + r.total + ' message' + (r.total === 1 ? '' : 's'))));
      } else {
        panel.append(h('p', { class: 'muted' }, 'You proposed this run: another administrator must approve it. You may withdraw it.'));
      }
      const form = h('form', { class: 'row', 'data-testid': 'reject-form' }, field(own ? 'Reason for withdrawing' : 'Reason for rejecting', reason, 'grow'),
        h('button', { type: 'submit', class: 'secondary', 'data-testid': 'reject-disposition-' + r.id }, own ? 'Withdraw the run' : 'Reject the run'));
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        try { await api('POST', '/dispositions/' + r.id + '/reject', { reason: reason.value.trim() }); await rerender(pageDispositions, 'Run ' + r.id + ' rejected.'); } catch (e) { panel.append(errorBox(e)); }
      });
      panel.append(form, h('button', { type: 'button', class: 'secondary', onclick: () => clear(detail) }, 'Close'));
      detail.append(panel);
      showPanel(detail);
    }

    // A run's signed certificate: what it says, and the exact bytes to keep.
    async function certificate(id) {
      clear(detail);
      let c;
      try { c = await api('GET', '/dispositions/' + id + '/certificate'); } catch (e) { detail.append(errorBox(e)); return; }
      const us = (v) => when(v / 1e6);
      const skipped = c.skipped || {};
      const rows = [
        ['Run', String(c.run)], ['Format', c.format],
        ['Proposed', c.proposed_by + ', ' + us(c.proposed_us)], ['Approved', c.approved_by + ', ' + us(c.approved_us)],
        ['Certified', us(c.certified_us)], ['Records disposed of', String(c.count)],
        ['Per policy', (c.counts || []).map((l) => l.messages + ' · ' + l.policy + ' · ' + l.year + ' volume').join('; ')],
        ['Left alone', (skipped.no_longer_eligible || 0) + ' no longer eligible, ' + (skipped.not_encrypted || 0) + ' not encrypted, ' + (skipped.gone || 0) + ' gone'],
        ['Holds checked (ids)', (c.holds_checked || []).join(', ') || 'none'],
        ['Records root', c.records_root], ['Signing key', c.key], ['Signature', c.signature],
      ];
      const href = '/api/v1/dispositions/' + id + '/certificate';
      detail.append(h('section', { class: 'panel', 'data-testid': 'certificate', 'aria-label': 'Certificate of run ' + id },
        h('h2', { tabindex: '-1' }, 'Certificate of run ' + id),
        h('dl', { class: 'headers' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', { class: k === 'Records root' || k === 'Signing key' || k === 'Signature' ? 'mono' : null }, v)])),
        h('div', { class: 'actions' }, h('a', { class: 'button', href, download: 'coffer-disposition-' + id + '.json', 'data-testid': 'certificate-download' }, 'Download the signed certificate'),
          h('span', { class: 'muted' }, 'Check it offline: ', h('code', {}, 'coffer disposition verify coffer-disposition-' + id + '.json --public-key archive.pub'))),
        h('details', {}, h('summary', {}, 'Disposed records (' + (c.records || []).length + ')'),
          table(['Message', 'Policy', 'Record hash'], (c.records || []).map((rec) => h('tr', {}, td(rec.id, 'mono'), td(rec.policy), td(rec.record_hash, 'mono'))), { testid: 'certificate-records' }))));
      showPanel(detail);
    }
    function showPanel(where) {
      where.firstChild.scrollIntoView({ block: 'start' });
      where.querySelector('h2').focus({ preventScroll: true });
    }
  }

  // ---- Administration: users, groups, domains, journal tokens -------------------------------
  async function pageUsers() {
    const main = view();
    main.append(h('h1', {}, 'Users'));
    const msg = h('div', {});
    const username = h('input', { type: 'text', required: true, 'data-testid': 'new-username' });
    const role = h('select', { 'data-testid': 'new-role' }, ['user', 'officer', 'auditor', 'admin'].map((r) => h('option', { value: r }, r)));
    const mailboxes = h('input', { type: 'text', placeholder: 'for users', 'data-testid': 'new-mailboxes' });
    const domains = h('input', { type: 'text', placeholder: 'for officers (* = all)' });
    const groups = h('input', { type: 'text' });
    const form = h('form', { class: 'panel', 'data-testid': 'user-form' }, h('h2', {}, 'Add a user'),
      h('div', { class: 'row' }, field('Username', username), field('Role', role), field('Mailboxes', mailboxes, 'grow'), field('Domains', domains), field('Groups', groups), h('button', { type: 'submit' }, 'Add')),
      h('p', { class: 'muted' }, 'A password is generated and shown once.'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault(); clear(msg);
      try {
        const u = await api('POST', '/users', { username: username.value.trim(), role: role.value, mailboxes: words(mailboxes.value), domains: words(domains.value), groups: words(groups.value) });
        msg.append(notice('Created ' + u.username + '. Password (shown once): '), h('p', { class: 'mono', 'data-testid': 'new-password' }, u.password || ''));
        form.reset(); await list();
      } catch (e) { msg.append(errorBox(e)); }
    });
    const listing = h('div', {});
    main.append(msg, form, listing);
    async function list() {
      const data = await api('GET', '/users');
      clear(listing).append(table(['Username', 'Role', 'Scope', 'Groups', 'Rule', 'Created', 'State', ''], data.users.map((u) => h('tr', { 'data-testid': 'user-row' },
        td(u.username), td(u.role), td([...u.mailboxes, ...u.domains].join(', ')), td(u.groups.join(', '), 'wide-only'), td(u.archiving_rule, 'wide-only'), td(when(u.created), 'wide-only'),
        td(u.disabled ? badge('disabled', 'bad') : badge('active', 'ok')),
        td(u.username === session.username ? null : h('button', { type: 'button', class: 'secondary', onclick: async () => {
          clear(msg);
          try { await api('PATCH', '/users/' + encodeURIComponent(u.username), { disabled: !u.disabled }); await list(); } catch (e) { msg.append(errorBox(e)); }
        } }, u.disabled ? 'Enable' : 'Disable')))), { testid: 'users' }));
    }
    await list();
  }
  async function pageGroups() {
    const main = view();
    main.append(h('h1', {}, 'Groups'));
    const msg = h('div', {});
    const name = h('input', { type: 'text', required: true });
    const members = h('input', { type: 'text' });
    const rule = h('select', {}, ['both', 'internal', 'external', 'none'].map((r) => h('option', { value: r }, r)));
    const form = h('form', { class: 'panel row' }, field('Group', name), field('Members', members, 'grow'), field('Archiving rule', rule), h('button', { type: 'submit' }, 'Add group'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault(); clear(msg);
      try { await api('POST', '/groups', { name: name.value.trim(), members: words(members.value), archiving_rule: rule.value }); form.reset(); await list(); } catch (e) { msg.append(errorBox(e)); }
    });
    const listing = h('div', {});
    main.append(msg, form, listing);
    async function list() {
      const data = await api('GET', '/groups');
      clear(listing).append(data.groups.length ? table(['Group', 'Members', 'Archiving rule', ''], data.groups.map((g) => h('tr', {}, td(g.name), td(g.members.join(', ')), td(g.archiving_rule),
        td(h('button', { type: 'button', class: 'secondary', onclick: async () => { clear(msg); try { await api('DELETE', '/groups/' + encodeURIComponent(g.name)); await list(); } catch (e) { msg.append(errorBox(e)); } } }, 'Delete')))), { testid: 'groups' })
        : h('p', { class: 'muted' }, 'No groups.'));
    }
    await list();
  }
  async function pageDomains() {
    const main = view();
    main.append(h('h1', {}, 'Domains'));
    const msg = h('div', {});
    const name = h('input', { type: 'text', required: true });
    const form = h('form', { class: 'panel row' }, field('Domain', name), h('button', { type: 'submit' }, 'Add domain'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault(); clear(msg);
      try { await api('POST', '/domains', { name: name.value.trim() }); form.reset(); await list(); } catch (e) { msg.append(errorBox(e)); }
    });
    const listing = h('div', {});
    main.append(msg, form, listing);
    async function list() {
      const data = await api('GET', '/domains');
      clear(listing).append(data.domains.length ? table(['Domain', 'Mailboxes', 'Added', ''], data.domains.map((d) => h('tr', {}, td(d.name), td(String(d.mailboxes), 'num'), td(when(d.created)),
        td(h('button', { type: 'button', class: 'secondary', onclick: async () => { clear(msg); try { await api('DELETE', '/domains/' + encodeURIComponent(d.name)); await list(); } catch (e) { msg.append(errorBox(e)); } } }, 'Remove')))), { numeric: ['Mailboxes'], testid: 'domains' })
        : h('p', { class: 'muted' }, 'No domains.'));
    }
    await list();
  }
  async function pageTokens() {
    const main = view();
    main.append(h('h1', {}, 'Journal tokens'), h('p', { class: 'muted' }, 'Mail servers deliver journaled copies with these (HTTP bearer token, or SMTP AUTH PLAIN password).'));
    const msg = h('div', {});
    const name = h('input', { type: 'text', required: true });
    const form = h('form', { class: 'panel row' }, field('Token name', name), h('button', { type: 'submit' }, 'Create token'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault(); clear(msg);
      try { const t = await api('POST', '/tokens', { name: name.value.trim() }); msg.append(notice('Token ' + t.name + ' (shown once):'), h('p', { class: 'mono' }, t.token || '')); form.reset(); await list(); } catch (e) { msg.append(errorBox(e)); }
    });
    const listing = h('div', {});
    main.append(msg, form, listing);
    async function list() {
      const data = await api('GET', '/tokens');
      clear(listing).append(data.tokens.length ? table(['Name', 'Role', 'Created', 'State', ''], data.tokens.map((t) => h('tr', {}, td(t.name), td(t.role), td(when(t.created)),
        td(t.revoked ? badge('revoked', 'bad') : badge('active', 'ok')),
        td(t.revoked ? null : h('button', { type: 'button', class: 'secondary', onclick: async () => { clear(msg); try { await api('DELETE', '/tokens/' + encodeURIComponent(t.name)); await list(); } catch (e) { msg.append(errorBox(e)); } } }, 'Revoke')))), { testid: 'tokens' })
        : h('p', { class: 'muted' }, 'No journal tokens.'));
    }
    await list();
  }

  // ---- Own account -----------------------------------------------------------------------
  async function pageAccount() {
    const main = view();
    main.append(h('h1', {}, 'Account'), h('p', {}, 'Signed in as ', h('strong', {}, session.username), ' with the ' + session.role + ' role. The session ends after ' + Math.round(session.idle_timeout_secs / 60) + ' minutes without activity.'));
    const msg = h('div', {});
    const current = h('input', { type: 'password', required: true, autocomplete: 'current-password' });
    const next = h('input', { type: 'password', required: true, autocomplete: 'new-password', minlength: '10' });
    const again = h('input', { type: 'password', required: true, autocomplete: 'new-password', minlength: '10' });
    const form = h('form', { class: 'panel login', 'data-testid': 'password-form' }, h('h2', {}, 'Change password'),
      field('Current password', current), field('New password (at least 10 characters)', next), field('New password again', again), h('button', { type: 'submit' }, 'Change password'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault(); clear(msg);
      if (next.value !== again.value) { msg.append(errorBox('The new passwords differ.')); again.focus(); return; }
      try {
        await api('POST', '/session/password', { current: current.value, new: next.value });
        sessionEnded('Password changed. Sign in with the new password.');
      } catch (e) { msg.append(errorBox(e.status === 401 ? 'The current password is wrong.' : e)); }
    });
    main.append(msg, form);
  }

  // ---- Start -------------------------------------------------------------------------------
  window.addEventListener('hashchange', route);
  (async () => {
    try {
      const response = await fetch('/api/v1/session', { credentials: 'same-origin', headers: { Accept: 'application/json' }, cache: 'no-store' });
      if (response.ok) { session = await response.json(); touch(); }
    } catch (e) { /* signed out */ }
    if (!session && location.hash !== '#/login') location.replace('#/login');
    route();
  })();
})();

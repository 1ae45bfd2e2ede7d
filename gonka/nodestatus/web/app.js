// The status page: renders /v1/node/status, then follows /v1/node/events (Server-Sent Events).
// Only textContent is written, never HTML built from data. No external scripts (CSP 'self').
'use strict';

(function () {
  const MAX_BLOCKS = 20;
  const MAX_EVENTS = 60;
  let blocks = [];

  function $(id) { return document.getElementById(id); }
  function show(v, fallback) {
    if (v === null || v === undefined || v === '') return fallback === undefined ? '—' : fallback;
    return String(v);
  }
  function set(id, v, fallback) { $(id).textContent = show(v, fallback); }
  function cell(row, text, cls) {
    const td = document.createElement('td');
    td.textContent = show(text, '');
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }
  function fill(tbodyId, items, render) {
    const body = $(tbodyId);
    body.replaceChildren();
    for (const item of items) {
      const tr = document.createElement('tr');
      render(tr, item);
      body.appendChild(tr);
    }
  }
  function rate(v) { return v === null || v === undefined ? '—' : Number(v).toFixed(2); }

  function renderBlocks() {
    fill('blocks', blocks, (tr, b) => {
      tr.dataset.height = b.height;
      cell(tr, b.height); cell(tr, b.time); cell(tr, b.txs); cell(tr, b.epoch); cell(tr, b.phase);
      cell(tr, b.hash ? b.hash.slice(0, 16) + '…' : '');
    });
  }

  function render(s) {
    set('updated', s.last_poll || s.generated_at);
    const hub = s.eventhub || {};
    set('hub-leader', hub.leader, 'no leader');
    $('hub-detail').textContent = hub.leader_identity ? 'identity ' + hub.leader_identity +
        (hub.coordination ? ' · ' + hub.coordination : '') : (hub.error || '');
    set('chain-height', hub.chain_height);
    set('lag', hub.lag);
    set('emitted', hub.last_emitted_height);
    set('epoch', s.epoch);
    set('phase', s.phase);
    const nm = s.node_manager || {};
    set('nm-leader', nm.leader, 'no leader');
    set('nm-token', nm.leader ? nm.token : null);
    const q = s.txqueue || {};
    set('backlog', q.backlog);
    set('stream-messages', q.stream_messages);
    set('dead-total', q.dead_letters_total, '0');
    const dl = $('dead-letters');
    dl.replaceChildren();
    for (const [reason, n] of Object.entries(q.dead_letters || {})) {
      const li = document.createElement('li');
      li.dataset.reason = reason;
      li.textContent = reason + ': ' + n;
      dl.appendChild(li);
    }
    const c = s.cache || {};
    set('cache-hit-rate', c.hit_rate === null || c.hit_rate === undefined ? null :
        (100 * c.hit_rate).toFixed(1) + ' %');
    set('cache-hits', c.hits);
    set('cache-misses', c.misses);
    fill('signers', s.signers || [], (tr, g) => {
      cell(tr, g.name); cell(tr, g.up ? 'up' : 'down', g.up ? '' : 'err');
      cell(tr, g.signed_total); cell(tr, rate(g.signed_per_s)); cell(tr, rate(g.requests_per_s));
    });
    fill('ml-nodes', nm.nodes || [], (tr, n) => {
      if (n.intended !== n.actual) tr.className = 'mismatch';
      cell(tr, n.id); cell(tr, n.intended); cell(tr, n.actual); cell(tr, n.last_error, 'err');
    });
    fill('services', s.services || [], (tr, v) => {
      tr.dataset.service = v.name;
      cell(tr, v.name); cell(tr, v.kind);
      cell(tr, !v.up ? 'down' : (v.ready ? 'ready' : 'not ready'), v.up && v.ready ? '' : 'err');
      cell(tr, v.latency_ms === null ? '' : v.latency_ms + ' ms');
      cell(tr, v.error, 'err');
    });
    if (Array.isArray(s.blocks) && s.blocks.length &&
        (!blocks.length || s.blocks[0].height >= blocks[0].height)) {
      blocks = s.blocks.slice(0, MAX_BLOCKS);
      renderBlocks();
    }
  }

  function describe(type, d) {
    switch (type) {
      case 'block': return 'height ' + d.height + ' (' + d.txs + ' txs' + (d.phase ? ', ' + d.phase : '') + ')';
      case 'phase': return 'epoch ' + d.epoch + ' ' + d.phase + ' at height ' + d.height +
          (d.previous ? ' (was ' + d.previous + ')' : '');
      case 'leader': return d.role + ': ' + show(d.leader, 'no leader') + ' (was ' + show(d.previous, 'none') + ')';
      case 'dead_letter': return d.reason + ' +' + d.count + ' (total ' + d.total + ')';
      case 'service': return d.name + ' ' + (d.up ? (d.ready ? 'ready' : 'not ready') : 'down') +
          (d.error ? ': ' + d.error : '');
      default: return JSON.stringify(d);
    }
  }

  const seen = new Set();
  function logEvent(id, type, d) {
    if (id !== undefined && id !== null && id !== '') {
      if (seen.has(String(id))) return;
      seen.add(String(id));
    }
    const ul = $('events');
    const li = document.createElement('li');
    li.dataset.type = type;
    const t = document.createElement('span');
    t.className = 'type';
    t.textContent = type;
    li.appendChild(t);
    li.appendChild(document.createTextNode(describe(type, d)));
    ul.prepend(li);
    while (ul.children.length > MAX_EVENTS) ul.lastChild.remove();
  }

  function onBlock(d) {
    if (blocks.length && d.height <= blocks[0].height) return;
    blocks.unshift(d);
    blocks = blocks.slice(0, MAX_BLOCKS);
    renderBlocks();
  }

  function connect() {
    const conn = $('conn');
    const es = new EventSource('/v1/node/events');
    es.onopen = () => { conn.textContent = 'live'; conn.className = 'badge up'; };
    es.onerror = () => { conn.textContent = 'reconnecting'; conn.className = 'badge warn'; };
    es.addEventListener('snapshot', (e) => {
      const s = JSON.parse(e.data);
      render(s);
      for (const ev of s.events || []) logEvent(ev.id, ev.type, ev.data);
    });
    for (const type of ['block', 'phase', 'leader', 'dead_letter', 'service']) {
      es.addEventListener(type, (e) => {
        const d = JSON.parse(e.data);
        if (type === 'block') onBlock(d);
        if (type === 'phase') { set('epoch', d.epoch); set('phase', d.phase); }
        logEvent(e.lastEventId, type, d);
      });
    }
  }

  fetch('/v1/node/status', { cache: 'no-store' })
    .then((r) => r.json())
    .then(render)
    .catch(() => { $('conn').textContent = 'status unavailable'; })
    .finally(connect);
})();

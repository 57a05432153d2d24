/**
 * The dashboard's browser code: plain JavaScript, no build step, no framework. It talks to the
 * same /api/* endpoints as Mongoose's device-dashboard UI, takes live stats from the /api/ws
 * WebSocket (falling back to polling api/stats/get), and draws the throughput chart on a canvas.
 *
 * Invariant: server data only ever reaches the page through textContent and DOM properties.
 * (This source avoids template literals so it can live in a String.raw constant.)
 * @module
 */

/** app.js */
export const APP_JS = String.raw`'use strict';
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var state = { user: null, stats: null, page: 1, totalEvents: 0, seenEventsTotal: -1, ws: null,
    pollTimer: null, retryTimer: null, tab: 'overview', firmware: null };
  var EVENTS_PER_PAGE = 20;

  function el(tag, props, children) {
    var node = document.createElement(tag);
    if (props) Object.keys(props).forEach(function (k) { node[k] = props[k]; });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return node;
  }
  function setText(id, text) { $(id).textContent = text; }
  function fill(tbody, rows, columns, emptyText) {
    tbody.replaceChildren();
    if (rows.length === 0) {
      tbody.appendChild(el('tr', null, [el('td', { className: 'empty', colSpan: columns }, [emptyText])]));
      return;
    }
    rows.forEach(function (r) { tbody.appendChild(r); });
  }
  function show(id, text, isError) {
    var n = $(id);
    n.textContent = text;
    n.className = 'notice' + (isError ? ' notice-error' : '');
    n.hidden = !text;
  }

  // ---- formatting ----
  function fmtCount(n) { return (n || 0).toLocaleString(); }
  function fmtBytes(n) {
    var units = ['B', 'kB', 'MB', 'GB', 'TB'], i = 0;
    n = n || 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i === 0 ? n : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)) + ' ' + units[i];
  }
  function fmtRate(n) { return fmtBytes(n) + '/s'; }
  function fmtDuration(s) {
    s = Math.max(0, Math.floor(s));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d > 0) return d + 'd ' + h + 'h ' + m + 'm';
    if (h > 0) return h + 'h ' + m + 'm';
    if (m > 0) return m + 'm ' + (s % 60) + 's';
    return s + 's';
  }
  function fmtTime(unixSeconds) {
    return new Date(unixSeconds * 1000).toLocaleString([], { dateStyle: 'short', timeStyle: 'medium' });
  }

  // ---- API ----
  function api(path, options) {
    return fetch(path, Object.assign({ credentials: 'same-origin', cache: 'no-store' }, options || {}))
      .then(function (r) {
        if (r.status === 403 && state.user) { loggedOut(); throw new Error('Session expired: log in again'); }
        return r;
      });
  }
  function apiJson(path, options) {
    return api(path, options).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (body) {
        if (!r.ok) throw new Error((body && (body.error || body.message)) || ('HTTP ' + r.status));
        return body;
      });
    });
  }
  function post(path, body) {
    return apiJson(path, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body || {}) });
  }

  // ---- login ----
  function basic(user, password) {
    var bytes = new TextEncoder().encode(user + ':' + password), s = '';
    bytes.forEach(function (b) { s += String.fromCharCode(b); });
    return 'Basic ' + btoa(s);
  }
  function showLogin(message) {
    $('app-view').hidden = true;
    $('login-view').hidden = false;
    show('login-error', message || '', true);
    $('login-password').focus();
  }
  $('login-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var button = $('login-submit');
    button.disabled = true;
    fetch('api/login', { method: 'POST', credentials: 'same-origin',
      headers: { authorization: basic($('login-user').value, $('login-password').value) } })
      .then(function (r) {
        if (r.status === 429) {
          var wait = r.headers.get('retry-after');
          throw new Error('Too many failed attempts. Try again in ' + (wait || 60) + ' s.');
        }
        if (!r.ok) throw new Error('Wrong user name or password.');
        return r.json();
      })
      .then(function (body) { $('login-password').value = ''; loggedIn(body.user); })
      .catch(function (e) { show('login-error', e.message, true); })
      .finally(function () { button.disabled = false; });
  });
  $('logout').addEventListener('click', function () {
    api('api/logout', { method: 'POST' }).finally(loggedOut);
  });
  function loggedIn(user) {
    state.user = user;
    setText('user-name', user);
    $('login-view').hidden = true;
    $('app-view').hidden = false;
    show('login-error', '');
    loadSettings();
    route();
    connectLive();
  }
  function loggedOut() {
    state.user = null;
    stopLive();
    showLogin('');
  }

  // ---- tabs ----
  function route() {
    var tab = (location.hash || '#overview').slice(1);
    if (!$('page-' + tab)) tab = 'overview';
    state.tab = tab;
    document.querySelectorAll('.tabs a').forEach(function (a) {
      a.classList.toggle('active', a.dataset.tab === tab);
      if (a.dataset.tab === tab) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    });
    document.querySelectorAll('.page').forEach(function (p) { p.hidden = p.id !== 'page-' + tab; });
    if (tab === 'events') loadEvents();
    if (tab === 'settings') loadSettings();
    if (tab === 'firmware') loadFirmware();
    if (tab === 'overview' && state.stats) drawChart(state.stats.history || []);
  }
  window.addEventListener('hashchange', function () { if (state.user) route(); });

  // ---- live stats ----
  function setLive(mode) {
    $('live-dot').className = 'dot ' + mode;
    setText('live-text', mode === 'live' ? 'live' : mode === 'polling' ? 'polling' : 'connecting');
  }
  function connectLive() {
    stopLive();
    var url = new URL('api/ws', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    var ws;
    try { ws = new WebSocket(url); } catch (e) { startPolling(); return; }
    state.ws = ws;
    ws.onopen = function () { stopPolling(); setLive('live'); };
    ws.onmessage = function (m) {
      var msg = JSON.parse(m.data);
      if (msg && msg.name === 'stats') renderStats(msg.data);
    };
    ws.onclose = function () {
      if (state.ws !== ws) return;
      state.ws = null;
      if (!state.user) return;
      startPolling();
      state.retryTimer = setTimeout(connectLive, 5000);
    };
  }
  function stopLive() {
    stopPolling();
    clearTimeout(state.retryTimer);
    if (state.ws) { var ws = state.ws; state.ws = null; ws.close(); }
    setLive('');
  }
  function startPolling() {
    if (state.pollTimer) return;
    setLive('polling');
    var poll = function () { apiJson('api/stats/get').then(renderStats).catch(function () {}); };
    poll();
    state.pollTimer = setInterval(poll, 2000);
  }
  function stopPolling() { clearInterval(state.pollTimer); state.pollTimer = null; }

  function renderStats(s) {
    state.stats = s;
    setText('st-uptime', fmtDuration(s.uptime));
    setText('st-started', 'since ' + fmtTime(Date.now() / 1000 - s.uptime));
    var link = s.link;
    var linkNode = $('st-link');
    linkNode.textContent = link ? (link.up ? 'Up' : 'Down') : 'n/a';
    linkNode.className = 'stat-value ' + (link ? (link.up ? 'good' : 'bad') : '');
    setText('st-link-sub', link ? link.name + ' · ' + link.mac + ' · MTU ' + link.mtu : '');
    setText('st-ipv4', s.ipv4 ? s.ipv4.address + '/' + s.ipv4.prefixLength : 'none');
    setText('st-ipv4-sub', s.ipv4 ? (s.ipv4.source === 'dhcp' ? 'DHCP' : 'static') +
      (s.ipv4.gateway ? ' · gw ' + s.ipv4.gateway : '') : 'unconfigured');
    var d = s.dhcp;
    setText('st-dhcp', d ? d.state : 'off');
    var leftMs = d && d.expiresUnixMs ? d.expiresUnixMs - Date.now() : null;
    setText('st-dhcp-sub', leftMs === null ? (d && d.address ? d.address : '')
      : leftMs > 0 ? 'expires in ' + fmtDuration(leftMs / 1000) : 'expired');
    setText('st-frames', fmtCount(s.frames.in) + ' / ' + fmtCount(s.frames.out));
    setText('st-bytes', fmtBytes(s.bytes.in) + ' in · ' + fmtBytes(s.bytes.out) + ' out');
    setText('st-drops', fmtCount(s.drops.total));
    var reasons = Object.keys(s.drops.byReason).length;
    setText('st-drops-sub', reasons ? reasons + (reasons === 1 ? ' reason' : ' reasons') : 'none');
    setText('st-tcp', fmtCount(s.tcp.total));
    setText('st-tcp-sub', s.tcp.byState.ESTABLISHED ? s.tcp.byState.ESTABLISHED + ' established' : '');
    setText('st-arp', fmtCount(s.arp.length));
    setText('st-arp-sub', s.arp.filter(function (e) { return !e.mac; }).length + ' pending');
    renderTables(s);
    var last = s.history[s.history.length - 1];
    setText('rate-rx', last ? fmtRate(last.rxBytesPerSecond) : '–');
    setText('rate-tx', last ? fmtRate(last.txBytesPerSecond) : '–');
    if (state.tab === 'overview') drawChart(s.history);
    if (s.eventsTotal !== state.seenEventsTotal) {
      var first = state.seenEventsTotal < 0;
      state.seenEventsTotal = s.eventsTotal;
      if (!first && state.tab === 'events' && state.page === 1) loadEvents();
    }
  }
  function renderTables(s) {
    var drops = Object.keys(s.drops.byReason).sort(function (a, b) {
      return s.drops.byReason[b] - s.drops.byReason[a];
    }).map(function (k) {
      return el('tr', null, [el('td', { className: 'mono' }, [k]),
        el('td', { className: 'num' }, [fmtCount(s.drops.byReason[k])])]);
    });
    fill($('tb-drops'), drops, 2, 'No drops');
    var tcp = Object.keys(s.tcp.byState).filter(function (k) { return s.tcp.byState[k] > 0; })
      .map(function (k) {
        return el('tr', null, [el('td', null, [k]), el('td', { className: 'num' }, [fmtCount(s.tcp.byState[k])])]);
      });
    fill($('tb-tcp'), tcp, 2, 'No connections');
    var arp = s.arp.map(function (e) {
      return el('tr', null, [el('td', { className: 'mono' }, [e.ip]),
        el('td', { className: 'mono' }, [e.mac || 'pending']),
        el('td', { className: 'num' }, [fmtDuration(e.expiresInMs / 1000)])]);
    });
    fill($('tb-arp'), arp, 3, 'Empty');
  }

  // ---- chart ----
  function niceMax(v) {
    if (v <= 0) return 1000;
    var p = Math.pow(10, Math.floor(Math.log10(v))), m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  function drawChart(history) {
    var canvas = $('chart');
    var width = canvas.clientWidth, height = canvas.clientHeight;
    if (!width) return;
    var dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    var g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, width, height);
    var css = getComputedStyle(document.documentElement);
    var color = function (name) { return css.getPropertyValue(name).trim(); };
    var left = 64, right = 8, top = 8, bottom = 22;
    var w = width - left - right, h = height - top - bottom;
    var slots = 120;
    var max = niceMax(history.reduce(function (m, p) {
      return Math.max(m, p.rxBytesPerSecond, p.txBytesPerSecond);
    }, 0));
    g.font = '11px system-ui, sans-serif';
    g.textBaseline = 'middle';
    g.lineWidth = 1;
    for (var i = 0; i <= 4; i++) {
      var y = top + h - h * i / 4;
      g.strokeStyle = color('--line');
      g.beginPath(); g.moveTo(left, Math.round(y) + 0.5); g.lineTo(left + w, Math.round(y) + 0.5); g.stroke();
      g.fillStyle = color('--muted');
      g.textAlign = 'right';
      g.fillText(fmtRate(max * i / 4), left - 8, y);
    }
    g.textAlign = 'center';
    g.textBaseline = 'alphabetic';
    [120, 90, 60, 30, 0].forEach(function (ago) {
      var x = left + w - w * ago / (slots - 1);
      g.fillText(ago === 0 ? 'now' : '-' + ago + 's', Math.min(Math.max(x, left + 12), left + w - 12), height - 4);
    });
    var xOf = function (idx) { return left + w - w * (history.length - 1 - idx) / (slots - 1); };
    var yOf = function (v) { return top + h - h * v / max; };
    [['rxBytesPerSecond', '--rx'], ['txBytesPerSecond', '--tx']].forEach(function (series) {
      if (history.length < 2) return;
      var key = series[0], stroke = color(series[1]);
      g.beginPath();
      history.forEach(function (p, idx) {
        var x = xOf(idx), y = yOf(p[key]);
        if (idx === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      g.strokeStyle = stroke;
      g.lineWidth = 2;
      g.lineJoin = 'round';
      g.stroke();
      g.lineTo(xOf(history.length - 1), top + h);
      g.lineTo(xOf(0), top + h);
      g.closePath();
      g.globalAlpha = 0.12;
      g.fillStyle = stroke;
      g.fill();
      g.globalAlpha = 1;
    });
    if (history.length < 2) {
      g.fillStyle = color('--muted');
      g.textAlign = 'center';
      g.fillText('collecting samples…', left + w / 2, top + h / 2);
    }
  }
  window.addEventListener('resize', function () {
    if (state.stats && state.tab === 'overview') drawChart(state.stats.history);
  });

  // ---- events ----
  var PRIO = [['high', 'badge-err'], ['medium', 'badge-warn'], ['low', 'badge-info']];
  function loadEvents() {
    post('api/events/get', { page: state.page }).then(function (r) {
      state.totalEvents = r.totalCount;
      var pages = Math.max(1, Math.ceil(r.totalCount / EVENTS_PER_PAGE));
      if (state.page > pages) { state.page = pages; return loadEvents(); }
      setText('ev-page', 'Page ' + state.page + ' of ' + pages + ' · ' + fmtCount(r.totalCount) + ' events');
      $('ev-prev').disabled = state.page <= 1;
      $('ev-next').disabled = state.page >= pages;
      fill($('tb-events'), r.arr.map(function (e) {
        var prio = PRIO[e.prio] || PRIO[2];
        return el('tr', null, [
          el('td', null, [fmtTime(e.time)]),
          el('td', null, [e.type]),
          el('td', null, [el('span', { className: 'badge ' + prio[1] }, [prio[0]])]),
          el('td', null, [e.text]),
        ]);
      }), 4, 'No events yet');
    }).catch(function () {});
  }
  $('ev-prev').addEventListener('click', function () { if (state.page > 1) { state.page--; loadEvents(); } });
  $('ev-next').addEventListener('click', function () { state.page++; loadEvents(); });

  // ---- settings ----
  function applySettings(s) {
    $('set-log-enabled').checked = s.log_enabled;
    $('set-log-level').value = String(s.log_level);
    $('set-log-level').disabled = !s.log_enabled;
    $('set-brightness').value = String(s.brightness);
    setText('set-brightness-out', s.brightness + '%');
    $('set-device-name').value = s.device_name;
    setText('device-name', s.device_name);
    document.title = s.device_name + ' · mip-tap';
  }
  // A load that was already under way when the user edited the form must not undo the edit.
  var settingsEdits = 0;
  $('settings-form').addEventListener('input', function () { settingsEdits++; });
  function loadSettings() {
    var edits = settingsEdits;
    apiJson('api/settings/get').then(function (s) {
      if (settingsEdits === edits) applySettings(s);
    }).catch(function (e) {
      if (state.user) show('settings-notice', 'Cannot load the settings: ' + e.message, true);
    });
  }
  $('set-log-enabled').addEventListener('change', function () {
    $('set-log-level').disabled = !$('set-log-enabled').checked;
  });
  $('set-brightness').addEventListener('input', function () {
    setText('set-brightness-out', $('set-brightness').value + '%');
  });
  $('settings-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var body = {
      log_enabled: $('set-log-enabled').checked,
      log_level: Number($('set-log-level').value),
      brightness: Number($('set-brightness').value),
      device_name: $('set-device-name').value,
    };
    post('api/settings/set', body)
      .then(function (r) { show('settings-notice', r.message === 'Success' ? 'Settings saved.' : r.message, !r.status); })
      .catch(function (e) { show('settings-notice', e.message, true); })
      .finally(loadSettings);
  });

  // ---- firmware ----
  var FW_STATE = { empty: ['Empty', ''], uploaded: ['Not committed', 'badge-warn'], committed: ['Committed', 'badge-ok'] };
  function renderSlot(idx, info) {
    var label = FW_STATE[info.state] || FW_STATE.empty;
    var badge = $('fw' + idx + '-badge');
    badge.textContent = 'Slot ' + info.slot.toUpperCase() + ' · ' + label[0];
    badge.className = 'badge ' + label[1];
    var rows = info.state === 'empty'
      ? [['Image', idx === 0 ? 'Factory (built in)' : 'None']]
      : [['Name', info.name || '–'], ['Size', fmtCount(info.size) + ' bytes'],
         ['CRC-32', info.crc32], ['Uploaded', fmtTime(info.timestamp)]];
    var dl = $('fw' + idx);
    dl.replaceChildren();
    rows.forEach(function (r) { dl.appendChild(el('dt', null, [r[0]])); dl.appendChild(el('dd', null, [r[1]])); });
  }
  function loadFirmware() {
    return apiJson('api/firmware/status').then(function (info) {
      state.firmware = info;
      renderSlot(0, info[0]);
      renderSlot(1, info[1]);
      $('fw-commit').disabled = info[1].state !== 'uploaded';
      $('fw-rollback').disabled = info[1].state !== 'committed';
    }).catch(function () {});
  }
  $('fw-file').addEventListener('change', function () { $('fw-upload').disabled = !$('fw-file').files.length; });
  $('fw-upload').addEventListener('click', function () {
    var file = $('fw-file').files[0];
    if (!file) return;
    if (file.size === 0) { show('fw-notice', 'The file is empty.', true); return; }
    var CHUNK = 64 * 1024, progress = $('fw-progress'), button = $('fw-upload');
    button.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    show('fw-notice', 'Uploading ' + file.name + '…');
    var send = function (offset, body) {
      var q = 'api/firmware/upload?name=' + encodeURIComponent(file.name) + '&offset=' + offset + '&total=' + file.size;
      return apiJson(q, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: body });
    };
    var step = function (offset) {
      if (offset >= file.size) return send(offset, new Uint8Array(0));
      var end = Math.min(offset + CHUNK, file.size);
      return file.slice(offset, end).arrayBuffer().then(function (buf) { return send(offset, buf); })
        .then(function () { progress.value = end / file.size; return step(end); });
    };
    step(0).then(function () {
      progress.value = 1;
      show('fw-notice', 'Uploaded ' + file.name + ' (' + fmtCount(file.size) + ' bytes). Commit it to make it active.');
    }).catch(function (e) {
      show('fw-notice', 'Upload failed: ' + e.message, true);
    }).finally(function () { button.disabled = false; loadFirmware(); });
  });
  $('fw-commit').addEventListener('click', function () {
    post('api/firmware/commit').then(function (ok) {
      show('fw-notice', ok ? 'Committed: the uploaded image is now active.' : 'Nothing to commit.', !ok);
    }).catch(function (e) { show('fw-notice', e.message, true); }).finally(loadFirmware);
  });
  $('fw-rollback').addEventListener('click', function () {
    post('api/firmware/rollback').then(function (ok) {
      show('fw-notice', ok ? 'Rolled back to the previous image.' : 'No image to roll back to.', !ok);
    }).catch(function (e) { show('fw-notice', e.message, true); }).finally(loadFirmware);
  });

  // ---- device reset ----
  $('reset-open').addEventListener('click', function () { $('reset-dialog').showModal(); });
  $('reset-dialog').addEventListener('close', function () {
    if ($('reset-dialog').returnValue !== 'confirm') return;
    post('api/device/reset').then(function () {
      show('reset-notice', 'Restarting the network stack…');
      setTimeout(function () { show('reset-notice', 'Network stack restarted.'); connectLive(); }, 3000);
    }).catch(function (e) { show('reset-notice', e.message, true); });
  });

  // ---- start ----
  fetch('api/login', { credentials: 'same-origin' }).then(function (r) {
    if (!r.ok) { showLogin(''); return; }
    return r.json().then(function (b) { loggedIn(b.user); });
  }).catch(function () { showLogin('Cannot reach the device.'); });
})();
`;

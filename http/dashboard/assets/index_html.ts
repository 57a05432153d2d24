/**
 * The dashboard page (served at `/`). Static markup only: app.js fills it in with DOM calls
 * (never innerHTML with data), app.css styles it; both are same-origin, as the CSP requires.
 * @module
 */

/** index.html */
export const INDEX_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>mip-tap dashboard</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24'%3E%3Crect width='24' height='24' rx='6' fill='%232563eb'/%3E%3Cpath d='M6 16V8l6 5 6-5v8' stroke='white' stroke-width='2.2' fill='none' stroke-linejoin='round'/%3E%3C/svg%3E">
<link rel="stylesheet" href="app.css">
<script src="app.js" defer></script>
</head>
<body>
<div id="login-view" class="login" hidden>
  <form id="login-form" class="card login-card" autocomplete="on">
    <div class="brand brand-large">
      <svg class="logo" viewBox="0 0 24 24" aria-hidden="true"><rect width="24" height="24" rx="6"/><path d="M6 16V8l6 5 6-5v8"/></svg>
      <div><div class="brand-name">mip-tap</div><div class="muted">Device dashboard</div></div>
    </div>
    <label>User<input id="login-user" name="username" autocomplete="username" value="admin" required></label>
    <label>Password<input id="login-password" name="password" type="password" autocomplete="current-password" required autofocus></label>
    <p id="login-error" class="notice notice-error" role="alert" hidden></p>
    <button id="login-submit" class="btn btn-primary btn-wide" type="submit">Log in</button>
    <p class="muted small">The admin password is printed once when the device first starts, or set with --admin-password.</p>
  </form>
</div>

<div id="app-view" hidden>
  <header class="topbar">
    <div class="brand">
      <svg class="logo" viewBox="0 0 24 24" aria-hidden="true"><rect width="24" height="24" rx="6"/><path d="M6 16V8l6 5 6-5v8"/></svg>
      <div>
        <div id="device-name" class="brand-name">mip-tap</div>
        <div class="muted small"><span id="live-dot" class="dot"></span><span id="live-text">connecting</span></div>
      </div>
    </div>
    <div class="topbar-right">
      <span class="muted small hide-narrow">Signed in as <b id="user-name">admin</b></span>
      <button id="logout" class="btn" type="button">Log out</button>
    </div>
  </header>
  <nav class="tabs" aria-label="Sections">
    <a href="#overview" data-tab="overview">Overview</a>
    <a href="#events" data-tab="events">Events</a>
    <a href="#settings" data-tab="settings">Settings</a>
    <a href="#firmware" data-tab="firmware">Firmware</a>
    <a href="#device" data-tab="device">Device</a>
  </nav>

  <main>
    <section id="page-overview" class="page">
      <div class="stats-grid">
        <div class="card stat"><div class="stat-title">Uptime</div><div id="st-uptime" class="stat-value">–</div><div id="st-started" class="stat-sub"></div></div>
        <div class="card stat"><div class="stat-title">Link</div><div id="st-link" class="stat-value">–</div><div id="st-link-sub" class="stat-sub"></div></div>
        <div class="card stat"><div class="stat-title">IPv4</div><div id="st-ipv4" class="stat-value">–</div><div id="st-ipv4-sub" class="stat-sub"></div></div>
        <div class="card stat"><div class="stat-title">DHCP lease</div><div id="st-dhcp" class="stat-value">–</div><div id="st-dhcp-sub" class="stat-sub"></div></div>
        <div class="card stat"><div class="stat-title">Frames in / out</div><div id="st-frames" class="stat-value">–</div><div id="st-bytes" class="stat-sub"></div></div>
        <div class="card stat"><div class="stat-title">Dropped</div><div id="st-drops" class="stat-value">–</div><div id="st-drops-sub" class="stat-sub"></div></div>
        <div class="card stat"><div class="stat-title">TCP connections</div><div id="st-tcp" class="stat-value">–</div><div id="st-tcp-sub" class="stat-sub"></div></div>
        <div class="card stat"><div class="stat-title">ARP entries</div><div id="st-arp" class="stat-value">–</div><div id="st-arp-sub" class="stat-sub"></div></div>
      </div>
      <div class="card chart-card">
        <div class="card-head">
          <h2>Throughput</h2>
          <div class="legend"><span class="swatch swatch-rx"></span>in <b id="rate-rx">–</b><span class="swatch swatch-tx"></span>out <b id="rate-tx">–</b></div>
        </div>
        <canvas id="chart" height="220" aria-label="Throughput chart" role="img"></canvas>
      </div>
      <div class="tables-grid">
        <div class="card"><div class="card-head"><h2>Drops by reason</h2></div><div class="table-wrap"><table><thead><tr><th>Layer / reason</th><th class="num">Count</th></tr></thead><tbody id="tb-drops"></tbody></table></div></div>
        <div class="card"><div class="card-head"><h2>TCP by state</h2></div><div class="table-wrap"><table><thead><tr><th>State</th><th class="num">Connections</th></tr></thead><tbody id="tb-tcp"></tbody></table></div></div>
        <div class="card"><div class="card-head"><h2>ARP cache</h2></div><div class="table-wrap"><table><thead><tr><th>IPv4</th><th>MAC</th><th class="num">Expires</th></tr></thead><tbody id="tb-arp"></tbody></table></div></div>
      </div>
    </section>

    <section id="page-events" class="page" hidden>
      <div class="card">
        <div class="card-head">
          <h2>Event log</h2>
          <div class="pager">
            <button id="ev-prev" class="btn btn-small" type="button" aria-label="Newer events">‹ Newer</button>
            <span id="ev-page" class="muted small">–</span>
            <button id="ev-next" class="btn btn-small" type="button" aria-label="Older events">Older ›</button>
          </div>
        </div>
        <div class="table-wrap">
          <table class="events">
            <thead><tr><th>Time</th><th>Type</th><th>Priority</th><th>Description</th></tr></thead>
            <tbody id="tb-events"></tbody>
          </table>
        </div>
      </div>
    </section>

    <section id="page-settings" class="page" hidden>
      <form id="settings-form" class="card form-card" novalidate>
        <div class="card-head"><h2>Device settings</h2></div>
        <p id="settings-notice" class="notice" role="status" hidden></p>
        <label class="row">
          <span>Logging</span>
          <span class="switch"><input id="set-log-enabled" type="checkbox"><span class="slider"></span></span>
        </label>
        <label class="row">
          <span>Log level</span>
          <select id="set-log-level">
            <option value="0">0 – Disabled</option>
            <option value="1">1 – Error</option>
            <option value="2">2 – Info</option>
            <option value="3">3 – Debug</option>
          </select>
        </label>
        <label class="row">
          <span>Brightness</span>
          <span class="range"><input id="set-brightness" type="range" min="0" max="100" step="1"><output id="set-brightness-out">–</output></span>
        </label>
        <label class="row">
          <span>Device name</span>
          <input id="set-device-name" maxlength="39" required>
        </label>
        <div class="actions"><button class="btn btn-primary" type="submit">Save settings</button></div>
      </form>
    </section>

    <section id="page-firmware" class="page" hidden>
      <div class="slots-grid">
        <div class="card slot"><div class="card-head"><h2>Active firmware</h2><span id="fw0-badge" class="badge">–</span></div><dl id="fw0"></dl></div>
        <div class="card slot"><div class="card-head"><h2>Other slot</h2><span id="fw1-badge" class="badge">–</span></div><dl id="fw1"></dl>
          <div class="actions">
            <button id="fw-commit" class="btn btn-primary" type="button" disabled>Commit uploaded image</button>
            <button id="fw-rollback" class="btn" type="button" disabled>Roll back to this image</button>
          </div>
        </div>
      </div>
      <div class="card">
        <div class="card-head"><h2>Upload firmware</h2></div>
        <p class="muted small">The image goes into the inactive slot in chunks; commit it to make it active.</p>
        <div class="upload">
          <input id="fw-file" type="file" accept=".bin,.uf2,.img,application/octet-stream">
          <button id="fw-upload" class="btn btn-primary" type="button" disabled>Upload</button>
        </div>
        <progress id="fw-progress" max="1" value="0" hidden></progress>
        <p id="fw-notice" class="notice" role="status" hidden></p>
      </div>
    </section>

    <section id="page-device" class="page" hidden>
      <div class="card form-card">
        <div class="card-head"><h2>Restart network stack</h2></div>
        <p class="muted">Takes the link down, asks DHCP for an address again and reopens every socket. The process keeps running; this page reconnects by itself.</p>
        <p id="reset-notice" class="notice" role="status" hidden></p>
        <div class="actions"><button id="reset-open" class="btn btn-danger" type="button">Restart…</button></div>
      </div>
    </section>
  </main>

  <dialog id="reset-dialog">
    <form method="dialog" class="dialog-body">
      <h2>Restart the network stack?</h2>
      <p class="muted">Open connections will be closed.</p>
      <div class="actions">
        <button class="btn" value="cancel" type="submit">Cancel</button>
        <button id="reset-confirm" class="btn btn-danger" value="confirm" type="submit">Restart</button>
      </div>
    </form>
  </dialog>
</div>
</body>
</html>
`;

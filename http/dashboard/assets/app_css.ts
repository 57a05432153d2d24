/**
 * Styles of the dashboard: a light and a dark palette (prefers-color-scheme), cards on a grid
 * that collapses to one column on a phone, no external fonts or images.
 * @module
 */

/** app.css */
export const APP_CSS = String.raw`
:root {
  --bg: #f3f5f9; --card: #ffffff; --text: #172033; --muted: #647089; --line: #e3e7ef;
  --accent: #2563eb; --accent-text: #ffffff; --rx: #2563eb; --tx: #0ea371;
  --ok: #0e9f6e; --warn: #c27803; --err: #dc2626; --shadow: 0 1px 2px rgba(16,24,40,.06), 0 1px 3px rgba(16,24,40,.08);
  --radius: 12px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 15px; color: var(--text); background: var(--bg);
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f141c; --card: #171e29; --text: #e4e9f2; --muted: #8d99ae; --line: #263142;
    --accent: #3b82f6; --rx: #60a5fa; --tx: #34d399; --shadow: 0 1px 2px rgba(0,0,0,.4);
  }
}
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; background: var(--bg); }
[hidden] { display: none !important; }
h2 { font-size: 13px; font-weight: 600; letter-spacing: .06em; text-transform: uppercase; color: var(--muted); margin: 0; }
.muted { color: var(--muted); }
.small { font-size: 13px; }
b { font-weight: 600; }

.card { background: var(--card); border: 1px solid var(--line); border-radius: var(--radius); box-shadow: var(--shadow); padding: 16px; min-width: 0; }
.card-head { display: flex; align-items: center; justify-content: space-between; gap: 12px; margin-bottom: 12px; flex-wrap: wrap; }

.btn { font: inherit; font-size: 14px; font-weight: 500; border: 1px solid var(--line); background: var(--card); color: var(--text);
  border-radius: 8px; padding: 8px 14px; cursor: pointer; white-space: nowrap; }
.btn:hover:not(:disabled) { border-color: var(--accent); }
.btn:disabled { opacity: .5; cursor: not-allowed; }
.btn-primary { background: var(--accent); border-color: var(--accent); color: var(--accent-text); }
.btn-primary:hover:not(:disabled) { filter: brightness(1.08); }
.btn-danger { background: var(--err); border-color: var(--err); color: #fff; }
.btn-small { padding: 4px 10px; font-size: 13px; }
.btn-wide { width: 100%; padding: 10px; }

input, select { font: inherit; color: var(--text); background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px; min-width: 0; }
input:focus, select:focus, .btn:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
label { display: flex; flex-direction: column; gap: 6px; font-size: 14px; color: var(--muted); }

.notice { border-radius: 8px; padding: 10px 12px; font-size: 14px; margin: 0 0 12px; background: #e8f7f0; color: #065f46; border: 1px solid #b7e4cf; }
.notice-error { background: #fdecec; color: #991b1b; border-color: #f5c2c2; }
@media (prefers-color-scheme: dark) {
  .notice { background: #0f2e24; color: #a7f3d0; border-color: #1b4d3c; }
  .notice-error { background: #3a1414; color: #fecaca; border-color: #5b2020; }
}

/* Login */
.login { min-height: 100vh; display: grid; place-items: center; padding: 16px; }
.login-card { width: 100%; max-width: 360px; display: flex; flex-direction: column; gap: 14px; padding: 28px 24px; }
.login-card p { margin: 0; }

/* Brand */
.brand { display: flex; align-items: center; gap: 10px; min-width: 0; }
.brand-name { font-weight: 700; font-size: 16px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.brand-large { margin-bottom: 6px; }
.brand-large .brand-name { font-size: 20px; }
.logo { width: 34px; height: 34px; flex: none; }
.logo rect { fill: var(--accent); }
.logo path { stroke: #fff; stroke-width: 2.2; fill: none; stroke-linejoin: round; stroke-linecap: round; }
.dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; background: var(--muted); margin-right: 6px; vertical-align: 1px; }
.dot.live { background: var(--ok); box-shadow: 0 0 0 3px rgba(14,159,110,.18); }
.dot.polling { background: var(--warn); }

/* Top bar and tabs */
.topbar { position: sticky; top: 0; z-index: 5; display: flex; align-items: center; justify-content: space-between; gap: 12px;
  padding: 10px 20px; background: var(--card); border-bottom: 1px solid var(--line); }
.topbar-right { display: flex; align-items: center; gap: 14px; }
.tabs { display: flex; gap: 4px; padding: 0 16px; background: var(--card); border-bottom: 1px solid var(--line); overflow-x: auto; scrollbar-width: none; }
.tabs a { padding: 12px 12px 10px; color: var(--muted); text-decoration: none; font-weight: 500; font-size: 14px; border-bottom: 2px solid transparent; white-space: nowrap; }
.tabs a:hover { color: var(--text); }
.tabs a.active { color: var(--accent); border-bottom-color: var(--accent); }
main { max-width: 1200px; margin: 0 auto; padding: 20px; }
.page { display: flex; flex-direction: column; gap: 16px; }

/* Overview */
.stats-grid { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 12px; }
.stat { padding: 14px 16px; }
.stat-title { font-size: 13px; color: var(--muted); }
.stat-value { font-size: 22px; font-weight: 650; margin-top: 4px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; font-variant-numeric: tabular-nums; }
.stat-sub { font-size: 12.5px; color: var(--muted); margin-top: 2px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; min-height: 1.2em; }
.good { color: var(--ok); }
.bad { color: var(--err); }
.chart-card canvas { display: block; width: 100%; height: 220px; }
.legend { display: flex; align-items: center; gap: 6px; font-size: 13px; color: var(--muted); font-variant-numeric: tabular-nums; }
.legend b { color: var(--text); margin-right: 10px; }
.swatch { width: 12px; height: 4px; border-radius: 2px; display: inline-block; }
.swatch-rx { background: var(--rx); }
.swatch-tx { background: var(--tx); }
.tables-grid { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 16px; align-items: start; }

/* Tables */
.table-wrap { overflow-x: auto; margin: 0 -16px -16px; }
table { width: 100%; border-collapse: collapse; font-size: 14px; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 8px 16px; border-top: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; font-weight: 600; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; background: transparent; }
td.num, th.num { text-align: right; }
td.empty { color: var(--muted); text-align: center; padding: 18px; }
td.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
table.events td:first-child { white-space: nowrap; }
table.events td:last-child { width: 100%; }
.pager { display: flex; align-items: center; gap: 8px; }
.badge { display: inline-block; font-size: 12px; font-weight: 600; padding: 2px 8px; border-radius: 999px; background: var(--line); color: var(--muted); white-space: nowrap; }
.badge-ok { background: rgba(14,159,110,.14); color: var(--ok); }
.badge-warn { background: rgba(194,120,3,.14); color: var(--warn); }
.badge-err { background: rgba(220,38,38,.14); color: var(--err); }
.badge-info { background: rgba(37,99,235,.12); color: var(--accent); }

/* Forms */
.form-card { max-width: 640px; }
.row { flex-direction: row; align-items: center; justify-content: space-between; gap: 16px; padding: 12px 0; border-top: 1px solid var(--line); color: var(--text); }
.row > span:first-child { font-weight: 500; }
.row input:not([type=checkbox]):not([type=range]), .row select { width: 240px; }
.range { display: flex; align-items: center; gap: 10px; width: 240px; }
.range input { flex: 1; accent-color: var(--accent); padding: 0; border: 0; }
.range output { width: 44px; text-align: right; font-variant-numeric: tabular-nums; }
.switch { position: relative; width: 44px; height: 24px; flex: none; }
.switch input { opacity: 0; width: 100%; height: 100%; margin: 0; position: absolute; cursor: pointer; z-index: 1; }
.slider { position: absolute; inset: 0; background: var(--line); border-radius: 999px; transition: background .15s; }
.slider::after { content: ""; position: absolute; left: 3px; top: 3px; width: 18px; height: 18px; border-radius: 50%; background: #fff; box-shadow: 0 1px 2px rgba(0,0,0,.25); transition: transform .15s; }
.switch input:checked + .slider { background: var(--accent); }
.switch input:checked + .slider::after { transform: translateX(20px); }
.switch input:focus-visible + .slider { outline: 2px solid var(--accent); outline-offset: 2px; }
.actions { display: flex; justify-content: flex-end; gap: 8px; flex-wrap: wrap; padding-top: 12px; }

/* Firmware */
.slots-grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 6px 16px; margin: 0; font-size: 14px; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; font-variant-numeric: tabular-nums; }
.upload { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin-bottom: 12px; }
.upload input[type=file] { flex: 1; min-width: 0; }
progress { width: 100%; height: 10px; margin-bottom: 12px; accent-color: var(--accent); }

/* Dialog */
dialog { border: 1px solid var(--line); border-radius: var(--radius); padding: 0; background: var(--card); color: var(--text); box-shadow: 0 10px 30px rgba(0,0,0,.25); width: min(420px, calc(100vw - 32px)); }
dialog::backdrop { background: rgba(15,20,28,.45); }
.dialog-body { padding: 20px; }
.dialog-body h2 { font-size: 17px; text-transform: none; letter-spacing: 0; color: var(--text); margin-bottom: 6px; }

@media (max-width: 980px) {
  .stats-grid { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .tables-grid { grid-template-columns: 1fr; }
}
@media (max-width: 640px) {
  main { padding: 12px; }
  .topbar { padding: 8px 12px; }
  .tabs { padding: 0 4px; gap: 0; }
  .tabs a { padding: 11px 6px 9px; font-size: 13.5px; flex: 1 0 auto; text-align: center; }
  .hide-narrow { display: none; }
  .stats-grid { gap: 8px; }
  .stat { padding: 10px 12px; }
  .stat-value { font-size: 18px; }
  .slots-grid { grid-template-columns: 1fr; }
  .row { flex-direction: column; align-items: stretch; gap: 8px; }
  .row input:not([type=checkbox]):not([type=range]), .row select, .range { width: 100%; }
  .row .switch { align-self: flex-start; }
  th, td { padding: 7px 12px; }
  .table-wrap { margin: 0 -12px -12px; }
  .card { padding: 12px; }
  .legend b { margin-right: 4px; }
}
`;

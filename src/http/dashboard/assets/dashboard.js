// The dashboard's only script of its own (htmx and uPlot do the rest):
// - every 2 s, while the tab is visible, fires `tandem:tick` on the body,
//   which makes htmx refresh the page's live region; a hidden tab sends
//   nothing, and becoming visible refreshes at once;
// - writes timestamps in the viewer's time zone (UTC stays in the title);
// - draws the overview's charts with uPlot and feeds them each refresh;
// - the tasks page's "select all" and the selected count;
// - the confirmation dialog of bulk actions.
(() => {
  const TICK_MS = 2000;
  const body = document.body;
  const status = document.getElementById('live-status');

  function setStatus(state, text) {
    if (!status) return;
    status.dataset.state = state;
    status.textContent = text;
  }

  function hasLive() {
    return document.getElementById('live') !== null;
  }

  function tick() {
    if (!hasLive()) return;
    if (document.visibilityState !== 'visible') return setStatus('paused', 'paused while hidden');
    window.htmx.trigger(body, 'tandem:tick');
  }
  setInterval(tick, TICK_MS);
  document.addEventListener('visibilitychange', tick);

  // Timestamps in the viewer's time zone (named once in the header).
  const parts = { hour: '2-digit', minute: '2-digit', second: '2-digit' };
  const thisYear = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', ...parts });
  const otherYear = new Intl.DateTimeFormat(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    ...parts,
  });
  const zone = document.getElementById('time-zone');
  if (zone) zone.textContent = `times in ${Intl.DateTimeFormat().resolvedOptions().timeZone}`;
  function localTimes(root) {
    const year = new Date().getFullYear();
    for (const t of root.querySelectorAll('time[datetime]')) {
      if (t.dataset.local) continue;
      const d = new Date(t.getAttribute('datetime'));
      if (Number.isNaN(d.getTime())) continue;
      t.textContent = (d.getFullYear() === year ? thisYear : otherYear).format(d);
      t.dataset.local = '1';
    }
  }

  // Charts.
  const charts = new Map();
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
  const SERIES = {
    throughput: [
      ['succeeded', '--chart-1', (d) => d.throughput.succeeded],
      ['failed', '--chart-2', (d) => d.throughput.failed],
      ['retried', '--chart-3', (d) => d.throughput.retried],
    ],
    latency: [
      ['run p50 ms', '--chart-4', (d) => d.latency.runP50],
      ['run p95 ms', '--chart-5', (d) => d.latency.runP95],
      ['lag p95 ms', '--chart-6', (d) => d.latency.lagP95],
    ],
  };

  function chartOptions(kind, width) {
    const axis = {
      stroke: css('--muted'),
      grid: { stroke: css('--chart-grid'), width: 1 },
      ticks: { stroke: css('--chart-grid'), width: 1 },
    };
    return {
      width,
      height: 220,
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      series: [
        {},
        ...SERIES[kind].map(([label, color]) => ({
          label,
          stroke: css(color),
          width: 2,
          points: { show: false },
          value: (_u, v) => (v === null || v === undefined ? '—' : number.format(v)),
        })),
      ],
      axes: [axis, { ...axis, size: 56 }],
      cursor: { drag: { x: false, y: false } },
    };
  }

  function drawCharts(rebuild) {
    const holder = document.getElementById('chart-data');
    if (!holder || typeof window.uPlot !== 'function') return;
    const data = JSON.parse(holder.dataset.series);
    const summaries = JSON.parse(holder.dataset.summaries || '{}');
    for (const el of document.querySelectorAll('[data-chart]')) {
      const kind = el.dataset.chart;
      const rows = [data.x, ...SERIES[kind].map(([, , pick]) => pick(data))];
      if (summaries[kind]) {
        el.setAttribute('aria-label', summaries[kind]);
        const text = el.parentElement.querySelector('.chart-summary');
        if (text) text.textContent = summaries[kind];
      }
      const existing = charts.get(kind);
      if (existing && !rebuild && existing.root.isConnected) {
        existing.setData(rows);
        continue;
      }
      if (existing) existing.destroy();
      el.textContent = '';
      charts.set(kind, new window.uPlot(chartOptions(kind, el.clientWidth || 400), rows, el));
    }
  }
  const resize = new ResizeObserver((entries) => {
    for (const e of entries) {
      const u = charts.get(e.target.dataset.chart);
      if (u && e.contentRect.width > 0) u.setSize({ width: e.contentRect.width, height: 220 });
    }
  });
  for (const el of document.querySelectorAll('[data-chart]')) resize.observe(el);
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => drawCharts(true));

  // Selection on the tasks page.
  function updateSelection() {
    const boxes = document.querySelectorAll('input[name="ids"]');
    const n = document.querySelectorAll('input[name="ids"]:checked').length;
    for (const el of document.querySelectorAll('[data-selected-count]')) el.textContent = String(n);
    const all = document.querySelector('[data-select-all]');
    if (all) {
      all.checked = boxes.length > 0 && n === boxes.length;
      all.indeterminate = n > 0 && n < boxes.length;
    }
  }
  document.addEventListener('change', (e) => {
    if (e.target.matches('[data-select-all]')) {
      for (const box of document.querySelectorAll('input[name="ids"]'))
        box.checked = e.target.checked;
    }
    updateSelection();
  });

  // The confirmation dialog: opened when a preview lands in it.
  const dialog = document.getElementById('confirm');
  const dialogBody = document.getElementById('confirm-body');
  let opener = null;
  body.addEventListener('htmx:beforeRequest', (e) => {
    if (e.detail.target === dialogBody) opener = document.activeElement;
  });
  document.addEventListener('click', (e) => {
    if (e.target.closest('[data-close-dialog]') && dialog.open) dialog.close();
  });
  body.addEventListener('tandem:close-dialog', () => {
    if (dialog.open) dialog.close();
  });
  dialog.addEventListener('close', () => {
    dialogBody.textContent = '';
    if (opener?.isConnected) opener.focus();
    opener = null;
  });

  // After every swap: local times, charts, selection, the dialog, the status.
  function refreshed(root) {
    localTimes(root);
    drawCharts(false);
    updateSelection();
  }
  body.addEventListener('htmx:afterSettle', (e) => {
    refreshed(e.detail.elt?.isConnected ? e.detail.elt : document);
    if (e.detail.target === dialogBody && dialogBody.childElementCount > 0 && !dialog.open) {
      dialog.showModal();
    }
  });
  body.addEventListener('htmx:afterRequest', (e) => {
    if (e.detail.elt?.id !== 'live') return;
    if (e.detail.successful) setStatus('live', `live · updated ${new Date().toLocaleTimeString()}`);
    else setStatus('error', 'update failed; retrying');
  });
  refreshed(document);
  if (status && !hasLive()) status.hidden = true;
})();

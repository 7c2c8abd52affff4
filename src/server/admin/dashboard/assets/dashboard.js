// The dashboard page: polls /dashboard/state every 2 s and draws it. Every name and message that
// comes from the network is put in the page with textContent, never as HTML.
(() => {
  const POLL_MS = 2000;
  const $ = (id) => document.getElementById(id);
  /** The page's state, for tests and curious operators: the last answer and the charts. */
  const view = { state: null, charts: {}, polls: 0, failures: 0 };
  window.proximaDashboard = view;

  const el = (tag, text, className) => {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className !== undefined) node.className = className;
    return node;
  };
  const ago = (ms, nowMs) => {
    if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
    const s = Math.max(0, Math.round((nowMs - ms) / 1000));
    if (s < 90) return `${s} s ago`;
    if (s < 5400) return `${Math.round(s / 60)} min ago`;
    return `${Math.round(s / 3600)} h ago`;
  };
  const credit = (n) => (Math.round(n * 1000) / 1000).toString();
  const percent = (n) => (n === null || n === undefined ? '' : `${Math.round(n * 1000) / 10} %`);

  /** Replaces a table's rows: `head` is the header cells, each row a list of cells (text or element). */
  const fillTable = (table, head, rows, empty) => {
    table.replaceChildren();
    const tr = el('tr');
    for (const h of head) tr.append(el('th', h));
    table.append(tr);
    if (rows.length === 0) {
      const none = el('tr');
      const td = el('td', empty, 'empty');
      td.colSpan = head.length;
      none.append(td);
      table.append(none);
    }
    for (const row of rows) {
      const line = el('tr');
      for (const cell of row) {
        const td = el('td');
        if (cell instanceof Node) td.append(cell);
        else td.textContent = cell === null || cell === undefined ? '' : String(cell);
        line.append(td);
      }
      table.append(line);
    }
  };

  const list = (items) => {
    const ul = el('ul', undefined, 'plain');
    for (const item of items) ul.append(el('li', item));
    return ul;
  };

  const drawNodes = (state) => {
    const rows = state.nodes.map((n) => {
      const status = el('span', n.online ? 'online' : 'offline', n.online ? 'status online' : 'status offline');
      const lastSeen = n.lastSeenAt === null ? 'never connected' : ago(Date.parse(n.lastSeenAt), state.nowMs);
      const since = n.online
        ? ago(n.onlineSinceMs, state.nowMs)
        : n.offlineSinceMs === null
          ? lastSeen
          : ago(n.offlineSinceMs, state.nowMs);
      const services = list(n.services.map((s) => (s.kind === '' ? s.name : `${s.name} (${s.kind})`)));
      const models = list(n.services.flatMap((s) => s.models));
      const load = n.services
        .filter((s) => s.maxConcurrent !== null)
        .map((s) => `${s.inFlight} / ${s.maxConcurrent}`)
        .join(', ');
      const probe = n.lastProbe === null ? '' : `${n.lastProbe.ok ? 'ok' : 'failed'} ${ago(n.lastProbe.timeMs, state.nowMs)}`;
      const row = [n.name, status, since, services, models, load, probe];
      // Several instances (presence in PostgreSQL): which one holds the node's session.
      if (n.instance !== undefined) row.push(n.instance ?? '');
      return row;
    });
    const heads = ['Node', 'Status', 'Since', 'Services', 'Models', 'In flight / max', 'Last probe'];
    if (state.nodes.some((n) => n.instance !== undefined)) heads.push('Instance');
    fillTable($('nodes'), heads, rows, 'No nodes registered.');
  };

  const drawModels = (state) => {
    const rows = state.models.map((m) => [m.model, list(m.nodes), `${m.inFlight} / ${m.maxConcurrent}`, m.queued]);
    fillTable($('models'), ['Model', 'Shared by', 'In flight / max', 'Queued'], rows, 'No model online.');
  };

  const drawRewards = (state) => {
    const box = $('rewards');
    box.replaceChildren();
    for (const epoch of state.rewards) {
      const title = `Epoch ${epoch.epoch} (${epoch.state}), ${new Date(epoch.fromMs).toISOString().slice(0, 16)} to ${new Date(epoch.toMs).toISOString().slice(0, 16)} UTC`;
      box.append(el('h3', title));
      const table = el('table');
      const rows = epoch.nodes.map((r) => [
        r.node,
        r.requests,
        credit(r.pendingCredit + r.validatedCredit),
        credit(r.forfeitedCredit),
        percent(r.share),
        percent(r.availability),
        r.flaggedEpochs.length === 0 ? '' : `flagged: ${r.flaggedEpochs.join(', ')}`,
      ]);
      fillTable(table, ['Node', 'Requests', 'Credit', 'Forfeited', 'Share', 'Availability', 'Flags'], rows, 'Nothing earned.');
      box.append(table);
    }
  };

  const drawErrors = (state) => {
    const rows = state.errors.map((e) => [new Date(e.timeMs).toISOString().slice(11, 19), e.node, e.kind, e.model ?? '', e.message]);
    fillTable($('errors'), ['Time (UTC)', 'Node', 'Kind', 'Model', 'What'], rows, 'No errors.');
  };

  const CHARTS = [
    { id: 'chart-requests', key: 'requestsPerS', label: 'requests/s', stroke: '#2b6cb0' },
    { id: 'chart-tokens', key: 'tokensPerS', label: 'tokens/s', stroke: '#2f855a' },
    { id: 'chart-ttft', key: 'ttftMs', label: 'time to first byte (ms)', stroke: '#b7791f' },
  ];

  const drawCharts = (state) => {
    const t = state.traffic.t;
    for (const c of CHARTS) {
      const data = [t, state.traffic[c.key]];
      const existing = view.charts[c.key];
      if (existing !== undefined) {
        existing.setData(data);
        continue;
      }
      const box = $(c.id);
      const width = Math.max(240, Math.floor(box.clientWidth || 320));
      const options = {
        title: c.label,
        width,
        height: 180,
        series: [{}, { label: c.label, stroke: c.stroke, width: 2, spanGaps: c.key === 'ttftMs' }],
        axes: [{}, { size: 50 }],
        legend: { show: false },
      };
      view.charts[c.key] = new uPlot(options, data, box);
    }
  };

  const draw = (state) => {
    view.state = state;
    $('viewer').textContent = state.viewer.role === 'admin' ? 'admin' : `operator of ${state.viewer.node}`;
    $('updated').textContent = `updated ${new Date(state.nowMs).toISOString().slice(11, 19)} UTC`;
    drawNodes(state);
    drawModels(state);
    drawCharts(state);
    drawRewards(state);
    drawErrors(state);
  };

  const poll = async () => {
    try {
      const res = await fetch('/dashboard/state', { credentials: 'same-origin', cache: 'no-store' });
      if (res.status === 401) {
        // The session ended (logout elsewhere, expiry, or the node's token was revoked).
        window.location.assign('/dashboard/');
        return;
      }
      if (!res.ok) throw new Error(`status ${res.status}`);
      draw(await res.json());
      view.polls++;
      $('updated').classList.remove('stale');
    } catch {
      view.failures++;
      $('updated').classList.add('stale');
    }
    setTimeout(poll, POLL_MS);
  };
  void poll();
})();

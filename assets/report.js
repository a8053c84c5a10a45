(function () {
  const errors = [];
  const note = (m) => { errors.push(String(m)); document.body.dataset.errors = errors.join(' | '); };
  window.addEventListener('error', (e) => note(e.message));
  const data = JSON.parse(document.getElementById('ephemera-data').textContent);
  const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22'];
  const dashes = [[], [8, 4], [2, 3], [12, 3, 2, 3]];
  // Times as the text report writes them: to the microsecond, in UTC.
  const when = (t) => {
    const total = data.t0 + t, whole = Math.floor(total);
    const micros = String(Math.min(999999, Math.round((total - whole) * 1e6))).padStart(6, '0');
    return new Date(whole * 1000).toISOString().slice(0, 19).replace('T', ' ') + '.' + micros + ' UTC';
  };
  // Ports are integers, written without thousands separators; log axes show powers of ten.
  // The axis ends are ticks too: shown only where they fall on the ticks' step.
  const portTick = (v, i, ticks) => {
    if (!Number.isInteger(v)) return '';
    if ((i === 0 || i === ticks.length - 1) && ticks.length > 3) {
      const step = ticks[2].value - ticks[1].value;
      if (v % step !== 0) return '';
    }
    return String(v);
  };
  const powerTick = (v) => { const e = Math.log10(v); return Math.abs(e - Math.round(e)) < 1e-9 ? String(Math.round(v)) : ''; };
  // Labels the marks plugin drew, per chart, so that none is drawn over another.
  function placeLabel(chart, ctx, text, x, y) {
    const placed = chart.$labels || (chart.$labels = []);
    const w = ctx.measureText(text).width, h = 12;
    let top = y - h;
    for (let tries = 0; tries < 20; ++tries) {
      const clash = placed.find((b) => x < b.x + b.w && b.x < x + w && top < b.y + b.h && b.y < top + h);
      if (!clash) break;
      top = clash.y - h - 1;  // above the label it would cover
      if (top < chart.chartArea.top) { top = clash.y + clash.h + 1; }
    }
    placed.push({ text, x, y: top, w, h });
    ctx.fillText(text, x, top + h - 2);
  }
  Chart.register({
    id: 'marks',
    beforeDatasetsDraw(chart, args, options) {
      const { ctx, chartArea: area, scales } = chart;
      chart.$labels = [];
      ctx.save();
      ctx.font = '11px sans-serif';
      for (const band of options.yBands || []) {  // the inferred range: a light fill
        const top = Math.max(area.top, scales.y.getPixelForValue(band.to));
        const bottom = Math.min(area.bottom, scales.y.getPixelForValue(band.from));
        if (bottom <= top) continue;
        ctx.fillStyle = band.color;
        ctx.fillRect(area.left, top, area.right - area.left, bottom - top);
      }
      const lines = (options.yLines || []).slice().sort((a, b) => b.value - a.value);
      for (const line of lines) {
        const y = scales.y.getPixelForValue(line.value);
        if (y < area.top || y > area.bottom) continue;
        ctx.strokeStyle = line.color; ctx.lineWidth = line.width || 1; ctx.setLineDash(line.dash || []);
        ctx.beginPath(); ctx.moveTo(area.left, y); ctx.lineTo(area.right, y); ctx.stroke();
        ctx.fillStyle = line.color;
        const x = line.left ? area.left + 4 : area.right - ctx.measureText(line.label).width - 4;
        placeLabel(chart, ctx, line.label, x, y - 1);
      }
      for (const line of options.xLines || []) {
        const x = scales.x.getPixelForValue(line.value);
        if (x < area.left || x > area.right) continue;
        ctx.strokeStyle = line.color; ctx.lineWidth = 1; ctx.setLineDash([6, 4]); ctx.beginPath();
        ctx.moveTo(x, area.top); ctx.lineTo(x, area.bottom); ctx.stroke();
        ctx.fillStyle = line.color;
        placeLabel(chart, ctx, line.label, x + 4, area.top + 14);
      }
      ctx.restore();
    },
  });
  function zoomable(chart) {
    const canvas = chart.canvas;
    let from = null;
    canvas.addEventListener('mousedown', (e) => { from = chart.scales.x.getValueForPixel(e.offsetX); });
    canvas.addEventListener('mouseup', (e) => {
      const to = chart.scales.x.getValueForPixel(e.offsetX);
      if (from !== null && Math.abs(to - from) > 1e-6) {
        chart.options.scales.x.min = Math.min(from, to);
        chart.options.scales.x.max = Math.max(from, to);
        chart.update();
      }
      from = null;
    });
    canvas.addEventListener('dblclick', () => {
      delete chart.options.scales.x.min; delete chart.options.scales.x.max; chart.update();
    });
  }
  const seconds = () => ({ type: 'linear', title: { display: true, text: 'seconds since ' + when(0) } });
  const common = { animation: false, maintainAspectRatio: false, parsing: false };
  function portsChart(canvas, client) {
    const sets = client.services.map((name, i) => ({ label: name, data: [], backgroundColor: palette[i % palette.length], pointRadius: 2.5 }));
    const others = client.service_count - client.services.length;
    const other = { label: others + ' more services', data: [], backgroundColor: '#999', pointRadius: 2 };
    const failed = { label: 'failed attempts', data: [], backgroundColor: '#d62728', pointStyle: 'crossRot', pointRadius: 5, borderColor: '#d62728' };
    for (const [t, port, d, state, protocol] of client.points) {
      const point = { x: t, y: port, state: data.states[state], protocol, service: d < 0 ? 'another service' : client.services[d] };
      if (state === data.failed_states[0] || state === data.failed_states[1]) failed.data.push(point);
      else (d < 0 ? other : sets[d]).data.push(point);
    }
    const datasets = sets.concat([other, failed]).filter((s) => s.data.length > 0);
    const ports = client.points.map((p) => p[1]);
    const known = client.range.size > 0 && client.range.evidence !== 'none';
    const low = Math.min(known ? client.range.low : 65535, ...ports), high = Math.max(known ? client.range.high : 0, ...ports);
    const pad = Math.max(8, Math.round((high - low) * 0.05));
    const min = Math.max(0, Math.floor(low - pad)), max = Math.min(65535, Math.ceil(high + pad));
    // OS defaults as dashed lines at their edges in view, labelled at the left: no fill, so the
    // points stay readable where several overlap.
    const lines = [];
    for (const r of data.defaults) {
      for (const [edge, which] of [[r.low, 'low'], [r.high, 'high']]) {
        if (edge >= min && edge <= max) lines.push({ value: edge, color: '#888', dash: [3, 3], left: true, label: r.basis + ' default ' + which + ' ' + edge });
      }
    }
    const bands = known ? [{ from: client.range.low, to: client.range.high, color: 'rgba(31,119,180,0.10)' }] : [];
    if (known) {
      lines.push({ value: client.range.high, color: '#1f77b4', label: 'range ' + client.range.low + '-' + client.range.high + ' (' + client.range.basis + ')' });
    }
    return new Chart(canvas, { type: 'scatter', data: { datasets }, options: { ...common,
      plugins: { title: { display: true, text: 'Source port of each connection over time (' + client.points.length + ' of ' + client.points_total + ' shown)' },
        marks: { yBands: bands, yLines: lines },
        tooltip: { callbacks: { label: (c) => when(c.raw.x) + '  port ' + c.raw.y + ' -> ' + c.raw.service + ' (' + c.raw.protocol + ', ' + c.raw.state + ')' } } },
      scales: { x: seconds(), y: { min, max, ticks: { precision: 0, callback: portTick }, title: { display: true, text: 'source port' } } } } });
  }
  function occupancyChart(canvas, client) {
    const end = data.capture_end;
    const n = client.occupancy.length;
    // Identical lines must not hide each other: each is wider than the one drawn over it, and
    // dashed its own way.
    const datasets = client.occupancy.map((o, i) => ({ label: client.services[o.service] + ' (peak ' + o.peak + ' at ' + when(o.peak_at) + ')',
      data: o.series.map(([x, y]) => ({ x, y })), stepped: 'before', tension: 0,
      borderColor: palette[o.service % palette.length], backgroundColor: palette[o.service % palette.length],
      borderWidth: 2 + 2 * (n - 1 - i), borderDash: dashes[i % dashes.length],
      // After the capture ends, what TIME_WAIT still holds is a projection: dotted.
      segment: { borderDash: (c) => (c.p0.parsed.x >= end ? [2, 4] : dashes[i % dashes.length]) },
      pointRadius: (c) => (c.raw && c.raw.x === o.peak_at ? 6 : 0), order: n - i }));
    const size = client.range.size;
    const [warning, critical] = client.thresholds;
    // Far from exhaustion a linear axis up to the range flattens every line: go logarithmic,
    // so the lines and the range both show.
    const peak = Math.max(1, ...client.occupancy.map((o) => o.peak));
    const y = peak * 20 < size
      ? { type: 'logarithmic', min: 0.8, max: size * 1.5, ticks: { callback: powerTick }, title: { display: true, text: 'occupied ports (log scale)' } }
      : { min: 0, max: Math.ceil(size * 1.08), ticks: { precision: 0, callback: portTick }, title: { display: true, text: 'occupied ports' } };
    return new Chart(canvas, { type: 'line', data: { datasets }, options: { ...common,
      plugins: { title: { display: true, text: 'Ports occupied (open + TIME_WAIT) per service, against the range; dotted after the capture ends: TIME_WAIT still to run' },
        marks: { yLines: [{ value: size, color: '#d62728', width: 2, label: 'range: ' + size + ' ports' },
                          { value: critical, color: '#ff7f0e', dash: [6, 4], label: 'critical' },
                          { value: warning, color: '#bcbd22', dash: [6, 4], label: 'warning' }],
                 xLines: [{ value: end, color: '#555', label: 'capture ends' }] } },
      scales: { x: seconds(), y } } });
  }
  function intervalsChart(canvas, client) {
    const h = client.intervals;
    const total = (a) => a.reduce((x, y) => x + y, 0);
    if (total(h.tuple_in_time_wait) + total(h.tuple_after_time_wait) + total(h.other_service) === 0) {
      const p = document.createElement('p');
      p.className = 'no-reuse';
      p.textContent = 'No source port was used twice by ' + client.address + ' in this capture: nothing to plot.';
      canvas.parentElement.replaceWith(p);
      return null;
    }
    const labels = h.edges.map((e, i) => i + 1 < h.edges.length ? e + '-' + h.edges[i + 1] + ' s' : '>= ' + e + ' s');
    const tw = h.edges.indexOf(h.time_wait_s);
    const datasets = [
      { label: 'same 4-tuple within TIME_WAIT', data: h.tuple_in_time_wait, backgroundColor: '#d62728' },
      { label: 'same 4-tuple after TIME_WAIT', data: h.tuple_after_time_wait, backgroundColor: '#ff9896' },
      { label: 'same port, another service', data: h.other_service, backgroundColor: '#7f7f7f' }];
    return new Chart(canvas, { type: 'bar', data: { labels, datasets },
      options: { animation: false, maintainAspectRatio: false,
        plugins: { title: { display: true, text: 'Time from a port\'s last use to its reuse, by kind of reuse' },
          marks: { xLines: [{ value: tw - 0.5, color: '#d62728', label: 'TIME_WAIT ' + h.time_wait_s + ' s' }] } },
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: 'reuses' } } } } });
  }
  // What a chart drew, from the chart itself: its datasets (label, colour, sum or count), the
  // tick labels Chart.js made, and the labels the marks plugin placed. Tests read this.
  function describe(chart) {
    const sum = (d) => d.data.reduce((n, v) => n + (typeof v === 'number' ? v : 1), 0);
    return JSON.stringify({
      datasets: chart.data.datasets.map((d) => ({ label: d.label, color: d.borderColor || d.backgroundColor,
        total: sum(d), points: d.data.length, stepped: d.stepped || false, width: d.borderWidth || 0, dash: d.borderDash || [] })),
      y_ticks: chart.scales.y.ticks.map((t) => t.label).filter((l) => l !== ''),
      y_type: chart.scales.y.type,
      labels: (chart.$labels || []).map((b) => ({ text: b.text, x: b.x, y: b.y, w: b.w, h: b.h })),
      legend: chart.legend ? chart.legend.legendItems.map((i) => i.text) : [],
    });
  }
  const draw = { ports: portsChart, occupancy: occupancyChart, intervals: intervalsChart };
  for (const canvas of document.querySelectorAll('canvas[data-plot]')) {
    try {
      const chart = draw[canvas.dataset.plot](canvas, data.clients[Number(canvas.dataset.client)]);
      if (chart === null) continue;
      if (canvas.dataset.plot !== 'intervals') zoomable(chart);
      canvas.dataset.points = chart.data.datasets.reduce((n, s) => n + s.data.length, 0);
      canvas.dataset.chart = describe(chart);
      const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let ink = 0;
      for (let i = 3; i < pixels.length; i += 16) if (pixels[i] > 0) ink++;
      canvas.dataset.ink = ink;
    } catch (e) { note(canvas.id + ': ' + e.message); }
  }
  document.body.dataset.ready = 'true';
})();

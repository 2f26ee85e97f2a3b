// Switchyard dashboard: polls the router's metrics every 2 s and draws numbers and charts (no libraries).
"use strict";

(() => {
  const POLL_MS = 2000;
  const WINDOW_MS = 5 * 60 * 1000; // throughput history kept (the chart's widest span)
  const MIN_SPAN_MS = 30 * 1000; // the chart's narrowest span, while history is short
  const RATE_WINDOW_MS = 10 * 1000; // the big requests/s number averages over this
  const PALETTE = ["#6ea8ff", "#34d399", "#a78bfa", "#fbbf24", "#f472b6", "#22d3ee", "#fb923c", "#a3e635", "#e879f9", "#94a3b8"];
  const COMPLEXITY = [
    ["simple", "#34d399"],
    ["medium", "#6ea8ff"],
    ["complex", "#a78bfa"],
    ["unclassified", "#64748b"],
  ];
  const SVG_NS = "http://www.w3.org/2000/svg";

  const snapshots = []; // {t, total, errors}: one per successful poll, kept for WINDOW_MS
  const modelColours = new Map(); // stable colour per model across refreshes
  const breakerHistory = new Map(); // provider -> its worst breaker state at each poll
  const HISTORY = 60; // polls of breaker history shown (two minutes)
  let everReady = false;
  let sinceStartRps = null; // requests/s averaged since the router started, until two polls exist
  let moneyDecimals = 2; // one dollar precision for every card, from the largest amount shown

  // Any script error is left on <body> so a headless test (or a curious operator) can see it.
  window.addEventListener("error", (e) => { document.body.dataset.jsError = String(e.message || e); });
  window.addEventListener("unhandledrejection", (e) => { document.body.dataset.jsError = String(e.reason); });

  // ---- small helpers ---------------------------------------------------------------------

  const $ = (sel) => document.querySelector(sel);
  const metricEl = (name) => document.querySelector(`[data-metric="${name}"]`);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "style") node.style.cssText = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  /** Sets a checked number: `value` (machine-readable) in data-value, `text` for people. */
  function setMetric(name, value, text) {
    const node = metricEl(name);
    if (!node) return;
    node.dataset.value = value;
    node.textContent = text;
  }

  // The ops key, when the router requires one, comes in the page's fragment (#key=...), which
  // browsers never send to the server, and goes out only as a bearer token.
  const opsKey = new URLSearchParams(location.hash.slice(1)).get("key");

  async function getJson(path) {
    const headers = { accept: "application/json" };
    if (opsKey) headers.authorization = `Bearer ${opsKey}`;
    const resp = await fetch(path, { cache: "no-store", headers });
    if (!resp.ok) throw new Error(`${path}: HTTP ${resp.status}`);
    return resp.json();
  }

  const samples = (metrics, name) => metrics[name] || [];
  const total = (list) => list.reduce((a, s) => a + Number(s.value || 0), 0);

  /** Sums sample values by one label's value. */
  function groupBy(list, label) {
    const out = new Map();
    for (const s of list) {
      const key = (s.labels && s.labels[label]) || "none";
      out.set(key, (out.get(key) || 0) + Number(s.value || 0));
    }
    return out;
  }

  /**
   * The q-quantile of a Prometheus histogram given all its `_bucket` samples (summed over
   * series by `le`), interpolating linearly inside the bucket as histogram_quantile does.
   * Returns null when there are no observations.
   */
  function quantile(q, bucketSamples) {
    const byLe = new Map();
    for (const s of bucketSamples) {
      const le = s.labels && s.labels.le;
      if (le === undefined) continue;
      const bound = le === "+Inf" ? Infinity : Number(le);
      byLe.set(bound, (byLe.get(bound) || 0) + Number(s.value || 0));
    }
    const buckets = [...byLe.entries()].sort((a, b) => a[0] - b[0]);
    if (buckets.length < 2 || buckets[buckets.length - 1][0] !== Infinity) return null;
    const count = buckets[buckets.length - 1][1];
    if (!(count > 0)) return null;
    const rank = q * count;
    let i = buckets.findIndex(([, c]) => c >= rank);
    if (i === buckets.length - 1) return buckets[buckets.length - 2][0];
    const [upper, cumulative] = buckets[i];
    if (i === 0 && upper <= 0) return upper;
    const lower = i === 0 ? 0 : buckets[i - 1][0];
    const below = i === 0 ? 0 : buckets[i - 1][1];
    return lower + (upper - lower) * ((rank - below) / (cumulative - below));
  }

  const int = (n) => Math.round(n).toLocaleString("en-US");

  /**
   * The page's dollar precision: three significant digits of the largest amount on it, never
   * fewer than cents, so spend, saving and the per-model rows read alike (the report does the same).
   */
  function setMoneyScale(largest) {
    const max = Math.abs(largest);
    moneyDecimals = max >= 1 || max === 0 ? 2 : Math.min(8, Math.max(2, 2 - Math.floor(Math.log10(max))));
  }

  function dollars(n) {
    const d = moneyDecimals;
    const text = Math.abs(n).toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
    const sign = n < 0 && /[1-9]/.test(text) ? "−" : "";
    return `${sign}$${text}`;
  }

  function percent(fraction) {
    const p = fraction * 100;
    if (p === 0) return "0%";
    if (p < 10) return `${p.toFixed(1)}%`;
    return `${p.toFixed(p >= 99.95 ? 0 : 1)}%`;
  }

  function seconds(s) {
    if (s === null || !isFinite(s)) return "–";
    if (s < 0.001) return `${(s * 1000).toFixed(2)} ms`;
    if (s < 1) return `${(s * 1000).toFixed(s < 0.1 ? 1 : 0)} ms`;
    return `${s.toFixed(2)} s`;
  }

  function rate(r) {
    if (r >= 100) return r.toFixed(0);
    if (r >= 10) return r.toFixed(1);
    return r.toFixed(2);
  }

  function compact(n) {
    if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`;
    if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
    if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
    return int(n);
  }

  function duration(s) {
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m ${s % 60}s`;
    return `${s}s`;
  }

  function colourFor(model) {
    if (!modelColours.has(model)) modelColours.set(model, PALETTE[modelColours.size % PALETTE.length]);
    return modelColours.get(model);
  }

  // ---- rendering -------------------------------------------------------------------------

  function renderKpis(m, now, health) {
    const requests = samples(m, "switchyard_requests_total");
    const totalRequests = total(requests);
    const errors = total(requests.filter((s) => Number(s.labels && s.labels.status) >= 400));
    const spend = total(samples(m, "switchyard_cost_usd_total"));
    const saving = total(samples(m, "switchyard_saving_usd_total"));
    const tokens = total(samples(m, "switchyard_prompt_tokens_total")) + total(samples(m, "switchyard_completion_tokens_total"));

    snapshots.push({ t: now, total: totalRequests, errors });
    while (snapshots.length > 2 && now - snapshots[1].t > WINDOW_MS) snapshots.shift();

    // requests/s over the last RATE_WINDOW_MS (or since the oldest snapshot we have)
    let base = null;
    for (const s of snapshots) {
      if (s !== snapshots[snapshots.length - 1] && now - s.t <= RATE_WINDOW_MS + POLL_MS / 2) { base = s; break; }
    }
    if (base === null && snapshots.length > 1) base = snapshots[snapshots.length - 2];
    if (base) {
      const rps = Math.max(0, totalRequests - base.total) / Math.max(0.001, (now - base.t) / 1000);
      setMetric("requests_per_second", rps.toFixed(4), rate(rps));
      $("#rps-sub").textContent = `last ${spanLabel(Math.min(RATE_WINDOW_MS, now - base.t))}`;
      sinceStartRps = null;
    } else if (health && Number(health.uptime_s) > 0) {
      // first load: one snapshot has no rate yet, but the router's uptime gives the average
      sinceStartRps = totalRequests / Number(health.uptime_s);
      setMetric("requests_per_second", sinceStartRps.toFixed(4), rate(sinceStartRps));
      $("#rps-sub").textContent = "average since start";
    }

    setMetric("requests_total", String(Math.round(totalRequests)), int(totalRequests));
    setMoneyScale(spend + Math.max(0, saving));
    setMetric("spend_usd", spend.toFixed(6), dollars(spend));
    setMetric("saving_usd", saving.toFixed(6), dollars(saving));
    const baseline = spend + saving;
    const savingPct = baseline > 0 ? saving / baseline : 0;
    setMetric("saving_pct", savingPct.toFixed(6), percent(savingPct));
    $("#saving-card").classList.toggle("good", saving > 0);
    $("#saving-card").classList.toggle("warn", saving < 0);
    setMetric("tokens_total", String(Math.round(tokens)), compact(tokens));
    const errorRate = totalRequests > 0 ? errors / totalRequests : 0;
    setMetric("error_rate", errorRate.toFixed(6), percent(errorRate));
    setMetric("errors_total", String(Math.round(errors)), int(errors));
    $("#errors-word").textContent = Math.round(errors) === 1 ? "error" : "errors";
    const errCard = $("#error-card");
    errCard.classList.toggle("bad", errorRate >= 0.05);
    errCard.classList.toggle("warn", errorRate > 0 && errorRate < 0.05);
    errCard.classList.toggle("good", totalRequests > 0 && errorRate === 0);

    const reqIn = total(samples(m, "switchyard_requests_in_flight"));
    const streamsIn = total(samples(m, "switchyard_streams_in_flight"));
    setMetric("requests_in_flight", String(Math.round(reqIn)), int(reqIn));
    setMetric("streams_in_flight", String(Math.round(streamsIn)), int(streamsIn));

    renderStatusCodes(groupBy(requests, "status"));
  }

  /** Per-poll rates between consecutive snapshots, as [t, rps, errorsPerSecond]. */
  function ratePoints() {
    const pts = [];
    for (let i = 1; i < snapshots.length; i++) {
      const a = snapshots[i - 1], b = snapshots[i];
      const dt = Math.max(0.001, (b.t - a.t) / 1000);
      pts.push([b.t, Math.max(0, b.total - a.total) / dt, Math.max(0, b.errors - a.errors) / dt]);
    }
    return pts;
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const f of [1, 2, 2.5, 5, 10]) if (f * p >= v) return f * p;
    return 10 * p;
  }

  function spanLabel(ms) {
    const s = Math.round(ms / 1000);
    return s >= 60 ? `${+(s / 60).toFixed(1)} min` : `${s} s`;
  }

  function renderThroughput(now) {
    const chart = $("#rps-chart");
    const W = 600, H = 200, PAD = 6;
    const pts = ratePoints();
    const max = niceMax(Math.max(0, ...pts.map((p) => p[1])) * 1.1);
    $("#rps-max").textContent = `${rate(max)} req/s`;
    // the span grows with the history this page has seen, from 30 s up to 5 minutes
    const span = Math.min(WINDOW_MS, Math.max(MIN_SPAN_MS, now - snapshots[0].t));
    $("#rps-span").textContent = `requests / s · last ${spanLabel(span)}`;
    $("#x-left").textContent = `−${spanLabel(span)}`;
    $("#x-mid").textContent = `−${spanLabel(span / 2)}`;
    const x = (t) => W - ((now - t) / span) * W;
    const y = (v) => H - PAD - (v / max) * (H - 2 * PAD);
    chart.replaceChildren();
    const defs = svg("defs");
    const grad = svg("linearGradient", { id: "rps-grad", x1: "0", y1: "0", x2: "0", y2: "1" });
    grad.append(svg("stop", { offset: "0%", "stop-color": "#6ea8ff", "stop-opacity": "0.45" }));
    grad.append(svg("stop", { offset: "100%", "stop-color": "#6ea8ff", "stop-opacity": "0.02" }));
    defs.append(grad);
    chart.append(defs);
    for (const f of [0.25, 0.5, 0.75, 1]) {
      const gy = y(max * f);
      chart.append(svg("line", { class: "grid-line", x1: 0, x2: W, y1: gy, y2: gy, "vector-effect": "non-scaling-stroke" }));
    }
    if (pts.length === 0) {
      // first load: the average since start, dashed, until the second poll gives a real rate
      if (sinceStartRps !== null) {
        const top = niceMax(sinceStartRps * 1.25);
        $("#rps-max").textContent = `${rate(top)} req/s`;
        const ay = H - PAD - (sinceStartRps / top) * (H - 2 * PAD);
        chart.append(svg("line", { class: "line avg", x1: 0, x2: W, y1: ay, y2: ay, "stroke-dasharray": "6 5", "vector-effect": "non-scaling-stroke", "data-avg": sinceStartRps.toFixed(4) }));
      }
      return;
    }
    const series = pts.length === 1 ? [[now - POLL_MS, pts[0][1], pts[0][2]], pts[0]] : pts;
    const line = series.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
    const first = x(series[0][0]).toFixed(1), last = x(series[series.length - 1][0]).toFixed(1);
    chart.append(svg("path", { class: "area", d: `${line}L${last},${H}L${first},${H}Z` }));
    chart.append(svg("path", { class: "line", d: line, "vector-effect": "non-scaling-stroke" }));
    if (series.some((p) => p[2] > 0)) {
      const err = series.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[2]).toFixed(1)}`).join("");
      chart.append(svg("path", { class: "err-line", d: err, "vector-effect": "non-scaling-stroke" }));
    }

    // the mini sparkline in the requests/s card: the last minute
    const mini = $("#rps-mini");
    mini.replaceChildren();
    const recent = series.filter((p) => now - p[0] <= 60 * 1000);
    if (recent.length > 0) {
      const mmax = Math.max(0.0001, ...recent.map((p) => p[1]));
      const mx = (t) => 100 - ((now - t) / 60000) * 100;
      const my = (v) => 23 - (v / mmax) * 18;
      const ml = recent.map((p, i) => `${i ? "L" : "M"}${mx(p[0]).toFixed(2)},${my(p[1]).toFixed(2)}`).join("");
      const f0 = mx(recent[0][0]).toFixed(2);
      mini.append(svg("path", { class: "area", d: `${ml}L100,24L${f0},24Z` }));
      mini.append(svg("path", { class: "line", d: ml, "vector-effect": "non-scaling-stroke" }));
    }
  }

  function renderStatusCodes(byStatus) {
    const list = $("#status-codes");
    list.replaceChildren();
    const codes = [...byStatus.entries()].filter(([, n]) => n > 0).sort((a, b) => a[0].localeCompare(b[0]));
    if (codes.length === 0) {
      list.append(el("li", { class: "empty" }, "no responses yet"));
      return;
    }
    for (const [code, n] of codes) {
      const c = Number(code);
      const cls = c >= 500 ? "server" : c >= 400 ? "client" : "ok";
      list.append(el("li", { class: cls, "data-status": code, "data-count": String(Math.round(n)) }, el("b", {}, code), `× ${int(n)}`));
    }
  }

  function renderLatency(m) {
    const rows = [
      ["latency", "switchyard_request_duration_seconds_bucket", "lat"],
      ["ttft", "switchyard_time_to_first_token_seconds_bucket", "ttft"],
      ["overhead", "switchyard_overhead_seconds_bucket", "ovh"],
    ];
    const values = rows.map(([key, name, bar]) => {
      const buckets = samples(m, name);
      return [key, bar, quantile(0.5, buckets), quantile(0.95, buckets)];
    });
    const scale = niceMax(Math.max(0, ...values.map((v) => v[3] || 0)) * 1.05);
    for (const [key, bar, p50, p95] of values) {
      setMetric(`${key}_p50`, p50 === null ? "" : String(p50), seconds(p50));
      setMetric(`${key}_p95`, p95 === null ? "" : String(p95), seconds(p95));
      $(`#${bar}-bar-p50`).style.width = `${p50 === null ? 0 : Math.min(100, (p50 / scale) * 100)}%`;
      $(`#${bar}-bar-p95`).style.width = `${p95 === null ? 0 : Math.min(100, (p95 / scale) * 100)}%`;
    }
    renderLatencyByModel(samples(m, "switchyard_request_duration_seconds_bucket"));
    $("#lat-scale").textContent = values.some((v) => v[3] !== null) ? `scale 0 – ${seconds(scale)}` : "no samples yet";
  }

  function renderLatencyByModel(buckets) {
    const byModel = new Map();
    for (const s of buckets) {
      const model = (s.labels && s.labels.model) || "none";
      if (!byModel.has(model)) byModel.set(model, []);
      byModel.get(model).push(s);
    }
    const rows = [...byModel.entries()]
      .map(([model, list]) => [model, quantile(0.95, list)])
      .filter(([, p95]) => p95 !== null)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, 4);
    const list = $("#latency-by-model");
    list.replaceChildren();
    if (rows.length === 0) {
      list.append(el("li", { class: "empty-note" }, "no requests yet"));
      return;
    }
    const max = Math.max(...rows.map(([, v]) => v), 1e-9);
    for (const [model, p95] of rows) {
      list.append(el("li", { "data-latency-model": model, "data-value": String(p95) },
        el("span", { class: "name", title: model }, model),
        el("div", { class: "track" }, el("div", { class: "fill", style: `width:${((p95 / max) * 100).toFixed(2)}%;background:${colourFor(model)}` })),
        el("span", { class: "val" }, seconds(p95))));
    }
  }

  function legendRow(attrs, colour, name, share, count) {
    return el("li", attrs,
      el("i", { class: "sw", style: `background:${colour}` }),
      el("span", { class: "name", title: name }, name),
      el("span", { class: "pct" }, percent(share)),
      el("span", { class: "count" }, int(count)));
  }

  function renderModels(m) {
    const byModel = [...groupBy(samples(m, "switchyard_requests_total"), "model").entries()]
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const sum = byModel.reduce((a, [, n]) => a + n, 0);
    const donut = $("#model-donut");
    donut.replaceChildren();
    const R = 46, C = 2 * Math.PI * R;
    donut.append(svg("circle", { class: "track", cx: 60, cy: 60, r: R }));
    let offset = 0;
    const gap = byModel.length > 1 ? 1.5 : 0;
    for (const [model, n] of byModel) {
      const len = (n / sum) * C;
      donut.append(svg("circle", {
        class: "seg", cx: 60, cy: 60, r: R, stroke: colourFor(model),
        "stroke-dasharray": `${Math.max(0, len - gap).toFixed(3)} ${(C - Math.max(0, len - gap)).toFixed(3)}`,
        "stroke-dashoffset": (-offset).toFixed(3), transform: "rotate(-90 60 60)",
      }));
      offset += len;
    }
    const num = svg("text", { class: "c-num", x: 60, y: 63 });
    num.textContent = compact(sum);
    const lbl = svg("text", { class: "c-lbl", x: 60, y: 77 });
    lbl.textContent = "requests";
    donut.append(num, lbl);

    const legend = $("#model-share");
    legend.replaceChildren();
    if (sum === 0) {
      legend.append(el("li", { class: "none" }, "no traffic yet"));
      return;
    }
    for (const [model, n] of byModel) {
      const share = n / sum;
      legend.append(legendRow({ "data-model": model, "data-count": String(Math.round(n)), "data-share": share.toFixed(6) },
        colourFor(model), model === "none" ? "none (not routed)" : model, share, n));
    }
  }

  function renderComplexity(m) {
    const by = groupBy(samples(m, "switchyard_requests_total"), "complexity");
    const known = new Set(COMPLEXITY.map(([k]) => k));
    const classes = [...COMPLEXITY];
    for (const k of by.keys()) if (!known.has(k)) classes.push([k, "#94a3b8"]);
    const sum = [...by.values()].reduce((a, n) => a + n, 0);
    const bar = $("#complexity-bar");
    const legend = $("#complexity-share");
    bar.replaceChildren();
    legend.replaceChildren();
    for (const [name, colour] of classes) {
      const n = by.get(name) || 0;
      if (n === 0 && name === "unclassified") continue;
      const share = sum > 0 ? n / sum : 0;
      if (n > 0) {
        bar.append(el("div", { style: `flex-grow:${n};background:${colour}`, title: `${name}: ${int(n)}` }, share >= 0.12 ? percent(share) : ""));
      }
      legend.append(legendRow({ "data-complexity": name, "data-count": String(Math.round(n)), "data-share": share.toFixed(6) },
        colour, name, share, n));
    }
  }

  function renderBreakers(data) {
    const list = $("#breakers");
    list.replaceChildren();
    const breakers = (data && data.breakers) || [];
    const counts = { closed: 0, half_open: 0, open: 0 };
    for (const b of breakers) {
      counts[b.state] = (counts[b.state] || 0) + 1;
      const fails = Number(b.consecutive_failures || 0);
      const meta = b.forced ? `forced ${b.forced} by an operator` : fails ? `${fails} failure${fails === 1 ? "" : "s"} in a row` : b.provider;
      list.append(el("li", { "data-breaker": b.model, "data-state": b.state, "data-forced": b.forced || "" },
        el("span", { class: "led" }),
        el("span", { class: "model", title: `${b.model} (provider ${b.provider})` }, b.model),
        el("span", { class: "meta" }, meta),
        el("span", { class: "pill", "data-breaker-state": b.state }, (b.forced ? "forced " : "") + (b.state === "half_open" ? "half-open" : b.state))));
    }
    if (breakers.length === 0) list.append(el("li", { class: "empty-note" }, "no models configured"));
    const parts = [];
    if (counts.open) parts.push(`${counts.open} open`);
    if (counts.half_open) parts.push(`${counts.half_open} half-open`);
    parts.push(`${counts.closed} closed`);
    $("#breaker-summary").textContent = parts.join(" · ");
  }

  function renderSpend(m) {
    const cost = groupBy(samples(m, "switchyard_cost_usd_total"), "model");
    const saving = groupBy(samples(m, "switchyard_saving_usd_total"), "model");
    const rows = [...cost.entries()].filter(([model, c]) => c > 0 || (saving.get(model) || 0) !== 0)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const list = $("#spend-by-model");
    list.replaceChildren();
    if (rows.length === 0) {
      list.append(el("li", { class: "empty-note" }, "nothing spent yet"));
      return;
    }
    const max = Math.max(...rows.map(([, c]) => c), 1e-12);
    for (const [model, c] of rows) {
      const s = saving.get(model) || 0;
      const note = s === 0 ? "" : s > 0 ? `saved ${dollars(s)}` : `${dollars(-s)} over baseline`;
      list.append(el("li", { "data-spend-model": model, "data-value": c.toFixed(6) },
        el("span", { class: "name", title: model }, model),
        el("div", { class: "track" }, el("div", { class: "fill", style: `width:${((c / max) * 100).toFixed(2)}%;background:${colourFor(model)}` })),
        el("span", { class: "val" }, dollars(c)),
        el("span", { class: s < 0 ? "note neg" : "note" }, note)));
    }
  }

  function renderFailovers(m) {
    const failovers = samples(m, "switchyard_failovers_total");
    const retries = samples(m, "switchyard_retries_total");
    const f = total(failovers), r = total(retries);
    const requests = total(samples(m, "switchyard_requests_total"));
    setMetric("failovers_total", String(Math.round(f)), int(f));
    setMetric("retries_total", String(Math.round(r)), int(r));
    $("#failover-card").classList.toggle("warn", f > 0 || r > 0);
    $("#failover-sub").textContent = requests > 0
      ? `${(f / requests * 100).toFixed(1)} failovers and ${(r / requests * 100).toFixed(1)} retries per 100 requests`
      : "no requests yet";
    const rows = [
      ...[...groupBy(failovers, "requested").entries()].map(([k, n]) => [`${k}`, n, "failovers"]),
      ...[...groupBy(retries, "model").entries()].map(([k, n]) => [`${k}`, n, "retries"]),
    ].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 4);
    const list = $("#failovers-by-model");
    list.replaceChildren();
    if (rows.length === 0) {
      list.append(el("li", { class: "empty-note" }, "every request answered by its first candidate, first try"));
      return;
    }
    const max = Math.max(...rows.map(([, n]) => n));
    for (const [name, n, kind] of rows) {
      list.append(el("li", { "data-failover": `${kind}:${name}`, "data-value": String(Math.round(n)) },
        el("span", { class: "name", title: `${name}: ${kind === "failovers" ? "requests for it that moved to a later candidate" : "retries of calls to it"}` }, name),
        el("div", { class: "track" }, el("div", { class: "fill", style: `width:${((n / max) * 100).toFixed(2)}%;background:${kind === "failovers" ? "#f5a524" : "#a78bfa"}` })),
        el("span", { class: "val" }, `${int(n)} ${kind === "failovers" ? "f/o" : "retry"}`)));
    }
  }

  /** Per provider: its worst breaker state over the last polls, its upstream 429s, its keys. */
  function renderProviders(detailed, m) {
    const list = $("#provider-health");
    if (!detailed || !Array.isArray(detailed.providers)) {
      list.replaceChildren(el("li", { class: "empty-note" }, "provider details need the ops key (open /dashboard#key=…)"));
      return;
    }
    const rank = { closed: 0, half_open: 1, open: 2 };
    const upstream = samples(m, "switchyard_upstream_duration_seconds_count");
    list.replaceChildren();
    for (const p of detailed.providers) {
      const states = (p.models || []).map((x) => x.breaker);
      const worst = states.reduce((w, st) => ((rank[st] || 0) > (rank[w] || 0) ? st : w), "closed");
      const hist = breakerHistory.get(p.name) || [];
      hist.push(worst);
      while (hist.length > HISTORY) hist.shift();
      breakerHistory.set(p.name, hist);
      const r429 = total(upstream.filter((s) => s.labels && s.labels.provider === p.name && s.labels.outcome === "429"));
      const keys = p.keys || [];
      const cooling = keys.filter((k) => k.cooling_down_s !== null && k.cooling_down_s !== undefined);
      const longest = Math.max(0, ...cooling.map((k) => Number(k.cooling_down_s)));
      const off = keys.filter((k) => k.state && k.state !== "active");
      const strip = el("div", { class: "strip", title: `breaker (worst of ${states.length} model${states.length === 1 ? "" : "s"}), oldest left: green closed, amber half-open, red open` });
      for (const st of hist) strip.append(el("i", { "data-s": st }));
      list.append(el("li", { "data-provider": p.name, "data-breaker": worst, "data-429": String(Math.round(r429)), "data-cooling": String(cooling.length), "data-keys-off": String(off.length) },
        el("span", { class: "name", title: `${p.name} (${p.wire} wire)` }, p.name),
        strip,
        el("span", { class: r429 > 0 ? "r429 hot" : "r429" }, `${int(r429)} × 429`),
        el("span", { class: cooling.length || off.length ? "keys hot" : "keys", title: cooling.map((k) => `${k.env}: ${Number(k.cooling_down_s).toFixed(0)} s`).join(", ") || "no key cooling down" },
          (cooling.length ? `${cooling.length}/${keys.length} key${keys.length === 1 ? "" : "s"} cooling · ${Math.ceil(longest)} s` : keys.length ? `${keys.length} key${keys.length === 1 ? "" : "s"} ready` : "no keys")
            + (off.length ? ` · ${off.map((k) => `${k.env} ${k.state === "drain" ? "draining" : "disabled"}`).join(", ")}` : ""))));
    }
    if (detailed.providers.length === 0) list.append(el("li", { class: "empty-note" }, "no providers configured"));
  }

  /** Every name cut by an ellipsis gets its full text as a tooltip. */
  function titleNames() {
    for (const node of document.querySelectorAll(".name, .model")) {
      if (!node.title) node.title = node.textContent;
    }
  }

  function configured(card, on) {
    card.dataset.state = on ? "live" : "not_configured";
    card.classList.toggle("placeholder", !on);
  }

  function renderCache(m) {
    const card = $("#cache-card");
    const entries = samples(m, "switchyard_cache_entries");
    configured(card, entries.length > 0);
    if (entries.length === 0) return;
    const by = groupBy(samples(m, "switchyard_cache_requests_total"), "outcome");
    const hit = by.get("hit") || 0, miss = by.get("miss") || 0, bypass = by.get("bypass") || 0;
    const looked = hit + miss;
    $("#cache-big").textContent = looked > 0 ? percent(hit / looked) : "–";
    card.dataset.value = looked > 0 ? (hit / looked).toFixed(4) : "";
    const bytes = (samples(m, "switchyard_cache_bytes")[0] || {}).value || 0;
    // counted when each request's cache decision is made: a request still in flight is a hit
    // or a miss already, never "bypassed" (that is only a request the cache may not answer)
    $("#cache-note").textContent = `${compact(hit)} hits · ${compact(miss)} misses · ${compact(bypass)} not cacheable`;
    card.dataset.bypass = String(Math.round(bypass));
    $("#cache-hint").textContent = `${compact(entries[0].value)} entries · ${compact(bytes)} B`;
  }

  function renderBudget(m) {
    const card = $("#budget-card");
    const limits = samples(m, "switchyard_budget_limit_usd");
    configured(card, limits.length > 0);
    const events = groupBy(samples(m, "switchyard_budget_events_total"), "event");
    $("#budget-hint").textContent = `${compact(events.get("warning") || 0)} warnings · ${compact(events.get("exceeded") || 0)} exceeded`;
    if (limits.length === 0) return;
    const spent = samples(m, "switchyard_budget_spent_usd");
    const list = $("#budget-bars");
    list.replaceChildren();
    let worst = 0;
    for (const l of limits) {
      const s = spent.find((x) => x.labels.period === l.labels.period && x.labels.scope === l.labels.scope);
      const used = s ? s.value : 0;
      const share = l.value > 0 ? used / l.value : 0;
      worst = Math.max(worst, share);
      list.append(el("li", { "data-budget": `${l.labels.scope}-${l.labels.period}`, "data-value": share.toFixed(4) },
        el("span", { class: "name" }, `${l.labels.scope} ${l.labels.period}`),
        el("div", { class: "track" }, el("div", { class: "fill", style: `width:${Math.min(100, share * 100).toFixed(2)}%;background:${share >= 1 ? "#e5484d" : share >= 0.8 ? "#f5a524" : "#46a758"}` })),
        el("span", { class: "val" }, `${dollars(used)} / ${Number.isInteger(l.value) ? `$${int(l.value)}` : dollars(l.value)}`)));
    }
    $("#budget-big").textContent = percent(worst);
    $("#budget-note").textContent = "of the fullest global budget";
  }

  /** One bar per provider key: its most used quota this minute (declared rpm/tpm or the provider's own figures). */
  function renderHeadroom(detailed) {
    const list = $("#headroom-bars");
    if (!detailed || !detailed.quota_headroom) return;
    const keys = detailed.quota_headroom.keys || [];
    list.replaceChildren();
    if (keys.length === 0) {
      list.append(el("li", { class: "empty-note" }, "no provider keys configured"));
      return;
    }
    let warned = 0;
    for (const k of keys) {
      const p = k.peak;
      const share = p ? Number(p.fraction) : 0;
      if (k.warning) warned += 1;
      const label = p ? `${compact(p.used)} / ${compact(p.limit)} ${p.measure}` : "no limit known";
      const source = p ? (p.source === "provider" ? "provider's headers" : "declared limit") : "";
      list.append(el("li", { "data-key": `${k.provider}/${k.key_id}`, "data-value": share.toFixed(4), "data-warning": k.warning ? "1" : "0" },
        el("span", { class: "name", title: `${k.provider} · ${k.key_id}` }, `${k.provider} · ${k.key_id}`),
        el("div", { class: "track" }, el("div", { class: "fill", style: `width:${Math.min(100, share * 100).toFixed(2)}%;background:${share >= 0.9 ? "#e5484d" : share >= 0.7 ? "#f5a524" : "#46a758"}` })),
        el("span", { class: "val" }, p ? percent(share) : "–"),
        el("span", { class: "note" + (k.warning ? " neg" : "") }, source ? `${label} · ${source}` : label)));
    }
    $("#headroom-hint").textContent = warned ? `${warned} key${warned === 1 ? "" : "s"} past 90% · this minute` : "per provider key · this minute · warns at 90%";
  }

  function renderHealth(h) {
    if (!h) return;
    if (h.config_version !== undefined) $("#config-version").textContent = String(h.config_version);
    if (h.uptime_s !== undefined) $("#uptime").textContent = duration(Number(h.uptime_s));
  }

  function setConnection(state, text) {
    const conn = $("#conn");
    conn.dataset.state = state;
    $("#conn-text").textContent = text;
  }

  // ---- the poll loop -----------------------------------------------------------------------

  async function refresh() {
    try {
      const [metrics, breakers, health, detailed] = await Promise.all([
        getJson("/metrics/json"),
        getJson("/metrics/circuit-breakers"),
        getJson("/health").catch(() => null),
        getJson("/health/detailed").catch(() => null),
      ]);
      const m = (metrics && metrics.metrics) || {};
      const now = Date.now();
      // models seen in breakers get colours first, in config order, so colours stay put
      for (const b of (breakers && breakers.breakers) || []) colourFor(b.model);
      renderKpis(m, now, health);
      renderThroughput(now);
      renderLatency(m);
      renderModels(m);
      renderComplexity(m);
      renderBreakers(breakers);
      renderSpend(m);
      renderCache(m);
      renderBudget(m);
      renderFailovers(m);
      renderProviders(detailed, m);
      renderHeadroom(detailed);
      renderHealth(health);
      titleNames();
      setConnection("live", "live");
      $("#updated-at").textContent = new Date(now).toLocaleTimeString();
      if (!everReady) {
        everReady = true;
        document.body.dataset.ready = "1";
      }
    } catch (err) {
      setConnection("stale", `disconnected — retrying (${err.message || err})`);
    } finally {
      // the second poll comes soon, so requests/s and the chart have a real rate within a second
      setTimeout(refresh, snapshots.length === 1 ? 1000 : POLL_MS);
    }
  }

  refresh();
})();

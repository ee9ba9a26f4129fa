// The /stats page: polls /metrics, turns counters into rates and histograms into quantiles,
// and draws the last five minutes on canvases. No library, so it works with no internet.
"use strict";

const POLL_MS = 2000;
const WINDOW_MS = 5 * 60 * 1000;
const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777"];
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
const UNESCAPE = { n: "\n", "\\": "\\", '"': '"' };

// ---- the Prometheus text format -------------------------------------------------------------

function parseValue(text) {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  return Number(text);
}

function parse(text) {
  const families = new Set();
  const samples = new Map();
  for (const line of text.split("\n")) {
    if (line.startsWith("# TYPE ")) families.add(line.split(" ")[2]);
    const match = line.startsWith("#") ? null : SAMPLE.exec(line.trim());
    if (!match) continue;
    const labels = {};
    for (const [, name, value] of (match[2] || "").matchAll(LABEL)) {
      labels[name] = value.replace(/\\(.)/g, (all, c) => UNESCAPE[c] ?? all);
    }
    if (!samples.has(match[1])) samples.set(match[1], []);
    samples.get(match[1]).push({ labels, value: parseValue(match[3]) });
  }
  return { families, samples };
}

// ---- figures from two snapshots ---------------------------------------------------------------

const everything = () => true;
const labelIs = (name, value) => (sample) => sample.labels[name] === value;
const key = (labels) => JSON.stringify(Object.entries(labels).sort());

function pick(snap, name, where = everything) {
  return (snap.samples.get(name) || []).filter(where);
}

// Only a restart makes a counter go down (or vanish): the next rates start again from there.
function restarted(prev, cur) {
  for (const [name, before] of prev.samples) {
    if (!/_(total|count|bucket)$/.test(name)) continue;
    const now = new Map(pick(cur, name).map((s) => [key(s.labels), s.value]));
    if (before.some((s) => !(now.get(key(s.labels)) >= s.value))) return true;
  }
  return false;
}

// A labelled child appears on its first increment, so a missing one counted zero before.
function increase(cur, prev, name, where = everything) {
  if (!prev || !(cur.families.has(name) || cur.samples.has(name))) return null;
  const before = new Map(pick(prev, name, where).map((s) => [key(s.labels), s.value]));
  const grown = (s) => s.value - (before.get(key(s.labels)) ?? 0);
  return pick(cur, name, where).reduce((sum, s) => sum + grown(s), 0);
}

function rate(cur, prev, name, where = everything) {
  const delta = increase(cur, prev, name, where);
  return delta === null ? null : delta / ((cur.t - prev.t) / 1000);
}

function ratesBy(cur, prev, name, label, prefix = "") {
  const rates = {};
  for (const value of new Set(pick(cur, name).map((s) => s.labels[label]))) {
    rates[prefix + value] = rate(cur, prev, name, labelIs(label, value));
  }
  return rates;
}

function gauge(cur, name, where = everything) {
  const found = pick(cur, name, where);
  return found.length ? found.reduce((sum, s) => sum + s.value, 0) : null;
}

// As Prometheus' histogram_quantile(), over the observations made between the two polls.
function quantile(q, cur, prev, histogram) {
  if (!prev) return null;
  const byBound = new Map();
  const before = new Map(pick(prev, `${histogram}_bucket`).map((s) => [key(s.labels), s.value]));
  for (const s of pick(cur, `${histogram}_bucket`)) {
    const bound = parseValue(s.labels.le);
    byBound.set(bound, (byBound.get(bound) || 0) + s.value - (before.get(key(s.labels)) ?? 0));
  }
  const buckets = [...byBound].sort((a, b) => a[0] - b[0]);
  const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
  if (!(total > 0)) return null;
  let [lower, below] = [0, 0];
  for (const [bound, count] of buckets) {
    if (count >= q * total) {
      if (bound === Infinity) return lower;
      return lower + ((bound - lower) * (q * total - below)) / Math.max(count - below, 1e-9);
    }
    [lower, below] = [bound, count];
  }
  return lower;
}

function hitRatio(cur, prev) {
  const hits = increase(cur, prev, "cache_requests_total", labelIs("result", "hit"));
  const misses = increase(cur, prev, "cache_requests_total", labelIs("result", "miss"));
  if (hits === null || misses === null || hits + misses <= 0) return null;
  return (100 * hits) / (hits + misses);
}

// ---- what is drawn ------------------------------------------------------------------------------

const CHARTS = [
  {
    id: "requests", title: "Requests per second", unit: "/s",
    lines: (c, p) => ({
      http: rate(c, p, "http_requests_total", (s) => s.labels.path !== "/metrics"),
      ...ratesBy(c, p, "graphql_operations_total", "type", "graphql "),
    }),
  },
  {
    id: "latency", title: "GraphQL latency", unit: "s",
    lines: (c, p) => ({
      p50: quantile(0.5, c, p, "graphql_operation_duration_seconds"),
      p99: quantile(0.99, c, p, "graphql_operation_duration_seconds"),
    }),
  },
  {
    id: "errors", title: "GraphQL errors per second, by code", unit: "/s",
    lines: (c, p) => ({
      all: rate(c, p, "graphql_errors_total"),
      ...ratesBy(c, p, "graphql_errors_total", "code"),
    }),
  },
  {
    id: "realtime", title: "WebSocket connections and subscriptions", unit: "",
    lines: (c) => ({
      websockets: gauge(c, "websocket_connections"),
      subscriptions: gauge(c, "subscriptions_active"),
    }),
  },
  { id: "events", title: "Subscription events per second", unit: "/s",
    lines: (c, p) => ({ events: rate(c, p, "subscription_events_total") }) },
  { id: "lag", title: "Fan-out lag p99", unit: "s",
    lines: (c, p) => ({ p99: quantile(0.99, c, p, "fanout_lag_seconds") }) },
  {
    id: "queues", title: "Outbox backlog and broker queue depth", unit: "",
    lines: (c) => ({ outbox: gauge(c, "outbox_backlog"), broker: gauge(c, "broker_queue_depth") }),
  },
  { id: "pool", title: "Database connections in use", unit: "",
    lines: (c) => ({ "in use": gauge(c, "db_pool_connections", labelIs("state", "in_use")) }) },
  { id: "cache", title: "Cache hit ratio", unit: "%",
    lines: (c, p) => ({ "hit ratio": hitRatio(c, p) }) },
];

function format(value, unit) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  if (value === 0) return `0${unit === "s" ? " ms" : unit}`;
  if (unit === "s" && value < 1) return `${(value * 1000).toFixed(value < 0.01 ? 1 : 0)} ms`;
  if (unit === "s") return `${value.toFixed(2)} s`;
  if (unit === "%") return `${value.toFixed(1)} %`;
  if (unit === "") return String(Math.round(value * 100) / 100);
  return value.toFixed(value < 10 ? 2 : 1) + unit;
}

// 1, 2 or 5 times a power of ten: gridlines at round numbers.
function roundUp(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= value);
}

function draw(chart, now) {
  const canvas = chart.canvas;
  const ratio = window.devicePixelRatio || 1;
  const [width, height] = [canvas.clientWidth, canvas.clientHeight];
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const [left, right, top, bottom] = [56, width - 8, 8, height - 18];
  const lines = chart.names.map((name) => window.stats.series[`${chart.id}/${name}`]);
  const values = lines.flat().map(([, v]) => v).filter(Number.isFinite);
  const max = chart.unit === "%" ? 100 : roundUp(Math.max(0, ...values));
  const x = (t) => left + ((right - left) * (t - (now - WINDOW_MS))) / WINDOW_MS;
  const y = (v) => bottom - ((bottom - top) * v) / max;
  ctx.font = "11px system-ui, sans-serif";
  ctx.lineWidth = 1;
  ctx.strokeStyle = "#e5e7eb";
  ctx.fillStyle = "#6b7280";
  ctx.textAlign = "right";
  for (const share of [0, 0.5, 1]) {
    ctx.beginPath();
    ctx.moveTo(left, y(max * share));
    ctx.lineTo(right, y(max * share));
    ctx.stroke();
    ctx.fillText(format(max * share, chart.unit), left - 6, y(max * share) + 4);
  }
  ctx.fillText("now", right, height - 4);
  ctx.textAlign = "left";
  ctx.fillText("5 min ago", left, height - 4);
  lines.forEach((points, i) => {
    ctx.strokeStyle = ctx.fillStyle = COLORS[i % COLORS.length];
    ctx.lineWidth = 2;
    ctx.beginPath();
    let drawing = false;
    for (const [t, v] of points) {
      if (!Number.isFinite(v)) {
        drawing = false;
      } else if (drawing) {
        ctx.lineTo(x(t), y(v));
      } else {
        ctx.moveTo(x(t), y(v));
        drawing = true;
      }
    }
    ctx.stroke();
    const last = points.findLast(([, v]) => Number.isFinite(v));
    if (last) ctx.fillRect(x(last[0]) - 2, y(last[1]) - 2, 4, 4);
  });
}

function showValues(chart) {
  const items = chart.names.map((name, i) => {
    const points = window.stats.series[`${chart.id}/${name}`];
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    const value = document.createElement("b");
    swatch.className = "swatch";
    swatch.style.background = COLORS[i % COLORS.length];
    value.className = "value";
    value.textContent = format(points.length ? points[points.length - 1][1] : null, chart.unit);
    item.append(swatch, name, " ", value);
    return item;
  });
  if (!items.length) {
    items.push(document.createElement("li"));
    items[0].textContent = "no data";
  }
  chart.legend.replaceChildren(...items);
}

// ---- the loop -----------------------------------------------------------------------------------

function record(snap, prev) {
  const series = window.stats.series;
  for (const chart of CHARTS) {
    for (const [name, value] of Object.entries(chart.lines(snap, prev))) {
      const id = `${chart.id}/${name}`;
      if (!series[id]) {
        series[id] = [];
        chart.names.push(name);
      }
      series[id].push([snap.t, value]);
      while (series[id].length && series[id][0][0] < snap.t - WINDOW_MS) series[id].shift();
    }
    draw(chart, snap.t);
    showValues(chart);
  }
}

async function poll() {
  const status = document.getElementById("status");
  try {
    const response = await fetch("/metrics", { cache: "no-store" });
    if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
    const snap = { ...parse(await response.text()), t: Date.now() };
    const last = window.stats.last;
    record(snap, last && !restarted(last, snap) ? last : null);
    window.stats.last = snap;
    window.stats.polls += 1;
    window.stats.error = null;
    const time = new Date(snap.t).toLocaleTimeString();
    status.textContent = `Updated ${time}, every ${POLL_MS / 1000} s`;
  } catch (error) {
    window.stats.error = String(error);
    status.textContent = `Cannot read /metrics: ${error.message}`;
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

function build() {
  const main = document.getElementById("charts");
  for (const chart of CHARTS) {
    const section = document.createElement("section");
    const title = document.createElement("h2");
    title.textContent = chart.title;
    chart.legend = document.createElement("ul");
    chart.canvas = document.createElement("canvas");
    chart.canvas.id = `chart-${chart.id}`;
    chart.names = [];
    section.append(title, chart.legend, chart.canvas);
    main.append(section);
  }
}

window.stats = { series: {}, polls: 0, error: null, last: null, parse };
build();
poll();

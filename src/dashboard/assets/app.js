// The dashboard page: polls the agent's JSON API and draws it. No library, nothing
// loaded from elsewhere. Actions send the token as `Authorization: Bearer`, never as a
// cookie.
"use strict";

const $ = (id) => document.getElementById(id);
const given = document.querySelector('meta[name="spa-token"]').content;
let tokenConfigured = false;
let logSeq = 0;
let paused = false;
let viewing = null;
let lastTotals = "";
let backupsAt = 0;

function token() {
  return given || localStorage.getItem("spa-token") || "";
}

async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (token()) headers["Authorization"] = "Bearer " + token();
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method: opts.method || "GET",
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  if (opts.raw) {
    if (!resp.ok) throw new Error((await resp.json()).error || resp.statusText);
    return resp;
  }
  const data = await resp.json().catch(() => ({ error: resp.statusText }));
  if (!resp.ok) {
    const err = new Error(data.error || resp.statusText);
    err.status = resp.status;
    throw err;
  }
  return data;
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n, u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}
const num = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en"));
const pct = (orig, opt) => (orig > 0 ? ((100 * (orig - opt)) / orig).toFixed(1) + " %" : "–");
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
};
const baseName = (p) => p.slice(p.lastIndexOf("/") + 1);
const stateWords = {
  out_of_credits: "out of credits",
  budget_reached: "paused: monthly budget reached",
  quiet_hours: "paused: quiet hours",
};

function notice(text, bad) {
  const n = $("notice");
  n.textContent = text;
  n.hidden = !text;
  n.style.background = bad ? "#fde8ea" : "";
}

async function act(path, body) {
  try {
    const r = await api(path, { method: "POST", body });
    notice("");
    return r;
  } catch (e) {
    if (e.status === 401 || e.status === 403) $("tokenbox").hidden = false;
    notice(e.message, true);
    throw e;
  }
}

async function refreshStatus() {
  const s = await api("/api/status?brief=true");
  tokenConfigured = s.dashboard && s.dashboard.token_configured;
  if (tokenConfigured && !token()) $("tokenbox").hidden = false;
  const state = s.daemon.state || "watching";
  const pill = $("state");
  pill.textContent = stateWords[state] || state;
  pill.className = "pill " + state;
  paused = state === "paused";
  $("pause").textContent = paused ? "Resume" : "Pause";
  $("backend").textContent = s.backend === "local" ? "built-in optimizer" : "ShortPixel API";
  const t = s.totals;
  const totals = JSON.stringify(t);
  if (totals !== lastTotals) {
    // Something changed: the chart and the backups follow at once.
    if (lastTotals) {
      refreshHistory().catch(() => {});
      // The backups' figures walk the whole store: at most twice a minute.
      if (Date.now() - backupsAt > 30000) refreshBackups().catch(() => {});
    }
    lastTotals = totals;
  }
  $("files-total").textContent = num(t.files);
  $("files-sub").textContent = `${num(t.skipped)} skipped · ${num(t.restored)} restored`;
  $("files-optimized").textContent = num(t.optimized);
  $("optimized-sub").textContent = `${num(t.failed)} failed`;
  $("saved").textContent = bytes(t.bytes_original - t.bytes_optimized);
  $("saved-sub").textContent = `${pct(t.bytes_original, t.bytes_optimized)} of ${bytes(t.bytes_original)}`;
  $("queue").textContent = num(s.daemon.queued);
  const held = s.dashboard && s.dashboard.held ? ` · ${num(s.dashboard.held)} change(s) held` : "";
  $("queue-sub").textContent = `${num(s.daemon.in_flight)} in flight${held}`;
  const c = s.credits;
  if (c) {
    $("credits").textContent = c.unlimited ? "unlimited" : num(c.remaining);
    $("credits-sub").textContent = `${num(c.used)} of ${num(c.quota)} used this month`;
  } else {
    $("credits").textContent = "–";
    $("credits-sub").textContent = s.backend === "local" ? "not needed offline" : "not known yet";
  }
  const l = s.limits;
  if (l) {
    $("budget").textContent = l.monthly_credits
      ? `${num(l.credits_used_month)} / ${num(l.monthly_credits)}`
      : `${num(l.credits_used_month)} used`;
    const parts = [l.monthly_credits ? (l.budget_reached ? "budget reached" : "credits used") : "no budget"];
    if (l.quiet_hours) parts.push(`quiet ${l.quiet_hours}${l.quiet_now ? " (now)" : ""}`);
    if (l.upload_kbps) parts.push(`uploads ≤ ${num(l.upload_kbps)} KiB/s`);
    const held = l.held.reduce((n, h) => n + h.files, 0);
    if (held) parts.push(`${num(held)} held`);
    $("limits-sub").textContent = parts.join(" · ");
    $("limits-sub").title = l.held.map((h) => `${h.files} ${h.reason}`).join("\n");
  }
  const rows = s.folders.map((f) =>
    el("tr", {},
      el("td", { class: "mono" }, f.path), el("td", {}, f.mode),
      el("td", { class: "num" }, num(f.files)), el("td", { class: "num" }, num(f.optimized)),
      el("td", { class: "num" }, num(f.pending)), el("td", { class: "num" }, num(f.failed)),
      el("td", { class: "num" }, num(f.skipped)), el("td", { class: "num" }, num(f.restored)),
      el("td", { class: "num" }, `${bytes(f.bytes_original - f.bytes_optimized)} (${pct(f.bytes_original, f.bytes_optimized)})`)));
  $("folders").replaceChildren(...rows);
  $("failures-count").textContent = t.failed ? `(${num(t.failed)})` : "";
  $("retry").disabled = !t.failed;
  const fails = s.failures.map((f) =>
    el("li", {}, el("div", { class: "mono" }, f.path), el("div", { class: "reason" }, f.reason)));
  if (!fails.length) fails.push(el("li", { class: "muted" }, "No failures."));
  $("failures").replaceChildren(...fails);
}

async function refreshLogs() {
  const r = await api(`/api/logs?after=${logSeq}`);
  const box = $("log");
  const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  for (const l of r.lines) {
    logSeq = Math.max(logSeq, l.seq);
    const t = new Date(l.at * 1000).toLocaleTimeString();
    box.append(el("div", { class: l.level }, el("span", { class: "t" }, t + " "), l.message));
  }
  while (box.childElementCount > 300) box.firstElementChild.remove();
  if (atEnd) box.scrollTop = box.scrollHeight;
}

async function refreshHistory() {
  const r = await api("/api/history?days=30");
  const latest = new Map();
  const series = [];
  for (const p of r.points) {
    latest.set(p.folder, p.bytes_original - p.bytes_optimized);
    let sum = 0;
    for (const v of latest.values()) sum += v;
    series.push([p.at, sum]);
  }
  drawChart(series);
}

function drawChart(series) {
  const svg = $("chart");
  const W = 600, H = 200, pad = 6;
  if (series.length === 1) series.unshift([series[0][0] - 60, 0]);
  if (!series.length) {
    svg.innerHTML = `<text x="300" y="100" text-anchor="middle" fill="currentColor" opacity=".5" font-size="13">Nothing saved yet</text>`;
    $("chart-from").textContent = $("chart-to").textContent = $("chart-max").textContent = "";
    return;
  }
  const now = Date.now() / 1000;
  series.push([Math.max(now, series[series.length - 1][0]), series[series.length - 1][1]]);
  const t0 = series[0][0], t1 = series[series.length - 1][0];
  const max = Math.max(1, ...series.map((p) => p[1]));
  const x = (t) => pad + ((t - t0) / Math.max(1, t1 - t0)) * (W - 2 * pad);
  const y = (v) => H - pad - (v / max) * (H - 2 * pad);
  let d = `M ${x(series[0][0])} ${y(series[0][1])}`;
  for (let i = 1; i < series.length; i++) {
    d += ` H ${x(series[i][0])} V ${y(series[i][1])}`;
  }
  const area = `${d} V ${H - pad} H ${x(t0)} Z`;
  svg.innerHTML =
    `<defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#1f6feb" stop-opacity=".35"/><stop offset="1" stop-color="#1f6feb" stop-opacity="0"/></linearGradient></defs>` +
    [0.25, 0.5, 0.75].map((f) => `<line x1="0" x2="${W}" y1="${y(max * f)}" y2="${y(max * f)}" stroke="currentColor" opacity=".08"/>`).join("") +
    `<path d="${area}" fill="url(#g)"/><path d="${d}" fill="none" stroke="#1f6feb" stroke-width="2.5" vector-effect="non-scaling-stroke"/>`;
  $("chart-from").textContent = new Date(t0 * 1000).toLocaleString();
  $("chart-to").textContent = "now";
  $("chart-max").textContent = `saved ${bytes(series[series.length - 1][1])}`;
}

async function refreshBackups() {
  backupsAt = Date.now();
  const b = await api("/api/backups");
  $("bk-originals").textContent = num(b.originals);
  $("bk-bytes").textContent = bytes(b.bytes);
  $("bk-needed").textContent = `${num(b.only_copies)} (${bytes(b.only_copies_bytes)})`;
  $("bk-prunable").textContent = `${bytes(b.prunable_bytes)} in ${num(b.prunable_files)} file(s)`;
}

async function refreshFiles() {
  const q = new URLSearchParams({ limit: "100" });
  if ($("filter-state").value) q.set("state", $("filter-state").value);
  if ($("filter-q").value) q.set("q", $("filter-q").value);
  const r = await api("/api/files?" + q);
  const rows = r.files.map((f) => {
    const saved = f.state === "optimized" && f.bytes_original ? f.bytes_original - f.bytes_optimized : null;
    const tr = el("tr", { "data-path": f.path },
      el("td", { class: "mono", title: f.path }, f.path),
      el("td", {}, el("span", { class: "state " + f.state }, f.state)),
      el("td", { class: "num" }, bytes(f.bytes_original ?? f.size)),
      el("td", { class: "num" }, f.bytes_optimized !== null ? bytes(f.bytes_optimized) : "–"),
      el("td", { class: "num" }, saved !== null ? pct(f.bytes_original, f.bytes_optimized) : "–"));
    tr.addEventListener("click", () => openFile(f.path));
    return tr;
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: "5", class: "muted" }, "No files here yet.")));
  $("file-list").replaceChildren(...rows);
}

async function loadImage(img, path, which) {
  if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  img.removeAttribute("src");
  try {
    const resp = await api(`/api/preview?which=${which}&path=${encodeURIComponent(path)}`, { raw: true });
    img.src = URL.createObjectURL(await resp.blob());
    await img.decode().catch(() => {});
    sizeCompare();
  } catch (e) {
    img.alt = e.message;
  }
}

function sizeCompare() {
  $("fv-original").style.width = $("fv-compare").clientWidth + "px";
}

async function openFile(path) {
  viewing = path;
  const r = await api(`/api/file?path=${encodeURIComponent(path)}`);
  const f = r.file;
  $("fv-name").textContent = baseName(f.path);
  $("fv-path").textContent = f.path;
  $("fv-state").textContent = f.state + (f.reason ? ` — ${f.reason}` : "");
  $("fv-before").textContent = bytes(f.bytes_original ?? f.size);
  $("fv-after").textContent = f.bytes_optimized !== null ? bytes(f.bytes_optimized) : "–";
  $("fv-saved").textContent = f.bytes_optimized !== null ? pct(f.bytes_original, f.bytes_optimized) : "–";
  const restore = $("fv-restore");
  restore.disabled = !r.restorable;
  restore.classList.remove("armed");
  restore.textContent = "Restore original";
  $("fv-message").textContent = r.restorable ? "" : "Nothing to restore for this file.";
  $("fileview").hidden = false;
  if (token()) {
    loadImage($("fv-original"), path, "original");
    loadImage($("fv-result"), path, "result");
  } else {
    $("fv-message").textContent = "Enter the token to see the images.";
  }
}

async function restoreViewed() {
  const b = $("fv-restore");
  if (!b.classList.contains("armed")) {
    b.classList.add("armed");
    b.textContent = "Really restore? Click again";
    return;
  }
  b.disabled = true;
  try {
    const r = await act("/api/restore", { paths: [viewing], dry_run: false });
    const f = r.files[0] || {};
    $("fv-message").textContent = f.outcome === "restored" ? "The original is back." : `Not restored: ${f.reason || f.outcome}`;
    b.textContent = f.outcome === "restored" ? "Restored" : "Restore original";
    b.classList.remove("armed");
    refreshAll();
  } catch (e) {
    $("fv-message").textContent = e.message;
    b.disabled = false;
  }
}

function refreshAll() {
  refreshStatus().catch((e) => notice("The agent does not answer: " + e.message, true));
  refreshLogs().catch(() => {});
  refreshFiles().catch(() => {});
}

function start() {
  $("pause").addEventListener("click", () => act(paused ? "/api/resume" : "/api/pause").then(refreshAll, () => {}));
  $("rescan").addEventListener("click", () => act("/api/rescan").then(refreshAll, () => {}));
  $("retry").addEventListener("click", () => act("/api/retry").then((r) => notice(`${r.retried} file(s) put back in the queue.`), () => {}));
  $("token-open").addEventListener("click", () => { $("tokenbox").hidden = !$("tokenbox").hidden; });
  $("token-save").addEventListener("click", () => {
    localStorage.setItem("spa-token", $("token-input").value.trim());
    $("token-input").value = "";
    $("tokenbox").hidden = true;
    notice("");
  });
  $("fv-close").addEventListener("click", () => { $("fileview").hidden = true; viewing = null; });
  $("fv-restore").addEventListener("click", restoreViewed);
  $("fv-slider").addEventListener("input", (e) => { $("fv-clip").style.width = e.target.value + "%"; });
  window.addEventListener("resize", sizeCompare);
  $("filter-state").addEventListener("change", refreshFiles);
  $("filter-q").addEventListener("input", refreshFiles);
  if (given) $("token-open").hidden = true;
  refreshAll();
  refreshHistory().catch(() => {});
  refreshBackups().catch(() => {});
  setInterval(refreshAll, 2000);
  setInterval(() => refreshHistory().catch(() => {}), 15000);
  setInterval(() => refreshBackups().catch(() => {}), 30000);
}

document.addEventListener("DOMContentLoaded", start);

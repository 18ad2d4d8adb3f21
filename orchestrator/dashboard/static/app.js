// sweep dashboard: the page. Plain JavaScript, no build step, nothing fetched from elsewhere.
// Every text that comes from a run (names, values, errors, reasons) is put into the page as
// text (textContent), never as HTML; text handed to plotly is entity-escaped first (plotly
// reads a few HTML tags in its labels). Nothing is eval'd.
"use strict";

(function () {
  const S = {
    poll: 3,
    timer: null,
    busy: false,
    loadId: Math.random().toString(36).slice(2),
  };
  window.__sweepLoadId = S.loadId;
  window.__sweepRefreshes = 0;
  window.__sweepReady = false;
  window.__sweepTimings = {}; // milliseconds each view took to fetch and draw, last time

  // -- small helpers ------------------------------------------------------------------------
  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = String(v);
      else if (k === "dataset") Object.assign(e.dataset, v);
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return e;
  }

  // Text for plotly labels: it understands <b>, <br>, <a href> ... in them, so escape.
  function pt(s) {
    return String(s === null || s === undefined ? "" : s)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }

  function fmt(v, digits) {
    digits = digits || 6;
    if (v === null || v === undefined) return "\u2013";
    if (typeof v === "number") {
      if (!isFinite(v)) return String(v);
      if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
      const a = Math.abs(v);
      if (a !== 0 && (a < 1e-3 || a >= 1e7)) return v.toExponential(digits - 1).replace(/\.?0+e/, "e");
      return String(Number(v.toPrecision(digits)));
    }
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  function fmtCount(n) {
    return n === null || n === undefined ? "\u2013" : Number(n).toLocaleString("en-US");
  }

  function fmtSeconds(s) {
    if (s === null || s === undefined) return "\u2013";
    if (s < 60) return `${fmt(s, 3)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
    return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  }

  function apiUrl(path, params) {
    const url = new URL(path, window.location.origin);
    for (const [k, v] of Object.entries(params || {})) {
      if (Array.isArray(v)) v.forEach((x) => url.searchParams.append(k, x));
      else if (v !== null && v !== undefined && v !== "") url.searchParams.set(k, v);
    }
    return url.toString();
  }

  // Requests sent before plotly.js has been parsed (app.js runs first): the server works on
  // them meanwhile. Each is used once, by the first api() call for the same address.
  const early = new Map();
  function prefetch(path, params) {
    const url = apiUrl(path, params);
    const pending = load(url);
    pending.catch(() => {}); // a failure is reported when the view asks for it
    early.set(url, pending);
  }

  function api(path, params) {
    const url = apiUrl(path, params);
    const pending = early.get(url);
    if (pending) {
      early.delete(url);
      return pending;
    }
    return load(url);
  }

  async function load(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = { error: response.statusText };
    }
    if (!response.ok) {
      const error = new Error((body && body.error) || response.statusText);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  const PLOT_CONFIG = {
    displaylogo: false,
    responsive: true,
    typesetMath: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d"],
  };

  function plot(div, traces, layout) {
    const base = {
      margin: { l: 64, r: 16, t: 36, b: 80 },
      height: 320,
      font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12 },
      uirevision: "keep",
      hovermode: "closest",
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "#ffffff",
      showlegend: true,
      legend: { orientation: "h", x: 0, y: -0.3, yanchor: "top" },
      modebar: { bgcolor: "rgba(255,255,255,0.8)", color: "#8c959f", activecolor: "#1f6feb" },
    };
    return Plotly.react(div, traces, Object.assign(base, layout || {}), PLOT_CONFIG);
  }

  function title(text) {
    return { text: pt(text), font: { size: 13 }, x: 0, xanchor: "left" };
  }

  // A log axis when the values are positive and span more than three decades.
  function scoreAxis(values, label) {
    const v = values.filter((x) => x !== null && isFinite(x));
    const positive = v.length && v.every((x) => x > 0);
    const ratio = positive ? Math.max(...v) / Math.min(...v) : 0;
    return { title: { text: pt(label) }, type: positive && ratio > 1e3 ? "log" : "linear", zeroline: false };
  }

  const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  const STATUS_COLORS = { ok: "#2da44e", failed: "#cf222e", invalid: "#bf8700", timeout: "#8250df" };

  // Viridis, sampled: t in [0, 1] -> colour (0 = dark purple, 1 = yellow).
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function viridis(t) {
    t = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(t));
    const f = t - i;
    const c = VIRIDIS[i].map((a, k) => Math.round(a + f * (VIRIDIS[i + 1][k] - a)));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  function setLive(state, detail) {
    const live = document.getElementById("live");
    live.className = "live " + (state === "running" ? "running" : state === "error" ? "error" : "");
    const time = new Date().toLocaleTimeString();
    live.textContent = state === "error" ? `cannot reach the dashboard (${detail}) \u00b7 ${time}` : `${state || ""} \u00b7 checked ${time}`;
  }

  function crumbs(...items) {
    const nav = document.getElementById("crumbs");
    nav.replaceChildren();
    items.forEach((item, i) => {
      if (i) nav.append(" \u203a ");
      nav.append(item.href ? h("a", { href: item.href, text: item.text }) : h("span", { text: item.text }));
    });
  }

  function stateTag(state) {
    const known = ["running", "finished", "tuned", "stopped", "failed"];
    return h("span", { class: "tag " + (known.includes(state) ? state : ""), text: state || "?" });
  }

  function table(header, rows, opts) {
    opts = opts || {};
    return h(
      "table",
      { class: "grid" },
      h("thead", {}, h("tr", {}, header.map((c) => h("th", { text: c })))),
      h(
        "tbody",
        {},
        rows.map((r) =>
          h("tr", {}, r.map((c) => h("td", { class: typeof c === "number" ? "num" : null, text: typeof c === "number" ? fmt(c) : c === null || c === undefined ? "\u2013" : String(c) })))
        )
      )
    );
  }

  function markReady() {
    window.__sweepRefreshes += 1;
    if (!window.__sweepReady) {
      window.__sweepReady = true;
      document.body.dataset.ready = "1";
      window.__sweepReadyAt = performance.now();
    }
  }

  function schedule(tick) {
    clearTimeout(S.timer);
    S.timer = setTimeout(async () => {
      try {
        await tick();
      } catch (e) {
        setLive("error", e.message);
      }
      schedule(tick);
    }, S.poll * 1000);
  }

  // -- the list of runs ---------------------------------------------------------------------
  async function pageIndex() {
    crumbs({ text: "runs" });
    const main = document.getElementById("main");
    const chosen = new Set();
    const button = h("button", { disabled: true, text: "Compare selected" });
    button.addEventListener("click", () => {
      window.location.href = "/compare?runs=" + [...chosen].map(encodeURIComponent).join(",");
    });
    const holder = h("div", {});
    main.replaceChildren(
      h("section", { class: "card", id: "runs" }, h("h2", { text: "Runs" }), h("div", { class: "controls" }, button, h("span", { class: "note", text: "tick two or more runs to compare them side by side" })), holder)
    );
    let last = "";
    async function render() {
      const runs = await api("/api/runs");
      const signature = JSON.stringify(runs.map((r) => [r.key, r.version, r.state, r.trials]));
      setLive(runs.some((r) => r.state === "running") ? "running" : "idle");
      if (signature === last) return;
      last = signature;
      const rows = runs.map((r) => {
        const box = h("input", { type: "checkbox", checked: chosen.has(r.key) });
        box.addEventListener("change", () => {
          if (box.checked) chosen.add(r.key);
          else chosen.delete(r.key);
          button.disabled = chosen.size < 2;
        });
        return h(
          "tr",
          { dataset: { key: r.key } },
          h("td", {}, box),
          h("td", {}, h("a", { href: "/run/" + encodeURIComponent(r.key), text: r.key })),
          h("td", { text: r.name || "\u2013" }),
          h("td", {}, r.error ? h("span", { class: "error-text", text: r.error }) : stateTag(r.state)),
          h("td", { class: "num", text: fmtCount(r.trials) + (r.pending ? ` (${fmtCount(r.pending)} running)` : "") }),
          h("td", { class: "num", text: fmt(r.best_score) }),
          h("td", { class: "num", text: fmtCount(r.rounds) }),
          h("td", { text: r.created_at || "\u2013" }),
          h("td", { text: r.updated_at || "\u2013" }),
          h("td", { class: "muted", text: r.location })
        );
      });
      const header = ["", "run", "name", "state", "trials", "best score", "rounds", "created", "updated", "location"];
      holder.replaceChildren(
        runs.length
          ? h("table", { class: "grid" }, h("thead", {}, h("tr", {}, header.map((c) => h("th", { text: c })))), h("tbody", {}, rows))
          : h("p", { class: "muted", text: "No runs here yet; the list updates by itself." })
      );
    }
    await render();
    markReady();
    schedule(render);
  }

  // -- one run -------------------------------------------------------------------------------
  async function pageRun(key) {
    const base = "/api/run/" + encodeURIComponent(key);
    const main = document.getElementById("main");
    crumbs({ text: "runs", href: "/" }, { text: key });
    let summary = await api(base + "/summary");
    let version = summary.version;
    const label = key + (summary.name && summary.name !== key ? ` (${summary.name})` : "");
    crumbs({ text: "runs", href: "/" }, { text: label });
    document.title = `${label} \u00b7 sweep dashboard`;

    const sections = [
      { id: "summary", title: "Summary", render: renderSummary },
      { id: "progress", title: "Best score so far", render: renderProgress },
      { id: "ranges", title: "Ranges per round: the funnel, every decision and its reason", render: renderRanges },
      { id: "scatter", title: "Score against each hyperparameter", render: renderScatter },
      { id: "parallel", title: "Top trials: parallel coordinates", render: renderParallel },
      { id: "importance", title: "Importance", render: renderImportance },
    ];
    if (summary.objectives) sections.splice(2, 0, { id: "pareto", title: "Pareto front", render: renderPareto });
    sections.push({ id: "workers", title: "Workers: who ran what, and when", render: renderWorkers });
    sections.push({ id: "trials", title: "Trials", render: renderTrials });
    if (summary.test || summary.sealed) sections.splice(1, 0, { id: "test", title: "Sealed test", render: renderTest });

    const nav = h("nav", { class: "sectionnav" }, sections.map((s) => h("a", { href: "#" + s.id, text: s.title.split(":")[0] })));
    main.replaceChildren(nav);
    for (const s of sections) {
      s.body = h("div", { class: "body" });
      s.el = h("section", { class: "card", id: s.id }, h("h2", { text: s.title }), s.body);
      main.append(s.el);
    }
    const tq = { offset: 0, limit: 50, sort: "started_at", order: "desc", status: "", round: "", q: "", where: "" };

    async function renderSection(s) {
      const began = performance.now();
      try {
        await s.render(s);
        window.__sweepTimings[s.id] = Math.round(performance.now() - began);
      } catch (e) {
        s.body.replaceChildren(h("p", { class: "error-text", text: "could not load this view: " + e.message }));
        if (!e.status || e.status >= 500) console.error(`sweep dashboard: ${s.id}: ${e.message}`);
      }
    }

    async function refresh(first) {
      S.busy = true;
      try {
        if (!first) summary = await api(base + "/summary");
        await Promise.all(sections.map(renderSection));
      } finally {
        S.busy = false;
      }
      document.body.dataset.version = version;
      markReady();
    }

    // ---- summary
    function renderSummary(s) {
      const c = summary.counts;
      const ok = (c.committed.ok || 0) + (c.running.ok || 0);
      const failed = summary.trials - ok;
      const best = summary.best;
      const kpi = (label, value, field, raw) =>
        h("div", { class: "kpi" }, h("div", { class: "label", text: label }), h("div", { class: "value", text: value, dataset: { field: field, value: raw === undefined ? "" : JSON.stringify(raw) } }));
      const running = summary.running.length ? ` (round ${summary.running.map((r) => r + 1).join(", ")} running)` : "";
      const kpis = h(
        "div",
        { class: "kpis" },
        kpi("state", summary.state || "?", "state", summary.state),
        kpi("trials", fmtCount(summary.trials), "trials", summary.trials),
        kpi("ok / not ok", `${fmtCount(ok)} / ${fmtCount(failed)}`, "ok", ok),
        kpi("best score" + (summary.objectives ? " (picked)" : ""), best ? fmt(best.score, 8) : "\u2013", "best-score", best ? best.score : null),
        kpi("best trial", best ? `#${best.trial_id} (round ${best.round + 1})` : "\u2013", "best-trial", best ? best.trial_id : null),
        kpi("rounds committed", `${summary.rounds.length}${summary.rounds_planned ? " of " + summary.rounds_planned : ""}${running}`, "rounds", summary.rounds.length)
      );
      const facts = [
        ["objective", summary.objectives ? summary.objectives.names.map((n, i) => `${n} (${summary.objectives.modes[i]})`).join(", ") : `score (${summary.mode})`],
        ["stopped", summary.stop_reason],
        ["statuses", Object.entries(c.committed).map(([k, v]) => `${fmtCount(v)} ${k}`).join(", ") + (Object.keys(c.running).length ? "; running round: " + Object.entries(c.running).map(([k, v]) => `${fmtCount(v)} ${k}`).join(", ") : "")],
        ["seed", summary.seed],
        ["sampler", summary.sampler],
        ["samples per round", summary.samples_per_round],
        ["budget", summary.budget ? `${summary.budget.min} to ${summary.budget.max} (eta ${summary.budget.eta})` : null],
        ["workers", summary.workers],
        ["overlap", summary.overlap],
        ["created", summary.created_at],
        ["updated", summary.updated_at],
        ["finished", summary.finished_at],
        ["duration", summary.duration_s !== null && summary.duration_s !== undefined ? fmtSeconds(summary.duration_s) : null],
        ["run folder", summary.location],
        ["host", summary.host],
        ["versions", summary.versions ? Object.entries(summary.versions).map(([k, v]) => `${k} ${v}`).join(", ") : null],
      ].filter((f) => f[1] !== null && f[1] !== undefined && f[1] !== "");
      const dl = h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]));
      const config = best
        ? table(["parameter", "value"], summary.space.map((p) => [p.name + (p.when ? ` (when ${p.when})` : ""), p.name in best.config ? fmt(best.config[p.name], 10) : "inactive"]))
        : h("p", { class: "muted", text: "no ok trial committed yet" });
      const errors = summary.errors.length
        ? table(["trials", "error"], summary.errors.map((e) => [e.count, e.error]))
        : h("p", { class: "muted", text: "no failures" });
      s.body.replaceChildren(
        kpis,
        h("div", { class: "cols" }, h("div", {}, dl), h("div", {}, h("h3", { text: "Best configuration" }), config, best && best.objectives ? table(["objective", "value"], Object.entries(best.objectives)) : null)),
        h("h3", { text: "Failures (most frequent errors)" }),
        errors,
        h("details", {}, h("summary", { text: "Configuration (as resolved, from run.json)" }), h("pre", { class: "config", text: JSON.stringify(summary.config, null, 2) }))
      );
    }

    function renderTest(s) {
      const t = summary.test;
      if (!t) {
        s.body.replaceChildren(h("p", { text: "The test set is sealed: not evaluated yet. `sweep test RUN_DIR` evaluates it, once." }));
        return;
      }
      const rows = [
        ["test score", t.score],
        ["scoring", t.scoring],
        ["validation score", t.validation_score],
        ["trial", t.trial_id],
        ["configuration", t.config ? Object.entries(t.config).map(([k, v]) => `${k}=${fmt(v)}`).join(", ") : null],
        ["test rows", t.n_test_rows],
        ["evaluated at", t.evaluated_at],
      ];
      if (t.objectives) rows.push(["objectives", Object.entries(t.objectives).map(([k, v]) => `${k}=${fmt(v)}`).join(", ")]);
      const t2 = table(["", ""], rows);
      const cell = t2.querySelector("tbody tr td:nth-child(2)");
      cell.dataset.field = "test-score";
      cell.dataset.value = JSON.stringify(t.score);
      s.body.replaceChildren(t2, h("p", { class: "note", text: "Evaluated once, on rows tuning never saw." }));
    }

    // ---- best so far
    async function renderProgress(s) {
      const d = await api(base + "/progress");
      if (!d.steps) {
        s.body.replaceChildren(h("p", { class: "muted", text: "no evaluation finished yet" }));
        return;
      }
      if (!s.figs) {
        s.figs = [h("div", { class: "plot" }), h("div", { class: "plot" })];
        s.text = h("p", { class: "note" });
        s.body.replaceChildren(s.text, h("div", { class: "figures" }, s.figs));
      }
      const label = d.score_is ? `best ${d.score_is} so far (${d.mode})` : `best score so far (${d.mode})`;
      s.text.textContent =
        `${fmtCount(d.evaluations)} evaluations in completion order, ${fmtCount(d.ok)} ok` +
        (d.budget ? `; best at the full budget (${d.budget})` : "") +
        `. Dots: ${fmtCount(d.sample.score.length)} trials' scores (evenly spread, every improvement included). Best: ${fmt(d.best, 8)}.`;
      s.text.dataset.best = JSON.stringify(d.best);
      const hover = d.steps.trial.map((t, i) => (t === null ? `running round ${d.steps.round[i] + 1}` : `trial #${t} (round ${d.steps.round[i] + 1})`));
      for (const [i, axis] of [["evals", "evaluations"], ["time", "wall time (s)"]].entries()) {
        const x = d.steps[axis[0]].concat([d.end[axis[0]]]);
        const y = d.steps.score.concat([d.steps.score[d.steps.score.length - 1]]);
        plot(
          s.figs[i],
          [
            { type: "scatter", mode: "markers", x: d.sample[axis[0]], y: d.sample.score, name: "trials (sample)", marker: { size: 4, color: "rgba(31,119,180,0.35)" }, hoverinfo: "x+y" },
            { type: "scatter", mode: "lines+markers", x: x, y: y, name: "best so far", line: { shape: "hv", color: "#d62728", width: 2 }, marker: { size: 5 }, text: hover.concat([""]), hovertemplate: "%{y}<br>%{text}<extra></extra>" },
          ],
          { title: title(`${label} vs ${axis[1]}`), xaxis: { title: { text: axis[1] } }, yaxis: scoreAxis(d.sample.score.concat(d.steps.score), "score") }
        );
      }
    }

    // ---- ranges funnel
    async function renderRanges(s) {
      const d = await api(base + "/ranges");
      const numeric = d.space.filter((p) => p.kind !== "choice");
      if (!s.figs) {
        s.figs = {};
        s.grid = h("div", { class: "figures" });
        for (const p of numeric) {
          s.figs[p.name] = h("div", { class: "plot" });
          s.grid.append(s.figs[p.name]);
        }
        s.filters = { param: "", changes: false };
        const param = h("select", {}, h("option", { value: "", text: "every parameter" }), d.space.map((p) => h("option", { value: p.name, text: p.name })));
        param.addEventListener("change", () => { s.filters.param = param.value; drawTable(); });
        const changes = h("input", { type: "checkbox" });
        changes.addEventListener("change", () => { s.filters.changes = changes.checked; drawTable(); });
        s.tableBox = h("div", { class: "scroll" });
        s.body.replaceChildren(
          h("p", { class: "note", text: "Each band is the range a round sampled in (the last one: the range proposed next); dots: the five best trials of each round." }),
          s.grid,
          h("h3", { text: "Decisions" }),
          h("div", { class: "controls" }, h("label", {}, "parameter ", param), h("label", {}, changes, "only changes (not keep)")),
          s.tableBox
        );
      }
      s.data = d;
      const rowsBy = {};
      for (const r of d.rows) (rowsBy[r.parameter] = rowsBy[r.parameter] || []).push(r);
      for (const p of numeric) {
        const rows = (rowsBy[p.name] || []).slice().sort((a, b) => a.round - b.round);
        const x = rows.flatMap((r) => [r.round + 0.5, r.round + 1.5]);
        const twice = (f) => rows.flatMap((r) => [f(r), f(r)]);
        const text = twice((r) => pt(`round ${r.round + 1}${r.sampled ? "" : " (proposed next)"}: [${fmt(r.low)}, ${fmt(r.high)}] ${r.action}: ${r.reason || ""}`));
        const ex = [], ey = [], et = [];
        d.elite.round.forEach((rd, i) => {
          const v = d.elite.values[p.name][i];
          if (v !== null) { ex.push(rd + 1); ey.push(v); et.push(`trial #${d.elite.trial[i]}: score ${fmt(d.elite.score[i])}`); }
        });
        plot(
          s.figs[p.name],
          [
            { type: "scatter", mode: "lines", x: x, y: twice((r) => r.low), line: { color: "#1f77b4", width: 1 }, name: "low", text: text, hovertemplate: "%{text}<extra></extra>" },
            { type: "scatter", mode: "lines", x: x, y: twice((r) => r.high), line: { color: "#1f77b4", width: 1 }, fill: "tonexty", fillcolor: "rgba(31,119,180,0.18)", name: "range", text: text, hovertemplate: "%{text}<extra></extra>" },
            { type: "scatter", mode: "markers", x: ex, y: ey, name: "best of the round", marker: { size: 5, color: "#d62728" }, text: et.map(pt), hovertemplate: "%{y}<br>%{text}<extra></extra>" },
          ],
          {
            height: 260,
            showlegend: false,
            title: title(p.name + (p.when ? ` (when ${p.when})` : "")),
            xaxis: { title: { text: "round" }, dtick: rows.length > 20 ? undefined : 1, zeroline: false },
            yaxis: { type: p.log ? "log" : "linear", title: { text: pt(p.name) } },
          }
        );
      }
      drawTable();

      function drawTable() {
        const f = s.filters;
        let rows = s.data.rows;
        if (f.param) rows = rows.filter((r) => r.parameter === f.param);
        if (f.changes) rows = rows.filter((r) => r.action !== "keep");
        const shown = rows.slice(0, 2000);
        const body = shown.map((r) => [
          r.sampled ? String(r.round + 1) : `${r.round + 1} (proposed next)`,
          r.parameter,
          r.type === "choice" ? (r.choices ? JSON.parse(r.choices).map((v) => fmt(v)).join(", ") : "") : `[${fmt(r.low)}, ${fmt(r.high)}]${r.log ? " log" : ""}`,
          r.relative_width === null ? null : `${fmt(100 * r.relative_width, 3)} %`,
          r.action,
          r.reason,
        ]);
        s.tableBox.replaceChildren(table(["round", "parameter", "range", "width", "action", "reason"], body));
        if (rows.length > shown.length) s.tableBox.append(h("p", { class: "note", text: `first ${shown.length} of ${rows.length} decisions; pick a parameter to see the rest` }));
      }
    }

    // ---- score against each hyperparameter
    async function renderScatter(s) {
      const d = await api(base + "/scatter");
      if (!s.figs) {
        s.figs = {};
        s.note = h("p", { class: "note" });
        const grid = h("div", { class: "figures" });
        for (const p of d.space) {
          s.figs[p.name] = h("div", { class: "plot" });
          grid.append(s.figs[p.name]);
        }
        s.body.replaceChildren(s.note, grid);
      }
      s.note.textContent =
        (d.shown < d.ok ? `${fmtCount(d.shown)} of ${fmtCount(d.ok)} committed ok trials (evenly spread over the run, the best always in)` : `all ${fmtCount(d.ok)} committed ok trials`) +
        `; the best ${fmtCount(Math.min(100, d.ok))} in orange.`;
      const yaxis = scoreAxis(d.score, "score");
      for (const p of d.space) {
        const vals = d.values[p.name];
        const pick = (top) => {
          const x = [], y = [], t = [];
          vals.forEach((v, i) => {
            if (v !== null && d.top[i] === top) { x.push(p.kind === "choice" ? pt(v) : v); y.push(d.score[i]); t.push(pt(`trial #${d.trial[i]} (round ${d.round[i] + 1})`)); }
          });
          return { x, y, t };
        };
        const rest = pick(false), top = pick(true);
        const xaxis = { title: { text: pt(p.name) }, type: p.kind === "choice" ? "category" : p.log ? "log" : "linear" };
        if (p.kind === "choice") { xaxis.categoryorder = "array"; xaxis.categoryarray = p.choices.map(pt); }
        plot(
          s.figs[p.name],
          [
            { type: "scatter", mode: "markers", x: rest.x, y: rest.y, text: rest.t, name: "trials", marker: { size: 5, color: "rgba(31,119,180,0.45)" }, hovertemplate: "%{x}, %{y}<br>%{text}<extra></extra>" },
            { type: "scatter", mode: "markers", x: top.x, y: top.y, text: top.t, name: "best trials", marker: { size: 6, color: "#ff7f0e" }, hovertemplate: "%{x}, %{y}<br>%{text}<extra></extra>" },
          ],
          { height: 280, title: title(p.name + (p.when ? ` (when ${p.when}; active trials only)` : "")), xaxis: xaxis, yaxis: yaxis, showlegend: false }
        );
      }
    }

    // ---- parallel coordinates (drawn as lines over normalised axes: plain SVG, no WebGL)
    async function renderParallel(s) {
      if (!s.fig) {
        s.k = 50;
        s.fig = h("div", { class: "plot" });
        s.note = h("span", { class: "note" });
        const pick = h("select", { name: "top" }, [20, 50, 100, 200].map((n) => h("option", { value: n, text: `best ${n}`, selected: n === 50 })));
        pick.addEventListener("change", () => { s.k = Number(pick.value); renderSection(s); });
        s.body.replaceChildren(h("div", { class: "controls" }, pick, s.note), s.fig);
      }
      const d = await api(base + "/parallel", { k: s.k });
      const n = d.trial.length;
      s.note.textContent = n
        ? `The best ${n} committed trials${d.objectives ? " in Pareto order" : ""}; each axis spans the configured range (or the values, if wider), log axes in log scale. Darker lines are better.`
        : "no ok trial committed yet";
      const axes = d.space.map((p) => {
        const vals = d.values[p.name];
        if (p.kind === "choice") {
          const k = p.choices.length;
          return { p, pos: vals.map((v) => (v === null ? null : k > 1 ? p.choices.indexOf(v) / (k - 1) : 0.5)), lo: p.choices[0], hi: p.choices[k - 1] };
        }
        const scale = (v) => (p.log ? Math.log10(v) : v);
        const nums = vals.filter((v) => v !== null && (!p.log || v > 0)).map(scale);
        let lo = Math.min(scale(p.low), ...nums), hi = Math.max(scale(p.high), ...nums);
        if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
        return { p, pos: vals.map((v) => (v === null || (p.log && v <= 0) ? null : (scale(v) - lo) / (hi - lo))), lo: p.log ? 10 ** lo : lo, hi: p.log ? 10 ** hi : hi };
      });
      // One trace per shade (plotly draws a few long traces much faster than many short
      // ones): trials are grouped by rank into ten shades, the best one on its own, on top.
      const groups = new Map();
      for (let i = n - 1; i >= 0; i--) {
        const shade = i === 0 ? -1 : Math.min(9, Math.floor((10 * i) / Math.max(1, n)));
        if (!groups.has(shade)) groups.set(shade, { x: [], y: [], text: [] });
        const g = groups.get(shade);
        const label = `trial #${d.trial[i]}, score ${fmt(d.score[i])}`;
        axes.forEach((a, j) => {
          g.x.push(j);
          g.y.push(a.pos[i]);
          g.text.push(pt(`${label}<br>${a.p.name} = ${fmt(d.values[a.p.name][i])}`));
        });
        g.x.push(null);
        g.y.push(null);
        g.text.push("");
      }
      const traces = [...groups.entries()]
        .sort((a, b) => b[0] - a[0])
        .map(([shade, g]) => ({
          type: "scatter",
          mode: "lines+markers",
          x: g.x,
          y: g.y,
          text: g.text,
          hovertemplate: "%{text}<extra></extra>",
          line: { color: viridis(shade < 0 ? 0 : (shade + 1) / 11), width: shade < 0 ? 3 : 1.5 },
          marker: { size: 4 },
          opacity: 0.85,
          connectgaps: false,
          showlegend: false,
        }));
      const annotations = [];
      axes.forEach((a, j) => {
        annotations.push({ x: j, y: -0.06, text: pt(fmt(a.lo, 3)), showarrow: false, font: { size: 10, color: "#656d76" }, yanchor: "top" });
        annotations.push({ x: j, y: 1.06, text: pt(fmt(a.hi, 3)), showarrow: false, font: { size: 10, color: "#656d76" }, yanchor: "bottom" });
      });
      plot(s.fig, traces, {
        height: 380,
        margin: { l: 40, r: 40, t: 40, b: 60 },
        xaxis: { tickvals: axes.map((_, j) => j), ticktext: axes.map((a) => pt(a.p.name)), showgrid: true, gridcolor: "#888", zeroline: false, range: [-0.3, axes.length - 0.7] },
        yaxis: { showticklabels: false, range: [-0.15, 1.15], zeroline: false, showgrid: false },
        annotations: annotations,
        showlegend: false,
      });
    }

    // ---- importance
    async function renderImportance(s) {
      const d = await api(base + "/importance");
      s.stale = d.stale;
      if (!d.shares) {
        s.body.replaceChildren(h("p", { class: "muted", text: `not enough ok trials yet (${d.ok} of at least ${d.min_trials})` }));
        s.fig = null;
        return;
      }
      if (!s.fig) {
        s.fig = h("div", { class: "plot" });
        s.note = h("p", { class: "note" });
        s.body.replaceChildren(s.note, s.fig);
      }
      const names = Object.keys(d.shares).reverse();
      s.note.textContent =
        `Share of ${d.of}'s variation each hyperparameter explains (a random forest, permutation importance) - fitted on ${fmtCount(d.used)} of ${fmtCount(d.ok)} committed ok trials` +
        (d.used < d.ok ? " (evenly spread, the best always in)" : "") + (d.stale ? "; refitted shortly (it is not refitted on every change)" : "") + ".";
      plot(
        s.fig,
        [{ type: "bar", orientation: "h", y: names.map(pt), x: names.map((n) => d.shares[n]), marker: { color: "#1f77b4" }, hovertemplate: "%{y}: %{x:.1%}<extra></extra>" }],
        { height: 80 + 28 * names.length, xaxis: { tickformat: ".0%", title: { text: "share" } }, margin: { l: 120, r: 16, t: 16, b: 48 }, showlegend: false }
      );
    }

    // ---- Pareto front
    async function renderPareto(s) {
      const d = await api(base + "/pareto");
      if (!s.fig) {
        s.fig = h("div", { class: "plot" });
        s.note = h("p", { class: "note" });
        s.tableBox = h("div", { class: "scroll" });
        s.body.replaceChildren(s.note, s.fig, h("h3", { text: "Members of the front" }), s.tableBox);
      }
      const [a, b] = d.names;
      s.note.textContent = `${fmtCount(d.size)} trials on the front of ${fmtCount(d.counted)} counted; grey: a sample of the others. The ringed one is the result (${d.weights ? "the least weighted sum" : "the best " + a}).` + (d.names.length > 2 ? ` Plotted on the first two of ${d.names.length} objectives.` : "");
      const fx = d.front.objectives[a], fy = d.front.objectives[b];
      const pick = d.front.trial.indexOf(d.picked);
      plot(
        s.fig,
        [
          { type: "scatter", mode: "markers", x: d.sample[a], y: d.sample[b], name: "trials", marker: { size: 4, color: "rgba(120,120,120,0.45)" }, hoverinfo: "x+y" },
          { type: "scatter", mode: "lines+markers", x: fx, y: fy, name: "Pareto front", line: { shape: "hv", color: "#d62728" }, marker: { size: 6 }, text: d.front.trial.map((t) => `trial #${t}`), hovertemplate: "%{x}, %{y}<br>%{text}<extra></extra>" },
          { type: "scatter", mode: "markers", x: pick >= 0 ? [fx[pick]] : [], y: pick >= 0 ? [fy[pick]] : [], name: "result", marker: { size: 16, color: "rgba(0,0,0,0)", line: { color: "#000", width: 2 } }, hoverinfo: "skip" },
        ],
        { height: 400, title: title(`${a} (${d.modes[0]}) vs ${b} (${d.modes[1]})`), xaxis: { title: { text: pt(a) } }, yaxis: { title: { text: pt(b) } } }
      );
      const params = d.space.map((p) => p.name);
      const rows = d.front.trial.map((t, i) => [(t === d.picked ? "* " : "") + `#${t}`, d.front.round[i] + 1, ...d.names.map((n) => d.front.objectives[n][i]), ...params.map((p) => fmt(d.front.values[p][i]))]);
      s.tableBox.replaceChildren(table(["trial", "round", ...d.names, ...params], rows));
    }

    // ---- workers
    async function renderWorkers(s) {
      const d = await api(base + "/workers");
      if (!d.stats.length) {
        s.body.replaceChildren(h("p", { class: "muted", text: "no timed evaluation yet" }));
        s.figs = null;
        return;
      }
      if (!s.figs || s.mode !== d.mode) {
        s.mode = d.mode;
        s.figs = [h("div", { class: "plot" }), h("div", { class: "plot" })];
        s.note = h("p", { class: "note" });
        s.tableBox = h("div", { class: "scroll" });
        s.body.replaceChildren(s.note, s.figs[0], s.figs[1], h("h3", { text: "Per worker" }), s.tableBox);
      }
      s.note.textContent =
        `${d.stats.length} workers over ${fmtSeconds(d.span_s)}; busy ${fmt(100 * d.utilization, 3)} % of the time on average. ` +
        (d.mode === "bars" ? "Each bar is one trial; gaps are idle time." : `Busy share per worker and time bin (${fmtCount(d.trials)} trials: aggregated${d.hidden_workers ? `; the ${d.heatmap.workers.length} busiest workers shown` : ""}); pale cells are idle time.`);
      const height = Math.min(900, 110 + 22 * d.workers.length);
      if (d.mode === "bars") {
        const traces = [];
        for (const status of Object.keys(STATUS_COLORS)) {
          const idx = d.bars.status.map((st, i) => (st === status ? i : -1)).filter((i) => i >= 0);
          if (!idx.length) continue;
          traces.push({
            type: "bar",
            orientation: "h",
            name: status,
            y: idx.map((i) => pt(d.bars.worker[i])),
            base: idx.map((i) => d.bars.start[i]),
            x: idx.map((i) => Math.max(d.bars.duration[i], d.span_s / 2000)),
            marker: { color: STATUS_COLORS[status], line: { width: 0 } },
            text: idx.map((i) => pt(`${d.bars.trial[i] === null ? "running round " + (d.bars.round[i] + 1) : "trial #" + d.bars.trial[i] + ", round " + (d.bars.round[i] + 1)}; ${status}${d.bars.score[i] === null ? "" : ", score " + fmt(d.bars.score[i])}; ${fmt(d.bars.duration[i], 3)} s`)),
            hovertemplate: "%{y}<br>%{text}<extra></extra>",
            textposition: "none",
          });
        }
        plot(s.figs[0], traces, {
          height: height,
          barmode: "overlay",
          bargap: 0.25,
          title: title("trials per worker over time"),
          xaxis: { title: { text: "seconds since the first trial started" }, range: [0, d.span_s] },
          yaxis: { type: "category", categoryorder: "array", categoryarray: d.workers.map(pt).reverse(), automargin: true },
          margin: { l: 90, r: 16, t: 36, b: 48 },
        });
      } else {
        const edges = d.bins.edges;
        const centres = edges.slice(0, -1).map((e, i) => (e + edges[i + 1]) / 2);
        plot(
          s.figs[0],
          [{ type: "heatmap", x: centres, y: d.heatmap.workers.map(pt), z: d.heatmap.busy_share, zmin: 0, zmax: 1, colorscale: [[0, "#f7fbff"], [0.5, "#6baed6"], [1, "#08306b"]], colorbar: { title: { text: "busy" }, tickformat: ".0%" }, hovertemplate: "%{y} at %{x:.0f} s: busy %{z:.0%}<extra></extra>" }],
          { height: height, title: title("busy share per worker over time"), xaxis: { title: { text: "seconds since the first trial started" } }, yaxis: { automargin: true, autorange: "reversed" }, margin: { l: 90, r: 16, t: 36, b: 48 }, showlegend: false }
        );
      }
      const edges = d.bins.edges;
      plot(
        s.figs[1],
        [{ type: "scatter", mode: "lines", x: edges.slice(0, -1).map((e, i) => (e + edges[i + 1]) / 2), y: d.bins.busy_share, line: { shape: "hv", color: "#2ca02c" }, fill: "tozeroy", name: "busy", hovertemplate: "%{x:.0f} s: %{y:.0%} busy<extra></extra>" }],
        { height: 200, title: title("all workers: share busy (the rest is idle)"), xaxis: { title: { text: "seconds" } }, yaxis: { tickformat: ".0%", range: [0, 1.05] }, showlegend: false }
      );
      const stats = d.stats.slice(0, 300);
      s.tableBox.replaceChildren(
        table(["worker", "trials", "busy (s)", "idle (s)", "busy share", "first start (s)", "last end (s)"], stats.map((w) => [w.worker, w.trials, w.busy_s, w.idle_s, `${fmt(100 * w.utilization, 3)} %`, w.first_s, w.last_s]))
      );
    }

    // ---- the trial table (paged, sorted and filtered on the server)
    async function renderTrials(s) {
      if (!s.built) {
        s.built = true;
        const status = h("select", {}, h("option", { value: "", text: "any" }), ["ok", "failed", "invalid", "timeout"].map((v) => h("option", { value: v, text: v })));
        status.name = "status";
        const round = h("select", { name: "round" }, h("option", { value: "", text: "any" }));
        const q = h("input", { type: "search", name: "q", placeholder: "text in the error or worker" });
        const where = h("input", { type: "text", name: "where", class: "wide", placeholder: "filters: score < 0.1, act = relu, error ~ memory" });
        const size = h("select", { name: "limit" }, [25, 50, 100, 250].map((n) => h("option", { value: n, text: n, selected: n === 50 })));
        const prev = h("button", { text: "\u2039 previous", name: "prev" });
        const next = h("button", { text: "next \u203a", name: "next" });
        s.info = h("span", { class: "note", dataset: { field: "table-info" } });
        s.problem = h("span", { class: "error-text" });
        s.box = h("div", { class: "tablewrap" });
        s.round = round;
        const apply = () => {
          tq.offset = 0;
          drawTable(s);
        };
        status.addEventListener("change", () => { tq.status = status.value; apply(); });
        round.addEventListener("change", () => { tq.round = round.value; apply(); });
        size.addEventListener("change", () => { tq.limit = Number(size.value); apply(); });
        let wait = null;
        q.addEventListener("input", () => { clearTimeout(wait); wait = setTimeout(() => { tq.q = q.value; apply(); }, 300); });
        where.addEventListener("change", () => { tq.where = where.value; apply(); });
        where.addEventListener("keydown", (e) => { if (e.key === "Enter") { tq.where = where.value; apply(); } });
        prev.addEventListener("click", () => { tq.offset = Math.max(0, tq.offset - tq.limit); drawTable(s); });
        next.addEventListener("click", () => { tq.offset += tq.limit; drawTable(s); });
        s.prev = prev;
        s.next = next;
        s.body.replaceChildren(
          h("div", { class: "controls" }, h("label", {}, "status", status), h("label", {}, "round", round), h("label", {}, "search", q), h("label", {}, "where", where), h("label", {}, "rows", size)),
          h("div", { class: "controls" }, prev, next, s.info, s.problem),
          s.box
        );
      }
      const rounds = summary.rounds.concat(summary.running);
      if (s.round.options.length !== rounds.length + 1) {
        const value = s.round.value;
        s.round.replaceChildren(h("option", { value: "", text: "any" }), rounds.map((r) => h("option", { value: r, text: `${r + 1}${summary.running.includes(r) ? " (running)" : ""}` })));
        s.round.value = value;
      }
      await drawTable(s);
    }

    async function drawTable(s) {
      let d;
      try {
        d = await api(base + "/trials", {
          offset: tq.offset,
          limit: tq.limit,
          sort: tq.sort,
          order: tq.order,
          status: tq.status,
          round: tq.round,
          q: tq.q,
          where: tq.where ? tq.where.split(",").map((w) => w.trim()).filter((w) => w) : [],
        });
      } catch (e) {
        if (e.status === 400) {
          s.problem.textContent = e.message;
          return;
        }
        throw e;
      }
      s.problem.textContent = "";
      if (d.offset > 0 && d.offset >= d.matched) {
        tq.offset = Math.max(0, Math.floor((d.matched - 1) / tq.limit) * tq.limit);
        return drawTable(s);
      }
      const first = d.matched ? d.offset + 1 : 0;
      const last = d.offset + d.rows.length;
      s.info.textContent = `${fmtCount(first)}\u2013${fmtCount(last)} of ${fmtCount(d.matched)} matching (${fmtCount(d.total)} trials)`;
      s.info.dataset.matched = d.matched;
      s.info.dataset.total = d.total;
      s.prev.disabled = d.offset === 0;
      s.next.disabled = last >= d.matched;
      const head = h(
        "tr",
        {},
        d.columns.map((c) => {
          const arrow = d.sort === c.name ? (d.order === "asc" ? " \u25b2" : " \u25bc") : "";
          const th = h("th", { class: "sortable", title: `sort by ${c.name}`, dataset: { column: c.name } }, c.name, h("span", { class: "arrow", text: arrow }));
          th.addEventListener("click", () => {
            if (tq.sort === c.name) tq.order = tq.order === "asc" ? "desc" : "asc";
            else { tq.sort = c.name; tq.order = c.name === "score" && summary.mode === "min" ? "asc" : c.name === "score" ? "desc" : "asc"; }
            tq.offset = 0;
            drawTable(s);
          });
          return th;
        })
      );
      const statusAt = d.columns.findIndex((c) => c.name === "status");
      const body = d.rows.map((row, i) =>
        h(
          "tr",
          { class: d.pending[i] ? "pending" : null, title: d.pending[i] ? "from the running round: its configuration is stored when the round is committed" : null },
          row.map((v, j) => {
            const name = d.columns[j].name;
            const cls = name === "error" ? "err" : j === statusAt ? "status-" + (["ok", "failed", "invalid", "timeout"].includes(v) ? v : "other") : typeof v === "number" ? "num" : null;
            let text = name === "round" && v !== null ? String(v + 1) + (d.pending[i] ? " (running)" : "") : fmt(v);
            if (name === "duration_s" && v !== null) text = fmt(v, 4);
            return h("td", { class: cls, text: text, title: name === "error" && v ? v : null });
          })
        )
      );
      s.box.replaceChildren(h("table", { class: "grid", id: "trial-table" }, h("thead", {}, head), h("tbody", {}, body)));
    }

    await refresh(true);
    schedule(async () => {
      const v = await api(base + "/version");
      setLive(v.state, v);
      if (S.busy) return;
      if (v.version !== version) {
        version = v.version;
        await refresh(false);
      } else {
        const stale = sections.filter((s) => s.stale);
        if (stale.length) await Promise.all(stale.map(renderSection));
      }
    });
    setLive(summary.state);
  }

  // -- several runs side by side -------------------------------------------------------------
  async function pageCompare(keys) {
    const main = document.getElementById("main");
    crumbs({ text: "runs", href: "/" }, { text: "compare" });
    const list = keys.split(",").filter((k) => k);
    if (list.length < 2) {
      main.replaceChildren(h("p", { text: "Pick two or more runs on the " }, h("a", { href: "/", text: "list of runs" }), "."));
      markReady();
      return;
    }
    const box = h("div", {});
    const figs = [h("div", { class: "plot" }), h("div", { class: "plot" })];
    main.replaceChildren(
      h("section", { class: "card", id: "compare-summary" }, h("h2", { text: "Side by side" }), box),
      h("section", { class: "card", id: "compare-curves" }, h("h2", { text: "Best score so far" }), h("div", { class: "figures" }, figs))
    );
    let versions = "";
    async function render() {
      const d = await api("/api/compare", { runs: list.join(",") });
      versions = d.runs.map((r) => r.version).join(",");
      const params = [...new Set(d.runs.flatMap((r) => (r.best ? Object.keys(r.best.config) : [])))];
      const rows = d.runs.map((r) => [
        r.key,
        r.name,
        r.state,
        r.objectives ? r.objectives.join(", ") : r.mode,
        r.trials,
        r.ok,
        r.rounds,
        r.best ? r.best.score : null,
        r.best ? `#${r.best.trial_id}` : null,
        r.test_score,
        r.duration_s === null ? null : fmtSeconds(r.duration_s),
        ...params.map((p) => (r.best && p in r.best.config ? fmt(r.best.config[p]) : "\u2013")),
      ]);
      const t = table(["run", "name", "state", "mode", "trials", "ok", "rounds", "best score", "best trial", "test score", "duration", ...params], rows);
      t.id = "compare-table";
      box.replaceChildren(t);
      for (const [i, axis] of [["evals", "evaluations"], ["time", "wall time (s)"]].entries()) {
        const traces = d.runs.map((r, k) => {
          const st = r.curve.steps;
          if (!st) return { type: "scatter", x: [], y: [], name: pt(r.key) };
          return {
            type: "scatter",
            mode: "lines",
            name: pt(`${r.key} (${r.mode})`),
            x: st[axis[0]].concat([r.curve.end[axis[0]]]),
            y: st.score.concat([st.score[st.score.length - 1]]),
            line: { shape: "hv", color: COLORS[k % COLORS.length], width: 2 },
          };
        });
        const all = d.runs.flatMap((r) => (r.curve.steps ? r.curve.steps.score : []));
        plot(figs[i], traces, { title: title(`best score so far vs ${axis[1]}`), xaxis: { title: { text: axis[1] } }, yaxis: scoreAxis(all, "score"), height: 360 });
      }
      setLive(d.runs.some((r) => r.state === "running") ? "running" : "idle");
      markReady();
    }
    await render();
    schedule(async () => {
      const runs = await api("/api/runs");
      const now = list.map((k) => (runs.find((r) => r.key === k) || {}).version).join(",");
      if (now !== versions) await render();
    });
  }

  async function main() {
    try {
      const config = await api("/api/config");
      S.poll = config.poll_s || S.poll;
    } catch (e) {
      // keep the default
    }
    const path = window.location.pathname;
    try {
      if (path.startsWith("/run/")) await pageRun(decodeURIComponent(path.slice(5)));
      else if (path === "/compare") await pageCompare(new URLSearchParams(window.location.search).get("runs") || "");
      else await pageIndex();
    } catch (e) {
      document.getElementById("main").replaceChildren(h("p", { class: "error-text", text: "could not load: " + e.message }));
      setLive("error", e.message);
      console.error(`sweep dashboard: ${e.message}`);
    }
  }

  // Start the first requests now; draw once the page (and plotly.js, after this) is loaded.
  prefetch("/api/config");
  if (window.location.pathname.startsWith("/run/")) {
    const base = "/api/run/" + encodeURIComponent(decodeURIComponent(window.location.pathname.slice(5)));
    prefetch(base + "/summary");
    for (const view of ["progress", "ranges", "scatter", "importance", "workers"]) prefetch(`${base}/${view}`);
    prefetch(base + "/parallel", { k: 50 });
    prefetch(base + "/trials", { offset: 0, limit: 50, sort: "started_at", order: "desc" });
  } else if (window.location.pathname === "/") {
    prefetch("/api/runs");
  }
  document.addEventListener("DOMContentLoaded", main);
})();

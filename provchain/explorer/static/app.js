// provchain explorer: helpers shared by every page (no framework, no build step).
"use strict";
(function () {
  const PC = (window.PC = {});

  PC.el = function (tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  };

  PC.short = function (h, n) {
    n = n || 8;
    h = String(h || "");
    return h.length <= 2 * n + 1 ? h : h.slice(0, n) + "…" + h.slice(-n);
  };

  // a hash in full; a long one also abbreviated, which a phone shows instead (html.py mono, style.css)
  PC.mono = function (h, attrs) {
    h = String(h || "");
    if (h.length < 24) return PC.el("code", Object.assign({ class: "hash" }, attrs || {}), h);
    return PC.el("code", Object.assign({ class: "hash long", title: h, tabindex: "0" }, attrs || {}),
      PC.el("span", { class: "full" }, h), PC.el("span", { class: "abbr", "aria-hidden": "true" }, PC.short(h, 10)));
  };

  PC.hashLink = function (href, h, n) {
    return PC.el("a", { href: href, title: h }, PC.el("code", { class: "hash" }, PC.short(h, n)));
  };

  PC.relative = function (iso) {
    const t = Date.parse(iso);
    if (isNaN(t)) return "";
    let s = Math.round((Date.now() - t) / 1000);
    const future = s < 0;
    s = Math.abs(s);
    if (s < 2) return "just now";
    const units = [["day", 86400], ["hour", 3600], ["min", 60], ["s", 1]];
    for (const [u, n] of units) {
      if (s >= n) {
        const v = Math.floor(s / n);
        const label = v + " " + u + ((u === "day" || u === "hour") && v !== 1 ? "s" : "");
        return future ? "in " + label : label + " ago";
      }
    }
    return "";
  };

  PC.utc = function (iso) {
    const t = new Date(iso);
    if (isNaN(t.getTime())) return iso || "";
    return t.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  };

  PC.timeTag = function (iso) {
    return PC.el("time", { datetime: iso, title: PC.utc(iso), "data-rel": "1" }, PC.relative(iso));
  };

  PC.duration = function (ms) {
    const s = Number(ms) / 1000;
    if (!isFinite(s)) return "";
    return s < 60 ? s.toFixed(2) + " s" : Math.floor(s / 60) + " min " + (s % 60).toFixed(1) + " s";
  };

  PC.refreshTimes = function () {
    document.querySelectorAll("time[data-rel]").forEach(function (t) {
      t.textContent = PC.relative(t.getAttribute("datetime"));
    });
  };

  // one proof check list: [{name, ok, detail}]
  PC.checkList = function (checks) {
    const ul = PC.el("ul", { class: "checks" });
    for (const c of checks || []) {
      ul.append(PC.el("li", { class: c.ok ? "ok" : "bad" },
        PC.el("span", { class: "mark", "aria-label": c.ok ? "passed" : "failed" }, c.ok ? "✓" : "✗"),
        PC.el("span", { class: "name" }, c.name),
        PC.el("span", { class: "detail" }, c.detail || "")));
    }
    return ul;
  };

  PC.fetchJSON = async function (url, opts) {
    const r = await fetch(url, opts);
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    return { status: r.status, ok: r.ok, body: body };
  };

  PC.errorText = function (res) {
    if (res.body && res.body.error) return res.body.error.message;
    return "HTTP " + res.status;
  };

  // a long hash shows abbreviated on a phone; a tap (or Enter) shows all of it, wrapped
  document.addEventListener("click", (e) => {
    const c = e.target.closest && e.target.closest("code.hash.long");
    if (c && !c.closest("a")) c.classList.toggle("open");
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && e.target.matches && e.target.matches("code.hash.long")) e.target.classList.toggle("open");
  });

  setInterval(PC.refreshTimes, 10000);
})();

// Verify page: hash the file in the browser (WebCrypto); an exact hit is proven by record id without
// uploading; otherwise the file is uploaded to /api/verify, which runs the same code as `verify`.
"use strict";
(function () {
  const form = document.getElementById("verify-form");
  const input = document.getElementById("file-input");
  const progress = document.getElementById("verify-progress");
  const result = document.getElementById("verify-result");
  const cap = Number(form.dataset.cap);
  const el = PC.el;

  const SENTENCE = {
    verified: "Byte-identical to a registered file, and its record's proof checks out.",
    match: "A faithful copy of registered content (re-encoded, resized, remuxed, trimmed or an excerpt).",
    altered: "Parts of this clip come from registered content and parts do not: it was spliced, partly replaced or edited.",
    unregistered: "Nothing registered on this chain matches this clip.",
    invalid: "A record was claimed for this clip but its proof or signature failed: do not trust the node's answer.",
    error: "Could not decide.",
  };

  function hex(buf) {
    return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("").toUpperCase();
  }
  function mb(n) { return (n / 1048576).toFixed(n < 10485760 ? 2 : 0) + " MB"; }

  function say(text, pct) {
    progress.hidden = false;
    const kids = [el("span", { id: "progress-text" }, text)];
    if (pct !== undefined) {
      const bar = el("span");
      bar.style.width = Math.round(pct * 100) + "%";
      kids.push(el("div", { class: "bar" }, bar));
    }
    progress.replaceChildren(...kids);
  }

  function showError(title, message, verify) {
    progress.hidden = true;
    result.hidden = false;
    const box = el("div", { class: "verdict error", id: "verdict" },
      el("div", { class: "word", id: "verdict-word" }, title), el("p", { id: "verdict-message" }, message));
    result.replaceChildren(box);
    const details = verify && verify.errors ? verify.errors.join("; ") : "";
    if (details && details !== message) result.append(el("p", { class: "muted" }, "Details: " + details));
  }

  function timeline(v, clip) {
    const matches = v.matches || [];
    let dur = clip && clip.duration_s ? Number(clip.duration_s) : 0;
    for (const m of matches) {
      for (const s of m.segments || []) dur = Math.max(dur, s.query_end_s);
      for (const a of m.altered_segments || []) dur = Math.max(dur, a.query_end_s);
    }
    const wrap = el("div", { class: "timeline-block" }, el("h2", {}, "Timeline of the clip"));
    if (!(dur > 0)) {
      wrap.append(el("p", { class: "muted" }, "No part of the clip was matched."));
      return wrap;
    }
    const bar = el("div", { class: "timeline", id: "timeline", role: "img",
      "aria-label": "timeline of the clip: matched, altered and unmatched parts" });
    const legend = el("div", { class: "legend" });
    const pct = (x) => (100 * Math.max(0, Math.min(dur, x)) / dur).toFixed(3) + "%";
    const pctw = (a, b) => (100 * Math.max(0, Math.min(dur, b) - Math.max(0, a)) / dur).toFixed(3) + "%";
    matches.forEach(function (m, i) {
      for (const s of m.segments || []) {
        const seg = el("a", { class: "seg match src" + (i % 3), href: "/record/" + m.record_id,
          title: s.query_start_s.toFixed(1) + "–" + s.query_end_s.toFixed(1) + " s: record " + PC.short(m.record_id) +
                 " at " + s.record_start_s.toFixed(1) + "–" + s.record_end_s.toFixed(1) + " s" });
        seg.style.left = pct(s.query_start_s);
        seg.style.width = pctw(s.query_start_s, s.query_end_s);
        bar.append(seg);
      }
      if ((m.segments || []).length) {
        const sw = el("span", { class: "sw match" });
        if (i % 3) sw.style.filter = "hue-rotate(" + (70 * (i % 3)) + "deg)";
        legend.append(el("span", {}, sw, "from record ", PC.hashLink("/record/" + m.record_id, m.record_id, 6)));
      }
    });
    let altered = false;
    for (const m of matches) {
      for (const a of m.altered_segments || []) {
        altered = true;
        const seg = el("span", { class: "seg alt", title: a.query_start_s.toFixed(1) + "–" + a.query_end_s.toFixed(1) + " s: altered / not from the record" });
        seg.style.left = pct(a.query_start_s);
        seg.style.width = pctw(a.query_start_s, a.query_end_s);
        bar.append(seg);
      }
    }
    if (altered) legend.append(el("span", {}, el("span", { class: "sw alt" }), "altered (not from the matched record)"));
    legend.append(el("span", {}, el("span", { class: "sw none" }), "not matched"));
    wrap.append(bar, el("div", { class: "timeline-axis" }, el("span", {}, "0 s"), el("span", {}, dur.toFixed(1) + " s")), legend);
    return wrap;
  }

  // "first registered at height H by creator C (record R)" for the origin a later claim points to
  function firstRegistered(o) {
    return el("span", {}, "first registered at height ", el("a", { href: "/block/" + o.height }, String(o.height)),
      " by creator ", PC.hashLink("/creator/" + o.creator, o.creator, 6), " (record ",
      PC.hashLink("/record/" + o.record_id, o.record_id, 6), ")");
  }

  function matchCard(m, byId) {
    const card = el("div", { class: "match-card", "data-record": m.record_id, "data-claim": m.claim || "" });
    const head = el("div", {}, el("strong", {}, "Record "), PC.hashLink("/record/" + m.record_id, m.record_id, 10));
    if (m.claim === "origin") head.append(" ", el("span", { class: "badge ok claim" }, "origin"));
    if (m.claim === "later") head.append(" ", el("span", { class: "badge warn claim" }, "later claim"));
    if (m.similarity !== undefined && m.similarity !== null) head.append(" · similarity " + Math.round(100 * m.similarity) + "%");
    card.append(head);
    const facts = el("div", { class: "muted" });
    if (m.creator) facts.append("creator ", PC.hashLink("/creator/" + m.creator, m.creator, 6));
    if (m.height) facts.append(" · block ", el("a", { href: "/block/" + m.height }, String(m.height)));
    if (m.block_time) facts.append(" · ", PC.utc(m.block_time), " (", PC.timeTag(m.block_time), ")");
    if (m.generator) facts.append(" · generated by ", m.generator.model, " seed ", String(m.generator.seed));
    card.append(facts);
    const origin = m.claim === "later" && byId[m.origin_record_id];
    if (origin) card.append(el("div", { class: "claim-note" }, "A later registration of this content: ", firstRegistered(origin), "."));
    if ((m.parents || []).length) {
      const p = el("div", { class: "small" }, "Declared a derivative of ");
      m.parents.forEach((x, i) => p.append(i ? ", " : "", PC.hashLink("/record/" + x, x, 6)));
      card.append(p);
    }
    if (m.unproven) {
      const said = Object.keys(m.unproven).map((k) => k + " " + String(m.unproven[k])).join(", ");
      card.append(el("div", { class: "bad small" }, "The node claims (not proven): " + said));
    }
    if ((m.segments || []).length) {
      const ul = el("ul", { class: "plain small" });
      for (const s of m.segments) {
        ul.append(el("li", {}, "clip " + s.query_start_s.toFixed(1) + "–" + s.query_end_s.toFixed(1) + " s = record " +
          s.record_start_s.toFixed(1) + "–" + s.record_end_s.toFixed(1) + " s"));
      }
      for (const a of m.altered_segments || []) {
        ul.append(el("li", { class: "bad" }, "clip " + a.query_start_s.toFixed(1) + "–" + a.query_end_s.toFixed(1) + " s: altered"));
      }
      card.append(ul);
    }
    const p = m.proof || { verified: false, checks: [] };
    card.append(el("div", { class: p.verified ? "ok" : "bad" }, el("strong", {}, p.verified ? "Proof verified" : "Proof FAILED"),
      " — " + (p.checks || []).length + " checks against the trusted validator set"), PC.checkList(p.checks));
    return card;
  }

  // The clip's C2PA manifest (Content Credentials), as `verify` reports it in its "c2pa" object.
  function c2paCard(c) {
    const card = el("div", { class: "card", id: "c2pa-card" }, el("h2", {}, "Content Credentials (C2PA)"));
    if (!c) return card;
    if (!c.present) {
      let text = "No C2PA manifest in this file.", cls = "muted";
      if (c.manifest_lost) {
        text = "No C2PA manifest: it was LOST. The registered file carried one; a remux or re-encode strips it. " +
               "The chain still found the record by the clip's fingerprint.";
        cls = "bad";
      } else if (c.error) {
        text = "C2PA: " + c.error;
      }
      card.append(el("p", { class: cls, id: "c2pa-state", "data-state": c.manifest_lost ? "lost" : "none" }, text));
      return card;
    }
    const signer = c.signer || {};
    const state = c.validation_state || "?";
    const rows = [
      ["Validation", el("span", { id: "c2pa-state", "data-state": state, class: state === "Invalid" ? "bad" : state === "Trusted" ? "ok" : "" },
        state + (state === "Valid" ? " (signature valid; the signer's certificate is not from a trusted CA)" : ""))],
      ["Claim generator", c.claim_generator || "—"],
      ["Signer", [signer.common_name, signer.organization].filter(Boolean).join(", ") + (signer.alg ? " (" + signer.alg + ")" : "") || "—"],
      ["Actions", c.actions.length ? c.actions.map((a) => [a.action, a.software_agent && "by " + a.software_agent,
        a.digital_source_type && a.digital_source_type.split("/").pop()].filter(Boolean).join(" ")).join("; ") : "—"],
      ["Soft binding", c.soft_binding ? c.soft_binding.alg : "—"],
    ];
    if ((c.ingredients || []).length) rows.push(["Ingredients", c.ingredients.map((i) => (i.title || "?") + " (" +
      (i.relationship || "?") + (i.claim_generator ? ", manifest by " + i.claim_generator : "") + ")").join("; ")]);
    const check = el("span", { id: "c2pa-check", "data-check": c.chain_check });
    if (c.chain_check === "consistent") check.append(el("span", { class: "ok" }, "agrees with the chain: record "),
      PC.hashLink("/record/" + c.record_id, c.record_id, 10));
    else if (c.chain_check === "conflict") check.append(el("strong", { class: "bad" }, "CONFLICT: " + c.conflicts.join("; ")));
    else if (c.chain_check === "other_chain") check.append("names another chain (" + c.chain_claim.chain_id + ")");
    else check.append(el("span", { class: "muted" }, "the manifest names no record of a provchain"));
    rows.push(["Chain record", check]);
    card.append(el("table", { class: "kv" }, el("tbody", {}, ...rows.map(([k, val]) =>
      el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, val))))));
    if (c.failures.length) card.append(el("ul", { class: "plain small bad" },
      ...c.failures.map((f) => el("li", {}, (f.code || "?") + (f.explanation ? ": " + f.explanation : "")))));
    return card;
  }

  // The edited region(s): the dropped file itself (it never leaves the browser for this), paused in the
  // middle of the first altered span, with a box over each region reported for the time shown.
  function regionView(v, file) {
    const spans = [];
    for (const m of v.matches || []) for (const a of m.altered_segments || []) if (a.region) spans.push(a);
    if (!spans.length || !file) return null;
    const wrap = el("div", { class: "region-view", id: "region-view" }, el("h2", {}, "Where it was edited"));
    const stage = el("div", { class: "region-stage" });
    const video = el("video", { muted: "", controls: "", playsinline: "", preload: "auto", id: "region-video" });
    video.src = URL.createObjectURL(file);
    stage.append(video);
    const boxes = spans.map(function (a) {
      const b = el("div", { class: "region-box", title: a.query_start_s.toFixed(1) + "–" + a.query_end_s.toFixed(1) + " s: not from the record" });
      b.style.left = (100 * a.region.x).toFixed(2) + "%";
      b.style.top = (100 * a.region.y).toFixed(2) + "%";
      b.style.width = (100 * a.region.w).toFixed(2) + "%";
      b.style.height = (100 * a.region.h).toFixed(2) + "%";
      stage.append(b);
      return [a, b];
    });
    function show() {
      const t = video.currentTime;
      for (const [a, b] of boxes) b.hidden = !(t >= a.query_start_s && t <= a.query_end_s);
    }
    video.addEventListener("timeupdate", show);
    video.addEventListener("seeked", show);
    video.addEventListener("loadedmetadata", function () {
      // up to 640 px wide and 60% of the window high, aspect kept (the boxes are fractions of the frame)
      const aspect = video.videoWidth / Math.max(1, video.videoHeight);
      video.style.width = Math.round(Math.min(640, 0.6 * window.innerHeight * aspect)) + "px";
      video.currentTime = (spans[0].query_start_s + spans[0].query_end_s) / 2;
      show();
    });
    const list = el("ul", { class: "plain small" });
    for (const a of spans) {
      list.append(el("li", {}, a.query_start_s.toFixed(1) + "–" + a.query_end_s.toFixed(1) + " s: a region at " +
        Math.round(100 * a.region.x) + "%, " + Math.round(100 * a.region.y) + "% of the frame, " +
        Math.round(100 * a.region.w) + "% × " + Math.round(100 * a.region.h) + "% of its size, does not come from the record"));
    }
    wrap.append(stage, list);
    return wrap;
  }

  function render(body, file) {
    progress.hidden = true;
    result.hidden = false;
    const v = body.verify;
    const verdict = v.verdict;
    const box = el("div", { class: "verdict " + verdict, id: "verdict", "data-verdict": verdict },
      el("div", { class: "word", id: "verdict-word" }, verdict),
      el("p", { id: "verdict-message" }, SENTENCE[verdict] || ""));
    const meta = el("div", { class: "card" });
    const rows = [
      ["File", (body.clip && body.clip.name) || v.file],
      ["SHA-256", v.content_sha256 ? PC.mono(v.content_sha256, { id: "result-sha" }) : "—"],
      ["How", body.uploaded ? "uploaded, fingerprinted and compared with the verify code path; the upload was deleted"
                            : "found by its SHA-256 computed in this browser: the file was not uploaded"],
      ["Trust", v.trust ? (v.trust.source === "genesis_file" ? "validator set from the explorer's genesis file" :
                          "validator set taken from the node (" + (v.trust.validators || "?") + " validators): see the trust note above") : "—"],
    ];
    const t = el("table", { class: "kv" }, el("tbody", {}, ...rows.map(([k, val]) =>
      el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, val)))));
    meta.append(t);
    const byId = {};
    for (const m of v.matches || []) byId[m.record_id] = m;
    const origin = byId[v.origin_record_id];
    if (origin && v.origin_record_id !== v.verdict_record_id) {
      box.append(el("p", { id: "verdict-claim" }, "This file's record is a later claim: the content was ", firstRegistered(origin), "."));
    } else if (origin) {
      box.append(el("p", { id: "verdict-claim" }, "Origin: ", firstRegistered(origin), "."));
    }
    result.replaceChildren(box, meta, c2paCard(v.c2pa), timeline(v, body.clip));
    const rv = regionView(v, file);
    if (rv) result.append(rv);
    if ((v.matches || []).length) {
      result.append(el("h2", {}, "Source records and proof checks"), el("p", { class: "muted small" },
        "Every matching record, earliest registration first: the first registrant is the origin."));
      for (const m of v.matches) result.append(matchCard(m, byId));
    }
    if ((v.errors || []).length) result.append(el("p", { class: "bad" }, v.errors.join("; ")));
  }

  function upload(file) {
    return new Promise(function (resolve) {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/verify");
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.setRequestHeader("X-Filename", encodeURIComponent(file.name));
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) say("Uploading " + file.name + "…", e.loaded / e.total); };
      xhr.upload.onload = () => say("Fingerprinting and comparing with the chain, then checking the proofs…");
      xhr.onload = function () {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        resolve({ status: xhr.status, ok: xhr.status >= 200 && xhr.status < 300, body: body });
      };
      xhr.onerror = () => resolve({ status: 0, ok: false, body: null });
      xhr.send(file);
    });
  }

  async function handle(file) {
    if (!file) return;
    result.hidden = true;
    if (file.size === 0) { showError("empty file", file.name + " is empty (0 bytes): choose a video file."); return; }
    let sha = null;
    if (window.crypto && crypto.subtle && file.size <= 512 * 1048576) {
      say("Computing the SHA-256 of " + file.name + " in your browser…");
      try { sha = hex(await crypto.subtle.digest("SHA-256", await file.arrayBuffer())); } catch (e) { sha = null; }
    }
    if (sha) {
      say("Looking up SHA-256 " + PC.short(sha) + " on chain…");
      const hit = await PC.fetchJSON("/api/record?fingerprint=false&content_sha256=" + sha);
      if (hit.status === 503) { showError("node unavailable", PC.errorText(hit)); return; }
      if (hit.ok && hit.body && hit.body.content_sha256 === sha) {
        say("Exact match: checking the record's proof (the file is not uploaded)…");
        const res = await PC.fetchJSON("/api/verify/record/" + hit.body.record_id + "?content_sha256=" + sha +
                                       "&file=" + encodeURIComponent(file.name));
        if (res.ok) { render(res.body, file); return; }
        if (res.status === 503) { showError("node unavailable", PC.errorText(res)); return; }
      }
    }
    if (file.size > cap) {
      showError("too large", file.name + " is " + mb(file.size) + ", more than this explorer's upload cap of " + mb(cap) +
        "; it was not uploaded. Use the verify command for big files.");
      return;
    }
    say("Uploading " + file.name + "…", 0);
    const res = await upload(file);
    if (res.ok && res.body) { render(res.body, file); return; }
    const titles = { 0: "upload failed", 400: "bad file", 413: "too large", 422: "not a video", 503: "node unavailable" };
    showError(titles[res.status] || "error", res.body && res.body.error ? res.body.error.message :
      "The explorer did not answer (HTTP " + res.status + ").", res.body && res.body.verify);
  }

  input.addEventListener("change", () => { handle(input.files[0]); });
  form.addEventListener("submit", (e) => { e.preventDefault(); handle(input.files[0]); });
  ["dragenter", "dragover"].forEach((t) => form.addEventListener(t, (e) => { e.preventDefault(); form.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => form.addEventListener(t, () => form.classList.remove("over")));
  form.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files.length) handle(e.dataTransfer.files[0]);
  });
})();

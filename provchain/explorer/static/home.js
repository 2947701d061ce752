// Home page: live blocks, records and chain stats over server-sent events.
"use strict";
(function () {
  const MAX_ROWS = 10;
  const heightEl = () => document.getElementById("latest-height");
  const blocksBody = document.getElementById("blocks-body");
  const recordsBody = document.getElementById("records-body");
  const live = document.getElementById("live");
  const liveText = document.getElementById("live-text");
  const banner = document.getElementById("node-banner");
  let validatorIndex = {};
  try { validatorIndex = JSON.parse(document.getElementById("validator-index").dataset.map || "{}"); } catch (e) { /* none */ }

  function currentHeight() { return parseInt(heightEl().textContent, 10) || 0; }
  function currentRecords() {
    const v = parseInt(document.getElementById("records-count").dataset.count, 10);
    return isNaN(v) ? null : v;
  }
  function clearEmpty(tbody) { tbody.querySelectorAll("tr.empty").forEach((r) => r.remove()); }
  function trim(tbody) { while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(tbody.rows.length - 1); }
  function cell(label, ...content) { return PC.el("td", { "data-label": label }, ...content); }
  function topHeight() {
    const first = blocksBody.querySelector("tr:not(.empty) td a");
    return first ? parseInt(first.textContent, 10) : 0;
  }

  function addBlock(b) {
    if (b.height <= topHeight()) return;
    clearEmpty(blocksBody);
    const idx = validatorIndex[b.proposer];
    const tr = PC.el("tr", { class: "fresh" },
      cell("Height", PC.el("a", { href: "/block/" + b.height }, String(b.height))),
      cell("Time", PC.timeTag(b.time)),
      cell("Txs", String(b.num_txs)),
      cell("Proposer", PC.el("span", { title: b.proposer }, idx !== undefined ? "validator " + idx : PC.short(b.proposer))),
      cell("Hash", PC.hashLink("/block/" + b.height, b.hash, 6)));
    blocksBody.prepend(tr);
    trim(blocksBody);
  }

  function addRecord(r) {
    if (recordsBody.querySelector('a[href="/record/' + r.record_id + '"]')) return;
    clearEmpty(recordsBody);
    const media = PC.duration(r.duration_ms) + " · " + r.width + "×" + r.height_px;
    const tr = PC.el("tr", { class: "fresh" },
      cell("#", r.number !== undefined ? String(r.number) : ""),
      cell("Record", PC.hashLink("/record/" + r.record_id, r.record_id, 6)),
      cell("Creator", PC.hashLink("/creator/" + r.creator, r.creator, 6)),
      cell("Registered", PC.timeTag(r.block_time),
        PC.el("span", { class: "sub" }, PC.el("a", { href: "/block/" + r.height }, "block " + r.height))),
      cell("Media", media, r.model ? PC.el("span", { class: "sub" }, r.model) : null));
    recordsBody.prepend(tr);
    trim(recordsBody);
  }

  function setStatus(s) {
    const h = heightEl();
    if (s.latest_height >= currentHeight()) {
      h.textContent = String(s.latest_height);
      if (h.tagName === "A") h.setAttribute("href", "/block/" + s.latest_height);
      const t = document.getElementById("latest-time");
      t.replaceChildren(PC.timeTag(s.latest_block_time));
      t.title = PC.utc(s.latest_block_time);
    }
    const v = s.validators;
    document.getElementById("validators-online").textContent = v.online + " / " + v.total;
    document.getElementById("online-power").textContent = v.online_power + " of " + v.total_power + " voting power";
    if (s.records !== null && s.records !== undefined) {
      const rc = document.getElementById("records-count");
      rc.textContent = String(s.records);
      rc.dataset.count = String(s.records);
    }
    document.getElementById("chain-id").textContent = s.chain_id;
  }

  function nodeState(ok, message) {
    if (ok) {
      banner.hidden = true;
      live.className = "live on";
      liveText.textContent = "live: new blocks appear as they are committed";
    } else {
      banner.hidden = false;
      banner.className = "banner";
      banner.textContent = "The node is not answering: " + (message || "") + " Showing the last known state.";
      live.className = "live off";
      liveText.textContent = "node unavailable, retrying…";
    }
  }

  if (!window.EventSource) {
    liveText.textContent = "this browser has no server-sent events: reload for new blocks";
    return;
  }
  let es = null;
  function connect() {
    const since = currentHeight();
    const recs = currentRecords();
    const url = "/api/events?since=" + since + (recs !== null ? "&records=" + recs : "");
    es = new EventSource(url);
    es.addEventListener("block", (e) => {
      const b = JSON.parse(e.data);
      addBlock(b);
      if (b.height > currentHeight()) {
        heightEl().textContent = String(b.height);
        if (heightEl().tagName === "A") heightEl().setAttribute("href", "/block/" + b.height);
        document.getElementById("latest-time").replaceChildren(PC.timeTag(b.time));
      }
    });
    es.addEventListener("record", (e) => addRecord(JSON.parse(e.data)));
    es.addEventListener("status", (e) => { setStatus(JSON.parse(e.data)); nodeState(true); });
    es.addEventListener("node", (e) => { const d = JSON.parse(e.data); nodeState(d.ok, d.message); });
    es.onopen = () => { live.className = "live on"; liveText.textContent = "live: new blocks appear as they are committed"; };
    es.onerror = () => {
      live.className = "live off";
      liveText.textContent = "live updates interrupted, reconnecting…";
      if (es.readyState === EventSource.CLOSED) { setTimeout(connect, 3000); }
    };
  }
  connect();
})();

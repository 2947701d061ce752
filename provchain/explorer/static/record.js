// Record page: "Check the proof" asks the explorer to prove the record against the genesis validator set.
"use strict";
(function () {
  const btn = document.getElementById("check-proof");
  const out = document.getElementById("proof-result");
  if (!btn) return;
  btn.addEventListener("click", async function () {
    btn.disabled = true;
    btn.textContent = "Checking…";
    out.hidden = false;
    out.replaceChildren(PC.el("p", { class: "muted" }, "Fetching the Merkle proof and the commit, checking the signatures…"));
    try {
      const res = await PC.fetchJSON("/api/verify/record/" + btn.dataset.record);
      if (!res.ok) throw new Error(PC.errorText(res));
      const v = res.body.verify;
      const m = (v.matches || [])[0] || { proof: { checks: [] } };
      const good = v.verdict === "verified";
      const box = PC.el("div", { class: "verdict " + (good ? "verified" : "invalid") },
        PC.el("div", { class: "word" }, good ? "proof checked" : "proof failed"),
        PC.el("p", {}, good ? "This record is included in a block committed by more than ⅔ of the voting power of the trusted validator set."
                            : "A check failed: the node's answer does not prove this record."));
      const card = PC.el("div", { class: "match-card" }, PC.el("strong", {}, "Checks performed"), PC.checkList(m.proof.checks));
      if (v.trust && v.trust.warning) card.append(PC.el("p", { class: "trust warn" }, v.trust.warning));
      out.replaceChildren(box, card);
    } catch (e) {
      out.replaceChildren(PC.el("div", { class: "verdict error" }, PC.el("div", { class: "word" }, "could not check"), PC.el("p", {}, e.message)));
    } finally {
      btn.disabled = false;
      btn.textContent = "Check the proof";
    }
  });
})();

// The entry page's "验证" button: prove in this browser that the entry is leaf `seq` of
// the latest signed checkpoint, and that the page shows what that leaf says.

import { b64decode, hex } from "./bytes.js";
import { apiBase, checkInclusion, fetchInclusion, getJSON, latestCheckpoint } from "./log.js";
import { Checks, describe, estateId, shortHash, t, verdict, via } from "./ui.js";

const button = document.getElementById("verify");
const box = document.getElementById("verdict");
const card = document.getElementById("entry");
const seq = Number(card.dataset.seq);

function text(id) {
  const el = document.getElementById(id);
  return el ? el.textContent : null;
}

/** The first field where the page differs from the proven entry, or null. */
function pageDifference(stored) {
  const p = stored.payload;
  if (stored.seq !== seq) return "seq";
  if (card.dataset.kind !== p.kind) return "kind";
  if (text("entry-date") !== p.date) return "date";
  if ((text("entry-memo") ?? "") !== (p.memo ?? "")) return "memo";
  if (p.kind === "transaction") {
    if (text("entry-counterparty") !== p.body.counterparty) return "counterparty";
    const shown = Array.from(document.querySelectorAll("[data-posting]"), (row) => [
      row.dataset.account,
      Number(row.dataset.amount),
    ]);
    const proven = p.body.postings.map((x) => [x.account, x.amount]);
    if (JSON.stringify(shown) !== JSON.stringify(proven)) return "postings";
  }
  return null;
}

async function run() {
  const checks = new Checks(document.getElementById("checks"));
  verdict(box, "pending", t("running"));
  try {
    const latest = await latestCheckpoint(estateId());
    const cp = latest.checkpoint;
    checks.info(t("c_key", { name: latest.key.name, keyid: hex(latest.key.keyId) }));
    checks.ok(t("c_sig", { via: via(latest.ed25519) }));
    checks.info(t("c_latest", { size: cp.size, root: shortHash(cp.root) }));
    const item = await getJSON(`${apiBase(estateId())}/entries/${seq}`);
    const leaf = b64decode(item.leaf, "leaf");
    const hashes = await fetchInclusion(estateId(), seq, cp);
    let proven;
    try {
      proven = await checkInclusion(seq, leaf, hashes, cp);
    } catch (error) {
      checks.bad(t("c_inclusion", { seq, size: cp.size, n: hashes.length, result: t("fail") }));
      throw error;
    }
    checks.info(t("c_leaf", { hash: shortHash(proven.leafHash) }));
    checks.ok(
      t("c_inclusion", { seq, size: cp.size, n: proven.proofLength, result: t("pass") }),
    );
    const stored = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(leaf));
    const diff = pageDifference(stored);
    if (diff) {
      checks.bad(t("c_page_bad", { field: diff }));
      verdict(box, "failed", t("entry_failed"), t("c_page_bad", { field: diff }));
      return;
    }
    checks.ok(t("c_page"));
    verdict(box, "ok", t("entry_ok"));
  } catch (error) {
    checks.bad(describe(error));
    const fetchFailed = error && error.code === "fetch";
    verdict(box, "failed", fetchFailed ? t("error") : t("entry_failed"), t("error_detail"));
  }
}

button.addEventListener("click", () => {
  button.disabled = true;
  run().finally(() => {
    button.disabled = false;
  });
});
button.disabled = false;

// The receipt page: a household's code `<seq>-<salt>-<unit>` proves its payment is in
// the log. The browser recomputes the commitment SHA-256(salt || unit) itself, checks
// it is the one in entry `seq`, and proves that entry against a signed checkpoint. The
// code never goes into the page address (it holds the household's salt).

import { b32decode, b64decode, b64encode, concat, hex, utf8 } from "./bytes.js";
import { lastEd25519, sha256 } from "./crypto.js";
import { FetchError, apiBase, checkInclusion, publishedKey } from "./log.js";
import { openCheckpoint } from "./note.js";
import { Checks, describe, estateId, shortHash, t, verdict, via, yuan } from "./ui.js";

const form = document.getElementById("receipt-form");
const input = document.getElementById("code");
const box = document.getElementById("verdict");
const CODE = /^(0|[1-9][0-9]{0,15})-([a-z2-7]{26})-(.{1,64})$/u;

function notFound() {
  verdict(box, "failed", t("rc_not_found"), t("rc_not_found_detail"));
}

async function fetchReceipt(code) {
  const url = `${apiBase(estateId())}/receipts/${encodeURIComponent(code)}`;
  const res = await fetch(url, { cache: "no-store", credentials: "omit" });
  if (res.status === 404) return null;
  if (!res.ok) throw new FetchError(url, res.status);
  return res.json();
}

async function run(code) {
  const checks = new Checks(document.getElementById("checks"));
  const match = CODE.exec(code);
  if (!match) return notFound();
  const seq = Number(match[1]);
  const salt = b32decode(match[2], "salt");
  const unit = match[3].normalize("NFC");
  verdict(box, "pending", t("running"));
  const answer = await fetchReceipt(`${match[1]}-${match[2]}-${unit}`);
  if (!answer) return notFound();
  try {
    const { key } = await publishedKey(estateId());
    checks.info(t("c_key", { name: key.name, keyid: hex(key.keyId) }));
    const cp = await openCheckpoint(String(answer.checkpoint), key);
    checks.ok(t("c_sig", { via: via(lastEd25519) }));
    checks.info(t("c_latest", { size: cp.size, root: shortHash(cp.root) }));
    if (answer.inclusion.tree_size !== cp.size) throw new Error("proof is for another tree size");
    const leaf = b64decode(answer.leaf, "leaf");
    const proven = await checkInclusion(seq, leaf, answer.inclusion.hashes, cp);
    checks.ok(t("c_inclusion", { seq, size: cp.size, n: proven.proofLength, result: t("pass") }));
    const stored = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(leaf));
    const p = stored.payload;
    const commitment = b64encode(await sha256(concat(salt, utf8(unit))));
    if (stored.seq !== seq || p.estate !== estateId() || p.kind !== "transaction") {
      throw new Error("the proven entry is not this receipt's");
    }
    if (p.body.household !== commitment) throw new Error("household commitment differs");
    checks.ok(t("c_commitment"));
    const amount = p.body.postings.filter((x) => x.amount > 0).reduce((a, x) => a + x.amount, 0);
    const line = t("rc_line", { seq, date: p.date, amount: yuan(amount), memo: p.memo || "" });
    verdict(box, "ok", t("rc_ok"), line);
    if (answer.reversed_by !== null && answer.reversed_by !== undefined) {
      checks.info(t("rc_reversed", { seq: answer.reversed_by }));
    }
  } catch (error) {
    checks.bad(describe(error));
    verdict(box, "failed", t("rc_failed"), t("error_detail"));
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  run(input.value.trim()).catch((error) => {
    new Checks(document.getElementById("checks")).bad(describe(error));
    verdict(box, "failed", t("error"), t("error_detail"));
  });
});

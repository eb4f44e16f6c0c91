// The estate page's badge: verify the latest checkpoint's signature here, and that it
// extends the checkpoint this device verified last time (if any).

import { hex } from "./bytes.js";
import { checkConsistency, latestCheckpoint } from "./log.js";
import { Checks, describe, estateId, shortHash, t, verdict, via } from "./ui.js";
import { recall, remember } from "./witness.js";

const box = document.getElementById("badge");
const checks = new Checks(document.getElementById("checks"));

async function run() {
  const latest = await latestCheckpoint(estateId());
  const cp = latest.checkpoint;
  checks.info(t("c_key", { name: latest.key.name, keyid: hex(latest.key.keyId) }));
  checks.ok(t("c_sig", { via: via(latest.ed25519) }));
  checks.info(t("c_latest", { size: cp.size, root: shortHash(cp.root) }));
  const before = recall(cp.origin);
  if (before && before.size > cp.size) {
    const detail = t("badge_rollback", { old: before.size, size: cp.size });
    checks.bad(detail);
    verdict(box, "failed", t("badge_failed"), detail);
    return;
  }
  if (before) {
    let n;
    try {
      n = await checkConsistency(estateId(), before.size, before.root, cp);
    } catch (error) {
      if (error.code === "fetch") throw error;
      checks.bad(t("c_proof_bad", { old: before.size, size: cp.size }));
      checks.bad(describe(error));
      verdict(box, "failed", t("badge_failed"), t("failed_detail", { old: before.size }));
      return;
    }
    checks.ok(t("c_proof", { old: before.size, size: cp.size, n, result: t("pass") }));
  }
  remember(cp);
  const detail = before ? t("badge_detail", { old: before.size }) : t("badge_first");
  verdict(box, "ok", t("badge_ok", { size: cp.size }), detail);
}

run().catch((error) => {
  checks.bad(describe(error));
  const fetchFailed = error && error.code === "fetch";
  verdict(box, "failed", fetchFailed ? t("error") : t("badge_failed"), t("error_detail"));
});

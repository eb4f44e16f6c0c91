// The check page a statement's QR code opens: is the live log a consistent extension of
// the statement's checkpoint (size N, root)? Verdict on #verdict as
// data-verify-status="ok" | "failed" once the check has run.

import { b64encode, b64urlDecode, hex } from "./bytes.js";
import { checkConsistency, latestCheckpoint } from "./log.js";
import { Checks, describe, estateId, t, verdict, via } from "./ui.js";
import { remember } from "./witness.js";

const box = document.getElementById("verdict");
const checks = new Checks(document.getElementById("checks"));

function statementParams() {
  const params = new URLSearchParams(window.location.search);
  const sizeText = params.get("size") || "";
  if (!/^[1-9][0-9]{0,15}$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    return null;
  }
  try {
    const root = b64urlDecode(params.get("root") || "", "root");
    return root.length === 32 ? { size: Number(sizeText), root } : null;
  } catch (_) {
    return null;
  }
}

async function run() {
  const wanted = statementParams();
  if (!wanted) {
    checks.bad(t("bad_params_detail"));
    verdict(box, "failed", t("bad_params"), t("bad_params_detail"));
    return;
  }
  checks.info(t("c_params", { size: wanted.size, root: b64encode(wanted.root) }));

  const latest = await latestCheckpoint(estateId());
  const cp = latest.checkpoint;
  checks.info(t("c_key", { name: latest.key.name, keyid: hex(latest.key.keyId) }));
  if (latest.keyCount > 1) checks.info(t("c_keys", { n: latest.keyCount }));
  checks.ok(t("c_sig", { via: via(latest.ed25519) }));
  checks.info(t("c_latest", { size: cp.size, root: b64encode(cp.root) }));

  if (wanted.size > cp.size) {
    checks.bad(t("newer_detail", { old: wanted.size, size: cp.size }));
    verdict(box, "failed", t("newer"), t("newer_detail", { old: wanted.size, size: cp.size }));
    return;
  }
  let n = 0;
  try {
    n = await checkConsistency(estateId(), wanted.size, wanted.root, cp);
  } catch (error) {
    if (error.code === "fetch") throw error;
    const line = wanted.size === cp.size ? "c_same" : "c_proof";
    checks.bad(t(`${line}_bad`, { old: wanted.size, size: cp.size }));
    checks.bad(describe(error));
    verdict(box, "failed", t("failed"), t("failed_detail", { old: wanted.size }));
    return;
  }
  const line = wanted.size === cp.size ? "c_same" : "c_proof";
  checks.ok(t(line, { old: wanted.size, size: cp.size, n, result: t("pass") }));
  remember(cp);
  verdict(box, "ok", t("ok"), t("ok_detail", { old: wanted.size, size: cp.size }));
}

run().catch((error) => {
  checks.bad(describe(error));
  const fetchFailed = error && error.code === "fetch";
  verdict(box, "failed", fetchFailed ? t("error") : t("failed"), t("error_detail"));
});

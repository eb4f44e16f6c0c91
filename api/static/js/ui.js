// Page helpers: messages from the server's catalog, the verdict element, the list of checks.
// Everything from the network is written with textContent: inert, never markup.

import { b64encode } from "./bytes.js";
import { lastEd25519 } from "./crypto.js";

const node = document.getElementById("page-messages");
const MESSAGES = node ? JSON.parse(node.textContent) : {};

export function t(key, values = {}) {
  const template = MESSAGES[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

export function estateId() {
  return document.getElementById("main").dataset.estate;
}

export function shortHash(bytes) {
  const text = typeof bytes === "string" ? bytes : b64encode(bytes);
  return text.length > 16 ? `${text.slice(0, 12)}…` : text;
}

export function yuan(fen) {
  const sign = fen < 0 ? "−" : "";
  const abs = Math.abs(fen);
  const whole = Math.floor(abs / 100).toLocaleString("en-US");
  return `${sign}¥${whole}.${String(abs % 100).padStart(2, "0")}`;
}

/** The list of what was checked, each line marked ok, bad or info. */
export class Checks {
  constructor(list) {
    this.list = list;
    if (list) list.replaceChildren();
  }

  add(state, text) {
    if (!this.list) return;
    const li = document.createElement("li");
    li.className = `check ${state}`;
    const mark = document.createElement("span");
    mark.className = "mark";
    mark.setAttribute("aria-hidden", "true");
    mark.textContent = state === "ok" ? "✓" : state === "bad" ? "✗" : "·";
    const body = document.createElement("span");
    body.textContent = text;
    li.append(mark, body);
    this.list.append(li);
  }

  ok(text) {
    this.add("ok", text);
  }

  bad(text) {
    this.add("bad", text);
  }

  info(text) {
    this.add("info", text);
  }
}

/** Set the verdict element: status "ok", "failed" or "pending", a title and a detail. */
export function verdict(el, status, title, detail = "") {
  if (lastEd25519) document.documentElement.dataset.ed25519 = lastEd25519;
  el.dataset.verifyStatus = status;
  el.classList.remove("pending", "idle", "ok", "failed");
  el.classList.add(status);
  el.querySelector(".verdict-title").textContent = title;
  el.querySelector(".verdict-detail").textContent = detail;
}

export function via(name) {
  document.documentElement.dataset.ed25519 = name || "";
  return name === "fallback" ? t("fallback") : t("webcrypto");
}

/** A short, plain description of why a check could not pass. */
export function describe(error) {
  const message = error && error.message ? error.message : String(error);
  const kind = MESSAGES[`e_${error && error.code}`];
  return t("c_error", { detail: kind ? `${kind}（${message}）` : message });
}

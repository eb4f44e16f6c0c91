// Infinite scrolling for the transactions list: when the "load more" link comes into
// view, fetch the next rows as server-rendered HTML and append them. Without
// JavaScript (or if this fails) the link still pages normally.

import { t } from "./ui.js";

const list = document.getElementById("rows");

function observe(link) {
  if (!link || !("IntersectionObserver" in window)) return;
  const watcher = new IntersectionObserver((seen) => {
    if (seen.some((e) => e.isIntersecting)) {
      watcher.disconnect();
      load(link);
    }
  }, { rootMargin: "600px" });
  watcher.observe(link);
}

async function load(link) {
  link.setAttribute("aria-busy", "true");
  try {
    const res = await fetch(link.dataset.rows, { credentials: "same-origin" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    const rows = doc.getElementById("rows");
    const more = doc.getElementById("more-wrap");
    // Copy the live collections first: adopting a node removes it from them.
    const adopt = (nodes) => Array.from(nodes).map((n) => document.adoptNode(n));
    if (rows) list.append(...adopt(rows.children));
    document.getElementById("more-wrap").replaceChildren(...adopt(more ? more.childNodes : []));
    observe(document.getElementById("more"));
  } catch (_) {
    link.removeAttribute("aria-busy");
    link.title = t("more_failed");
    link.addEventListener("click", (event) => {
      event.preventDefault();
      load(link);
    }, { once: true });
  }
}

if (list) observe(document.getElementById("more"));

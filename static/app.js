// Progressive enhancement only: every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // A checkbox with data-reveals shows its fields only while ticked (Warn Me → Threshold,
  // Warning Email). Without JavaScript the fields are simply always shown.
  for (const box of document.querySelectorAll("input[type=checkbox][data-reveals]")) {
    const target = document.querySelector(box.dataset.reveals);
    if (!target) continue;
    const sync = () => { target.hidden = !box.checked; };
    box.addEventListener("change", sync);
    sync();
  }

  // A search box with data-filter hides the items whose data-search text lacks a typed word.
  for (const input of document.querySelectorAll("input[data-filter]")) {
    const items = document.querySelectorAll(input.dataset.filter);
    const filter = () => {
      const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      for (const item of items) {
        const text = (item.dataset.search || item.textContent).toLowerCase();
        item.hidden = !words.every((w) => text.includes(w));
      }
      for (const section of document.querySelectorAll(".settings-section")) {
        section.hidden = !section.querySelector(".setting:not([hidden])");
      }
    };
    input.addEventListener("input", filter);
  }
});

// Live SMS counter: characters, parts, encoding and cost while typing. The server counts again
// when sending, and its count is the one charged.
(() => {
  const BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  const EXTENSION = "^{}\\[~]|€\f";
  const count = (text) => {
    const chars = Array.from(text);
    let gsm = true;
    const costs = chars.map((c) => {
      if (BASIC.includes(c)) return 1;
      if (EXTENSION.includes(c)) return 2;
      gsm = false;
      return 0;
    });
    const units = gsm ? costs : chars.map((c) => c.length); // UTF-16 code units
    const total = units.reduce((a, b) => a + b, 0);
    const [single, perPart] = gsm ? [160, 153] : [70, 67];
    let parts = 0;
    if (total > 0 && total <= single) parts = 1;
    else if (total > single) {
      parts = 1;
      let used = 0;
      for (const u of units) {
        if (used + u > perPart) { parts += 1; used = 0; }
        used += u;
      }
    }
    return { encoding: gsm ? "GSM-7" : "UCS-2", characters: chars.length, parts };
  };
  const units = (price) => Math.round(parseFloat(price) * 10000);
  const attach = (root) => {
    for (const area of root.querySelectorAll("textarea[data-sms-counter]")) {
      const out = root.querySelector(area.dataset.smsCounter);
      const price = units(area.dataset.price);
      const maxParts = parseInt(area.dataset.maxParts, 10);
      const show = () => {
        const c = count(area.value);
        const cost = (c.parts * price / 10000).toFixed(4);
        out.textContent = `${c.characters} characters · ${c.parts} SMS · ${c.encoding} · ${cost} credits` +
          (c.parts > maxParts ? ` — too long, at most ${maxParts} SMS` : "");
      };
      area.addEventListener("input", show);
      show();
    }
  };
  document.addEventListener("DOMContentLoaded", () => attach(document));

  // A link with data-modal opens its page's dialog section in a modal <dialog> instead of
  // navigating; the form inside still posts normally, so the server's answer (the chatter, or
  // the dialog again with its error) is a whole page. Any failure falls back to the link.
  document.addEventListener("click", async (event) => {
    const link = event.target.closest("a[data-modal]");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    try {
      const response = await fetch(link.href, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const section = page.querySelector("section.dialog");
      if (!section) throw new Error("no dialog in the page");
      const modal = document.createElement("dialog");
      modal.className = "modal";
      modal.setAttribute("aria-labelledby", section.getAttribute("aria-labelledby") || "");
      const close = document.createElement("button");
      close.type = "button";
      close.className = "close";
      close.setAttribute("aria-label", "Close");
      close.textContent = "×";
      close.addEventListener("click", () => modal.close());
      modal.append(close, document.adoptNode(section));
      for (const back of modal.querySelectorAll("[data-dialog-back]")) {
        back.addEventListener("click", (e) => { e.preventDefault(); modal.close(); });
      }
      modal.addEventListener("close", () => { modal.remove(); link.focus(); });
      document.body.append(modal);
      attach(modal);
      modal.showModal();
      modal.querySelector("textarea, input:not([type=hidden])")?.focus();
    } catch (error) {
      console.warn("opening the dialog as a page:", error);
      window.location.assign(link.href);
    }
  });
})();

// A form with data-confirm asks before it is submitted (deleting a contact, for instance).
document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

// Generate Leads: the maximum cost (leads × (price per company + contacts × price per contact))
// while typing, in exact 0.0001-credit units as the server counts them.
(() => {
  const output = document.getElementById("max-cost");
  if (!output) return;
  const leads = document.querySelector("[data-lead-count]");
  const contacts = document.querySelector("[data-contact-count]");
  const perCompany = Number(output.dataset.perCompany);
  const perContact = Number(output.dataset.perContact);
  const show = (units) => {
    const whole = Math.floor(units / 10000).toLocaleString("en-US");
    const fraction = String(units % 10000).padStart(4, "0").replace(/0+$/, "");
    return fraction ? `${whole}.${fraction}` : whole;
  };
  const update = () => {
    const n = Number(leads.value);
    const k = Number(contacts.value);
    const valid = Number.isInteger(n) && n >= 1 && n <= 200 && Number.isInteger(k) && k >= 0 && k <= 5;
    output.value = valid ? show(n * (perCompany + k * perContact)) : "—";
  };
  leads.addEventListener("input", update);
  contacts.addEventListener("input", update);
})();

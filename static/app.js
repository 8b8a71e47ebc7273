// Progressive enhancement only: every page works without this file.
"use strict";

// An amount of credits given in 0.0001-credit units, as the server writes it with its unit:
// "1 credit", "0.5 credits", "1,000 credits".
const creditsText = (units) => {
  const whole = Math.floor(units / 10000);
  const fraction = String(units % 10000).padStart(4, "0").replace(/0+$/, "");
  const grouped = String(whole).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const amount = fraction ? `${grouped}.${fraction}` : grouped;
  return `${amount} ${units === 10000 ? "credit" : "credits"}`;
};

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
        out.textContent = `${c.characters} characters · ${c.parts} SMS · ${c.encoding} · ${creditsText(c.parts * price)}` +
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

// Partner Autocomplete in the contact form: while "Is a company" is ticked, typing 3 letters
// of the name (or a VAT number) suggests companies in an ARIA 1.2 combobox (arrow keys, Enter,
// Escape). Choosing one fills the name and country and marks the contact to be enriched on
// save (paid); typing again cancels that choice.
(() => {
  const name = document.querySelector("input[data-suggest]");
  const isCompany = document.getElementById("is_company");
  const list = document.getElementById("company-suggestions");
  const chosen = document.getElementById("enrich_with");
  const notice = document.getElementById("enrich-notice");
  if (!name || !isCompany || !list || !chosen || !notice) return;
  let suggestions = [];
  let active = -1;
  let timer = null;
  let controller = null;

  name.setAttribute("role", "combobox");
  name.setAttribute("aria-autocomplete", "list");
  name.setAttribute("aria-controls", list.id);
  name.setAttribute("aria-expanded", "false");

  const close = () => {
    list.hidden = true;
    list.replaceChildren();
    suggestions = [];
    active = -1;
    name.setAttribute("aria-expanded", "false");
    name.removeAttribute("aria-activedescendant");
  };
  const highlight = (index) => {
    active = index;
    list.querySelectorAll("[role=option]").forEach((option, i) => {
      option.setAttribute("aria-selected", String(i === index));
    });
    if (index >= 0) {
      name.setAttribute("aria-activedescendant", `company-option-${index}`);
      list.children[index].scrollIntoView({ block: "nearest" });
    } else {
      name.removeAttribute("aria-activedescendant");
    }
  };
  const showNotice = (company) => {
    notice.replaceChildren();
    const price = creditsText(Math.round(parseFloat(name.dataset.price.replace(/,/g, "")) * 10000));
    notice.append(`Saving enriches this contact with ${company.name} for ${price}: address, VAT, website, phone, industry, size and logo. `);
    const undo = document.createElement("button");
    undo.type = "button";
    undo.className = "link-button";
    undo.textContent = "Do not enrich";
    undo.addEventListener("click", () => {
      chosen.value = "";
      notice.hidden = true;
      name.focus();
    });
    notice.append(undo);
    notice.hidden = false;
  };
  const choose = (index) => {
    const company = suggestions[index];
    if (!company) return;
    name.value = company.name;
    chosen.value = String(company.id);
    const country = document.getElementById("country");
    if (country && !country.value) country.value = company.country;
    const companyField = document.getElementById("company");
    if (companyField && !companyField.value) companyField.value = company.name;
    close();
    showNotice(company);
  };
  const render = () => {
    list.replaceChildren();
    suggestions.forEach((company, i) => {
      const option = document.createElement("li");
      option.id = `company-option-${i}`;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      const title = document.createElement("span");
      title.className = "suggestion-name";
      title.textContent = company.name;
      const where = document.createElement("span");
      where.className = "suggestion-meta";
      where.textContent = [company.city, company.country, company.vat].filter(Boolean).join(" · ");
      option.append(title, where);
      // mousedown, not click: it comes before the field's blur closes the list.
      option.addEventListener("mousedown", (event) => {
        event.preventDefault();
        choose(i);
      });
      list.append(option);
    });
    const open = suggestions.length > 0;
    list.hidden = !open;
    name.setAttribute("aria-expanded", String(open));
    active = -1;
  };
  const lookUp = async () => {
    const typed = name.value.trim();
    if (!isCompany.checked || typed.length < 3) {
      close();
      return;
    }
    if (controller) controller.abort();
    controller = new AbortController();
    try {
      const url = `${name.dataset.suggest}?q=${encodeURIComponent(typed)}`;
      const answer = await fetch(url, { signal: controller.signal, headers: { Accept: "application/json" } });
      if (!answer.ok) { close(); return; }
      suggestions = await answer.json();
      render();
    } catch (error) {
      if (error.name !== "AbortError") close();
    }
  };

  name.addEventListener("input", () => {
    if (chosen.value) {
      chosen.value = "";
      notice.hidden = true;
    }
    clearTimeout(timer);
    timer = setTimeout(lookUp, 200);
  });
  name.addEventListener("keydown", (event) => {
    if (list.hidden) return;
    if (event.key === "ArrowDown") {
      event.preventDefault();
      highlight((active + 1) % suggestions.length);
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      highlight(active <= 0 ? suggestions.length - 1 : active - 1);
    } else if (event.key === "Enter" && active >= 0) {
      event.preventDefault();
      choose(active);
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
  name.addEventListener("blur", () => setTimeout(close, 150));
  isCompany.addEventListener("change", () => {
    if (!isCompany.checked) {
      close();
      chosen.value = "";
      notice.hidden = true;
    }
  });
})();

// Print buttons (the invoice page).
document.querySelectorAll("[data-print]").forEach((button) => {
  button.addEventListener("click", () => window.print());
});

// A bill being read: ask every two seconds whether it still is, and show the page again when the
// fields are read. Without JavaScript the notice has a Refresh link.
(() => {
  const notice = document.querySelector("[data-reading]");
  if (!notice) return;
  const ask = async () => {
    try {
      const answer = await fetch(notice.dataset.reading, { credentials: "same-origin" });
      if (answer.ok && !(await answer.json()).reading) {
        window.location.reload();
        return;
      }
    } catch (_) {
      // Offline for a moment: ask again.
    }
    setTimeout(ask, 2000);
  };
  setTimeout(ask, 2000);
})();

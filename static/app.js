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

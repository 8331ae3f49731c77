// Progressive improvements only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons: <button data-copy="#element-id">. Browsers offer the clipboard only on
  // HTTPS and localhost; on a plain-HTTP LAN address the text is selected instead and the
  // button says how to copy it.
  const select = (element) => {
    const range = document.createRange();
    range.selectNodeContents(element);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  };
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    const label = button.textContent;
    button.addEventListener("click", async () => {
      const source = document.querySelector(button.dataset.copy);
      if (!source) return;
      try {
        if (!navigator.clipboard) throw new Error("no clipboard here");
        await navigator.clipboard.writeText(source.textContent.trim());
        button.textContent = "Copied";
      } catch (_) {
        select(source);
        button.textContent = "Selected: press Ctrl+C";
      }
      setTimeout(() => { button.textContent = label; }, 4000);
    });
  }
  // The date belongs to "Custom date": the field shows only with it, and another choice
  // clears it (the server refuses a date sent beside another choice).
  const expiration = document.getElementById("expiration");
  const date = document.getElementById("expires-on");
  if (expiration && date) {
    const field = date.closest(".field");
    const sync = (changed) => {
      const custom = expiration.value === "custom";
      if (!custom && changed) date.value = "";
      field.classList.toggle("is-hidden", !custom && date.value === "");
      date.required = custom;
    };
    expiration.addEventListener("change", () => sync(true));
    sync(false);
  }
  // A button that acts on ticked boxes (<button data-needs-selection="name">) is disabled
  // while none is ticked; without this file the server says "select first" instead.
  const selectionButtons = Array.from(document.querySelectorAll("button[data-needs-selection]"));
  const syncSelection = () => {
    for (const button of selectionButtons) {
      button.disabled = !document.querySelector(`input[type=checkbox][name="${button.dataset.needsSelection}"]:checked`);
    }
  };
  document.addEventListener("change", (event) => {
    if (event.target.matches("input[type=checkbox]")) syncSelection();
  });
  syncSelection();
  // "Select all" boxes: <input type="checkbox" data-select-all="name">
  for (const all of document.querySelectorAll("input[data-select-all]")) {
    all.hidden = false;
    all.addEventListener("change", () => {
      for (const box of document.querySelectorAll(`input[type=checkbox][name="${all.dataset.selectAll}"]`)) {
        box.checked = all.checked;
      }
      syncSelection();
    });
  }
  // Row menus (<details class="menu">) open and close by themselves; this adds what a menu
  // is expected to do: one open at a time, Escape or a click elsewhere closes it, and it
  // opens upwards when there is no room below its button.
  const menus = Array.from(document.querySelectorAll("details.menu"));
  const closeMenus = (except) => {
    for (const menu of menus) if (menu !== except && menu.open) menu.open = false;
  };
  for (const menu of menus) {
    menu.addEventListener("toggle", () => {
      if (!menu.open) return;
      closeMenus(menu);
      const list = menu.querySelector("ul");
      if (!list) return;
      menu.classList.remove("menu-up");
      const button = menu.getBoundingClientRect();
      if (list.getBoundingClientRect().bottom > window.innerHeight && button.top > window.innerHeight - button.bottom) {
        menu.classList.add("menu-up");
      }
    });
  }
  document.addEventListener("click", (event) => {
    closeMenus(event.target.closest("details.menu"));
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const open = menus.find((menu) => menu.open);
    if (!open) return;
    open.open = false;
    open.querySelector("summary").focus();
  });
});

// Progressive improvements only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons: <button data-copy="#element-id">
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = document.querySelector(button.dataset.copy);
      if (!source) return;
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        const label = button.textContent;
        button.textContent = "Copied";
        setTimeout(() => { button.textContent = label; }, 2000);
      } catch (_) { /* clipboard refused: the text stays selectable */ }
    });
  }
  // "Select all" boxes: <input type="checkbox" data-select-all="name">
  for (const all of document.querySelectorAll("input[data-select-all]")) {
    all.hidden = false;
    all.addEventListener("change", () => {
      for (const box of document.querySelectorAll(`input[type=checkbox][name="${all.dataset.selectAll}"]`)) {
        box.checked = all.checked;
      }
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

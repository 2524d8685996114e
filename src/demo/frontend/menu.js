// A menu button (WAI-ARIA Authoring Practices, "Menu Button"): a real <button> with
// aria-haspopup that opens a list of menu items. Opening focuses the first item; arrow keys,
// Home and End move between items; Escape closes and gives focus back to the button; Tab or a
// click elsewhere closes it. One menu is open at a time.
import { h } from './dom.js';

let openMenu = null;
let nextId = 0;

// items: [{ text, onSelect }]. Returns the node to put in the page.
export function menuButton({ label, text = '⋯', items }) {
  const id = `menu-${(nextId += 1)}`;
  const button = h('button', {
    type: 'button', class: 'menu-button', id: `${id}-button`,
    'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-controls': id, 'aria-label': label,
  }, text);
  const entries = items.map((item) => h('button', { type: 'button', role: 'menuitem', tabindex: '-1' }, item.text));
  const menu = h('ul', { class: 'menu', id, role: 'menu', 'aria-labelledby': button.id, hidden: true },
    entries.map((entry) => h('li', { role: 'none' }, entry)));

  const focusEntry = (index) => entries[(index + entries.length) % entries.length].focus();
  const onOutside = (event) => {
    if (!menu.contains(event.target) && event.target !== button) close(false);
  };
  function open(index) {
    if (openMenu && openMenu !== close) openMenu(false);
    openMenu = close;
    menu.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    document.addEventListener('pointerdown', onOutside, true);
    focusEntry(index);
  }
  function close(returnFocus) {
    if (menu.hidden) return;
    menu.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', onOutside, true);
    if (openMenu === close) openMenu = null;
    if (returnFocus) button.focus();
  }

  button.addEventListener('click', () => (menu.hidden ? open(0) : close(true)));
  button.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      open(event.key === 'ArrowDown' ? 0 : -1);
    }
  });
  menu.addEventListener('keydown', (event) => {
    const at = entries.indexOf(document.activeElement);
    const moves = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: -1 };
    if (event.key in moves) {
      event.preventDefault();
      focusEntry(moves[event.key]);
    } else if (event.key === 'Escape') {
      event.preventDefault();
      close(true);
    } else if (event.key === 'Tab') {
      close(false);
    }
  });
  entries.forEach((entry, index) => entry.addEventListener('click', () => {
    // Focus goes back to the button first, so a dialog the item opens returns focus there.
    close(true);
    items[index].onSelect();
  }));
  return h('div', { class: 'menu-wrap' }, button, menu);
}

// A modal confirmation (<dialog>: focus stays inside, Escape cancels). Resolves true only when
// the confirming button was pressed; focus then returns to where it was.
export function confirmDialog({ title, body, confirm, danger = false }) {
  const back = document.activeElement;
  return new Promise((resolve) => {
    const titleId = `dialog-${(nextId += 1)}`;
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
      h('form', { method: 'dialog' },
        h('h3', { id: titleId }, title),
        h('p', {}, body),
        h('div', { class: 'dialog-actions' },
          h('button', { value: 'cancel', autofocus: true }, 'Cancel'),
          h('button', { value: 'confirm', class: danger ? 'danger' : '' }, confirm))));
    dialog.addEventListener('close', () => {
      dialog.remove();
      back?.focus?.();
      resolve(dialog.returnValue === 'confirm');
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// A modal dialog showing `content`, closed with its Close button or Escape.
export function infoDialog({ title, content, className = '' }) {
  const back = document.activeElement;
  const titleId = `dialog-${(nextId += 1)}`;
  const dialog = h('dialog', { class: `dialog ${className}`, 'aria-labelledby': titleId },
    h('h3', { id: titleId }, title),
    content,
    h('form', { method: 'dialog', class: 'dialog-actions' }, h('button', { value: 'close' }, 'Close')));
  dialog.addEventListener('close', () => {
    dialog.remove();
    back?.focus?.();
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

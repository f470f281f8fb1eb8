// Small helpers without state: phone links, number and time formatting, the clipboard, DOM.

/** A tel: URI for a phone number as people write it ("+1 (555) 010-0000 x12"), or null. */
export function telHref(phone) {
  if (typeof phone !== 'string' || !/\d/.test(phone)) return null;
  const match = /^(.*?)(?:\s*(?:x|ext\.?|#)\s*(\d+))?\s*$/i.exec(phone.trim());
  const main = match[1].trim();
  const extension = match[2];
  const digits = main.replace(/\D/g, '');
  if (!digits) return null;
  return `tel:${main.startsWith('+') ? '+' : ''}${digits}${extension ? `;ext=${extension}` : ''}`;
}

const numberFormat = new Intl.NumberFormat('en-US');
export const formatCount = (n) => numberFormat.format(n);

export function formatTime(date) {
  return date.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** Copies text; navigator.clipboard first, then the old execCommand way. Resolves to true/false. */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Permission denied or no focus: try the fallback.
    }
  }
  const active = document.activeElement;
  const helper = document.createElement('textarea');
  helper.value = text;
  helper.setAttribute('readonly', '');
  helper.setAttribute('aria-hidden', 'true');
  helper.className = 'clipboard-helper';
  document.body.append(helper);
  helper.select();
  let copied = false;
  try {
    copied = document.execCommand('copy');
  } catch {
    copied = false;
  }
  helper.remove();
  if (active && typeof active.focus === 'function') active.focus();
  return copied;
}

/** el('button', {class: 'x', type: 'button'}, 'text', child…) */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === 'class') node.className = value;
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(name, '');
    else node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

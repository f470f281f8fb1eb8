// The admin forms: a contact form (new or edit) and a delete confirmation. Only one is open at a
// time, so the ids inside (#field-name, #error-phoneNumber, #form-error, …) are unique.
import { el } from './util.js';

const FIELDS = [
  { name: 'name', label: 'Name', attributes: { autocomplete: 'off' } },
  // Someone else's number, not the admin's own: the browser must not fill in the admin's (so no
  // autocomplete="tel"). type="text" with inputmode="tel" (the phone keypad): axe-core 3.1.1, the
  // browser test's checker, takes autocomplete="off" as valid on type="text" only.
  { name: 'phoneNumber', label: 'Phone number', attributes: { type: 'text', inputmode: 'tel', autocomplete: 'off' } },
];

const CONFLICT = 'Someone else changed this contact; reload it to see the current version.';

/** The sentence to show for a failed write. */
export function writeErrorMessage(error) {
  switch (error && error.kind) {
    case 'conflict': return CONFLICT;
    case 'not_found': return 'This contact no longer exists: someone deleted it.';
    case 'forbidden': return `Your account may not change contacts: ${error.message}`;
    case 'unauthenticated': return 'You are no longer signed in; reload the page to sign in.';
    case 'network': return 'The contacts service cannot be reached; nothing was saved. Try again.';
    case 'server': return `The contacts service failed: ${error.message}`;
    default: return (error && error.message) || 'Something went wrong.';
  }
}

function formError() {
  return el('p', { id: 'form-error', class: 'form-error', role: 'alert', hidden: true });
}

function showFormError(node, message, reloadButton, offerReload) {
  node.textContent = message;
  node.hidden = !message;
  if (reloadButton) {
    reloadButton.hidden = !offerReload;
  }
}

/**
 * A form for a new contact (mode "new") or an existing one (mode "edit").
 * handlers: onSubmit(values), onCancel(), onReload() (edit only).
 */
export function contactForm(mode, handlers) {
  const title = el('h2', { id: 'editor-title', class: 'editor-title' }, mode === 'new' ? 'New contact' : 'Edit contact');
  const inputs = {};
  const errors = {};
  const fields = FIELDS.map((field) => {
    const errorId = `error-${field.name}`;
    inputs[field.name] = el('input', {
      id: `field-${field.name}`, name: field.name, ...field.attributes, 'aria-describedby': errorId,
    });
    errors[field.name] = el('p', { id: errorId, class: 'field-error', hidden: true });
    return el('div', { class: 'field' },
      el('label', { for: `field-${field.name}` }, field.label), inputs[field.name], errors[field.name]);
  });
  const message = formError();
  const save = el('button', { type: 'submit', id: 'save', class: 'button primary' }, mode === 'new' ? 'Create' : 'Save');
  const cancel = el('button', { type: 'button', id: 'cancel', class: 'button' }, 'Cancel');
  const reload = el('button', { type: 'button', id: 'reload-contact', class: 'button', hidden: true }, 'Reload contact');
  const root = el('form', {
    id: 'editor', class: `editor editor-${mode}`, novalidate: true, 'aria-labelledby': 'editor-title',
  }, title, el('div', { class: 'fields' }, ...fields), message, el('div', { class: 'editor-buttons' }, save, cancel, reload));

  root.addEventListener('submit', (event) => {
    event.preventDefault();
    handlers.onSubmit({ name: inputs.name.value, phoneNumber: inputs.phoneNumber.value });
  });
  cancel.addEventListener('click', () => handlers.onCancel());
  reload.addEventListener('click', () => handlers.onReload && handlers.onReload());

  const form = {
    root,
    fill(contact) {
      inputs.name.value = contact.name ?? '';
      inputs.phoneNumber.value = contact.phoneNumber ?? '';
      title.textContent = mode === 'new' ? 'New contact' : `Edit “${contact.name}”`;
    },
    focus() {
      inputs.name.focus();
    },
    setBusy(busy, label) {
      save.disabled = busy;
      root.setAttribute('aria-busy', busy ? 'true' : 'false');
      save.textContent = busy ? (label || 'Saving…') : (mode === 'new' ? 'Create' : 'Save');
    },
    setEnabled(enabled) {
      for (const input of Object.values(inputs)) input.disabled = !enabled;
      save.disabled = !enabled;
    },
    clearErrors() {
      for (const name of Object.keys(inputs)) {
        errors[name].textContent = '';
        errors[name].hidden = true;
        inputs[name].removeAttribute('aria-invalid');
      }
      showFormError(message, '', reload, false);
    },
    /** Shows an ApiError: field messages at their fields, anything else above the buttons. */
    showError(error) {
      form.clearErrors();
      const unmatched = [];
      let first = null;
      if (error && error.kind === 'validation' && error.fields.length) {
        for (const { field, message: text } of error.fields) {
          if (inputs[field]) {
            errors[field].textContent = errors[field].textContent ? `${errors[field].textContent} ${text}` : text;
            errors[field].hidden = false;
            inputs[field].setAttribute('aria-invalid', 'true');
            first = first || inputs[field];
          } else {
            unmatched.push(`${field}: ${text}`);
          }
        }
      }
      const summary = error && error.kind === 'validation'
        ? [error.message, ...unmatched].join(' ')
        : writeErrorMessage(error);
      showFormError(message, summary, reload, error && error.kind === 'conflict' && !!handlers.onReload);
      if (first) first.focus();
    },
    showMessage(text) {
      showFormError(message, text, reload, false);
    },
  };
  return form;
}

/** "Delete “X”?" with Delete and Cancel. handlers: onConfirm(), onCancel(), onReload(). */
export function deleteConfirm(handlers) {
  const question = el('p', { id: 'editor-title', class: 'editor-title' }, 'Reading the contact…');
  const message = formError();
  const confirm = el('button', { type: 'submit', id: 'confirm-delete', class: 'button danger', disabled: true }, 'Delete');
  const cancel = el('button', { type: 'button', id: 'cancel', class: 'button' }, 'Cancel');
  const reload = el('button', { type: 'button', id: 'reload-contact', class: 'button', hidden: true }, 'Reload contact');
  const root = el('form', { id: 'editor', class: 'editor editor-delete', 'aria-labelledby': 'editor-title' },
    question, message, el('div', { class: 'editor-buttons' }, confirm, cancel, reload));
  root.addEventListener('submit', (event) => {
    event.preventDefault();
    handlers.onConfirm();
  });
  cancel.addEventListener('click', () => handlers.onCancel());
  reload.addEventListener('click', () => handlers.onReload());
  return {
    root,
    fill(contact) {
      question.textContent = `Delete “${contact.name}”${contact.phoneNumber ? ` (${contact.phoneNumber})` : ''}? This cannot be undone.`;
      confirm.disabled = false;
    },
    focus() {
      (confirm.disabled ? cancel : confirm).focus();
    },
    setBusy(busy) {
      confirm.disabled = busy;
      confirm.textContent = busy ? 'Deleting…' : 'Delete';
    },
    setEnabled(enabled) {
      confirm.disabled = !enabled;
    },
    clearErrors() {
      showFormError(message, '', reload, false);
    },
    showError(error) {
      showFormError(message, writeErrorMessage(error), reload, error && error.kind === 'conflict');
    },
    showMessage(text) {
      showFormError(message, text, reload, false);
    },
  };
}

/* Small form behaviours of the dashboard (no framework):
   - <form data-toggle-by="NAME">: each element inside with data-show-for="a b" is shown
     only while the form's field NAME has one of those values (hidden ones are disabled,
     so they are not submitted).
   - [data-open-dialog="ID"] opens <dialog id="ID"> (showModal); [data-close-dialog] closes
     the dialog it is in. */
'use strict';
(function () {
  function applyToggles(form) {
    const name = form.dataset.toggleBy;
    const field = form.elements.namedItem(name);
    if (!field) return;
    const value = field.value;
    form.querySelectorAll('[data-show-for]').forEach(function (el) {
      const show = el.dataset.showFor.split(/\s+/).includes(value);
      el.hidden = !show;
      el.querySelectorAll('input, select, textarea').forEach(function (input) { input.disabled = !show; });
    });
  }
  function init(root) {
    root.querySelectorAll('form[data-toggle-by]').forEach(function (form) {
      if (form.dataset.toggleReady) return;
      form.dataset.toggleReady = '1';
      form.addEventListener('change', function (ev) {
        if (ev.target && ev.target.name === form.dataset.toggleBy) applyToggles(form);
      });
      applyToggles(form);
    });
  }
  document.addEventListener('click', function (ev) {
    const opener = ev.target.closest && ev.target.closest('[data-open-dialog]');
    if (opener) {
      const dialog = document.getElementById(opener.dataset.openDialog);
      if (dialog && dialog.showModal) dialog.showModal();
      return;
    }
    const closer = ev.target.closest && ev.target.closest('[data-close-dialog]');
    if (closer) {
      const dialog = closer.closest('dialog');
      if (dialog) dialog.close();
    }
  });
  // Live events as short notes on screen: fills and cancels of the viewer's orders, and
  // their notifications (the stream: live.js dispatches ct:order and ct:notification).
  function toast(text, tone) {
    const box = document.getElementById('toasts');
    if (!box || !text) return;
    const note = document.createElement('div');
    note.className = 'toast ' + (tone || '');
    note.textContent = text;
    box.appendChild(note);
    setTimeout(function () { note.remove(); }, 6000);
    while (box.children.length > 4) box.firstElementChild.remove();
  }
  document.addEventListener('ct:order', function (ev) {
    const o = ev.detail || {};
    if (!o.symbol || !o.status) return;
    const num = function (v, places) {
      const n = Number(v);
      return Number.isFinite(n) ? n.toLocaleString('en-US', {maximumFractionDigits: places}) : '';
    };
    const what = (o.side || '') + ' ' + num(o.amount, 8) + ' ' + o.symbol;
    const p = Number(o.execution_price);
    const price = o.execution_price ? ' at $' + num(p, p >= 1 ? 2 : 6) : '';
    const tone = o.status === 'completed' ? (o.side === 'buy' ? 'up' : 'down') : '';
    toast('Order ' + o.status + ': ' + what.trim() + price, tone);
  });
  document.addEventListener('ct:notification', function (ev) {
    const n = ev.detail || {};
    toast(n.title || n.notification_type, n.severity === 'critical' || n.severity === 'warning' ? 'down' : '');
  });
  document.addEventListener('DOMContentLoaded', function () { init(document); });
  document.addEventListener('htmx:afterSettle', function (ev) { init(ev.target || document); });
})();

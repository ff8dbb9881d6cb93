/* app.js: page behaviour shared by every dashboard page. Plain script; load with
 * <script defer> after vendor/htmx/htmx.min.js. Each part does nothing on a page that
 * lacks its elements.
 *
 * CONTRACT (templates)
 *   <meta name="csrf-token" content="...">   sent as X-CSRF-Token on every htmx request
 *                                            (htmx:configRequest) and preview POST.
 *   <time datetime="ISO">                    text = the moment in the browser's zone
 *                                            (dateStyle medium, timeStyle short); title =
 *                                            "2025-01-15 14:30:00 UTC". Applied on load and
 *                                            after every htmx swap.
 *     data-format="date"                     date only (a date-only datetime="2025-01-15"
 *                                            is shown as that calendar date)
 *     data-format="relative"                 "3 min. ago" / "in 2 hr." (refreshed every 30 s)
 *     (a <time data-price-age> belongs to live.js and is left alone)
 *   <html data-theme="light|dark|system">    the theme ("system": prefers-color-scheme);
 *                                            localStorage "ct-theme" overrides it on load,
 *                                            unless the server's theme changed since the
 *                                            choice was stored ("ct-theme-base" remembers
 *                                            it): a newly saved setting wins.
 *   <button type="button" data-theme-toggle> flips it, stores the choice, sets
 *                                            aria-pressed ("true" when dark) and dispatches
 *                                            ct:theme {theme} on document. (A change of
 *                                            prefers-color-scheme dispatches ct:theme too
 *                                            while the theme is "system" or absent.)
 *   <button type="button" data-copy="TEXT">  copies TEXT; data-copy="" with
 *          [data-copy-target="#sel"]         copies that element's value or text. Sets
 *                                            data-copy-state="copied|failed" for 2 s; a
 *                                            button with text only shows "Copied" meanwhile.
 *   Errors of htmx requests (htmx:responseError, htmx:sendError), in the requesting form
 *   (or the requesting element; not the hx-target, which may be outside the form):
 *     application/problem+json: the problem's `field`, or the form's
 *       data-error-fields='{"insufficient_funds":"amount"}' (code -> field), or each of
 *       `errors[].field` ("body.amount" -> "amount") names a field; its message goes into
 *       [data-error-for="FIELD"] in the form, and the input named FIELD gets
 *       aria-invalid="true" and aria-describedby to that element (then it is focused).
 *       Otherwise the problem's detail (or title) goes into [data-error-for="_form"].
 *     anything else: "Request failed (HTTP 500)." / a network message into _form.
 *     With no _form element in the form: [data-error-for="_page"] anywhere on the page.
 *     Cleared on the form's next submit (and by a successful preview, below).
 *     A problem+json answer is consumed at htmx:beforeSwap (no swap, no htmx console
 *     error, no htmx:responseError); the element then gets a bubbling
 *     ct:problem {problem, status} event.
 *   <form data-preview-url="URL"> ... <div data-preview></div>: 250 ms after the last
 *     input/change, POSTs the form (urlencoded, X-CSRF-Token, Accept: text/html) and puts
 *     the returned HTML into [data-preview] (aria-busy while it loads; htmx-processed,
 *     <time>s and charts rendered). A problem+json answer shows as errors (above).
 * EVENTS dispatched: ct:theme {theme: 'light'|'dark'} on document; ct:problem (above).
 * Globals: none.
 */
(() => {
  'use strict';

  const root = document.documentElement;
  const csrf = () => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return (meta && meta.content) || '';
  };
  const onReady = (fn) => {
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', fn);
    else fn();
  };

  // ------------------------------------------------------------------ (1) CSRF for htmx

  document.addEventListener('htmx:configRequest', (event) => {
    const token = csrf();
    if (token) event.detail.headers['X-CSRF-Token'] = token;
  });

  // ------------------------------------------------------------------ (2) <time>

  const formats = {
    datetime: new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }),
    date: new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' }),
    // a date without a time is a calendar date: shown as such, in no zone
    calendar: new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' }),
  };
  const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' });
  const UNITS = [ // [unit, seconds in it, use it below this many seconds]
    ['second', 1, 45], ['minute', 60, 2700], ['hour', 3600, 79200],
    ['day', 86400, 2246400], ['month', 2629800, 28927800], ['year', 31557600, Infinity],
  ];

  function parseMoment(text) {
    const value = String(text).trim();
    // a date-time without a zone is UTC here (Date.parse would read it as local time)
    const zoneless = /T\d\d:\d\d/.test(value) && !/(Z|[+-]\d\d(:?\d\d)?)$/i.test(value);
    const ms = Date.parse(zoneless ? `${value}Z` : value);
    return Number.isFinite(ms) ? new Date(ms) : null;
  }

  function fromNow(date) {
    const seconds = (date.getTime() - Date.now()) / 1000;
    const [unit, size] = UNITS.find(([, , below]) => Math.abs(seconds) < below);
    return relative.format(Math.round(seconds / size), unit);
  }

  function formatTimes(scope = document) {
    for (const el of scope.querySelectorAll('time[datetime]')) {
      if (el.hasAttribute('data-price-age')) continue;
      const text = el.getAttribute('datetime');
      const date = parseMoment(text);
      if (!date) continue;
      const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(text.trim());
      const mode = el.dataset.format;
      let shown;
      if (mode === 'relative') shown = fromNow(date);
      else if (dateOnly) shown = formats.calendar.format(date);
      else shown = (mode === 'date' ? formats.date : formats.datetime).format(date);
      if (el.textContent !== shown) el.textContent = shown;
      el.title = dateOnly ? `${text.trim()} UTC`
        : `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
    }
  }

  setInterval(() => {
    if (document.querySelector('time[datetime][data-format="relative"]')) {
      formatTimes(document);
    }
  }, 30_000);

  // ------------------------------------------------------------------ (3) theme

  const THEME_KEY = 'ct-theme';
  const darkQuery = window.matchMedia ? matchMedia('(prefers-color-scheme: dark)') : null;

  const BASE_KEY = 'ct-theme-base'; // the server's theme when the choice was stored
  const serverTheme = root.dataset.theme || '';
  const storage = {
    get(key) {
      try {
        return localStorage.getItem(key);
      } catch {
        return null; // storage blocked (privacy settings)
      }
    },
    set(key, value) {
      try {
        if (value == null) localStorage.removeItem(key);
        else localStorage.setItem(key, value);
      } catch {
        /* not stored: still applied for this page */
      }
    },
  };

  /** The stored choice, unless the server's theme setting changed since it was made
   * (the settings form saved another theme): then the setting wins and the choice goes. */
  function storedTheme() {
    const value = storage.get(THEME_KEY);
    if (!explicit(value)) return null;
    const base = storage.get(BASE_KEY);
    if (base != null && base !== serverTheme) {
      storage.set(THEME_KEY, null);
      storage.set(BASE_KEY, null);
      return null;
    }
    return value;
  }

  // "system" (or no data-theme) follows prefers-color-scheme
  const explicit = (theme) => theme === 'light' || theme === 'dark';
  const currentTheme = () => (explicit(root.dataset.theme) ? root.dataset.theme
    : darkQuery && darkQuery.matches ? 'dark' : 'light');

  function markToggles() {
    const dark = String(currentTheme() === 'dark');
    for (const button of document.querySelectorAll('[data-theme-toggle]')) {
      button.setAttribute('aria-pressed', dark);
    }
  }

  function applyTheme(theme, announce) {
    const changed = root.dataset.theme !== theme;
    root.dataset.theme = theme;
    markToggles();
    if (announce && changed) document.dispatchEvent(new CustomEvent('ct:theme', { detail: { theme } }));
  }

  // As early as this script runs (an inline <head> script would avoid a flash of the
  // server's theme, but this keeps it in one file).
  const initial = storedTheme();
  if (initial) applyTheme(initial, true);

  document.addEventListener('click', (event) => {
    const button = event.target.closest && event.target.closest('[data-theme-toggle]');
    if (!button) return;
    const next = currentTheme() === 'dark' ? 'light' : 'dark';
    storage.set(THEME_KEY, next);
    storage.set(BASE_KEY, serverTheme);
    applyTheme(next, true);
  });

  if (darkQuery && darkQuery.addEventListener) {
    darkQuery.addEventListener('change', () => {
      if (explicit(root.dataset.theme)) return; // an explicit theme does not follow the system
      markToggles();
      document.dispatchEvent(new CustomEvent('ct:theme', { detail: { theme: currentTheme() } }));
    });
  }

  // ------------------------------------------------------------------ (4) copy

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    // fallback for plain-http pages (no async clipboard there)
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    if (!ok) throw new Error('copy refused');
  }

  const copyTimers = new WeakMap();

  document.addEventListener('click', async (event) => {
    const button = event.target.closest && event.target.closest('[data-copy]');
    if (!button) return;
    event.preventDefault(); // a [data-copy] inside a form must not submit it
    let text = button.dataset.copy;
    if (!text && button.dataset.copyTarget) {
      const source = document.querySelector(button.dataset.copyTarget);
      const field = source instanceof HTMLInputElement || source instanceof HTMLTextAreaElement
        || source instanceof HTMLSelectElement;
      text = source ? (field ? source.value : source.textContent.trim()) : '';
    }
    if (!text) return;
    let outcome = 'copied';
    try {
      await copyText(text);
    } catch {
      outcome = 'failed';
    }
    clearTimeout(copyTimers.get(button));
    const plain = button.children.length === 0;
    if (plain && button.dataset.copyLabel == null) button.dataset.copyLabel = button.textContent;
    button.dataset.copyState = outcome;
    if (plain) button.textContent = outcome === 'copied' ? 'Copied' : 'Copy failed';
    copyTimers.set(button, setTimeout(() => {
      delete button.dataset.copyState;
      if (plain && button.dataset.copyLabel != null) {
        button.textContent = button.dataset.copyLabel;
        delete button.dataset.copyLabel;
      }
    }, 2000));
  });

  // ------------------------------------------------------------------ (5) errors

  let errorIds = 0;

  function clearErrors(scope) {
    if (!scope || !scope.querySelectorAll) return;
    for (const el of scope.querySelectorAll('[data-error-for]')) el.textContent = '';
    const page = document.querySelector('[data-error-for="_page"]');
    if (page) page.textContent = '';
    for (const input of scope.querySelectorAll('[data-ct-invalid]')) {
      input.removeAttribute('aria-invalid');
      const ids = (input.getAttribute('aria-describedby') || '').split(/\s+/)
        .filter((id) => id && id !== input.dataset.ctInvalid);
      if (ids.length) input.setAttribute('aria-describedby', ids.join(' '));
      else input.removeAttribute('aria-describedby');
      delete input.dataset.ctInvalid;
    }
  }

  function errorSlot(scope, field) {
    const selector = `[data-error-for="${CSS.escape(field)}"]`;
    const found = scope.querySelector ? scope.querySelector(selector) : null;
    if (found || field !== '_form') return found;
    return document.querySelector('[data-error-for="_page"]');
  }

  function fieldInput(scope, field) {
    if (scope.elements) {
      const item = scope.elements.namedItem(field);
      if (item) return item instanceof RadioNodeList ? item[0] : item;
    }
    return scope.querySelector ? scope.querySelector(`[name="${CSS.escape(field)}"]`) : null;
  }

  /** The fields a problem names, each with its message. */
  function problemFields(problem, scope) {
    const message = problem.detail || problem.title || 'Invalid value';
    const fields = [];
    if (problem.field) fields.push([String(problem.field), message]);
    if (!fields.length && scope.dataset && scope.dataset.errorFields && problem.code) {
      try {
        const mapped = JSON.parse(scope.dataset.errorFields)[problem.code];
        if (mapped) fields.push([String(mapped), message]);
      } catch {
        /* a malformed map: the message goes to _form */
      }
    }
    if (!fields.length && Array.isArray(problem.errors)) {
      for (const error of problem.errors) {
        // "body.amount" -> "amount": the API says where the field was, the form says no
        const name = String((error && error.field) || '').replace(/^(body|query|path|header)\./, '');
        if (name) fields.push([name, (error && error.message) || message]);
      }
    }
    return fields;
  }

  function showErrors(scope, problem, status) {
    clearErrors(scope);
    let placed = 0;
    let focus = null;
    if (problem) {
      for (const [field, message] of problemFields(problem, scope)) {
        const slot = errorSlot(scope, field);
        if (!slot) continue;
        slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
        placed += 1;
        const input = fieldInput(scope, field);
        if (input && input.setAttribute) {
          if (!slot.id) slot.id = `ct-error-${++errorIds}`;
          input.setAttribute('aria-invalid', 'true');
          const ids = (input.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean);
          if (!ids.includes(slot.id)) ids.push(slot.id);
          input.setAttribute('aria-describedby', ids.join(' '));
          input.dataset.ctInvalid = slot.id;
          focus = focus || input;
        }
      }
    }
    if (!placed) {
      const text = problem ? problem.detail || problem.title || 'Request failed.'
        : status ? `Request failed (HTTP ${status}).`
          : 'Could not reach the server — check your connection and try again.';
      const slot = errorSlot(scope, '_form');
      if (slot) slot.textContent = text;
    }
    if (focus && typeof focus.focus === 'function') focus.focus();
  }

  function readProblem(contentType, body) {
    if (!/application\/problem\+json/i.test(contentType || '')) return null;
    try {
      const problem = JSON.parse(body);
      return problem && typeof problem === 'object' ? problem : null;
    } catch {
      return null;
    }
  }

  const scopeOf = (elt) => (elt && elt.closest && elt.closest('form')) || elt || document;

  // A problem+json answer is handled before htmx would swap it: the JSON is no content
  // to swap, and with isError cleared htmx neither logs a console error nor fires
  // htmx:responseError for it (a ct:problem event on the element says what happened).
  document.addEventListener('htmx:beforeSwap', (event) => {
    const { xhr, requestConfig } = event.detail;
    // htmx fires beforeSwap on the target (its detail.elt): the form that asked is the
    // request's element (a form whose hx-target is elsewhere has its errors in itself)
    const elt = (requestConfig && requestConfig.elt) || event.detail.elt;
    if (xhr.status < 400) return;
    const problem = readProblem(xhr.getResponseHeader('Content-Type'), xhr.responseText);
    if (!problem) return;
    event.detail.shouldSwap = false;
    event.detail.isError = false;
    showErrors(scopeOf(elt), problem, xhr.status);
    if (elt && elt.dispatchEvent) {
      elt.dispatchEvent(new CustomEvent('ct:problem', { bubbles: true, detail: { problem, status: xhr.status } }));
    }
  });
  // Any other error answer (an HTML 500 page, a proxy's 502...): a generic message.
  document.addEventListener('htmx:responseError', (event) => {
    const { xhr, elt } = event.detail;
    const problem = readProblem(xhr.getResponseHeader('Content-Type'), xhr.responseText);
    showErrors(scopeOf(elt), problem, xhr.status);
  });
  document.addEventListener('htmx:sendError', (event) => showErrors(scopeOf(event.detail.elt), null, 0));
  // A new attempt clears the old errors: the form's submit, or an element outside any
  // form making its request (not, say, a polling element inside a form).
  document.addEventListener('htmx:beforeRequest', (event) => {
    const elt = event.detail.elt;
    if (!elt || !elt.closest) return;
    const form = elt.closest('form');
    if (!form || form === elt) clearErrors(form || elt);
  });
  document.addEventListener('submit', (event) => clearErrors(event.target), true);

  // ------------------------------------------------------------------ (6) previews

  const previewTimers = new WeakMap();
  const previewAborts = new WeakMap();

  async function preview(form) {
    const target = form.querySelector('[data-preview]');
    if (!target) return;
    const previous = previewAborts.get(form);
    if (previous) previous.abort(); // only the latest answer may land
    const abort = new AbortController();
    previewAborts.set(form, abort);
    const headers = { Accept: 'text/html' };
    const token = csrf();
    if (token) headers['X-CSRF-Token'] = token;
    target.setAttribute('aria-busy', 'true');
    try {
      const response = await fetch(form.dataset.previewUrl, {
        method: 'POST',
        credentials: 'same-origin',
        headers,
        body: new URLSearchParams(new FormData(form)),
        signal: abort.signal,
      });
      const body = await response.text();
      if (!response.ok) {
        const problem = readProblem(response.headers.get('Content-Type'), body);
        target.replaceChildren(); // an old preview would no longer match the form
        if (problem) showErrors(form, problem, response.status);
        return;
      }
      clearErrors(form);
      target.innerHTML = body; // the server's own fragment, same origin
      if (window.htmx) window.htmx.process(target);
      formatTimes(target);
      if (window.ctCharts) window.ctCharts.render(target);
    } catch (error) {
      if (error && error.name === 'AbortError') return;
      // offline or the like: keep the last preview; the submit will report the problem
    } finally {
      if (previewAborts.get(form) === abort) target.removeAttribute('aria-busy');
    }
  }

  function onFormInput(event) {
    const field = event.target;
    const form = field && field.closest && field.closest('form[data-preview-url]');
    if (!form || field.closest('[data-preview]')) return; // not from the preview itself
    clearTimeout(previewTimers.get(form));
    previewTimers.set(form, setTimeout(() => preview(form), 250));
  }

  document.addEventListener('input', onFormInput);
  document.addEventListener('change', onFormInput);

  // ------------------------------------------------------------------ start

  onReady(() => {
    formatTimes(document);
    markToggles();
  });
  document.addEventListener('htmx:afterSettle', () => {
    formatTimes(document);
    markToggles();
  });
})();

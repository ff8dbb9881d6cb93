/* live.js: the live stream (prices, the user's orders and notifications) over a
 * WebSocket to /api/v1/stream (protocol: src/cryptotrader/stream/protocol.py). Plain
 * script; load with <script defer>.
 *
 * CONTRACT (templates)
 *   <body data-stream="on"                       turns it on (anything else: off)
 *         data-stream-symbols="BTC,ETH"          price filter; absent: the symbols of the
 *                                                page's [data-price] elements; none: all
 *         data-stream-channels="prices,orders,notifications">  (the default: all three)
 *   <meta name="csrf-token" content="...">       for POST /session/refresh
 *   [data-price="BTC"]                           textContent = the price, written as the
 *                                                server's price filter does (web/render.py:
 *                                                en-US grouping; 2 places from 1000, 4 from
 *                                                1, 6-10 below); the class tick-up /
 *                                                tick-down for 1 s on a move
 *     [data-precision="2"]                       fixed decimal places instead
 *     [data-currency="AUD"] [data-rate="1.55"]   the stream's AUD price (other currencies:
 *                                                USD x data-rate) with the server's prefix
 *                                                ("$", "A$"); without data-currency: the
 *                                                USD number, no prefix
 *   [data-price-age="BTC"]                       "just now", later "12 sec. ago" (updated
 *                                                every 10 s; a <time> also gets datetime)
 *   #stream-status (aria-live=polite, from the template): text and data-state
 *     (connecting | live | reconnecting | offline | signed-out).
 * Authentication: the page's HttpOnly cookie goes with the upgrade request; no token is
 * sent from here. A close with 4401 (unauthorized, e.g. the access token expired) first
 * POSTs /session/refresh (X-CSRF-Token header) and reconnects; a 401 answer there stops
 * the stream: "Signed out — reload to sign in".
 * Reconnects back off exponentially with jitter (about 1 s, doubling to 30 s; the count
 * resets after a minute live); a stream silent for 2.5 heartbeat intervals is dropped.
 *
 * EVENTS dispatched (CustomEvent on document)
 *   ct:price         {symbol, price (string, USD), price_aud?, change_24h?, time}
 *   ct:order         the server's order event as it came ({type:"order", id, symbol,
 *                    side, order_type, status, amount, execution_price, status_reason, at, ...})
 *   ct:notification  the notification event ({type:"notification", id, notification_type,
 *                    title, severity, at, ...})
 *   ct:resync        {at, reason}: events may have been missed (server resync, or a
 *                    reconnect after having been live): re-read the state
 *   ct:stream        {state: 'connecting'|'live'|'reconnecting'|'offline', retryIn?
 *                    (seconds), reason?: 'signed-out'}
 * htmx events on document.body (for hx-trigger="ct-order from:body" and the like):
 *   ct-order (detail: the order event), ct-notification (the notification event),
 *   ct-resync, ct-price (at most once a second; detail {prices: {SYMBOL: "price"}, time}:
 *   the latest price of each symbol that moved since the last one).
 * API: window.ctLive = {state, start(), stop(), reconnect(), subscribe(symbols)}
 */
(() => {
  'use strict';

  const CLOSE_UNAUTHORIZED = 4401; // protocol.py CLOSE_UNAUTHORIZED
  const CHANNELS = ['prices', 'orders', 'notifications']; // protocol.py CHANNELS
  const MAX_DELAY = 30_000;
  const STABLE_AFTER = 60_000; // live this long: the next failure starts at 1 s again
  const DEFAULT_HEARTBEAT = 30; // seconds, until `ready` says

  let ws = null;
  let state = 'off';
  let stopped = true;
  let attempt = 0;
  let retryTimer = null;
  let stableTimer = null;
  let watchdog = null;
  let heartbeat = DEFAULT_HEARTBEAT;
  let lastHeard = 0;
  let wasLive = false; // been live before: a reconnect may have missed events
  let symbols = null; // set by subscribe(); null: from the page
  let status = { state: 'off', text: '' };

  const lastPrices = new Map(); // symbol -> last price string
  const flashTimers = new WeakMap();
  const priceFormats = new Map();
  const ageFormat = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' });

  const emit = (name, detail) => document.dispatchEvent(new CustomEvent(name, { detail }));
  const htmxTrigger = (name, detail) => {
    if (window.htmx && document.body) window.htmx.trigger(document.body, name, detail);
  };
  const list = (text) => String(text || '').split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);

  // ------------------------------------------------------------------ status

  function setState(next, text, extra = {}) {
    state = next;
    status = { state: extra.reason || next, text };
    showStatus();
    emit('ct:stream', { state: next, ...extra });
  }

  /** The status element may be swapped by htmx: re-applied after every swap. */
  function showStatus() {
    const el = document.getElementById('stream-status');
    if (!el || status.state === 'off') return;
    if (el.textContent !== status.text) el.textContent = status.text;
    el.dataset.state = status.state;
  }

  // ------------------------------------------------------------------ prices on the page

  const CURRENCY_SYMBOLS = { USD: '$', AUD: 'A$' }; // web/render.py SYMBOLS

  /** Decimal places for a price of this size, as web/render.py price_places: 2 from 1000,
   * 4 from 1, 6 to 10 below (0.0004: 7). */
  function pricePlaces(value) {
    const size = Math.abs(value);
    if (size >= 1000 || size === 0) return 2;
    if (size >= 1) return 4;
    return Math.min(10, Math.max(6, -Math.floor(Math.log10(size)) + 3));
  }

  /** The element's price text. data-currency (USD, AUD) picks the stream's AUD price, or
   * converts at data-rate (per USD), and prefixes the symbol as the server does; the
   * digits are grouped as the server writes them (en-US), so a tick does not change the
   * style of the server-rendered text. */
  function formatPrice(el, usd, aud) {
    const currency = el.dataset.currency ? el.dataset.currency.toUpperCase() : null;
    let value = usd;
    if (currency && currency !== 'USD') {
      const rate = Number(el.dataset.rate);
      if (currency === 'AUD' && aud != null) value = aud;
      else if (Number.isFinite(rate) && rate > 0) value = Number(usd) * rate;
      else return null; // no way to show it in that currency: keep the server's text
    }
    const given = Number.parseInt(el.dataset.precision, 10);
    const digits = Number.isInteger(given) && given >= 0 && given <= 20 ? given : pricePlaces(Number(value));
    if (!priceFormats.has(digits)) {
      priceFormats.set(digits, new Intl.NumberFormat('en-US', {
        minimumFractionDigits: digits, maximumFractionDigits: digits,
      }));
    }
    const prefix = currency ? CURRENCY_SYMBOLS[currency] || '' : '';
    // a string is formatted as an exact decimal where Intl supports it (else via Number)
    return prefix + priceFormats.get(digits).format(typeof value === 'number' ? value : String(value));
  }

  function flash(el, name) {
    el.classList.remove('tick-up', 'tick-down');
    void el.offsetWidth; // restart a CSS animation on consecutive ticks the same way
    el.classList.add(name);
    clearTimeout(flashTimers.get(el));
    flashTimers.set(el, setTimeout(() => el.classList.remove(name), 1000));
  }

  function showPrice(symbol, price, aud, time) {
    const previous = lastPrices.get(symbol);
    lastPrices.set(symbol, price);
    const move = previous == null ? 0 : Math.sign(Number(price) - Number(previous));
    const key = CSS.escape(symbol);
    for (const el of document.querySelectorAll(`[data-price="${key}"]`)) {
      const text = formatPrice(el, price, aud);
      if (text == null) continue;
      el.textContent = text;
      if (move) flash(el, move > 0 ? 'tick-up' : 'tick-down');
    }
    const at = Date.parse(time);
    const stamp = Number.isFinite(at) ? at : Date.now();
    for (const el of document.querySelectorAll(`[data-price-age="${key}"]`)) {
      el.textContent = 'just now';
      el.dataset.updatedAt = String(Date.now());
      if (el.tagName === 'TIME') el.setAttribute('datetime', new Date(stamp).toISOString());
    }
  }

  function refreshAges() {
    const now = Date.now();
    for (const el of document.querySelectorAll('[data-price-age][data-updated-at]')) {
      const seconds = Math.round((now - Number(el.dataset.updatedAt)) / 1000);
      if (!Number.isFinite(seconds)) continue;
      el.textContent = seconds < 10 ? 'just now'
        : seconds < 90 ? ageFormat.format(-seconds, 'second')
          : seconds < 5400 ? ageFormat.format(-Math.round(seconds / 60), 'minute')
            : ageFormat.format(-Math.round(seconds / 3600), 'hour');
    }
  }

  // htmx's ct-price: the latest price per symbol, at most once a second (trailing edge)
  let pendingPrices = null;
  let pendingTime = null;
  let priceTimer = null;
  let lastFlush = 0;

  function queuePrice(detail) {
    pendingPrices = pendingPrices || {};
    pendingPrices[detail.symbol] = detail.price;
    pendingTime = detail.time;
    if (priceTimer) return;
    priceTimer = setTimeout(() => {
      priceTimer = null;
      lastFlush = Date.now();
      const prices = pendingPrices;
      pendingPrices = null;
      htmxTrigger('ct-price', { prices, time: pendingTime });
    }, Math.max(0, 1000 - (Date.now() - lastFlush)));
  }

  // ------------------------------------------------------------------ messages

  function onPrices(message) {
    const time = message.at;
    for (const [symbol, value] of Object.entries(message.prices || {})) {
      // the server sends [usd, aud]; a bare value or an object is tolerated
      let price = value;
      let aud;
      let change;
      if (Array.isArray(value)) [price, aud] = value;
      else if (value && typeof value === 'object') {
        price = value.usd != null ? value.usd : value.price;
        aud = value.aud;
        change = value.change_24h;
      }
      if (price == null || !Number.isFinite(Number(price))) continue;
      const detail = { symbol, price: String(price), time };
      if (aud != null) detail.price_aud = String(aud);
      if (change != null) detail.change_24h = String(change);
      showPrice(symbol, detail.price, detail.price_aud, time);
      emit('ct:price', detail);
      queuePrice(detail);
    }
  }

  function resync(detail) {
    emit('ct:resync', detail);
    htmxTrigger('ct-resync', detail);
  }

  function onMessage(event) {
    lastHeard = Date.now();
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!message || typeof message !== 'object') return;
    switch (message.type) {
      case 'ready':
        heartbeat = Number(message.heartbeat_interval) > 0 ? Number(message.heartbeat_interval) : DEFAULT_HEARTBEAT;
        sendSubscribe();
        setState('live', 'Live');
        clearTimeout(stableTimer);
        stableTimer = setTimeout(() => { attempt = 0; }, STABLE_AFTER);
        if (wasLive) resync({ at: new Date().toISOString(), reason: 'reconnected' });
        wasLive = true;
        break;
      case 'prices':
        onPrices(message);
        break;
      case 'order':
        emit('ct:order', message);
        htmxTrigger('ct-order', message);
        break;
      case 'notification':
        emit('ct:notification', message);
        htmxTrigger('ct-notification', message);
        break;
      case 'resync':
        resync({ at: message.at, reason: message.reason });
        break;
      case 'error':
        // the server could not use a message of ours: a bug worth seeing
        console.warn('stream:', message.error);
        break;
      // heartbeat: only proves the stream alive (lastHeard); it needs no answer.
      // pong, subscribed, unsubscribed, authenticated: nothing to do. The server sends
      // no app-level ping (WebSocket control pings are answered by the browser).
      default:
        break;
    }
  }

  function subscription() {
    const body = document.body;
    const channels = body.dataset.streamChannels != null ? list(body.dataset.streamChannels) : CHANNELS;
    let wanted = symbols;
    if (!wanted) {
      wanted = body.dataset.streamSymbols != null ? list(body.dataset.streamSymbols)
        : [...document.querySelectorAll('[data-price]')].map((el) => el.dataset.price);
    }
    return {
      type: 'subscribe',
      channels: [...new Set(channels.map((c) => c.toLowerCase()))].filter((c) => CHANNELS.includes(c)),
      symbols: [...new Set(wanted.map((s) => s.trim().toUpperCase()).filter(Boolean))],
    };
  }

  function send(message) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  function sendSubscribe() {
    const message = subscription();
    if (message.channels.length) send(message);
  }

  // ------------------------------------------------------------------ connection

  function url() {
    return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/stream`;
  }

  function clearTimers() {
    clearTimeout(retryTimer);
    clearTimeout(stableTimer);
    clearInterval(watchdog);
    retryTimer = stableTimer = watchdog = null;
  }

  /** Forget a socket without waiting for its close event (a dead one may take long). */
  function drop(code, reason) {
    const socket = ws;
    ws = null;
    if (!socket) return;
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    try {
      socket.close(code, reason);
    } catch {
      /* already closing */
    }
  }

  function connect() {
    clearTimers();
    drop(1000, 'reconnecting');
    setState('connecting', 'Connecting…');
    let socket;
    try {
      socket = new WebSocket(url());
    } catch {
      retry();
      return;
    }
    ws = socket;
    lastHeard = Date.now();
    socket.onmessage = onMessage;
    socket.onclose = (event) => {
      if (ws !== socket) return;
      ws = null;
      clearTimers();
      if (stopped) return;
      if (event.code === CLOSE_UNAUTHORIZED) refreshSession();
      else retry();
    };
    // onerror is always followed by onclose; the browser already logs the failure
    watchdog = setInterval(() => {
      if (ws === socket && Date.now() - lastHeard > heartbeat * 2500) {
        drop(4000, 'no heartbeat');
        clearTimers();
        retry();
      }
    }, 5000);
  }

  /** The next attempt, after about 1, 2, 4 ... 30 s (plus or minus a quarter: jitter). */
  function retry() {
    if (stopped) return;
    const base = Math.min(MAX_DELAY, 1000 * 2 ** attempt);
    attempt += 1;
    const delay = Math.min(MAX_DELAY, Math.round(base * (0.75 + Math.random() * 0.5)));
    const seconds = Math.max(1, Math.round(delay / 1000));
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
    if (navigator.onLine === false || base >= MAX_DELAY) {
      setState('offline', `Offline — retrying in ${seconds} s`, { retryIn: seconds });
    } else {
      setState('reconnecting', `Reconnecting in ${seconds} s…`, { retryIn: seconds });
    }
  }

  /** Closed as unauthorized: renew the session cookie, then reconnect. */
  async function refreshSession() {
    setState('reconnecting', 'Reconnecting…');
    const meta = document.querySelector('meta[name="csrf-token"]');
    const headers = {};
    if (meta && meta.content) headers['X-CSRF-Token'] = meta.content;
    let response;
    try {
      response = await fetch('/session/refresh', { method: 'POST', credentials: 'same-origin', headers });
    } catch {
      response = null; // network: retry later, refreshing again if still unauthorized
    }
    if (stopped) return;
    if (response && response.status === 401) {
      stopped = true;
      clearTimers();
      setState('offline', 'Signed out — reload to sign in', { reason: 'signed-out' });
      return;
    }
    retry(); // backoff even after a good refresh: no tight loop if 4401 persists
  }

  function start() {
    if (!stopped || !window.WebSocket) return;
    stopped = false;
    connect();
  }

  function stop() {
    stopped = true;
    clearTimers();
    drop(1000, 'bye');
  }

  // ------------------------------------------------------------------ wiring

  window.addEventListener('online', () => {
    if (!stopped && retryTimer) connect(); // back online: do not wait out the backoff
  });
  // leaving the page: close quietly (no "reconnecting" flash); back from the bfcache: resume
  let paused = false;
  window.addEventListener('pagehide', () => {
    paused = !stopped;
    if (paused) stop();
  });
  window.addEventListener('pageshow', (event) => {
    if (event.persisted && paused) start();
    paused = false;
  });
  document.addEventListener('htmx:afterSettle', showStatus);
  setInterval(refreshAges, 10_000);

  window.ctLive = Object.freeze({
    get state() { return state; },
    start,
    stop,
    reconnect() {
      if (stopped) start();
      else connect();
    },
    /** Replace the price filter (an empty list: every symbol) and tell the server. */
    subscribe(next) {
      symbols = Array.isArray(next) ? next.map(String) : list(next);
      sendSubscribe();
    },
  });

  if (document.body && document.body.dataset.stream === 'on') start();
})();

/* charts.js: the dashboard's charts. Plain script, no build step; load with <script defer>
 * after vendor/lightweight-charts/lightweight-charts.standalone.production.js (which
 * defines the global LightweightCharts; sparklines and heatmaps work without it).
 *
 * CONTRACT (templates)
 *   <div data-chart="KIND" ...>: rendered on DOMContentLoaded and after every htmx swap
 *   (htmx:afterSettle), once; a rendered element gets data-rendered. KIND is one of
 *   candles | equity | line | sparkline | heatmap | reliability.
 *   Data, as JSON:
 *     data-source="ID"  names a <script type="application/json" id="ID"> on the page, or
 *     data-url="URL"    same-origin URL to fetch (credentials: same-origin).
 *     With both, the first render uses data-source, and a later change of data-url
 *     refetches. sparkline also takes data-points="1,2,3" inline.
 *   Times: ISO-8601 UTC strings (a string without a zone is read as UTC) or epoch
 *   seconds. Decimals: strings (Number() is used for drawing only).
 *   Other attributes:
 *     data-empty="TEXT"            shown when there is no data (default "No data yet")
 *     data-error="TEXT"            shown when data-url fails (default "Could not load the chart")
 *     data-symbol="BTC"            candles: the symbol (else the JSON's "symbol")
 *     data-timeframe-seconds="3600" candles: bar length (or data-timeframe="1h"). Only
 *                                  with one does a chart follow live prices (ct:price); a
 *                                  chart without (a backtest's) stays as drawn.
 *     data-live="off"              candles: do not follow live prices anyway
 *     data-precision="2"           price decimals (candles/equity/line: auto when absent;
 *                                  heatmap: at most this many, default 2)
 *     data-label="Trend"           sparkline: first words of its SVG's aria-label (else the
 *                                  element's own aria-label, else "Trend")
 *     data-width / data-height     sparkline: SVG size in px (default 80 x 24)
 *     data-caption="..."           heatmap: the table caption
 *     children with data-chart-placeholder are removed when the chart renders.
 *   JSON shapes:
 *     candles  {"symbol":"BTC","candles":[{"time","open","high","low","close","volume"}...],
 *               "markers":[{"time","side":"buy"|"sell","price","text"}...]}
 *              ("items" for "candles" and "open_time" for "time" are accepted too: the
 *              REST API's CandlePage.) Volume goes to a second pane; markers are sorted
 *              and placed on the bar that contains their time. Marker text is drawn
 *              when there are at most 25 markers (more would be unreadable).
 *     equity   {"points":[[time,"value"]...], "drawdown":[[time,"-0.12"]...]?, "markers"?,
 *               "benchmark":[[time,"value"|null]...]?}
 *              drawdown is a fraction (0 to -1), drawn in percent in a second pane;
 *              benchmark is a second line over the equity (a tear sheet's BTC buy-and-hold).
 *     line     {"points":[[time,"value"]...]}
 *     sparkline {"points":["v1","v2",...]} -> inline <svg role="img" aria-label> polyline,
 *              class sparkline-up (last >= first) or sparkline-down.
 *     heatmap  {"x":{"name","values"},"y":{"name","values"},"metric":"sharpe",
 *               "cells":[[value|null,...] one row per y value]} -> <table class="heatmap">
 *              inside <div class="heatmap-scroll">; cells coloured on a diverging scale.
 *     reliability {"brier_score":0.04|null,"buckets":[{"lower","upper","count",
 *               "mean_confidence","hit_rate"}...]} -> <svg role="img" aria-label> of
 *              hit rate against mean confidence (0 to 1), the diagonal (perfect
 *              calibration, data-diagonal) dashed, one circle per bucket with a count
 *              (data-count; its area grows with the count, "n=3" beside it). Buckets
 *              without decisions are left out. The element needs a CSS width.
 *   Timeframe controls: <div data-chart-controls data-for="CHART_ID">
 *       <button type="button" data-timeframe="1h" [data-url="..."] [data-timeframe-seconds]>
 *     A click sets aria-pressed on the buttons, the chart's data-timeframe and
 *     data-timeframe-seconds (from the button, or parsed from "1m/5m/1h/4h/1d/1w"), and
 *     its data-url: the button's data-url, or the chart's data-url with ?timeframe= set.
 *     Any change of a chart's data-url (from here or from elsewhere) refetches.
 *   Price alerts (candles): data-alert-form="FORM_ID" names a form: a click on the price
 *     pane fills its [name=value] with the clicked level (at the chart's precision), its
 *     [name=condition] with crosses_above when that is above the form's data-last-price
 *     (kept current from ct:price of its data-alert-symbol) else crosses_below, and shows
 *     it (hidden off); [data-alert-cancel] in it hides it again.
 *     data-lines-url="URL" JSON {"lines":[{"price","title"}...]}: dashed horizontal lines
 *     (the user's active alerts), re-read on ct-alerts-changed (the form's htmx answer
 *     triggers it) and on an alert.triggered ct:notification; the element's
 *     data-alert-lines = how many are drawn.
 * CSS variables (on :root): --ct-fg --ct-bg --ct-grid --ct-up --ct-down, optional
 *   --ct-accent (equity/line colour). The chart element needs a CSS height.
 * EVENTS (on document)
 *   listens  ct:price  {symbol, price, time}: the last candle of that symbol's live
 *                      charts moves (a new bar when time passes the bar length)
 *            ct:theme  re-reads the CSS variables and restyles every chart
 * API: window.ctCharts.render(root = document), window.ctCharts.get(el) -> entry
 *   {el, kind, chart, series, reload()} or undefined.
 */
(() => {
  'use strict';

  const entries = new Map(); // element -> entry (pruned when the element leaves the page)
  const KIND_NAMES = ['candles', 'equity', 'line', 'sparkline', 'heatmap', 'reliability'];
  const MAX_MARKER_TEXTS = 25;
  const TIMEFRAME_UNITS = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

  // ------------------------------------------------------------------ parsing

  /** An ISO-8601 string or epoch seconds as whole epoch seconds (UTCTimestamp), or null. */
  function toTime(value) {
    if (value == null || value === '') return null;
    if (typeof value === 'number') return Number.isFinite(value) ? Math.floor(value) : null;
    const text = String(value).trim();
    if (/^-?\d+(\.\d+)?$/.test(text)) return Math.floor(Number(text));
    // Date.parse reads a date-time without a zone as local time; the contract says UTC.
    const zoned = /T\d\d:\d\d/.test(text) && !/(Z|[+-]\d\d(:?\d\d)?)$/i.test(text);
    const ms = Date.parse(zoned ? `${text}Z` : text);
    return Number.isFinite(ms) ? Math.floor(ms / 1000) : null;
  }

  /** A decimal (string or number) as a finite Number, or null. */
  function toNumber(value) {
    if (value == null || value === '') return null;
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }

  /** Items sorted by time with one per time (the last wins): the library asserts both. */
  function byTime(items) {
    const sorted = items.filter((item) => item.time != null).sort((a, b) => a.time - b.time);
    const out = [];
    for (const item of sorted) {
      if (out.length && out[out.length - 1].time === item.time) out[out.length - 1] = item;
      else out.push(item);
    }
    return out;
  }

  /** [[time, "value"], ...] (or [{time, value}, ...]) as sorted {time, value}. */
  function toPoints(raw) {
    if (!Array.isArray(raw)) return [];
    return byTime(
      raw
        .map((p) => (Array.isArray(p) ? { time: toTime(p[0]), value: toNumber(p[1]) }
          : { time: toTime(p && p.time), value: toNumber(p && p.value) }))
        .filter((p) => p.value != null),
    );
  }

  function timeframeSeconds(name) {
    const match = /^(\d+)\s*([smhdw])$/i.exec(String(name || '').trim());
    return match ? Number(match[1]) * TIMEFRAME_UNITS[match[2].toLowerCase()] : null;
  }

  /** Enough decimals to tell prices apart: 2 from 1 up, more for small prices. */
  function autoPrecision(values) {
    const smallest = Math.min(...values.map(Math.abs).filter((v) => v > 0));
    if (!Number.isFinite(smallest) || smallest >= 1) return 2;
    return Math.min(8, Math.max(2, Math.ceil(-Math.log10(smallest)) + 3));
  }

  function priceFormat(el, values) {
    const given = Number.parseInt(el.dataset.precision, 10);
    const precision = Number.isInteger(given) && given >= 0 && given <= 12 ? given : autoPrecision(values);
    return { type: 'price', precision, minMove: 10 ** -precision };
  }

  // ------------------------------------------------------------------ theme

  const colourChannels = new Map();
  let probe = null;

  /** Any CSS colour (hex, rgb(), hsl(), oklch(), a name...) as [r, g, b] by painting one
   * pixel: the chart library parses only some formats, and alpha variants need channels. */
  function channels(colour) {
    if (!colourChannels.has(colour)) {
      probe = probe || document.createElement('canvas').getContext('2d', { willReadFrequently: true });
      probe.clearRect(0, 0, 1, 1);
      probe.fillStyle = '#000';
      probe.fillStyle = colour;
      probe.fillRect(0, 0, 1, 1);
      const [r, g, b] = probe.getImageData(0, 0, 1, 1).data;
      colourChannels.set(colour, [r, g, b]);
    }
    return colourChannels.get(colour);
  }

  const rgba = ([r, g, b], alpha = 1) => `rgba(${r}, ${g}, ${b}, ${alpha})`;
  const mix = (a, b, t) => a.map((v, i) => Math.round(v + (b[i] - v) * t));

  function luminance(rgb) {
    const [r, g, b] = rgb.map((v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }

  function contrast(a, b) {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  }

  function isDark() {
    const theme = document.documentElement.dataset.theme;
    if (theme === 'dark' || theme === 'light') return theme === 'dark';
    // "system" or none: the CSS follows prefers-color-scheme
    return Boolean(window.matchMedia && matchMedia('(prefers-color-scheme: dark)').matches);
  }

  /** The palette, from the CSS variables (fallbacks when a variable is absent or invalid). */
  function palette() {
    const style = getComputedStyle(document.documentElement);
    const dark = isDark();
    const read = (name, light, darkFallback) => {
      const value = style.getPropertyValue(name).trim();
      return channels(value && CSS.supports('color', value) ? value : dark ? darkFallback : light);
    };
    return {
      fg: read('--ct-fg', '#1f2937', '#e5e7eb'),
      bg: read('--ct-bg', '#ffffff', '#111827'),
      grid: read('--ct-grid', '#e5e7eb', '#1f2937'),
      up: read('--ct-up', '#15803d', '#22c55e'),
      down: read('--ct-down', '#b91c1c', '#ef4444'),
      accent: read('--ct-accent', '#2563eb', '#60a5fa'),
    };
  }

  // ------------------------------------------------------------------ time in the browser's zone

  const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
  const tickFormats = [
    new Intl.DateTimeFormat(undefined, { year: 'numeric' }), // TickMarkType.Year
    new Intl.DateTimeFormat(undefined, { month: 'short' }), // Month
    new Intl.DateTimeFormat(undefined, { day: 'numeric' }), // DayOfMonth
    new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' }), // Time
    new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' }),
  ];

  /** The library's Time (we always give UTCTimestamp; the others for safety) as a Date. */
  function timeToDate(time) {
    if (typeof time === 'number') return new Date(time * 1000);
    if (time && typeof time === 'object') return new Date(Date.UTC(time.year, time.month - 1, time.day));
    return new Date(time);
  }

  function localization(entry) {
    return {
      locale: navigator.language,
      // daily bars and coarser have no meaningful time of day
      timeFormatter: (time) => ((entry.timeframe || 0) >= 86400 ? dateFormat : dateTimeFormat)
        .format(timeToDate(time)),
    };
  }

  const tickMarkFormatter = (time, type) => (tickFormats[type] || dateTimeFormat).format(timeToDate(time));

  // ------------------------------------------------------------------ chart plumbing

  function chartOptions(entry, p) {
    const LC = window.LightweightCharts;
    const layout = {
      background: { type: LC.ColorType.Solid, color: rgba(p.bg) },
      textColor: rgba(p.fg),
      attributionLogo: true, // TradingView's licence asks for the attribution: keep it
      panes: { separatorColor: rgba(p.grid), separatorHoverColor: rgba(p.fg, 0.12) },
    };
    const font = getComputedStyle(entry.el).fontFamily;
    if (font) layout.fontFamily = font; // the page's font on the scales
    return {
      autoSize: true,
      layout,
      grid: { vertLines: { color: rgba(p.grid) }, horzLines: { color: rgba(p.grid) } },
      rightPriceScale: { borderColor: rgba(p.grid) },
      timeScale: { borderColor: rgba(p.grid), timeVisible: true, secondsVisible: false, tickMarkFormatter },
      crosshair: { vertLine: { labelBackgroundColor: rgba(p.fg, 0.8) }, horzLine: { labelBackgroundColor: rgba(p.fg, 0.8) } },
      localization: localization(entry),
    };
  }

  function ensureChart(entry) {
    clearMessage(entry);
    if (!entry.chart) {
      entry.chart = window.LightweightCharts.createChart(entry.el, chartOptions(entry, palette()));
      entry.series = {};
    }
    return entry.chart;
  }

  function destroyChart(entry) {
    if (entry.chart) entry.chart.remove();
    entry.chart = null;
    entry.series = {};
    entry.markers = null;
  }

  /** Show a short text instead of the chart (no data, or the fetch failed). */
  function showMessage(entry, text) {
    destroyChart(entry);
    entry.el.querySelectorAll(':scope > [data-ct-generated]').forEach((n) => n.remove());
    const message = document.createElement('p');
    message.className = 'chart-empty';
    message.dataset.ctGenerated = '';
    message.textContent = text;
    entry.el.append(message);
  }

  function clearMessage(entry) {
    entry.el.querySelectorAll(':scope > .chart-empty[data-ct-generated]').forEach((n) => n.remove());
  }

  const emptyText = (el) => el.dataset.empty || 'No data yet';

  /** A summary for assistive technology: the canvas itself says nothing. */
  function describe(entry, text) {
    const el = entry.el;
    if (!el.hasAttribute('role')) el.setAttribute('role', 'figure');
    if (!el.hasAttribute('aria-label') || el.dataset.ctLabel === '') {
      el.setAttribute('aria-label', text);
      el.dataset.ctLabel = '';
    }
  }

  /** Markers placed on the point (bar) that contains their time, sorted. */
  function toMarkers(raw, times, p) {
    if (!Array.isArray(raw) || !times.length) return [];
    const list = raw
      .map((m) => ({ time: toTime(m && m.time), side: String((m && m.side) || '').toLowerCase(), text: m && m.text }))
      .filter((m) => m.time != null && (m.side === 'buy' || m.side === 'sell'))
      .map((m) => {
        // the last point at or before the marker (the first point for earlier ones)
        let lo = 0;
        let hi = times.length - 1;
        while (lo < hi) {
          const mid = (lo + hi + 1) >> 1;
          if (times[mid] <= m.time) lo = mid;
          else hi = mid - 1;
        }
        return { ...m, time: times[lo] };
      })
      .sort((a, b) => a.time - b.time);
    const withText = list.length <= MAX_MARKER_TEXTS;
    return list.map((m) => ({
      time: m.time,
      position: m.side === 'buy' ? 'belowBar' : 'aboveBar',
      shape: m.side === 'buy' ? 'arrowUp' : 'arrowDown',
      color: rgba(m.side === 'buy' ? p.up : p.down),
      text: withText && m.text ? String(m.text) : undefined,
    }));
  }

  function setMarkers(entry, series, markers) {
    if (entry.markers) entry.markers.setMarkers(markers);
    else if (markers.length) entry.markers = window.LightweightCharts.createSeriesMarkers(series, markers);
  }

  const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 8 });
  const percent = new Intl.NumberFormat(undefined, { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 });

  // ------------------------------------------------------------------ price alerts

  const alertFormOf = (entry) => {
    const id = entry.el.dataset.alertForm;
    return (id && document.getElementById(id)) || null;
  };

  /** Once per chart (a new chart after a message needs it again): clicks and lines. */
  function attachAlerts(entry) {
    if (entry.alertChart === entry.chart) return;
    entry.alertChart = entry.chart;
    entry.priceLines = [];
    if (alertFormOf(entry)) entry.chart.subscribeClick((param) => onChartClick(entry, param));
    loadAlertLines(entry);
  }

  function onChartClick(entry, param) {
    const series = entry.series.main;
    const form = alertFormOf(entry);
    if (!series || !form || !param || !param.point || (param.paneIndex || 0) !== 0) return;
    const level = series.coordinateToPrice(param.point.y);
    if (level == null || !Number.isFinite(level) || level <= 0) return;
    const format = series.options().priceFormat || {};
    const value = level.toFixed(Number.isInteger(format.precision) ? format.precision : 2);
    const last = Number(form.dataset.lastPrice);
    const above = !Number.isFinite(last) || Number(value) > last;
    if (form.elements.value) form.elements.value.value = value;
    if (form.elements.condition) form.elements.condition.value = above ? 'crosses_above' : 'crosses_below';
    form.hidden = false;
    if (form.elements.value) form.elements.value.focus({ preventScroll: true });
  }

  async function loadAlertLines(entry) {
    const url = entry.el.dataset.linesUrl;
    const series = entry.series.main;
    if (!url || !series) return;
    let lines;
    try {
      const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      if (!response.ok) return;
      lines = (await response.json()).lines;
    } catch {
      return; // the chart stays usable without its lines
    }
    if (entry.series.main !== series || !Array.isArray(lines)) return; // redrawn meanwhile
    for (const line of entry.priceLines) series.removePriceLine(line);
    const p = palette();
    entry.priceLines = lines.map((l) => toNumber(l && l.price)).filter((v) => v != null && v > 0)
      .map((price, i) => series.createPriceLine({
        price,
        color: rgba(p.accent || p.fg, 0.9),
        lineWidth: 1,
        lineStyle: window.LightweightCharts.LineStyle.Dashed,
        axisLabelVisible: true,
        title: String((lines[i] && lines[i].title) || 'Alert'),
      }));
    entry.el.dataset.alertLines = String(entry.priceLines.length);
  }

  function reloadAlertLines() {
    for (const entry of entries.values()) {
      if (entry.kind === 'candles' && entry.chart && entry.el.isConnected) loadAlertLines(entry);
    }
  }

  function onAlertsChanged(event) {
    const form = event.target && event.target.closest && event.target.closest('form');
    if (form && form.querySelector('[data-alert-cancel]')) form.hidden = true;
    reloadAlertLines();
  }

  function onAlertCancel(event) {
    const button = event.target.closest && event.target.closest('[data-alert-cancel]');
    const form = button && button.closest('form');
    if (form) form.hidden = true;
  }

  // ------------------------------------------------------------------ kinds

  const candles = {
    parse(raw, entry) {
      const rows = Array.isArray(raw.candles) ? raw.candles : Array.isArray(raw.items) ? raw.items : [];
      const bars = byTime(rows.map((c) => ({
        time: toTime(c && (c.time != null ? c.time : c.open_time)),
        open: toNumber(c && c.open),
        high: toNumber(c && c.high),
        low: toNumber(c && c.low),
        close: toNumber(c && c.close),
        volume: toNumber(c && c.volume),
      })).filter((c) => c.open != null && c.high != null && c.low != null && c.close != null));
      const symbol = String(entry.el.dataset.symbol || raw.symbol || '').toUpperCase();
      return { bars, symbol, markers: raw.markers, empty: !bars.length };
    },
    draw(entry, data) {
      const LC = window.LightweightCharts;
      const p = palette();
      const chart = ensureChart(entry);
      entry.data = data;
      entry.symbol = data.symbol;
      if (!entry.series.main) {
        entry.series.main = chart.addSeries(LC.CandlestickSeries, {});
      }
      entry.series.main.applyOptions({
        priceFormat: priceFormat(entry.el, data.bars.map((b) => b.close)),
      });
      entry.series.main.setData(data.bars.map(({ volume, ...bar }) => bar));
      const hasVolume = data.bars.some((b) => b.volume != null);
      if (hasVolume && !entry.series.volume) {
        entry.series.volume = chart.addSeries(LC.HistogramSeries, {
          priceFormat: { type: 'volume' }, priceLineVisible: false, lastValueVisible: false,
        }, 1);
        const panes = chart.panes();
        panes[0].setStretchFactor(3);
        if (panes[1]) panes[1].setStretchFactor(1);
      } else if (!hasVolume && entry.series.volume) {
        chart.removeSeries(entry.series.volume); // its pane goes with it
        entry.series.volume = null;
      }
      this.style(entry, p);
      attachAlerts(entry);
      // few bars: spread them out; many: the newest at the library's bar spacing
      if (data.bars.length * 8 < (entry.el.clientWidth || 600)) chart.timeScale().fitContent();
      else chart.timeScale().scrollToRealTime();
      const last = data.bars[data.bars.length - 1];
      describe(entry, `${data.symbol || 'Price'} candlestick chart, ${data.bars.length} bars, last close ${number.format(last.close)}`);
    },
    style(entry, p) {
      const { main, volume } = entry.series;
      main.applyOptions({
        upColor: rgba(p.up), downColor: rgba(p.down), borderVisible: false,
        wickUpColor: rgba(p.up), wickDownColor: rgba(p.down),
      });
      if (volume) {
        volume.setData(entry.data.bars.filter((b) => b.volume != null).map((b) => ({
          time: b.time, value: b.volume, color: rgba(b.close >= b.open ? p.up : p.down, 0.45),
        })));
      }
      setMarkers(entry, main, toMarkers(entry.data.markers, entry.data.bars.map((b) => b.time), p));
    },
    /** A live price: move the last bar, or open a new one when its time is past the bar. */
    tick(entry, price, time) {
      const bars = entry.data && entry.data.bars;
      if (!bars || !bars.length || !entry.series.main) return;
      const step = entry.timeframe;
      // without a bar length the chart is history (a backtest's bars): not live
      if (!step || entry.el.dataset.live === 'off') return;
      const last = bars[bars.length - 1];
      const at = time == null ? Math.floor(Date.now() / 1000) : time;
      const start = Math.floor(at / step) * step; // bars are aligned to UTC, as the server's
      if (start < last.time) return; // stale
      // stored bars that end long before now (history imported for backtests, no live
      // candles): a tick would be one bar far from the rest, so the chart stays history
      if (start - last.time > 3 * step) return;
      let bar;
      if (start > last.time) {
        bar = { time: start, open: price, high: price, low: price, close: price, volume: 0 };
        bars.push(bar);
      } else {
        bar = last;
        bar.high = Math.max(bar.high, price);
        bar.low = Math.min(bar.low, price);
        bar.close = price;
      }
      const { volume, ...ohlc } = bar;
      entry.series.main.update(ohlc);
      if (entry.series.volume && volume != null) {
        const p = palette();
        entry.series.volume.update({ time: bar.time, value: volume, color: rgba(bar.close >= bar.open ? p.up : p.down, 0.45) });
      }
    },
  };

  const equity = {
    parse(raw) {
      const points = toPoints(raw.points);
      return {
        points, drawdown: toPoints(raw.drawdown), benchmark: toPoints(raw.benchmark), markers: raw.markers, empty: !points.length,
      };
    },
    draw(entry, data) {
      const LC = window.LightweightCharts;
      const chart = ensureChart(entry);
      entry.data = data;
      if (!entry.series.main) entry.series.main = chart.addSeries(LC.AreaSeries, { lineWidth: 2 });
      entry.series.main.applyOptions({ priceFormat: priceFormat(entry.el, data.points.map((pt) => pt.value)) });
      entry.series.main.setData(data.points);
      if (data.benchmark.length && !entry.series.benchmark) {
        entry.series.benchmark = chart.addSeries(LC.LineSeries, { lineWidth: 1, lineStyle: 2, priceLineVisible: false, title: 'BTC' });
      } else if (!data.benchmark.length && entry.series.benchmark) {
        chart.removeSeries(entry.series.benchmark);
        entry.series.benchmark = null;
      }
      if (entry.series.benchmark) {
        entry.series.benchmark.applyOptions({ priceFormat: priceFormat(entry.el, data.points.map((pt) => pt.value)) });
        entry.series.benchmark.setData(data.benchmark);
      }
      if (data.drawdown.length && !entry.series.drawdown) {
        // a baseline at 0 fills the area between 0 and the (negative) drawdown
        entry.series.drawdown = chart.addSeries(LC.BaselineSeries, {
          baseValue: { type: 'price', price: 0 },
          // (the built-in 'percent' format rounds to whole percent here)
          priceFormat: { type: 'custom', formatter: (v) => percent.format(v / 100), minMove: 0.1 },
          priceLineVisible: false,
          lineWidth: 1,
        }, 1);
        const panes = chart.panes();
        panes[0].setStretchFactor(3);
        if (panes[1]) panes[1].setStretchFactor(1);
      } else if (!data.drawdown.length && entry.series.drawdown) {
        chart.removeSeries(entry.series.drawdown);
        entry.series.drawdown = null;
      }
      if (entry.series.drawdown) {
        entry.series.drawdown.setData(data.drawdown.map((d) => ({ time: d.time, value: d.value * 100 })));
      }
      this.style(entry, palette());
      chart.timeScale().fitContent();
      const first = data.points[0].value;
      const last = data.points[data.points.length - 1].value;
      const worst = data.drawdown.length ? Math.min(...data.drawdown.map((d) => d.value)) : null;
      describe(entry, `Equity chart, ${data.points.length} points, from ${number.format(first)} to ${number.format(last)}`
        + (worst != null ? `, deepest drawdown ${(worst * 100).toFixed(1)}%` : '')
        + (data.benchmark.length ? `, against a benchmark of ${data.benchmark.length} points` : ''));
    },
    style(entry, p) {
      entry.series.main.applyOptions({
        lineColor: rgba(p.accent), topColor: rgba(p.accent, 0.28), bottomColor: rgba(p.accent, 0.02),
      });
      if (entry.series.benchmark) entry.series.benchmark.applyOptions({ color: rgba(p.fg, 0.6) });
      if (entry.series.drawdown) {
        entry.series.drawdown.applyOptions({
          topLineColor: 'rgba(0, 0, 0, 0)', topFillColor1: 'rgba(0, 0, 0, 0)', topFillColor2: 'rgba(0, 0, 0, 0)',
          bottomLineColor: rgba(p.down), bottomFillColor1: rgba(p.down, 0.05), bottomFillColor2: rgba(p.down, 0.35),
        });
      }
      setMarkers(entry, entry.series.main, toMarkers(entry.data.markers, entry.data.points.map((pt) => pt.time), p));
    },
  };

  const line = {
    parse(raw) {
      const points = toPoints(raw.points);
      return { points, empty: !points.length };
    },
    draw(entry, data) {
      const chart = ensureChart(entry);
      entry.data = data;
      if (!entry.series.main) entry.series.main = chart.addSeries(window.LightweightCharts.LineSeries, { lineWidth: 2 });
      entry.series.main.applyOptions({ priceFormat: priceFormat(entry.el, data.points.map((pt) => pt.value)) });
      entry.series.main.setData(data.points);
      this.style(entry, palette());
      chart.timeScale().fitContent();
      const last = data.points[data.points.length - 1].value;
      describe(entry, `Line chart, ${data.points.length} points, last ${number.format(last)}`);
    },
    style(entry, p) {
      entry.series.main.applyOptions({ color: rgba(p.accent) });
    },
  };

  const SVG = 'http://www.w3.org/2000/svg';

  const sparkline = {
    needsLibrary: false,
    parse(raw, entry) {
      const inline = entry.el.dataset.points;
      const values = (raw && Array.isArray(raw.points) ? raw.points
        : inline != null ? inline.split(/[\s,]+/) : [])
        .map(toNumber).filter((v) => v != null);
      return { values, empty: !values.length };
    },
    draw(entry, data) {
      const el = entry.el;
      const { values } = data;
      const width = Number(el.dataset.width) || 80;
      const height = Number(el.dataset.height) || 24;
      const pad = 2; // room for the stroke
      const min = Math.min(...values);
      const max = Math.max(...values);
      const first = values[0];
      const last = values[values.length - 1];
      const xy = (v, i) => {
        const x = values.length === 1 ? (i ? width : 0) : (i / (values.length - 1)) * width;
        const y = max === min ? height / 2 : pad + (1 - (v - min) / (max - min)) * (height - 2 * pad);
        return `${x.toFixed(2)},${y.toFixed(2)}`;
      };
      const coords = values.length === 1 ? [xy(first, 0), xy(first, 1)] : values.map(xy);
      const up = last >= first;
      const change = first !== 0 ? ((last - first) / Math.abs(first)) * 100 : null;
      const label = `${el.dataset.label || el.getAttribute('aria-label') || 'Trend'}: ${up ? 'up' : 'down'}`
        + (change != null ? ` ${Math.abs(change).toFixed(2)}%` : '')
        + ` over ${values.length} point${values.length === 1 ? '' : 's'}`
        + `, from ${number.format(first)} to ${number.format(last)}`;

      const svg = document.createElementNS(SVG, 'svg');
      svg.setAttribute('class', `sparkline ${up ? 'sparkline-up' : 'sparkline-down'}`);
      svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
      svg.setAttribute('width', String(width));
      svg.setAttribute('height', String(height));
      svg.setAttribute('preserveAspectRatio', 'none');
      svg.setAttribute('role', 'img');
      svg.setAttribute('aria-label', label);
      svg.setAttribute('focusable', 'false');
      svg.dataset.ctGenerated = '';
      const title = document.createElementNS(SVG, 'title');
      title.textContent = label;
      const poly = document.createElementNS(SVG, 'polyline');
      poly.setAttribute('points', coords.join(' '));
      poly.setAttribute('fill', 'none');
      poly.setAttribute('stroke-width', '1.5');
      poly.setAttribute('stroke-linejoin', 'round');
      poly.setAttribute('stroke-linecap', 'round');
      poly.setAttribute('vector-effect', 'non-scaling-stroke');
      // CSS variables keep it theme-aware with no re-render
      poly.style.stroke = up ? 'var(--ct-up, #15803d)' : 'var(--ct-down, #b91c1c)';
      svg.append(title, poly);
      el.querySelectorAll(':scope > [data-ct-generated]').forEach((n) => n.remove());
      el.append(svg);
    },
    style() {},
  };

  const heatmap = {
    needsLibrary: false,
    parse(raw) {
      const x = raw.x && Array.isArray(raw.x.values) ? raw.x : null;
      const y = raw.y && Array.isArray(raw.y.values) ? raw.y : null;
      const cells = Array.isArray(raw.cells) ? raw.cells : [];
      const empty = !x || !y || !x.values.length || !y.values.length || !cells.length;
      return { x, y, cells, metric: raw.metric || 'value', empty };
    },
    draw(entry, data) {
      entry.data = data;
      this.style(entry, palette());
    },
    style(entry, p) {
      const { x, y, cells, metric } = entry.data;
      const el = entry.el;
      const given = Number.parseInt(el.dataset.precision, 10);
      const format = new Intl.NumberFormat(undefined, {
        maximumFractionDigits: Number.isInteger(given) && given >= 0 && given <= 12 ? given : 2,
      });
      const values = cells.flat().map(toNumber).filter((v) => v != null);
      const extent = Math.max(0, ...values.map(Math.abs)) || 1;
      const neutral = mix(p.bg, p.fg, 0.06);
      const missing = mix(p.bg, p.fg, 0.18);
      const textOn = (bg) => rgba(contrast(bg, p.fg) >= contrast(bg, p.bg) ? p.fg : p.bg);
      const xName = String(x.name || 'x');
      const yName = String(y.name || 'y');
      const range = values.length ? ` (${format.format(Math.min(...values))} to ${format.format(Math.max(...values))})` : '';
      const make = (tag, text, attrs = {}) => {
        const node = document.createElement(tag);
        if (text != null) node.textContent = text;
        for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
        return node;
      };

      const table = make('table', null, { class: 'heatmap' });
      const captionText = el.dataset.caption || `${metric} by ${xName} and ${yName}${range}`;
      table.append(make('caption', captionText));
      const head = make('thead');
      const names = make('tr');
      names.append(make('td'), make('th', xName, { scope: 'colgroup', colspan: String(x.values.length) }));
      const columns = make('tr');
      columns.append(make('th', yName, { scope: 'col' }));
      for (const xv of x.values) columns.append(make('th', String(xv), { scope: 'col' }));
      head.append(names, columns);
      const body = make('tbody');
      y.values.forEach((yv, row) => {
        const tr = make('tr');
        tr.append(make('th', String(yv), { scope: 'row' }));
        x.values.forEach((xv, col) => {
          const value = toNumber(Array.isArray(cells[row]) ? cells[row][col] : null);
          const where = `${xName} ${xv}, ${yName} ${yv}`;
          let td;
          if (value == null) {
            td = make('td', 'n/a', { class: 'heatmap-null', title: `${where}: no value` });
            td.style.background = rgba(missing);
            td.style.color = textOn(missing);
          } else {
            const shade = mix(neutral, value >= 0 ? p.up : p.down, Math.min(1, Math.abs(value) / extent) * 0.85);
            td = make('td', format.format(value), { title: `${where}: ${metric} ${format.format(value)}` });
            td.dataset.value = String(value);
            td.style.background = rgba(shade);
            td.style.color = textOn(shade);
          }
          tr.append(td);
        });
        body.append(tr);
      });
      table.append(head, body);
      // a keyboard-scrollable region keeps a wide grid usable on a 375 px screen
      const scroller = make('div', null, { class: 'heatmap-scroll', role: 'region', tabindex: '0', 'aria-label': captionText });
      scroller.dataset.ctGenerated = '';
      scroller.style.overflowX = 'auto';
      scroller.style.maxWidth = '100%';
      scroller.append(table);
      el.querySelectorAll(':scope > [data-ct-generated]').forEach((n) => n.remove());
      el.append(scroller);
    },
  };

  // a reliability diagram: confidence (x) against hit rate (y), both 0 to 1, in an SVG
  const RELIABILITY = { size: 320, left: 46, right: 14, top: 14, bottom: 42 };

  const reliability = {
    needsLibrary: false,
    parse(raw) {
      const buckets = (Array.isArray(raw.buckets) ? raw.buckets : [])
        .map((b) => ({
          lower: toNumber(b && b.lower),
          upper: toNumber(b && b.upper),
          count: toNumber(b && b.count) || 0,
          confidence: toNumber(b && b.mean_confidence),
          hitRate: toNumber(b && b.hit_rate),
        }))
        .filter((b) => b.count > 0 && b.confidence != null && b.hitRate != null)
        .sort((a, b) => a.confidence - b.confidence);
      return { buckets, brier: toNumber(raw.brier_score), empty: !buckets.length };
    },
    draw(entry, data) {
      const { size, left, right, top, bottom } = RELIABILITY;
      const width = size - left - right;
      const height = size - top - bottom;
      const x = (v) => left + Math.min(1, Math.max(0, v)) * width;
      const y = (v) => top + (1 - Math.min(1, Math.max(0, v))) * height;
      const fixed = (v) => v.toFixed(2);
      const make = (tag, attrs = {}, text = null) => {
        const node = document.createElementNS(SVG, tag);
        for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
        if (text != null) node.textContent = text;
        return node;
      };
      const decisions = data.buckets.reduce((n, b) => n + b.count, 0);
      const label = `Reliability diagram: ${decisions} decision${decisions === 1 ? '' : 's'}`
        + ` in ${data.buckets.length} confidence bucket${data.buckets.length === 1 ? '' : 's'}`
        + (data.brier != null ? `, Brier score ${data.brier.toFixed(4)}` : '');
      const svg = make('svg', {
        class: 'reliability-svg', viewBox: `0 0 ${size} ${size}`, role: 'img', 'aria-label': label, focusable: 'false',
      });
      svg.dataset.ctGenerated = '';
      svg.append(make('title', {}, label));
      const muted = 'var(--ct-muted, #94a3b8)';
      for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
        const grid = { stroke: 'var(--ct-grid, #1f2b45)', 'stroke-width': 1 };
        svg.append(make('line', { x1: fixed(x(tick)), y1: fixed(y(0)), x2: fixed(x(tick)), y2: fixed(y(1)), ...grid }));
        svg.append(make('line', { x1: fixed(x(0)), y1: fixed(y(tick)), x2: fixed(x(1)), y2: fixed(y(tick)), ...grid }));
        const text = { fill: muted, 'font-size': 10 };
        svg.append(make('text', { x: fixed(x(tick)), y: fixed(y(0) + 14), 'text-anchor': 'middle', ...text }, tick.toFixed(2)));
        svg.append(make('text', { x: left - 6, y: fixed(y(tick) + 3.5), 'text-anchor': 'end', ...text }, tick.toFixed(2)));
      }
      const axis = { fill: muted, 'font-size': 11, 'text-anchor': 'middle' };
      svg.append(make('text', { x: fixed(left + width / 2), y: size - 6, ...axis }, 'Mean confidence'));
      svg.append(make('text', { x: 12, y: fixed(top + height / 2), transform: `rotate(-90 12 ${fixed(top + height / 2)})`, ...axis }, 'Hit rate'));
      const diagonal = make('line', {
        x1: fixed(x(0)), y1: fixed(y(0)), x2: fixed(x(1)), y2: fixed(y(1)),
        stroke: muted, 'stroke-width': 1.2, 'stroke-dasharray': '5 4', 'data-diagonal': '',
      });
      diagonal.append(make('title', {}, 'Perfect calibration: hit rate = confidence'));
      svg.append(diagonal);
      const accent = 'var(--ct-accent, #3b82f6)';
      if (data.buckets.length > 1) {
        const points = data.buckets.map((b) => `${fixed(x(b.confidence))},${fixed(y(b.hitRate))}`).join(' ');
        svg.append(make('polyline', { points, fill: 'none', stroke: accent, 'stroke-width': 1.5, 'stroke-opacity': 0.7 }));
      }
      const most = Math.max(...data.buckets.map((b) => b.count));
      for (const b of data.buckets) {
        const r = 4 + 8 * Math.sqrt(b.count / most); // area grows with the count
        const cx = x(b.confidence);
        const cy = y(b.hitRate);
        const range = b.lower != null && b.upper != null ? `${b.lower.toFixed(1)}–${b.upper.toFixed(1)}: ` : '';
        const says = `${range}${b.count} decision${b.count === 1 ? '' : 's'}, mean confidence`
          + ` ${b.confidence.toFixed(3)}, hit rate ${percent.format(b.hitRate)}`;
        const dot = make('circle', {
          cx: fixed(cx), cy: fixed(cy), r: fixed(r), fill: accent, 'fill-opacity': 0.35, stroke: accent, 'stroke-width': 1.5,
          'data-count': b.count,
        });
        dot.append(make('title', {}, says));
        // the count above the point (below it when the point is at the top)
        const above = cy - r - 4 > top + 8;
        const count = make('text', {
          x: fixed(cx), y: fixed(above ? cy - r - 4 : cy + r + 12), 'text-anchor': 'middle',
          fill: 'var(--ct-fg, #e5e9f0)', 'font-size': 10, 'data-count-label': '',
        }, `n=${b.count}`);
        svg.append(dot, count);
      }
      entry.el.querySelectorAll(':scope > [data-ct-generated]').forEach((n) => n.remove());
      entry.el.append(svg);
    },
    style() {}, // CSS variables: theme-aware with no re-render
  };

  const KINDS = { candles, equity, line, sparkline, heatmap, reliability };

  // ------------------------------------------------------------------ loading

  /** The element's JSON: from its data-source script, or fetched from its data-url. */
  async function readData(entry, preferUrl) {
    const el = entry.el;
    const source = el.dataset.source;
    if (source && !preferUrl) {
      const script = document.getElementById(source);
      if (!script) return null;
      try {
        return JSON.parse(script.textContent);
      } catch {
        return null; // malformed: treated as no data
      }
    }
    const url = el.dataset.url;
    if (!url) return null;
    if (entry.abort) entry.abort.abort();
    entry.abort = new AbortController();
    el.setAttribute('aria-busy', 'true');
    try {
      const response = await fetch(url, {
        credentials: 'same-origin', headers: { Accept: 'application/json' }, signal: entry.abort.signal,
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return await response.json();
    } finally {
      el.removeAttribute('aria-busy');
    }
  }

  async function load(entry, preferUrl = false) {
    const seq = ++entry.seq;
    const el = entry.el;
    const kind = KINDS[entry.kind];
    let raw;
    try {
      raw = await readData(entry, preferUrl);
    } catch (error) {
      if (error && error.name === 'AbortError') return;
      if (seq === entry.seq) showMessage(entry, el.dataset.error || 'Could not load the chart');
      return;
    }
    if (seq !== entry.seq || !entries.has(el)) return; // a newer load, or the element left
    const tf = Number(el.dataset.timeframeSeconds);
    entry.timeframe = Number.isFinite(tf) && tf > 0 ? tf : timeframeSeconds(el.dataset.timeframe);
    const data = kind.parse(raw && typeof raw === 'object' ? raw : {}, entry);
    if (data.empty) {
      entry.data = null;
      showMessage(entry, emptyText(el));
      return;
    }
    if (kind.needsLibrary !== false && !window.LightweightCharts) {
      showMessage(entry, el.dataset.error || 'Chart unavailable');
      return;
    }
    if (entry.chart) entry.chart.applyOptions({ localization: localization(entry) });
    kind.draw(entry, data);
  }

  function destroy(entry) {
    entry.seq += 1;
    if (entry.abort) entry.abort.abort();
    if (entry.observer) entry.observer.disconnect();
    destroyChart(entry);
    entries.delete(entry.el);
  }

  /** Forget charts whose element left the page (htmx swapped it out). */
  function prune() {
    for (const entry of entries.values()) if (!entry.el.isConnected) destroy(entry);
  }

  function setup(el) {
    const kind = el.dataset.chart;
    el.dataset.rendered = '';
    if (!KIND_NAMES.includes(kind)) return;
    // Restored from htmx's history cache: the old drawing is a dead copy; start afresh.
    el.querySelectorAll(':scope > .tv-lightweight-charts, :scope > [data-ct-generated], :scope > [data-chart-placeholder]')
      .forEach((n) => n.remove());
    const entry = { el, kind, chart: null, series: {}, markers: null, data: null, seq: 0, abort: null, timeframe: null };
    entry.reload = () => load(entry, Boolean(el.dataset.url));
    entries.set(el, entry);
    entry.observer = new MutationObserver(() => load(entry, true));
    entry.observer.observe(el, { attributes: true, attributeFilter: ['data-url'] });
    load(entry);
  }

  function render(root = document) {
    prune();
    const scope = root && root.querySelectorAll ? root : document;
    const found = [...scope.querySelectorAll('[data-chart]')];
    if (scope.matches && scope.matches('[data-chart]')) found.unshift(scope);
    // data-rendered without an entry: a copy restored from htmx's history cache
    for (const el of found) if (!entries.has(el)) setup(el);
  }

  // ------------------------------------------------------------------ events

  function onPrice(event) {
    const detail = event.detail || {};
    const symbol = String(detail.symbol || '').toUpperCase();
    const price = toNumber(detail.price);
    if (!symbol || price == null) return;
    const time = toTime(detail.time);
    for (const form of document.querySelectorAll(`form[data-alert-symbol="${CSS.escape(symbol)}"]`)) {
      form.dataset.lastPrice = String(detail.price);
    }
    for (const entry of entries.values()) {
      if (entry.kind === 'candles' && entry.chart && entry.symbol === symbol && entry.el.isConnected) {
        candles.tick(entry, price, time);
      }
    }
  }

  function onTheme() {
    const p = palette();
    for (const entry of entries.values()) {
      if (!entry.el.isConnected || !entry.data) continue;
      if (entry.chart) entry.chart.applyOptions(chartOptions(entry, p));
      KINDS[entry.kind].style(entry, p);
    }
  }

  function onControlClick(event) {
    const button = event.target.closest && event.target.closest('[data-chart-controls] [data-timeframe]');
    if (!button) return;
    const controls = button.closest('[data-chart-controls]');
    const chart = controls.dataset.for && document.getElementById(controls.dataset.for);
    if (!chart) return;
    if (button.tagName === 'A') event.preventDefault();
    const timeframe = button.dataset.timeframe;
    const seconds = Number(button.dataset.timeframeSeconds) || timeframeSeconds(timeframe);
    for (const other of controls.querySelectorAll('[data-timeframe]')) {
      other.setAttribute('aria-pressed', String(other === button));
    }
    chart.dataset.timeframe = timeframe;
    if (seconds) chart.dataset.timeframeSeconds = String(seconds);
    else delete chart.dataset.timeframeSeconds;
    let url = button.dataset.url;
    if (!url && chart.dataset.url) {
      const next = new URL(chart.dataset.url, location.href);
      next.searchParams.set('timeframe', timeframe);
      url = next.origin === location.origin ? next.pathname + next.search + next.hash : next.href;
    }
    if (!url) return;
    if (url === chart.dataset.url) {
      const entry = entries.get(chart);
      if (entry) entry.reload(); // same URL: refetch anyway (the user asked)
    } else {
      chart.dataset.url = url; // the MutationObserver refetches
    }
  }

  document.addEventListener('ct:price', onPrice);
  document.addEventListener('ct:theme', onTheme);
  document.addEventListener('click', onControlClick);
  document.addEventListener('click', onAlertCancel);
  document.addEventListener('ct-alerts-changed', onAlertsChanged);
  document.addEventListener('ct:notification', (event) => {
    if (event.detail && event.detail.notification_type === 'alert.triggered') reloadAlertLines();
  });
  document.addEventListener('htmx:afterSettle', () => render(document));
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => render(document));
  else render(document);

  window.ctCharts = Object.freeze({
    render,
    get: (el) => {
      const entry = entries.get(el);
      return entry && { el: entry.el, kind: entry.kind, chart: entry.chart, series: { ...entry.series }, reload: entry.reload };
    },
  });
})();

/*
 * Rateline web chat rating widget, served at GET /widget.js.
 *
 *   <script src="https://rateline.example/widget.js" data-token="TOKEN"
 *           data-target="#chat-log" async></script>
 *
 * Plain ES2019, no dependencies, no build step. Everything renders inside a
 * shadow root so the customer's page CSS cannot reach the card and ours cannot
 * leak out. Server strings are only ever set through textContent/attributes.
 */
(() => {
  'use strict';

  // currentScript is only set while this file first executes, so read it now.
  const script = document.currentScript ||
    document.querySelector('script[data-token][src*="widget.js"]');
  const token = script && script.getAttribute('data-token');
  if (!token) {
    console.warn('Rateline widget: missing data-token on the <script> tag; not starting.');
    return;
  }
  // Everything before /widget.js: Rateline may be served under a path (server.public_url).
  const base = new URL(script.src, location.href).href.replace(/\/widget\.js(?:[?#].*)?$/, '');
  const targetSelector = script.getAttribute('data-target');

  // Used only if the server ever omits a text; normally every text comes from line settings.
  const DEFAULT_TEXTS = {
    question: 'Please rate the quality of service', thanks: 'Thank you for your rating!',
    your_rating: 'Your rating', resolved_question: 'Was your issue resolved?', yes: 'Yes', no: 'No',
    comment_prompt: 'We are sorry. What went wrong?', comment_placeholder: 'Tell us what happened',
    send: 'Send', change: 'Change my rating', good: 'Good', bad: 'Bad', star: '{n} of 5 stars',
    window_closed: 'The time to rate this conversation has passed.',
    change_refused: 'Your rating can no longer be changed.',
    not_answerable: 'This rating request is closed.', error: 'Something went wrong. Please try again.',
    reasons_prompt: 'We are sorry. What went wrong? Choose all that apply.', done: 'Done',
  };

  const CSS = `
    :host { all: initial; display: block; font: 14px/1.4 system-ui, sans-serif; color: #202124; }
    :host([hidden]) { display: none; }
    :host([data-panel]) { position: fixed; right: 16px; bottom: 16px; z-index: 2147483000;
      width: 320px; max-width: calc(100vw - 32px); }
    .card { margin: 8px 0; padding: 12px 14px; background: #fff; border: 1px solid #dadce0;
      border-radius: 12px; box-shadow: 0 1px 4px rgba(0,0,0,.15); }
    p { margin: 0 0 8px; }
    .q, .h { font-weight: 600; }
    .row { display: flex; flex-wrap: wrap; gap: 6px; margin: 0 0 10px; }
    .card > :last-child, div > .row:last-child { margin-bottom: 0; }
    button { font: inherit; color: inherit; min-width: 32px; min-height: 32px; padding: 4px 12px;
      border: 1px solid #dadce0; border-radius: 8px; background: #f8f9fa; cursor: pointer; }
    button:hover { background: #e8f0fe; }
    .scale button { font-size: 22px; line-height: 1; padding: 4px 8px; }
    .star { color: #9aa0a6; }
    .star.lit, .stars { color: #f9ab00; }
    button[aria-pressed="true"] { border-color: #1a73e8; }
    .chips button { border-radius: 16px; }
    .chips button[aria-pressed="true"] { background: #e8f0fe; }
    .link { border: none; background: none; color: #1a73e8; text-decoration: underline; padding: 4px 0; }
    textarea { box-sizing: border-box; display: block; width: 100%; min-height: 64px; margin: 0 0 6px;
      padding: 6px 8px; font: inherit; color: inherit; border: 1px solid #dadce0; border-radius: 8px; resize: vertical; }
    :focus-visible { outline: 3px solid #1a73e8; outline-offset: 2px; }
    [tabindex="-1"]:focus:not(:focus-visible) { outline: none; }
    .alert { color: #b3261e; }
    .alert:empty, .live:empty { display: none; }
  `;

  // Tiny DOM builder: attributes via setAttribute, "on*" keys as listeners, children as nodes/text.
  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null) continue; // false is kept: data-resolved="false" is meaningful
      if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, String(v));
    }
    node.append(...kids.filter((kid) => kid != null && kid !== false));
    return node;
  }

  const same = (a, b) => a === b || (!!a && !!b && typeof a === 'object' && typeof b === 'object' &&
    Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => same(a[k], b[k])));

  // Persistent skeleton: the live region and alert stay in place across renders,
  // so screen readers announce changes to them instead of a freshly inserted node.
  const host = document.createElement('rateline-rating');
  host.hidden = true;
  host.setAttribute('data-state', 'none');
  const shadow = host.attachShadow({ mode: 'open' });
  const live = el('div', { class: 'live', 'aria-live': 'polite' });
  const body = el('div');
  const alertBox = el('p', { class: 'alert', role: 'alert' });
  const region = el('div', { class: 'card', role: 'region' }, live, body, alertBox);
  // A constructed style sheet passes a page's Content-Security-Policy that forbids inline
  // styles; older browsers get a <style> element.
  if (shadow.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === 'function' &&
      'replaceSync' in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [sheet];
  } else {
    shadow.append(el('style', null, CSS));
  }
  shadow.append(region);

  let card = null;       // last card from the server
  let changing = false;  // user clicked "change my rating"
  let draft = '';        // comment being typed; survives re-renders of the same request
  let picked = new Set(); // reasons ticked, not yet sent; survives re-renders likewise
  let error = null;      // text shown in the alert
  let busy = false;      // an answer POST is in flight; ignore further clicks
  const acked = new Set();

  // Attach lazily (when the first card arrives) so the card lands at the end of the
  // chat log, and re-attach if the host page's chat re-rendered and dropped us.
  function mount() {
    if (host.isConnected) return;
    let target = null;
    try { target = targetSelector && document.querySelector(targetSelector); } catch (e) { /* bad selector */ }
    if (target) host.removeAttribute('data-panel'); else host.setAttribute('data-panel', '');
    (target || document.body).append(host);
  }

  const post = (path, payload) => fetch(base + path, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify(Object.assign({ token }, payload)),
  });

  // The server uses the ack to know the card was really shown. Retry transient
  // failures with exponential backoff; a 4xx means retrying would not help.
  function ack(requestId, attempt = 0) {
    post('/webchat/ack', { request_id: requestId })
      .then((res) => { if (res.status >= 500) throw new Error('HTTP ' + res.status); })
      .catch(() => {
        if (attempt < 4) setTimeout(() => ack(requestId, attempt + 1), 1000 * 2 ** attempt);
        else acked.delete(requestId); // let a later re-send of the card try again
      });
  }

  async function answer(fields) {
    if (busy || !card) return;
    const t = Object.assign({}, DEFAULT_TEXTS, card.texts);
    busy = true;
    region.setAttribute('aria-busy', 'true');
    try {
      const res = await post('/webchat/answer', Object.assign({ request_id: card.request_id }, fields));
      if (res.ok) {
        if (fields.comment != null) draft = '';
        if (fields.reasons != null) picked = new Set();
        changing = false; error = null; card = await res.json();
      } else if (res.status < 500) {
        const code = await res.json().then((b) => b && b.error && b.error.code, () => null);
        error = code === 'answer_window_closed' ? t.window_closed
          : code === 'change_limit_reached' || code === 'change_window_closed' ? t.change_refused
            : t.not_answerable;
        changing = false; // the stored rating (if any) is what stands now
      } else {
        error = t.error;
      }
    } catch (e) {
      error = t.error; // network failure: stay where we are so the user can retry
    } finally {
      busy = false;
      region.removeAttribute('aria-busy');
    }
    render();
  }

  // Describes the focused control so the "same" control can be refocused after a re-render.
  function focusKey(node) {
    if (!node) return null;
    if (node.tagName === 'TEXTAREA') return 'textarea';
    for (const a of ['data-value', 'data-resolved', 'data-reason', 'data-action']) {
      if (node.hasAttribute(a)) return `[${a}="${node.getAttribute(a)}"]`;
    }
    return null;
  }

  function render() {
    const focused = shadow.activeElement; // only move focus if the user was already in here
    const key = focusKey(focused);
    body.textContent = '';
    alertBox.textContent = (card && error) || '';
    if (!card) {
      live.textContent = '';
      host.hidden = true;
      host.setAttribute('data-state', 'none');
      return;
    }
    const t = Object.assign({}, DEFAULT_TEXTS, card.texts);
    const r = card.rating;
    const starLabel = (n) => t.star.replace('{n}', String(n));
    region.setAttribute('aria-label', t.question);
    region.setAttribute('lang', card.language || '');
    host.setAttribute('data-request-id', card.request_id);
    let state;
    let target;

    if (!r || changing) {
      state = 'ask';
      live.textContent = '';
      const binary = card.scale === 'binary';
      const options = binary ? [[1, '👍', t.good], [0, '👎', t.bad]]
        : [1, 2, 3, 4, 5].map((n) => [n, '★', starLabel(n)]);
      const current = r ? r.value : null;
      const buttons = options.map(([value, symbol, label]) => el('button', {
        type: 'button', 'data-value': value, 'aria-label': label, class: binary ? null : 'star',
        'aria-pressed': current === null ? null : String(current === value),
        onclick: () => answer({ value }),
      }, symbol));
      if (!binary) {
        // Light the stars up to the hovered/focused one; fall back to the current rating.
        const light = (n) => buttons.forEach((b, i) => b.classList.toggle('lit', i < n));
        buttons.forEach((b, i) => {
          b.addEventListener('mouseenter', () => light(i + 1));
          b.addEventListener('focus', () => light(i + 1));
          b.addEventListener('mouseleave', () => light(current || 0));
          b.addEventListener('blur', () => light(current || 0));
        });
        light(current || 0);
      }
      body.append(el('p', { class: 'q' }, t.question),
        el('div', { class: 'row scale', role: 'group', 'aria-label': t.question }, ...buttons));
      target = buttons[0];
    } else {
      // Thanks area: only rebuilt when its text changes, so it is not re-announced needlessly.
      const shown = card.scale === 'binary' ? (r.value ? '👍' : '👎')
        : '★'.repeat(r.value) + '☆'.repeat(Math.max(0, 5 - r.value));
      const spoken = card.scale === 'binary' ? (r.value ? t.good : t.bad) : starLabel(r.value);
      const thanks = [el('p', { class: 'h', tabindex: -1 }, t.thanks),
        el('p', null, t.your_rating + ': ', el('span', {
          role: 'img', 'aria-label': spoken, class: card.scale === 'binary' ? null : 'stars',
        }, shown))];
      if (live.textContent !== thanks.map((n) => n.textContent).join('')) {
        live.textContent = '';
        live.append(...thanks);
      }

      const followups = [];
      if (card.ask_resolved && r.resolved === null) {
        followups.push(el('p', null, t.resolved_question), el('div', { class: 'row' },
          ...[[true, t.yes], [false, t.no]].map(([resolved, label]) => el('button', {
            type: 'button', 'data-resolved': resolved, onclick: () => answer({ value: r.value, resolved }),
          }, label))));
      }
      const reasons = card.low_reasons || [];
      const asksReasons = r.low && reasons.length > 0 && r.reasons == null;
      if (asksReasons) {
        // Chips: each toggles (aria-pressed); "Done" sends those ticked, none included.
        followups.push(el('p', null, t.reasons_prompt),
          el('div', { class: 'row chips', role: 'group', 'aria-label': t.reasons_prompt },
            ...reasons.map((reason) => el('button', {
              type: 'button', 'data-reason': reason.id, 'aria-pressed': String(picked.has(reason.id)),
              onclick: () => {
                if (picked.has(reason.id)) picked.delete(reason.id); else picked.add(reason.id);
                render();
              },
            }, reason.text))),
          el('div', { class: 'row' }, el('button', {
            type: 'button', 'data-action': 'send-reasons',
            onclick: () => answer({ value: r.value, reasons: reasons.map((x) => x.id).filter((id) => picked.has(id)) }),
          }, t.done)));
      }
      if (r.low && card.ask_comment_on_low && r.comment === null && !asksReasons) {
        const area = el('textarea', {
          'aria-label': t.comment_prompt, placeholder: t.comment_placeholder, maxlength: 2000, rows: 3,
          oninput: (e) => { draft = e.target.value; },
        });
        area.value = draft;
        const send = () => {
          const comment = draft.trim();
          if (comment) answer({ value: r.value, comment }); else area.focus();
        };
        followups.push(el('p', null, t.comment_prompt), area, el('div', { class: 'row' },
          el('button', { type: 'button', 'data-action': 'send-comment', onclick: send }, t.send)));
      }
      body.append(...followups);
      if (card.can_change) {
        body.append(el('div', { class: 'row' }, el('button', {
          type: 'button', class: 'link', 'data-action': 'change',
          onclick: () => { changing = true; error = null; render(); },
        }, t.change)));
      }
      state = followups.length ? 'followup' : 'thanks';
      target = shadow.querySelector('[data-resolved], [data-reason], textarea') || live.firstChild;
    }

    host.setAttribute('data-state', state);
    host.hidden = false;
    if (focused) {
      const again = key && shadow.querySelector(key);
      (again || target).focus();
      if (again && again.tagName === 'TEXTAREA') again.setSelectionRange(draft.length, draft.length);
    }
  }

  function show(next) {
    if (card && same(card, next)) { // reconnection re-send: keep the user's in-progress state
      mount(); // but come back if the page's own re-render dropped the card
      return;
    }
    if (!card || card.request_id !== next.request_id) {
      changing = false; draft = ''; error = null; picked = new Set();
    } else if (!same(card.rating, next.rating)) {
      changing = false; // rating changed elsewhere (another tab); show the result
    }
    card = next;
    const fresh = !host.isConnected || host.hidden;
    mount();
    render();
    if (fresh && host.scrollIntoView) host.scrollIntoView({ block: 'nearest' });
    if (!acked.has(card.request_id)) {
      acked.add(card.request_id);
      ack(card.request_id);
    }
  }

  // EventSource reconnects on its own after a dropped connection; the server then re-sends
  // the card. An error answer (a proxy's 502 during a restart, a 503, an expired token)
  // closes it for good, so a new one is opened with backoff, up to a minute apart.
  const parse = (e) => { try { return JSON.parse(e.data); } catch (err) { return null; } };
  let retry = 0;
  function connect() {
    const events = new EventSource(base + '/webchat/events?token=' + encodeURIComponent(token));
    events.addEventListener('open', () => { retry = 0; });
    events.addEventListener('card', (e) => {
      const next = parse(e);
      if (next && next.request_id) show(next);
    });
    events.addEventListener('gone', (e) => {
      const gone = parse(e);
      if (card && gone && gone.request_id === card.request_id) {
        card = null; changing = false; draft = ''; error = null;
        render();
      }
    });
    events.addEventListener('error', () => {
      if (events.readyState !== EventSource.CLOSED) return;
      console.warn('Rateline widget: the event stream was refused; trying again.');
      setTimeout(connect, Math.min(60000, 1000 * 2 ** retry++));
    });
  }
  connect();
})();

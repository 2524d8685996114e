// The "Expired Tokens" badge and dropdown, and their Renew button.
import { newIdempotencyKey, seg } from './api.js';
import { describeError, h, handle, when } from './dom.js';

const STATUS_TEXT = {
  expired: 'Expired',
  reauth_required: 'The owner must reconnect',
  expiring: 'Expiring',
  refresh_failing: 'Refresh failing',
};
const LEFT_REASON_TEXT = {
  plan: 'the plan renews one brand at a time; Advanced renews every brand',
  disabled: 'disabled in that brand',
};

// The badge counts every listed token; the dropdown shows the first page (a real suite pages
// on with `next_cursor`).
export async function loadExpired(ctx) {
  const [summary, page] = await Promise.all([
    ctx.api.get('/v1/expired-tokens/summary'),
    ctx.api.get('/v1/expired-tokens?limit=100'),
  ]);
  const badge = document.getElementById('badge');
  document.getElementById('badge-count').textContent = String(summary.total);
  badge.classList.toggle('alert', summary.total > 0);
  const items = page.data.map((item) => renderItem(ctx, item));
  if (items.length === 0) items.push(h('li', { class: 'empty' }, 'Every token is valid.'));
  if (page.next_cursor) items.push(h('li', { class: 'hint' }, `The first ${page.data.length} of ${summary.total}.`));
  document.getElementById('expired-list').replaceChildren(...items);
}

function renderItem(ctx, item) {
  ctx.brandNames.set(item.brand.id, item.brand.name);
  const result = h('div', { class: 'result', role: 'status' });
  const button = h('button', { type: 'button', class: 'renew' }, 'Renew');
  button.addEventListener('click', () => renew(ctx, item, button, result));
  return h(
    'li',
    { class: `item ${item.status}`, 'data-account-id': item.account_id },
    h('div', { class: 'who' },
      h('strong', {}, handle(item.profile)), ` · ${item.network} · `, h('span', { class: 'brand' }, item.brand.name)),
    h('div', { class: 'why' },
      `${STATUS_TEXT[item.status] ?? item.status} · `, when(item.since),
      item.reason && item.reason !== item.status && ` (${item.reason})`),
    h('div', { class: 'blocked' }, item.blocked.length ? `Blocked: ${item.blocked.join(', ')}` : 'Nothing blocked'),
    h('div', { class: 'actions' }, button,
      // The API says in advance how this one renews; the owner's sign-in takes a popup.
      item.renew.method === 'reauthorize' && h('span', { class: 'hint' }, ' opens the network’s sign-in')),
    result,
  );
}

async function renew(ctx, item, button, result) {
  button.disabled = true;
  result.replaceChildren('Renewing…');
  // Browsers allow a popup only while a click is being handled, so when the network will need
  // the owner the popup is opened now, before the API's answer, and pointed at the network
  // once the answer names the authorization URL.
  let popup = item.renew.method === 'reauthorize' ? openPopup('about:blank') : null;
  try {
    const answer = await ctx.api.post(
      `/v1/brands/${seg(item.brand.id)}/accounts/${seg(item.account_id)}/renew`,
      // Where the network's redirect ends after a re-authorization: our callback page, which
      // tells this window. It must be allow-listed in the API's return_urls.
      { return_url: new URL('callback.html', location.href).href },
      // Idempotent: a retried click after a lost answer cannot renew twice.
      { idempotencyKey: newIdempotencyKey() },
    );
    if (answer.outcome === 'authorization_required') {
      result.replaceChildren('Waiting for the owner to approve at the network…');
      const outcome = await authorize(popup, answer.authorization.authorization_url, result);
      popup = null;
      await finishAuthorization(ctx, item, outcome, result);
    } else if (answer.outcome === 'renewed') {
      ctx.notify(renewedNotice(ctx, item, answer));
      await ctx.refresh();
    } else {
      result.replaceChildren('Still valid; silent renewal is possible from ', when(answer.renewable_from), '.');
    }
  } catch (error) {
    result.replaceChildren(describeError(error));
  } finally {
    popup?.close();
    button.disabled = false;
  }
}

function openPopup(url) {
  return window.open(url, 'tokenwarden-authorize', 'popup,width=520,height=640');
}

// Sends the popup to the network and resolves with what the callback page reported.
async function authorize(popup, authorizationUrl, result) {
  const target = new URL(authorizationUrl);
  // The URL comes from the API, but only a web page may be opened, never a javascript: URL.
  if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new Error(`unexpected URL ${target}`);
  if (popup && !popup.closed) {
    popup.location.href = target.href;
  } else {
    // Not opened in advance (the grant was found dead just now): browsers still allow a popup
    // shortly after the click.
    popup = openPopup(target.href);
  }
  if (!popup) {
    // Blocked after all: a button the user clicks opens it with a fresh gesture.
    popup = await new Promise((resolve) => {
      const open = h('button', { type: 'button' }, 'Open the network’s sign-in');
      open.addEventListener('click', () => resolve(openPopup(target.href)));
      result.replaceChildren('The browser blocked the popup. ', open);
    });
  }
  return waitForCallback(popup);
}

function waitForCallback(popup) {
  return new Promise((resolve) => {
    let settled = false;
    const done = (outcome) => {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      window.removeEventListener('message', onMessage);
      resolve(outcome);
    };
    const onMessage = (event) => {
      // Only our own callback page, in the window we opened, may report an outcome.
      if (event.origin !== location.origin || event.source !== popup) return;
      if (event.data?.type === 'tokenwarden:callback') done(event.data);
    };
    window.addEventListener('message', onMessage);
    // The owner may close the popup without finishing. The callback page also closes it right
    // after posting, so give that message a moment to arrive first.
    const timer = setInterval(() => {
      if (popup?.closed) setTimeout(() => done({ closed: true }), 300);
    }, 400);
  });
}

async function finishAuthorization(ctx, item, outcome, result) {
  if (outcome.closed) {
    result.replaceChildren('The sign-in window was closed before it finished; nothing changed.');
    return;
  }
  if (outcome.error) {
    result.replaceChildren(`Not renewed (${outcome.error}); nothing changed.`);
    return;
  }
  // The redirect says only which account; its new state comes from the API.
  const account = await ctx.api.get(`/v1/brands/${seg(item.brand.id)}/accounts/${seg(outcome.accountId)}`);
  ctx.notify(h('div', { class: 'notice ok', 'data-outcome': outcome.status },
    h('strong', {}, `${handle(item.profile)} in ${item.brand.name}: ${outcome.status} after the owner's approval`),
    ` — ${account.token_status}, expires `, when(account.expires_at), '.'));
  await ctx.refresh();
}

function renewedNotice(ctx, item, answer) {
  const name = (ref) => ctx.brandNames.get(ref.brand_id) ?? ref.brand_id;
  const { renewed, left } = answer.propagation;
  return h('div', { class: 'notice ok', 'data-outcome': 'renewed' },
    h('strong', {}, `${handle(item.profile)} in ${item.brand.name}: renewed`),
    ' — expires ', when(answer.expires_at), '.',
    // Propagation: the fresh grant reached the profile's other brands (Advanced and up).
    renewed.length > 0 && h('div', { class: 'propagation' }, `Also renewed in: ${renewed.map(name).join(', ')}.`),
    left.length > 0 && h('div', { class: 'propagation left' }, 'Not renewed: ',
      left.map((l) => `${name(l)} (${LEFT_REASON_TEXT[l.reason] ?? l.reason})`).join('; '), '.'));
}

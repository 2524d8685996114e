// The "Expired Tokens" badge and dropdown, and their Renew button.
import { h, profileBlock, when } from './dom.js';
import { renewAccount } from './renew.js';

const STATUS_TEXT = {
  expired: 'Expired',
  reauth_required: 'The owner must reconnect',
  expiring: 'Expiring',
  refresh_failing: 'Refresh failing',
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
  button.addEventListener('click', async () => {
    button.disabled = true;
    await renewAccount(ctx, {
      brandId: item.brand.id,
      brandName: item.brand.name,
      accountId: item.account_id,
      profile: item.profile,
      method: item.renew.method,
    }, { result, notify: ctx.notify });
    button.disabled = false;
  });
  return h(
    'li',
    { class: `item ${item.status}`, 'data-account-id': item.account_id },
    h('div', { class: 'who' },
      profileBlock(item.profile),
      h('div', { class: 'where' }, `${item.network} · `, h('span', { class: 'brand' }, item.brand.name))),
    h('div', { class: 'why' },
      `${STATUS_TEXT[item.status] ?? item.status} · `, when(item.since),
      item.reason && item.reason !== item.status && ` (${item.reason})`),
    h('div', { class: 'blocked' }, item.blocked.length ? `Blocked: ${item.blocked.join(', ')}` : 'Nothing blocked'),
    h('div', { class: 'actions' }, button,
      // The API says in advance how this one renews; the owner's sign-in takes a popup.
      item.renew.method === 'reauthorize' && h('span', { class: 'hint' },
        item.profile.manager
          ? ` opens the network’s sign-in for ${item.profile.manager.name}`
          : ' opens the network’s sign-in')),
    result,
  );
}

// Manage Accounts: a brand's connected accounts, each enabled or disabled for the suite, with a
// row menu (⋯) to renew its token, disconnect it, or make a reconnect link for its owner.
import { seg } from './api.js';
import { describeError, h, profileBlock, profileName, when } from './dom.js';
import { confirmDialog, infoDialog, menuButton } from './menu.js';
import { renewAccount } from './renew.js';

const COLUMNS = 6;

// Brands fill the select; the accounts of the selected brand fill the table.
export async function loadBrands(ctx) {
  const select = document.getElementById('brand-select');
  const page = await ctx.api.get('/v1/brands?limit=100');
  const previous = select.value;
  select.replaceChildren(...page.data.map((brand) => {
    ctx.brandNames.set(brand.id, brand.name);
    return h('option', { value: brand.id }, brand.name);
  }));
  if (page.data.some((brand) => brand.id === previous)) select.value = previous;
  await loadAccounts(ctx);
}

export async function loadAccounts(ctx) {
  const brandId = document.getElementById('brand-select').value;
  const body = document.querySelector('#accounts tbody');
  if (!brandId) {
    body.replaceChildren(h('tr', {}, h('td', { colspan: COLUMNS }, 'No brand yet.')));
    return;
  }
  const page = await ctx.api.get(`/v1/brands/${seg(brandId)}/accounts?limit=100`);
  const rows = page.data.map((account) => row(ctx, account));
  if (rows.length === 0) rows.push(h('tr', {}, h('td', { colspan: COLUMNS }, 'No account in this brand.')));
  body.replaceChildren(...rows);
}

// Outcomes of the row menu's actions, above the table: a row may be gone (disconnected) or
// redrawn (renewed) by the time the answer is shown.
const notify = (node) => document.getElementById('accounts-notice').replaceChildren(node);

function row(ctx, account) {
  const name = profileName(account.profile);
  const brandName = ctx.brandNames.get(account.brand_id) ?? account.brand_id;
  const toggle = h('button', { type: 'button', 'aria-pressed': String(account.enabled) },
    account.enabled ? 'Disable' : 'Enable');
  const result = h('div', { class: 'result', role: 'status' });
  const path = `/v1/brands/${seg(account.brand_id)}/accounts/${seg(account.id)}`;
  const actions = menuButton({
    label: `Actions for ${name}`,
    items: [
      {
        text: 'Renew Token',
        onSelect: () => renewAccount(ctx, {
          brandId: account.brand_id,
          brandName,
          accountId: account.id,
          profile: account.profile,
          method: account.renew.method,
        }, { result, notify }),
      },
      { text: 'Disconnect', onSelect: () => disconnect(ctx, account, { name, brandName, path, result, tr }) },
      { text: 'Reconnect link', onSelect: () => reconnectLink(ctx, account, { name, path, result }) },
    ],
  });
  const tr = h('tr', { 'data-account-id': account.id, class: account.enabled ? '' : 'disabled' },
    h('td', {}, profileBlock(account.profile)),
    h('td', {}, account.profile.network),
    h('td', {}, h('span', { class: `status ${account.token_status}` }, account.token_status.replace('_', ' ')),
      account.status_reason && account.status_reason !== account.token_status && h('div', { class: 'hint' }, account.status_reason)),
    h('td', {}, when(account.expires_at)),
    h('td', {}, toggle),
    h('td', { class: 'row-actions' }, actions, result));
  toggle.addEventListener('click', async () => {
    toggle.disabled = true;
    try {
      const updated = await ctx.api.patch(path, { enabled: !account.enabled });
      tr.replaceWith(row(ctx, updated));
      // A disabled account's status is `disabled`, so it leaves the dropdown; enabling it
      // again may bring it back. The badge follows.
      await ctx.refreshExpired();
    } catch (error) {
      result.replaceChildren(describeError(error));
      toggle.disabled = false;
    }
  });
  return tr;
}

async function disconnect(ctx, account, { name, brandName, path, result, tr }) {
  const confirmed = await confirmDialog({
    title: `Disconnect ${name}?`,
    body: `${name} leaves ${brandName}: the suite stops publishing, reading the inbox and ` +
      'reporting for it here. Other brands keep their own accounts of it. Connecting it again ' +
      'takes its owner’s sign-in.',
    confirm: 'Disconnect',
    danger: true,
  });
  if (!confirmed) return;
  result.replaceChildren('Disconnecting…');
  try {
    await ctx.api.delete(path);
    tr.remove();
    notify(h('div', { class: 'notice ok', 'data-outcome': 'disconnected' },
      h('strong', {}, `${name} disconnected from ${brandName}.`)));
    // It may have been listed in the dropdown; the badge follows.
    await ctx.refresh();
  } catch (error) {
    result.replaceChildren(describeError(error));
  }
}

async function reconnectLink(ctx, account, { name, path, result }) {
  result.replaceChildren('Making a link…');
  let link;
  try {
    // The API's default lifetime (a week); the owner's sign-in then ends on the API's own page.
    link = await ctx.api.post(`${path}/reconnect-link`, {});
    result.replaceChildren();
  } catch (error) {
    result.replaceChildren(describeError(error));
    return;
  }
  const field = h('input', { type: 'url', readonly: true, value: link.url, class: 'link', 'aria-label': 'Reconnect link' });
  const copied = h('span', { class: 'hint', role: 'status' });
  const copy = h('button', { type: 'button' }, 'Copy');
  copy.addEventListener('click', async () => {
    field.select();
    try {
      await navigator.clipboard.writeText(link.url);
      copied.textContent = 'Copied.';
    } catch {
      // No clipboard permission: the link is selected, so the user's own copy works.
      copied.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
    }
  });
  infoDialog({
    title: `Reconnect link for ${name}`,
    className: 'reconnect-link',
    content: h('div', {},
      h('p', {}, `Send this to whoever owns ${name}. Opening it lets them sign in at `,
        `${account.profile.network} and renew the token, without a login here. It works once, until `,
        when(link.expires_at), '.'),
      h('div', { class: 'copy-row' }, field, copy), copied),
  });
  field.select();
}

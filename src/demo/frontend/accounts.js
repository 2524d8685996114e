// Manage Accounts: a brand's connected accounts, each enabled or disabled for the suite.
import { seg } from './api.js';
import { describeError, h, handle, when } from './dom.js';

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
    body.replaceChildren(h('tr', {}, h('td', { colspan: 5 }, 'No brand yet.')));
    return;
  }
  const page = await ctx.api.get(`/v1/brands/${seg(brandId)}/accounts?limit=100`);
  const rows = page.data.map((account) => row(ctx, account));
  if (rows.length === 0) rows.push(h('tr', {}, h('td', { colspan: 5 }, 'No account in this brand.')));
  body.replaceChildren(...rows);
}

function row(ctx, account) {
  const toggle = h('button', { type: 'button', 'aria-pressed': String(account.enabled) },
    account.enabled ? 'Disable' : 'Enable');
  const problem = h('div', { role: 'status' });
  const tr = h('tr', { 'data-account-id': account.id, class: account.enabled ? '' : 'disabled' },
    h('td', {}, h('strong', {}, handle(account.profile)),
      account.profile.display_name && h('div', { class: 'hint' }, account.profile.display_name)),
    h('td', {}, account.profile.network),
    h('td', {}, h('span', { class: `status ${account.token_status}` }, account.token_status.replace('_', ' ')),
      account.status_reason && h('div', { class: 'hint' }, account.status_reason)),
    h('td', {}, when(account.expires_at)),
    h('td', {}, toggle, problem));
  toggle.addEventListener('click', async () => {
    toggle.disabled = true;
    try {
      const updated = await ctx.api.patch(
        `/v1/brands/${seg(account.brand_id)}/accounts/${seg(account.id)}`,
        { enabled: !account.enabled },
      );
      tr.replaceWith(row(ctx, updated));
      // A disabled account's status is `disabled`, so it leaves the dropdown; enabling it
      // again may bring it back. The badge follows.
      await ctx.refreshExpired();
    } catch (error) {
      problem.replaceChildren(describeError(error));
      toggle.disabled = false;
    }
  });
  return tr;
}

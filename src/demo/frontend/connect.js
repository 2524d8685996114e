// Connect a profile to the selected brand: choose a network, sign in there in a popup, and —
// when the person who signed in manages Pages (or organizations, channels, locations) — choose
// which of them to connect, from the list tokenwarden reads from the network.
import { newIdempotencyKey, seg } from './api.js';
import { KIND_TEXT, describeError, h, picture, profileName } from './dom.js';
import { openPopup, authorize, unfinished } from './popup.js';

const notify = (node) => document.getElementById('accounts-notice').replaceChildren(node);

// The Connect button's dialog: which network, then the network's sign-in.
export function startConnect(ctx) {
  const brandId = document.getElementById('brand-select').value;
  if (!brandId) return;
  const brandName = ctx.brandNames.get(brandId) ?? brandId;
  const back = document.activeElement;
  // A suite knows which networks it configured in tokenwarden; the demo says so in the page's
  // address. Without that list, any configured network's name can be typed.
  const network = ctx.networks.length > 0
    ? h('select', { name: 'network', required: true }, ctx.networks.map((n) => h('option', { value: n }, n)))
    : h('input', { name: 'network', required: true, placeholder: 'sandbox' });
  const result = h('div', { role: 'status' });
  const titleId = 'connect-title';
  const dialog = h('dialog', { class: 'dialog', id: 'connect-dialog', 'aria-labelledby': titleId },
    h('form', { method: 'dialog' },
      h('h3', { id: titleId }, `Connect a profile to ${brandName}`),
      h('label', {}, 'Network', network),
      h('p', { class: 'hint' }, 'The network’s sign-in opens in a popup. Someone who manages Pages chooses which to connect next.'),
      result,
      h('div', { class: 'dialog-actions' },
        h('button', { value: 'cancel', formnovalidate: true }, 'Cancel'),
        h('button', { value: 'continue', class: 'primary' }, 'Sign in at the network'))));
  dialog.addEventListener('close', () => {
    dialog.remove();
    back?.focus?.();
  });
  dialog.querySelector('form').addEventListener('submit', (event) => {
    if (event.submitter?.value !== 'continue') return;
    // Stays open while the popup runs: it shows progress and problems.
    event.preventDefault();
    // Opened during the click, as browsers require; pointed at the network once the API
    // names the authorization URL.
    const popup = openPopup();
    connectWith(ctx, { brandId, brandName, network: network.value.trim(), popup, result, dialog });
  });
  document.body.append(dialog);
  dialog.showModal();
}

async function connectWith(ctx, { brandId, brandName, network, popup, result, dialog }) {
  const submit = dialog.querySelector('button[value=continue]');
  submit.disabled = true;
  result.replaceChildren('Waiting for the sign-in at the network…');
  try {
    const start = await ctx.api.post(
      `/v1/brands/${seg(brandId)}/accounts/connect`,
      { network, return_url: new URL('callback.html', location.href).href },
      { idempotencyKey: newIdempotencyKey() },
    );
    const outcome = await authorize(popup, start.authorization_url, result);
    const stopped = unfinished(outcome);
    if (stopped) {
      result.replaceChildren(stopped);
      return;
    }
    dialog.close();
    if (outcome.status === 'select') {
      await choose(ctx, { brandId, brandName, connectionId: outcome.connectionId });
    } else {
      const account = await ctx.api.get(`/v1/brands/${seg(brandId)}/accounts/${seg(outcome.accountId)}`);
      notify(h('div', { class: 'notice ok', 'data-outcome': outcome.status },
        h('strong', {}, `${profileName(account.profile)} ${outcome.status} in ${brandName}.`)));
      await ctx.refresh();
    }
  } catch (error) {
    popup?.close();
    result.replaceChildren(describeError(error));
  } finally {
    submit.disabled = false;
  }
}

// The picker: what the person manages, as the network lists it now, with where each is
// already connected; the chosen ones are connected in the brand the connect started in.
async function choose(ctx, { brandId, brandName, connectionId }) {
  const path = `/v1/connections/${seg(connectionId)}`;
  let connection;
  try {
    connection = await ctx.api.get(path);
  } catch (error) {
    notify(describeError(error));
    return;
  }
  const boxes = [];
  const rows = connection.assets.map((asset) => {
    const box = h('input', { type: 'checkbox', name: 'external_id', value: asset.external_id });
    boxes.push(box);
    const elsewhere = asset.connected_in.filter((id) => id !== brandId).map((id) => ctx.brandNames.get(id) ?? id);
    return h('li', {},
      h('label', { class: 'asset' }, box, picture(asset.picture_url, asset.name),
        h('span', {},
          h('strong', {}, asset.name),
          h('span', { class: 'hint' }, ` ${KIND_TEXT[asset.kind] ?? asset.kind}${asset.handle ? ` · ${asset.handle}` : ''}`),
          asset.connected_in.includes(brandId) && h('div', { class: 'hint' }, `Already in ${brandName}: connecting it again renews it.`),
          elsewhere.length > 0 && h('div', { class: 'hint' }, `Also in: ${elsewhere.join(', ')}`))));
  });
  const result = h('div', { role: 'status' });
  const submit = h('button', { value: 'connect', class: 'primary', disabled: true }, 'Connect');
  const count = () => boxes.filter((b) => b.checked).length;
  const titleId = 'picker-title';
  const dialog = h('dialog', { class: 'dialog picker', id: 'picker-dialog', 'aria-labelledby': titleId },
    h('form', { method: 'dialog' },
      h('h3', { id: titleId }, `Choose what to connect to ${brandName}`),
      h('p', {}, `${connection.manager.name} signed in at ${connection.network} and manages these. `,
        'Each one chosen becomes an account of its own, renewed through their sign-in.'),
      rows.length > 0
        ? h('ul', { class: 'assets' }, rows)
        : h('p', { class: 'empty' }, `${connection.manager.name} manages nothing on ${connection.network} the suite can publish as.`),
      result,
      h('div', { class: 'dialog-actions' }, h('button', { value: 'cancel', formnovalidate: true }, 'Cancel'), submit)));
  dialog.addEventListener('change', () => {
    const n = count();
    submit.disabled = n === 0;
    submit.textContent = n > 0 ? `Connect ${n}` : 'Connect';
  });
  dialog.addEventListener('close', () => dialog.remove());
  dialog.querySelector('form').addEventListener('submit', async (event) => {
    if (event.submitter?.value !== 'connect') return;
    event.preventDefault();
    submit.disabled = true;
    result.replaceChildren('Connecting…');
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    try {
      const connected = await ctx.api.post(`${path}/accounts`, { external_ids: chosen },
        { idempotencyKey: newIdempotencyKey() });
      dialog.close();
      notify(h('div', { class: 'notice ok', 'data-outcome': 'connected' },
        h('strong', {}, `Connected to ${brandName}: ${connected.data.map((a) => profileName(a.profile)).join(', ')}.`),
        ` Managed by ${connection.manager.name}.`));
      await ctx.refresh();
    } catch (error) {
      result.replaceChildren(describeError(error));
      submit.disabled = false;
    }
  });
  document.body.append(dialog);
  dialog.showModal();
}

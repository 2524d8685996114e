// Renew Token, as both the dropdown and Manage Accounts' row menu offer it: one call to the
// account's renew operation; a grant the network refused is re-authorized in a popup.
import { newIdempotencyKey, seg } from './api.js';
import { describeError, h, profileName, when } from './dom.js';
import { authorize, openPopup, unfinished } from './popup.js';

const LEFT_REASON_TEXT = {
  plan: 'the plan renews one brand at a time; Advanced renews every brand',
  disabled: 'disabled in that brand',
};

// target: { brandId, brandName, accountId, profile, method } — `method` is the API's renew
// hint (`refresh` or `reauthorize`). `result` shows progress next to the button; `notify`
// shows the outcome where the user looks for it.
export async function renewAccount(ctx, target, { result, notify }) {
  result.replaceChildren('Renewing…');
  // Browsers allow a popup only while a click is being handled, so when the network will need
  // the owner the popup is opened now, before the API's answer, and pointed at the network
  // once the answer names the authorization URL.
  let popup = target.method === 'reauthorize' ? openPopup() : null;
  try {
    const answer = await ctx.api.post(
      `/v1/brands/${seg(target.brandId)}/accounts/${seg(target.accountId)}/renew`,
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
      await finishAuthorization(ctx, target, outcome, { result, notify });
    } else if (answer.outcome === 'renewed') {
      result.replaceChildren();
      notify(renewedNotice(ctx, target, answer));
      await ctx.refresh();
    } else {
      result.replaceChildren('Still valid; silent renewal is possible from ', when(answer.renewable_from), '.');
    }
  } catch (error) {
    result.replaceChildren(describeError(error));
  } finally {
    popup?.close();
  }
}

async function finishAuthorization(ctx, target, outcome, { result, notify }) {
  const stopped = unfinished(outcome);
  if (stopped) {
    result.replaceChildren(stopped);
    return;
  }
  result.replaceChildren();
  // The redirect says only which account; its new state comes from the API.
  const account = await ctx.api.get(`/v1/brands/${seg(target.brandId)}/accounts/${seg(outcome.accountId)}`);
  notify(h('div', { class: 'notice ok', 'data-outcome': outcome.status },
    h('strong', {}, `${profileName(target.profile)} in ${target.brandName}: ${outcome.status} after the owner's approval`),
    ` — ${account.token_status}, expires `, when(account.expires_at), '.'));
  await ctx.refresh();
}

function renewedNotice(ctx, target, answer) {
  const name = (ref) => ctx.brandNames.get(ref.brand_id) ?? ref.brand_id;
  const { renewed, left } = answer.propagation;
  return h('div', { class: 'notice ok', 'data-outcome': 'renewed' },
    h('strong', {}, `${profileName(target.profile)} in ${target.brandName}: renewed`),
    ' — expires ', when(answer.expires_at), '.',
    // Propagation: the fresh grant reached the profile's other brands (Advanced and up).
    renewed.length > 0 && h('div', { class: 'propagation' }, `Also renewed in: ${renewed.map(name).join(', ')}.`),
    left.length > 0 && h('div', { class: 'propagation left' }, 'Not renewed: ',
      left.map((l) => `${name(l)} (${LEFT_REASON_TEXT[l.reason] ?? l.reason})`).join('; '), '.'));
}

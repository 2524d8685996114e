// The page's entry point: the connection (the API's base URL and a bearer token), then the
// badge, the dropdown and Manage Accounts, all loaded from the API on another origin.
import { createClient } from './api.js';
import { loadAccounts, loadBrands } from './accounts.js';
import { startConnect } from './connect.js';
import { describeError } from './dom.js';
import { loadExpired } from './expired.js';

const STORAGE_KEY = 'tokenwarden-demo-connection';
const $ = (id) => document.getElementById(id);

// The demo hands over the connection in the fragment (#api=…&token=…), which browsers never
// send to a server. It is kept for this tab only and removed from the address bar, so the
// token is neither bookmarked nor passed on with a copied link.
function readConnection() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.has('token')) {
    const connection = {
      api: fragment.get('api') ?? '',
      token: fragment.get('token'),
      // The networks the deployment configured, for the Connect button's choice.
      networks: (fragment.get('networks') ?? '').split(',').filter(Boolean),
    };
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(connection));
    history.replaceState(null, '', location.pathname + location.search);
    return connection;
  }
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? '{}');
  } catch {
    return {};
  }
}

// What the modules share: the client, brand names for the propagation report, the networks
// to offer for connecting, and how to reload after a change.
const ctx = {
  api: null,
  brandNames: new Map(),
  networks: [],
  notify: (node) => $('renew-notice').replaceChildren(node),
  refreshExpired: () => guarded(loadExpired(ctx)),
  refresh: () => Promise.all([guarded(loadExpired(ctx)), guarded(loadAccounts(ctx))]),
};

// A failed load is shown, not thrown: the rest of the page stays usable.
async function guarded(promise) {
  try {
    await promise;
  } catch (error) {
    $('errors').append(describeError(error));
  }
}

// X-Request-Id and RateLimit are readable here only because the API exposes them to this
// origin; a header that is not exposed reads as missing (null), exactly like an absent one.
function showAnswer(response, method, path) {
  const header = (name) => response.headers.get(name) ?? '—';
  $('last-answer').textContent =
    `Last answer: ${method} ${path} → ${response.status} · X-Request-Id ${header('X-Request-Id')}` +
    ` · RateLimit ${header('RateLimit')}`;
}

async function connect({ api, token, networks }) {
  // Nothing of the previous connection stays on screen as if it were this one's.
  for (const id of ['errors', 'expired-list', 'renew-notice', 'accounts-notice', 'brand-select']) $(id).replaceChildren();
  document.querySelector('#accounts tbody').replaceChildren();
  $('badge-count').textContent = '…';
  if (!api || !token) return;
  ctx.api = createClient({ baseUrl: api, token, onAnswer: showAnswer });
  ctx.networks = networks ?? [];
  await Promise.all([guarded(loadExpired(ctx)), guarded(loadBrands(ctx))]);
}

$('connection').addEventListener('submit', (event) => {
  event.preventDefault();
  const connection = { ...initial, api: $('api-base').value.trim(), token: $('api-token').value.trim() };
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(connection));
  connect(connection);
});

$('badge').addEventListener('click', () => {
  const open = $('expired-panel').hidden;
  $('expired-panel').hidden = !open;
  $('badge').setAttribute('aria-expanded', String(open));
});

$('brand-select').addEventListener('change', () => {
  $('accounts-notice').replaceChildren();
  guarded(loadAccounts(ctx));
});
$('connect-profile').addEventListener('click', () => startConnect(ctx));

const initial = readConnection();
$('api-base').value = initial.api ?? '';
$('api-token').value = initial.token ?? '';
connect(initial);

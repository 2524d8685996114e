// The network's sign-in in a popup, shared by Renew (a dead grant) and Connect: the popup is
// opened during the click, pointed at the authorization URL once the API names it, and ends on
// callback.html, which reports the callback's outcome to this window and closes.
import { h } from './dom.js';

// Browsers allow a popup only while a click is being handled, so callers open it before they
// ask the API for the authorization URL.
export function openPopup(url = 'about:blank') {
  return window.open(url, 'tokenwarden-authorize', 'popup,width=520,height=640');
}

// Sends the popup to the network and resolves with what the callback page reported:
// { status, accountId, brandId, connectionId } or { error } or { closed: true }.
export async function authorize(popup, authorizationUrl, result) {
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

// What a popup that did not end in a stored grant means to the user; null when it did.
export function unfinished(outcome) {
  if (outcome.closed) return 'The sign-in window was closed before it finished; nothing changed.';
  if (outcome.error) return `Not done (${outcome.error}); nothing changed.`;
  return null;
}

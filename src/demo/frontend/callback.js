// The end of an authorization in the popup. tokenwarden's OAuth callback has already stored
// the grant and redirected here (the return_url) with either
// `tokenwarden_status=connected|reconnected|renewed&account_id=…`,
// `tokenwarden_status=select&connection_id=…` (a person who manages Pages: the opener lists
// them to choose from), or `tokenwarden_error=<reason>`.
const params = new URLSearchParams(location.search);
const message = {
  type: 'tokenwarden:callback',
  status: params.get('tokenwarden_status'),
  accountId: params.get('account_id'),
  brandId: params.get('brand_id'),
  connectionId: params.get('connection_id'),
  error: params.get('tokenwarden_error'),
};

if (window.opener && !window.opener.closed) {
  // The target origin is our own: the message reaches the opener only while it still shows
  // this front end, never a page it may have navigated to since.
  window.opener.postMessage(message, location.origin);
  window.close();
} else {
  // Opened without a popup (blocked, or the link opened in a tab): say what happened here.
  document.getElementById('callback-result').textContent = message.error
    ? `Nothing changed: ${message.error}. You can close this window.`
    : `Done (${message.status ?? 'unknown'}). You can close this window.`;
}

// A minimal client of tokenwarden's REST API, as a browser page on another origin uses it.
// Failures come in two kinds a front end must tell apart:
//  - ProblemError: the API answered with an error (application/problem+json, RFC 9457);
//  - NetworkError: no answer the page may read — the API is unreachable, or the browser
//    withheld the answer because it carried no CORS permission for this page's origin.

export class ProblemError extends Error {
  constructor(problem) {
    super(problem.detail || problem.title);
    this.name = 'ProblemError';
    this.problem = problem;
  }
}

export class NetworkError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = 'NetworkError';
  }
}

// A fresh Idempotency-Key per user action: a retry of the same action can reuse it, and the
// API then answers the stored result instead of renewing twice.
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// onAnswer(response, method, path) sees every answer, e.g. to show X-Request-Id and RateLimit.
export function createClient({ baseUrl, token, onAnswer }) {
  const base = baseUrl.replace(/\/+$/, '');

  async function request(method, path, { body, idempotencyKey } = {}) {
    const headers = {
      Authorization: `Bearer ${token}`,
      Accept: 'application/json, application/problem+json',
    };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
    let response;
    try {
      response = await fetch(base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        // Bearer tokens only: the API never allows credentialed (cookie) CORS requests.
        credentials: 'omit',
      });
    } catch (cause) {
      // fetch rejects with a bare TypeError and, by design, does not say whether CORS was the
      // reason; the browser's console does.
      throw new NetworkError(
        `${method} ${base}${path}: no answer this page may read. Either the API is unreachable, ` +
          `or it does not allow this page's origin (${location.origin}) in cors.allowed_origins.`,
        { cause },
      );
    }
    onAnswer?.(response, method, path);
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      const isProblem = (response.headers.get('Content-Type') || '').includes('problem+json');
      const problem = isProblem && data ? data : { title: response.statusText || 'Error' };
      problem.status ??= response.status;
      // Retry-After is readable cross-origin because the API exposes it.
      problem.retry_after ??= Number(response.headers.get('Retry-After')) || undefined;
      throw new ProblemError(problem);
    }
    return data;
  }

  return {
    baseUrl: base,
    get: (path) => request('GET', path),
    post: (path, body, options = {}) => request('POST', path, { ...options, body }),
    patch: (path, body) => request('PATCH', path, { body }),
    delete: (path) => request('DELETE', path),
  };
}

// Path segments come from the API's own answers, but are encoded anyway: nothing a server
// sends should be able to change which URL the page calls.
export const seg = encodeURIComponent;

// How the app talks to the recorder, in one place: the CSRF header on every call, a time limit on
// every request, the API's JSON errors turned into messages a person can act on, and one signal
// when the session is gone so the app can show the login form.

export class ApiError extends Error {
  constructor(status, message, field = null, retryAfter = null) {
    super(message);
    this.status = status;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

const TIMEOUT_MS = 20000;

// `text` returns the body as text (playlists) instead of parsing JSON.
export async function api(method, path, body, { text: asText = false } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  const headers = { 'X-Moment': '1' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal: controller.signal,
    });
  } catch {
    throw new ApiError(0, controller.signal.aborted
      ? 'The recorder did not answer in time. Try again.'
      : 'The recorder cannot be reached. Check the Wi-Fi and try again.');
  } finally {
    clearTimeout(timer);
  }
  const text = await response.text().catch(() => '');
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (response.ok && asText) return text;
  if (!response.ok) {
    const message = (data && typeof data.error === 'string')
      ? data.error
      : `The recorder answered ${response.status} ${response.statusText}.`;
    if (response.status === 401 && path !== '/api/login') {
      window.dispatchEvent(new Event('moment:logged-out'));
    }
    throw new ApiError(response.status, message, data && data.field,
      Number(response.headers.get('Retry-After')) || null);
  }
  return data;
}

export const get = (path) => api('GET', path);
export const getText = (path) => api('GET', path, undefined, { text: true });
export const post = (path, body) => api('POST', path, body);
export const put = (path, body) => api('PUT', path, body);
export const del = (path) => api('DELETE', path);

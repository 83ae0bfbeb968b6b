// How the app talks to the recorder, in one place: the CSRF header on every call, a time limit on
// every request, the API's JSON errors turned into messages a person can act on, and one signal
// when the session is gone so the app can show the login form.

export class ApiError extends Error {
  // `setting`: the place in Settings where the cause is fixed (`upload-target`), when the recorder
  // names one; the app links the message to it.
  constructor(status, message, field = null, retryAfter = null, setting = null) {
    super(message);
    this.status = status;
    this.field = field;
    this.retryAfter = retryAfter;
    this.setting = setting;
  }
}

const TIMEOUT_MS = 20000;
// The CSRF header the recorder wants on every state-changing call (docs/api.md, "CSRF rule").
const CSRF = { 'X-Moment': '1' };
const UNREACHABLE = 'The recorder cannot be reached. Check the Wi-Fi and try again.';

function parse(text) {
  try { return text ? JSON.parse(text) : null; } catch { return null; }
}

// A refused request as an ApiError with the recorder's own message; a 401 outside the login also
// tells the app that the session is gone.
function failure(path, status, statusText, data, retryAfter) {
  const message = (data && typeof data.error === 'string')
    ? data.error
    : `The recorder answered ${status} ${statusText}.`;
  if (status === 401 && path !== '/api/login') {
    window.dispatchEvent(new Event('moment:logged-out'));
  }
  const setting = data && typeof data.setting === 'string' ? data.setting : null;
  return new ApiError(status, message, data && data.field, Number(retryAfter) || null, setting);
}

// `text` returns the body as text (playlists) instead of parsing JSON.
export async function api(method, path, body, { text: asText = false } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  const headers = { ...CSRF };
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
      : UNREACHABLE);
  } finally {
    clearTimeout(timer);
  }
  const text = await response.text().catch(() => '');
  if (response.ok && asText) return text;
  const data = parse(text);
  if (!response.ok) {
    throw failure(path, response.status, response.statusText, data, response.headers.get('Retry-After'));
  }
  return data;
}

// A file as the raw body of a POST, through XMLHttpRequest because fetch reports no upload
// progress, and without a time limit: an update bundle of a few hundred MB takes minutes over
// Wi-Fi. `onProgress(sent, total)` follows the upload; resolves with the recorder's JSON answer.
export function upload(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    for (const [name, value] of Object.entries(CSRF)) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.upload.addEventListener('progress', (e) => onProgress?.(e.loaded, e.lengthComputable ? e.total : file.size));
    xhr.addEventListener('load', () => {
      const data = parse(xhr.responseText);
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(failure(path, xhr.status, xhr.statusText, data, xhr.getResponseHeader('Retry-After')));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, UNREACHABLE)));
    xhr.send(file);
  });
}

export const get = (path) => api('GET', path);
export const getText = (path) => api('GET', path, undefined, { text: true });
export const post = (path, body) => api('POST', path, body);
export const put = (path, body) => api('PUT', path, body);
export const del = (path) => api('DELETE', path);

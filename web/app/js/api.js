// HTTP helpers: every call answers parsed JSON or throws ApiFailure carrying the server's own error text.

export class ApiFailure extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body || {};
  }
}

/** Call the API; ``body`` is sent as JSON, or as multipart when it is a FormData (POST by default when given). */
export async function api(path, { method, body, query, signal } = {}) {
  let url = path;
  if (query) {
    const params = query instanceof URLSearchParams ? query : new URLSearchParams(query);
    const text = params.toString();
    if (text) url += (url.includes("?") ? "&" : "?") + text;
  }
  const init = { method: method || (body !== undefined ? "POST" : "GET"), signal, headers: {} };
  if (body instanceof FormData) {
    init.body = body; // the browser sets the multipart boundary
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiFailure(`Network error: ${err && err.message ? err.message : err}`, 0, {});
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok || (data && data.success === false)) {
    const message = (data && (data.error || data.message)) || `${response.status} ${response.statusText}`;
    throw new ApiFailure(message, response.status, data);
  }
  return data || {};
}

export const postJson = (path, body) => api(path, { method: "POST", body });
export const postForm = (path, form) => api(path, { method: "POST", body: form });

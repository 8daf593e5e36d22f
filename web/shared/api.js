/* SPDX-License-Identifier: MIT */
// Small fetch wrapper for the ChatAI REST API (API.md): JSON in and out, errors as ApiError.
import { HttpError } from './transport.js';

export class ApiError extends HttpError {
  constructor(status, code, message, retryAfter) {
    super(status, message || code || `HTTP ${status}`, !!code);
    this.code = code || '';
    this.retryAfter = retryAfter || 0;
  }
}

/**
 * apiFetch(base, path, {method, body, token, visitorToken, signal, onHeaders})
 * Returns the parsed JSON body (null for 204). Throws ApiError; status 0 for network errors.
 * onHeaders(headers), when given, sees the answer's headers (e.g. X-Chatai-Poll).
 */
export async function apiFetch(base, path, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json; charset=utf-8';
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.visitorToken) headers['X-Visitor-Token'] = opts.visitorToken;
  let r;
  try {
    r = await fetch(base + path, {
      method: opts.method || (opts.body !== undefined ? 'POST' : 'GET'),
      headers,
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      signal: opts.signal,
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The server cannot be reached.');
  }
  if (opts.onHeaders && r.headers) opts.onHeaders(r.headers);
  if (r.status === 204) return null;
  let data = null;
  const text = await r.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!r.ok) {
    const err = data && data.error ? data.error : {};
    const retry = parseInt(r.headers.get('Retry-After') || '0', 10) || 0;
    throw new ApiError(r.status, err.code, err.message || `The server answered ${r.status}.`, retry);
  }
  return data;
}

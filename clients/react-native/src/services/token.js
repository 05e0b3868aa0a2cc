'use strict';
// The JWT payload, read without verifying anything (the server verifies): the
// client only needs `exp` to renew the token before it runs out.

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

// base64url -> UTF-8 string, without Buffer or atob (neither is guaranteed
// on every React Native engine).
function base64UrlDecode(s) {
  const clean = s.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  const bytes = [];
  let buf = 0;
  let bits = 0;
  for (const ch of clean) {
    const v = B64.indexOf(ch);
    if (v < 0) throw new Error('not base64url');
    buf = (buf << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((buf >> bits) & 0xff);
    }
  }
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += `%${bytes[i].toString(16).padStart(2, '0')}`;
  return decodeURIComponent(out);
}

// The payload object of a JWT, or null when the token is not a JWT.
function decodeJwtPayload(token) {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const p = JSON.parse(base64UrlDecode(parts[1]));
    return p && typeof p === 'object' && !Array.isArray(p) ? p : null;
  } catch (_) {
    return null;
  }
}

// exp (seconds since the epoch) of a JWT, or null.
function tokenExp(token) {
  const p = decodeJwtPayload(token);
  return p && typeof p.exp === 'number' && Number.isFinite(p.exp) ? p.exp : null;
}

module.exports = { decodeJwtPayload, tokenExp, base64UrlDecode };

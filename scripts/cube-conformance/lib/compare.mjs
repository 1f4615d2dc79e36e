// Structural comparison of two answers after removing volatile fields.
// Pure: no I/O, so the runner's verdicts depend only on the two answers.

// Fields whose value changes from one identical request to the next in
// Cube.js itself; removed wherever they appear. `slowQuery` is timing-based,
// so only its presence and type are compared.
const VOLATILE = new Set(['lastRefreshTime', 'requestId', 'stack']);
const TYPE_ONLY = new Set(['slowQuery']);

export function normalise(value) {
  if (Array.isArray(value)) return value.map(normalise);
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      if (VOLATILE.has(k)) continue;
      out[k] = TYPE_ONLY.has(k) ? `<${typeof v}>` : normalise(v);
    }
    return out;
  }
  return value;
}

const show = (v) => {
  const s = v === undefined ? '(absent)' : JSON.stringify(v);
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
};

// Every path where the two differ, as "path: cube=... tenantgate=...".
// Objects compare by key (order ignored), arrays by position.
export function differences(a, b, path = '', out = []) {
  if (Object.is(a, b)) return out;
  const bothObjects = a && b && typeof a === 'object' && typeof b === 'object';
  if (bothObjects && Array.isArray(a) === Array.isArray(b)) {
    if (Array.isArray(a)) {
      if (a.length !== b.length) out.push(`${path || '.'}: length cube=${a.length} tenantgate=${b.length}`);
      for (let i = 0; i < Math.min(a.length, b.length); i += 1) differences(a[i], b[i], `${path}[${i}]`, out);
    } else {
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
        differences(a[k], b[k], path ? `${path}.${k}` : k, out);
      }
    }
    return out;
  }
  out.push(`${path || '.'}: cube=${show(a)} tenantgate=${show(b)}`);
  return out;
}

// Compares {status, body} answers. Returns the list of differences (empty: same).
export function compareAnswers(cube, tg) {
  const diffs = [];
  if (cube.status !== tg.status) diffs.push(`status: cube=${cube.status} tenantgate=${tg.status}`);
  return diffs.concat(differences(normalise(cube.body), normalise(tg.body), 'body'));
}

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

// Every path where the two differ, as {path, cube, tenantgate} (the values
// there; a length difference is the arrays' path with both arrays).
// Objects compare by key (order ignored), arrays by position.
export function differenceList(a, b, path = '', out = []) {
  if (Object.is(a, b)) return out;
  const bothObjects = a && b && typeof a === 'object' && typeof b === 'object';
  if (bothObjects && Array.isArray(a) === Array.isArray(b)) {
    if (Array.isArray(a)) {
      if (a.length !== b.length) out.push({ path: path || '.', cube: a, tenantgate: b, length: true });
      for (let i = 0; i < Math.min(a.length, b.length); i += 1) differenceList(a[i], b[i], `${path}[${i}]`, out);
    } else {
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
        differenceList(a[k], b[k], path ? `${path}.${k}` : k, out);
      }
    }
    return out;
  }
  out.push({ path: path || '.', cube: a, tenantgate: b });
  return out;
}

// A difference as "path: cube=... tenantgate=...".
export function describe(d) {
  if (d.length) return `${d.path}: length cube=${d.cube.length} tenantgate=${d.tenantgate.length}`;
  return `${d.path}: cube=${show(d.cube)} tenantgate=${show(d.tenantgate)}`;
}

// Every path where the two differ, as "path: cube=... tenantgate=...".
export function differences(a, b, path = '', out = []) {
  return out.concat(differenceList(a, b, path).map(describe));
}

// Splits differences by a case's known paths: [{path: RegExp, row,
// when?(cube, tenantgate)}]. A difference is known when a path matches it
// exactly and `when`, if given, holds for the two values there.
export function knownPaths(diffs, paths) {
  const known = [];
  const unknown = [];
  for (const d of diffs) {
    const p = paths.find((k) => k.path.test(d.path) && (!k.when || k.when(d.cube, d.tenantgate)));
    if (p) known.push({ ...d, row: p.row }); else unknown.push(d);
  }
  return { known, unknown };
}

// Compares {status, body} answers. Returns the list of differences (empty: same).
export function compareAnswers(cube, tg) {
  return compareAnswerList(cube, tg).map(describe);
}

// The same, as {path, cube, tenantgate} (status as the path "status").
export function compareAnswerList(cube, tg) {
  const diffs = [];
  if (cube.status !== tg.status) diffs.push({ path: 'status', cube: cube.status, tenantgate: tg.status });
  return diffs.concat(differenceList(normalise(cube.body), normalise(tg.body), 'body'));
}

// The official Cube.js JS client (@cubejs-client/core, 0.33.x as the server)
// against both servers: the same query through the same client, and the
// result of each ResultSet method compared as data.
import cubejsModule from '@cubejs-client/core';

import { describe, differenceList, knownPaths } from './lib/compare.mjs';

const cubejs = cubejsModule.default || cubejsModule;

const monthly = (cube, dateRange = ['2024-01-01', '2024-06-30']) => ({
  measures: [`${cube}.count`],
  timeDimensions: [{ dimension: `${cube}.createdAt`, granularity: 'month', dateRange }],
});

// name, query, and the ResultSet methods to compare.
const CALLS = [
  { name: 'by status', query: { measures: ['Orders.count', 'Orders.totalAmount'], dimensions: ['Orders.status'] },
    methods: ['tablePivot', 'chartPivot', 'series', 'rawData', 'tableColumns'] },
  { name: 'monthly by status', query: { ...monthly('Orders'), dimensions: ['Orders.status'] },
    methods: ['tablePivot', 'chartPivot', 'series', 'rawData', 'seriesNames'] },
  { name: 'daily, last 30 days', query: { measures: ['Orders.count'], timeDimensions: [{ dimension: 'Orders.createdAt', granularity: 'day', dateRange: 'last 30 days' }] },
    methods: ['chartPivot', 'rawData'] },
  { name: 'weekly', query: { measures: ['Orders.count'], timeDimensions: [{ dimension: 'Orders.createdAt', granularity: 'week', dateRange: ['2024-03-01', '2024-04-30'] }] },
    methods: ['chartPivot', 'series', 'rawData'] },
  { name: 'compareDateRange', query: { measures: ['Orders.count'], timeDimensions: [{ dimension: 'Orders.createdAt', granularity: 'month', compareDateRange: [['2024-01-01', '2024-03-31'], ['2025-01-01', '2025-03-31']] }] },
    methods: ['decompose', 'chartPivot', 'series', 'tablePivot'] },
  { name: 'blending', query: [monthly('Orders'), monthly('Users')],
    methods: ['decompose', 'chartPivot', 'series'] },
  { name: 'limit and total', query: { measures: ['Orders.count'], dimensions: ['Orders.userId'], order: { 'Orders.userId': 'asc' }, limit: 3, total: true },
    methods: ['tablePivot', 'rawData', 'totalRows'] },
];

// What one method returns, as comparable data (a decomposed ResultSet is
// compared through its rawData and tablePivot).
function run(resultSet, method) {
  if (method === 'decompose') return resultSet.decompose().map((r) => ({ rawData: r.rawData(), tablePivot: r.tablePivot() }));
  return resultSet[method]();
}

async function attempt(fn) {
  try {
    return { value: await fn() };
  } catch (e) {
    return { error: String(e && e.message ? e.message : e) };
  }
}

// known: by call id, the paths where a difference is documented
// ([{path, row, when?}], as a case's known.paths).
export async function clientCalls({ cube, tenantgate, token, known = {} }) {
  const apis = {
    cube: cubejs(token, { apiUrl: `${cube}/cubejs-api/v1` }),
    tenantgate: cubejs(token, { apiUrl: `${tenantgate}/cubejs-api/v1` }),
  };
  const out = [];
  const compare = (id, a, b) => {
    const list = differenceList(a, b, 'value');
    const diffs = list.map(describe);
    const split = known[id] && list.length ? knownPaths(list, known[id]) : null;
    if (split && !split.unknown.length) {
      const rows = [...new Set(split.known.map((d) => d.row))];
      out.push({ id, verdict: 'KNOWN', row: rows.join(' + '), rows, cube: a, tg: b, diffs });
    } else {
      out.push({ id, verdict: diffs.length ? 'DIFF' : 'SAME', cube: a, tg: b, diffs: split ? split.unknown.map(describe) : diffs });
    }
  };
  for (const call of CALLS) {
    const [a, b] = await Promise.all([attempt(() => apis.cube.load(call.query)), attempt(() => apis.tenantgate.load(call.query))]);
    if (a.error || b.error) {
      compare(`client / ${call.name}: load`, a.error ? { error: a.error } : 'loaded', b.error ? { error: b.error } : 'loaded');
      continue;
    }
    for (const m of call.methods) {
      const [x, y] = [attempt(() => run(a.value, m)), attempt(() => run(b.value, m))];
      compare(`client / ${call.name}: ${m}`, await x, await y);
    }
  }
  const err = await Promise.all(['cube', 'tenantgate'].map((k) => attempt(() => apis[k].load({ measures: ['Orders.nope'] }))));
  compare('client / unknown member: rejection', err[0], err[1]);
  const meta = await Promise.all(['cube', 'tenantgate'].map((k) => attempt(async () => {
    const m = await apis[k].meta();
    return { measures: m.membersForQuery(null, 'measures'), dimensions: m.membersForQuery(null, 'dimensions') };
  })));
  compare('client / meta: membersForQuery', meta[0], meta[1]);
  const sql = await Promise.all(['cube', 'tenantgate'].map((k) => attempt(async () => (await apis[k].sql({ measures: ['Orders.count'] })).rawQuery().sql)));
  compare('client / sql: rawQuery().sql', sql[0], sql[1]);
  const dry = await Promise.all(['cube', 'tenantgate'].map((k) => attempt(() => apis[k].dryRun({ measures: ['Orders.count'], dimensions: ['Orders.status'] }))));
  compare('client / dryRun', dry[0], dry[1]);
  return out;
}

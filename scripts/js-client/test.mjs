// The official Cube.js client (@cubejs-client/core) against tenantgate:
// load, meta and sql with a token *function*, exactly as an application
// would. Run by run.sh, which starts the server and mints the token.
import assert from 'node:assert/strict';
import cube from '@cubejs-client/core';

const { BASE_URL, TOKEN } = process.env;
assert.ok(BASE_URL && TOKEN, 'BASE_URL and TOKEN must be set (run.sh sets them)');

const api = cube(async () => TOKEN, { apiUrl: `${BASE_URL}/cubejs-api/v1` });

const resultSet = await api.load({ measures: ['Orders.count'], dimensions: ['Orders.status'] });
const rows = resultSet.tablePivot();
assert.ok(rows.length > 0, 'load returned no rows');
for (const row of rows) {
  assert.ok('Orders.count' in row && 'Orders.status' in row, `unexpected row ${JSON.stringify(row)}`);
}
const total = rows.reduce((sum, r) => sum + Number(r['Orders.count']), 0);
// The development token is tenant acme: 578 of the 1,200 demo orders.
assert.equal(total, 578, 'load must return only the token tenant\'s rows');

// Time dimensions: the client fills the series itself (fillMissingDates) and
// matches rows by the exact text 'YYYY-MM-01T00:00:00.000'; any other format
// (a trailing Z, no milliseconds) turns every month into a zero.
const byMonth = await api.load({
  measures: ['Orders.count'],
  timeDimensions: [{ dimension: 'Orders.createdAt', granularity: 'month', dateRange: ['2024-01-01', '2024-12-31'] }],
});
const months = byMonth.chartPivot();
assert.equal(months.length, 12, 'one point per month of 2024');
assert.equal(months.reduce((sum, p) => sum + Number(p['Orders.count']), 0), total, 'monthly counts must add up');

// A URL of 2,000 characters or more makes the client POST {query, queryType}.
const many = Array.from({ length: 300 }, (_, i) => `no-such-status-${i}`).concat(['completed']);
const posted = await api.load({
  measures: ['Orders.count'],
  filters: [{ member: 'Orders.status', operator: 'equals', values: many }],
});
assert.equal(posted.tablePivot().length, 1, 'the POSTed query returns one row');
assert.ok(Number(posted.tablePivot()[0]['Orders.count']) > 0, 'the POSTed query counts completed orders');

// Errors reach the application with the server's message.
await assert.rejects(api.load({ measures: ['Orders.nope'] }), /'nope' not found for path 'Orders.nope'/);

const meta = await api.meta();
const orders = meta.cubes.find((c) => c.name === 'Orders');
assert.ok(orders, 'meta has no Orders cube');
assert.ok(orders.measures.some((m) => m.name === 'Orders.count'), 'meta has no Orders.count');

const sql = await api.sql({ measures: ['Orders.count'] });
const [text, params] = sql.rawQuery().sql;
assert.match(text, /"orders__count"/);
assert.deepEqual(params, ['acme']);

// A bad token is refused with the server's reason.
const bad = cube(async () => 'not-a-token', { apiUrl: `${BASE_URL}/cubejs-api/v1` });
await assert.rejects(bad.load({ measures: ['Orders.count'] }), /Invalid token|malformed/);

console.log(`js client: load ${rows.length} rows (${total} orders), ${months.length} months, POST ok, meta ${meta.cubes.length} cubes, sql ok`);

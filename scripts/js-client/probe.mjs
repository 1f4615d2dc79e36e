import cube from '@cubejs-client/core';
const { BASE_URL, TOKEN } = process.env;
const api = cube(async () => TOKEN, { apiUrl: `${BASE_URL}/cubejs-api/v1` });
const show = (l, x) => console.log(`--- ${l}:`, typeof x === 'string' ? x : JSON.stringify(x).slice(0, 700));
async function t(label, f) { try { show(label, await f()); } catch (e) { show(label + ' ERROR', `${e.constructor.name} ${e.message} status=${e.status} body=${JSON.stringify(e.response)}`); } }
await t('month tablePivot', async () => {
  const rs = await api.load({ measures: ['Orders.count'], timeDimensions: [{ dimension: 'Orders.createdAt', granularity: 'month', dateRange: ['2024-01-01', '2024-12-31'] }] });
  return { raw: rs.rawData().slice(0, 2), pivot: rs.tablePivot().slice(0, 3), chart: rs.chartPivot().slice(0, 2), n: rs.chartPivot().length, sum: rs.chartPivot().reduce((s, r) => s + Number(r['Orders.count']), 0) };
});
await t('week chartPivot no dateRange', async () => {
  const rs = await api.load({ measures: ['Orders.count'], timeDimensions: [{ dimension: 'Orders.createdAt', granularity: 'week' }] });
  const c = rs.chartPivot(); return { n: c.length, first: c[0], sum: c.reduce((s, r) => s + Number(r['Orders.count']), 0), raw0: rs.rawData()[0] };
});
await t('day with dimension', async () => {
  const rs = await api.load({ measures: ['Orders.count'], dimensions: ['Orders.status'], timeDimensions: [{ dimension: 'Orders.createdAt', granularity: 'day', dateRange: ['2024-03-01', '2024-03-03'] }] });
  return { series: rs.seriesNames(), chart: rs.chartPivot(), cols: rs.tableColumns().map(c => c.key) };
});
await t('castNumerics', async () => {
  const a2 = cube(async () => TOKEN, { apiUrl: `${BASE_URL}/cubejs-api/v1`, castNumerics: true });
  const rs = await a2.load({ measures: ['Orders.averageAmount', 'Orders.totalAmount'] }); return rs.rawData();
});
await t('compact', async () => { const rs = await api.load({ measures: ['Orders.count'], dimensions: ['Orders.status'] }, {}, undefined, 'compact'); return rs.rawData(); });
await t('POST long query', async () => {
  const rs = await api.load({ measures: ['Orders.count'], filters: [{ member: 'Orders.status', operator: 'equals', values: Array.from({ length: 300 }, (_, i) => 'status-' + i).concat(['completed']) }] });
  return rs.rawData();
});
await t('array query', async () => { const rs = await api.load([{ measures: ['Orders.count'] }, { measures: ['Orders.totalAmount'] }]); return { qt: rs.loadResponse.queryType, n: rs.loadResponses.length }; });
await t('unknown member', () => api.load({ measures: ['Orders.nope'] }));
await t('bad token', () => cube(async () => 'abc', { apiUrl: `${BASE_URL}/cubejs-api/v1` }).load({ measures: ['Orders.count'] }));
await t('dryRun', () => api.dryRun({ measures: ['Orders.count'] }));
await t('meta onlyViews', async () => (await api.meta({ onlyViews: true })).cubes.length);
await t('meta resolveMember', async () => { const m = await api.meta(); return [m.resolveMember('Orders.count', 'measures'), m.defaultTimeDimensionNameFor('Orders.count'), m.filterOperatorsForMember('Orders.status', 'dimensions')]; });
await t('sql', async () => { const s = await api.sql({ measures: ['Orders.count'] }); return s.sql(); });
await t('MyOrders', async () => (await api.load({ measures: ['MyOrders.count'] })).rawData());
await t('totalRows', async () => (await api.load({ measures: ['Orders.count'], dimensions: ['Orders.status'], total: true })).totalRows());
await t('segment + order + limit', async () => (await api.load({ measures: ['Orders.count'], dimensions: ['Orders.userId'], segments: ['Orders.completed'], order: { 'Orders.count': 'desc' }, limit: 3 })).tablePivot());

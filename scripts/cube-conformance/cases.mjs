// The conformance cases: each request goes to the real Cube.js and to
// tenantgate; run.mjs compares status and body after normalisation.
//
// A case: { name, group, endpoint ('load' | 'sql' | 'dry-run' | 'meta'),
//   query, method ('GET' default, or 'POST'), queryType ('multi'),
//   token (a name from TOKENS in run.mjs; default 'acme'; null: none),
//   raw ({ search, body, contentType }: sent as is instead of query),
//   header ('Authorization' default), target ('main' default, 'strict403':
//   tenantgate with failure_status = 403, 'ext': the extension model),
//   known ({ row, status, code, ownWords }): a difference that README.md's
//   "Deliberate differences from Cube.js" table lists; row is that table's
//   Cube.js cell, word for word, and status/code what tenantgate must answer
//   (ownWords: the row says tenantgate's error text differs; db: the row
//   applies on that database only; paths: [{ path, row, when }] instead of
//   row, for an answer that differs only in some fields: KNOWN when every
//   difference is at one of the paths (a RegExp over the difference's path,
//   and `when(cube, tenantgate)` of the two values there, when given), each
//   path citing its own row; any other difference keeps the case DIFF).
//   tgModelError (ext cases): the pattern of the check-config error that a
//   tenantgate refusing that model file prints.
// }

const O = (m) => `Orders.${m}`;
const td = (granularity, dateRange, extra = {}) => ({
  dimension: O('createdAt'),
  ...(granularity ? { granularity } : {}),
  ...(dateRange ? { dateRange } : {}),
  ...extra,
});
const f = (member, operator, values) => ({ member, operator, ...(values ? { values } : {}) });

const ROW = {
  errorCode: 'an error body is `{"error": "<message>"}`',
  badJson: 'a `query` that is not JSON is a 500 `SyntaxError: ...`',
  quarter: 'on SQLite, the `quarter` granularity is a 500 (`GRANULARITY_TO_INTERVAL[granularity] is not a function`)',
  overLimit: 'a `limit` above the maximum is a 500 `Error: The query limit has been exceeded.`',
  xCube: '0.33 reads the token from `Authorization` only',
  shortHs: 'HS384/HS512 accepted with secrets of any length',
  textValues: 'filter values reach SQL as the text sent (`/sql` lists `"100"` for a number): on SQLite, `equals ["true"]` on a boolean dimension and `gt ["25"]` on a measure match nothing (the boolean one is a syntax error on PostgreSQL)',
  refuses403: 'refuses with 403 and no reason',
  notObject: 'accepts a payload that is a string, number or array, with an empty context',
  exp: '`exp` optional',
  duplicates: 'duplicate claims: the last one wins',
  missing: 'a missing security-context value renders `1 = 1`: every tenant\'s rows',
  falsy: '`0`, `false` and `""` in the security context drop the filter',
  tzSqlite: 'on SQLite, a query `timezone` shifts times by today\'s offset with the sign flipped for zones west of UTC (`America/Los_Angeles` adds 8 hours), DST ignored',
  unknownTz: 'an unknown `timezone` is a 500 `Error: Unknown timezone: ...`',
  containsNumber: '`contains` on a number or time member reaches the database: SQLite matches the number\'s text, PostgreSQL refuses it (`operator does not exist: numeric ~~* text`)',
  notANumber: 'a value that is not a number for a number member (`gt ["abc"]`) reaches the database: no rows on SQLite, an error on PostgreSQL (`invalid input syntax for type numeric`)',
  orderUnselected: 'an `order` entry naming a member the query does not select is silently dropped',
  notFound: 'an unknown path, or a method a route does not take, is Express\'s HTML 404 page (`Cannot DELETE /cubejs-api/v1/load`)',
  notADate: 'a `dateRange` that is not a date reads as `Invalid date`: no rows on SQLite, a 500 on PostgreSQL',
  oneValueRange: 'a date-range filter (`inDateRange`, `notInDateRange`, `onTheDate`) with one value ends the range at the end of today, by the server\'s clock',
  hiddenMember: '0.33: a query naming a hidden member runs, then fails only if rows came back, naming the column alias (`You requested hidden member: \'orders__id\'. Please make it visible using \\`shown: true\\`.`); with no rows it answers 200',
  sqlText: '`/sql` answers the SQL text its own generator writes',
  utcZ: '`/sql` (and the statement) binds a time bound as UTC with a `Z`, `2024-01-01T00:00:00.000Z`, which its SQL then converts',
  cacheKeys: '`/sql`\'s `cacheKeyQueries` has one refresh-key query per cube of the query, the default (`every: 10 seconds`) rendered as SQL',
  weekWindow: 'on SQLite, a `rolling_window` of weeks or quarters is always empty (`null`): SQLite\'s date modifiers have no such unit',
  timeMeasureDate: 'a date operator (`afterDate`, `inDateRange`, ...) on a `time` measure is a 500 `TypeError: Cannot read properties of null (reading \'split\')`',
  approxPg: 'on PostgreSQL, `count_distinct_approx` calls the `hll` extension\'s functions: without the extension, a 400 `Error: function hll_hash_any(integer) does not exist`',
};

// /sql: the statement's text (and with it the form of a time bound, and
// the refresh-key queries) is tenantgate's own; the parameters, their
// order and every other field must be Cube.js's. `base` is the answer's
// path to the sql object.
const sqlPaths = (base) => {
  const at = (tail) => new RegExp(`^${base.replace(/[.[\]]/g, '\\$&')}${tail}$`);
  return [
    { path: at('\\.sql\\[0\\]'), row: ROW.sqlText },
    // Only a parameter that is tenantgate's with a `Z` after it.
    { path: at('\\.sql\\[1\\]\\[\\d+\\]'), row: ROW.utcZ, when: (cube, tg) => typeof tg === 'string' && cube === `${tg}Z` },
    // A number member's filter value: Cube.js binds the text it was sent,
    // tenantgate the number (values are bound as the member's type).
    { path: at('\\.sql\\[1\\]\\[\\d+\\]'), row: ROW.textValues, when: (cube, tg) => typeof cube === 'string' && typeof tg === 'number' && Number(cube) === tg },
    // Only when tenantgate runs no refresh-key query (an `every` key or none).
    { path: at('\\.cacheKeyQueries'), row: ROW.cacheKeys, when: (cube, tg) => Array.isArray(tg) && tg.length === 0 },
  ];
};
const sqlKnown = { status: 200, paths: sqlPaths('body.sql') };

// The JS client's calls (client.mjs), by id: `rawQuery().sql` is
// [text, params].
const CLIENT_KNOWN = {
  'client / sql: rawQuery().sql': [{ path: /^value\.value\[0\]$/, row: ROW.sqlText }],
};

const cases = [];
const add = (group, list) => list.forEach((c) => cases.push({ group, ...c }));

// ---------------------------------------------------------------- basics
add('load', [
  { name: 'count', query: { measures: [O('count')] } },
  { name: 'count by status', query: { measures: [O('count')], dimensions: [O('status')] } },
  { name: 'dimensions only', query: { dimensions: [O('status')] } },
  { name: 'two dimensions', query: { measures: [O('count')], dimensions: [O('status'), O('coupon')] } },
  { name: 'number and boolean dimensions', query: { measures: [O('count')], dimensions: [O('isCompleted'), O('userId')], order: { [O('userId')]: 'asc' }, limit: 5 } },
  { name: 'other cube with title', query: { measures: ['Users.count'], dimensions: ['Users.city'] } },
  { name: 'sql_table cube without tenant filter', query: { measures: ['Tenants.count'], dimensions: ['Tenants.plan'] } },
  { name: 'POST body', method: 'POST', query: { measures: [O('count')], dimensions: [O('status')] } },
  { name: 'segments', query: { measures: [O('count')], segments: [O('completed')] } },
  { name: 'two segments', query: { measures: [O('count')], dimensions: [O('status')], segments: [O('completed'), O('big')] } },
  { name: 'tenant globex', token: 'globex', query: { measures: [O('count'), O('totalAmount')] } },
  { name: 'ungrouped', query: { dimensions: [O('id'), O('status')], ungrouped: true, order: { [O('id')]: 'asc' }, limit: 3 }, known: { row: ROW.hiddenMember, status: 400, code: 'hidden_member', ownWords: true } },
  { name: 'ungrouped rows', query: { dimensions: ['Tenants.id', 'Tenants.plan'], ungrouped: true, order: { 'Tenants.id': 'desc' } } },
  { name: 'ungrouped with a measure', query: { measures: ['Tenants.count'], dimensions: ['Tenants.id'], ungrouped: true, order: { 'Tenants.id': 'asc' } } },
  { name: 'ungrouped without the primary key', query: { measures: [O('count')], dimensions: [O('status')], ungrouped: true } },
]);

// ---------------------------------------------------------------- measures
add('measure types', [
  { name: 'count', query: { measures: [O('count')], dimensions: [O('status')] } },
  { name: 'sum', query: { measures: [O('totalAmount')], dimensions: [O('status')] } },
  { name: 'avg', query: { measures: [O('averageAmount')], dimensions: [O('status')] } },
  { name: 'min', query: { measures: [O('minAmount')], dimensions: [O('status')] } },
  { name: 'max', query: { measures: [O('maxAmount')], dimensions: [O('status')] } },
  { name: 'count_distinct', query: { measures: [O('customers')], dimensions: [O('status')] } },
  { name: 'count with filters', query: { measures: [O('completedCount')] } },
  { name: 'sum with filters', query: { measures: [O('completedAmount')], dimensions: [O('coupon')] } },
  { name: 'number', query: { measures: [O('amountPerOrder')], dimensions: [O('status')] } },
  { name: 'all measures, no dimension', query: { measures: ['count', 'totalAmount', 'averageAmount', 'minAmount', 'maxAmount', 'customers', 'completedCount', 'completedAmount', 'amountPerOrder'].map(O) } },
]);

// ---------------------------------------------------------------- time
const GRANULARITIES = ['second', 'minute', 'hour', 'day', 'week', 'month', 'quarter', 'year'];
const quarterKnown = { row: ROW.quarter, status: 200, db: 'sqlite' };
add('granularity', GRANULARITIES.map((g) => ({
  name: g,
  query: { measures: [O('count')], timeDimensions: [td(g, ['2024-03-01', '2024-03-31'])] },
  ...(g === 'quarter' ? { known: quarterKnown } : {}),
})));
add('granularity', [
  { name: 'month without dateRange', query: { measures: [O('count')], timeDimensions: [td('month')] } },
  { name: 'year over everything', query: { measures: [O('count'), O('totalAmount')], timeDimensions: [td('year')] } },
  { name: 'time dimension as a plain dimension', query: { measures: [O('count')], dimensions: [O('createdAt')], order: { [O('createdAt')]: 'asc' }, limit: 3 } },
  { name: 'dateRange without granularity', query: { measures: [O('count')], timeDimensions: [td(null, ['2024-01-01', '2024-06-30'])] } },
  { name: 'two granularities of one dimension', query: { measures: [O('count')], timeDimensions: [td('year', ['2024-01-01', '2024-12-31']), td('quarter', ['2024-01-01', '2024-12-31'])] }, known: quarterKnown },
  { name: 'granularity with dimension', query: { measures: [O('count')], dimensions: [O('status')], timeDimensions: [td('quarter', ['2024-01-01', '2024-12-31'])] }, known: quarterKnown },
  { name: 'invalid granularity', query: { measures: [O('count')], timeDimensions: [td('fortnight')] } },
]);

const RELATIVE = ['today', 'yesterday', 'this week', 'last week', 'this month', 'last month', 'this quarter', 'this year',
  'last year', 'last 7 days', 'last 30 days', 'last 12 months', 'from 7 days ago to now', 'from 30 days ago to now',
  'next week'];
add('date ranges', [
  { name: 'absolute days', query: { measures: [O('count')], timeDimensions: [td('day', ['2024-03-09', '2024-03-11'])] } },
  { name: 'absolute timestamps', query: { measures: [O('count')], timeDimensions: [td('hour', ['2024-03-10T14:00:00', '2024-03-10T14:59:59'])] } },
  { name: 'absolute with milliseconds and Z', query: { measures: [O('count')], timeDimensions: [td(null, ['2024-01-01T00:00:00.000Z', '2024-12-31T23:59:59.999Z'])] } },
  { name: 'one-element array', query: { measures: [O('count')], timeDimensions: [td('day', ['2024-03-10'])] } },
  { name: 'reversed range', query: { measures: [O('count')], timeDimensions: [td('day', ['2024-03-11', '2024-03-09'])] } },
  { name: 'not a date', query: { measures: [O('count')], timeDimensions: [td('day', ['yesterday-ish', 'soon'])] }, known: { row: ROW.notADate, status: 400, code: 'invalid_query', ownWords: true } },
  ...RELATIVE.map((r) => ({ name: `"${r}"`, query: { measures: [O('count')], timeDimensions: [td('day', r)] } })),
]);

const tzSqliteKnown = { row: ROW.tzSqlite, status: 200, db: 'sqlite' };
add('time zones', ['UTC', 'America/Los_Angeles', 'Europe/Berlin', 'Asia/Kolkata', 'Not/AZone'].map((timezone) => ({
  name: timezone,
  query: { measures: [O('count')], timeDimensions: [td('day', ['2024-03-10', '2024-03-11'])], timezone },
  ...(timezone === 'Not/AZone' ? { known: { row: ROW.unknownTz, status: 400, code: 'unknown_timezone', ownWords: true } } : {}),
})).concat([
  { name: 'Europe/Berlin month grouping', query: { measures: [O('count')], timeDimensions: [td('month', ['2024-01-01', '2024-06-30'])], timezone: 'Europe/Berlin' } },
  { name: 'America/Los_Angeles with "last 7 days"', query: { measures: [O('count')], timeDimensions: [td('day', 'last 7 days')], timezone: 'America/Los_Angeles' }, known: tzSqliteKnown },
  { name: 'Europe/Berlin in summer time (hours)', query: { measures: [O('count')], timeDimensions: [td('hour', ['2024-07-01', '2024-07-31'])], timezone: 'Europe/Berlin' }, known: tzSqliteKnown },
]));

// ---------------------------------------------------------------- filters
add('filters', [
  { name: 'equals', query: { measures: [O('count')], filters: [f(O('status'), 'equals', ['completed'])] } },
  { name: 'equals two values', query: { measures: [O('count')], filters: [f(O('status'), 'equals', ['completed', 'shipped'])] } },
  { name: 'equals on a number as a string', query: { measures: [O('count')], filters: [f(O('userId'), 'equals', ['3'])] } },
  { name: 'equals on a number as a number', query: { measures: [O('count')], filters: [f(O('userId'), 'equals', [3])] } },
  { name: 'equals null', query: { measures: [O('count')], filters: [f(O('coupon'), 'equals', [null])] } },
  { name: 'equals on a boolean', query: { measures: [O('count')], filters: [f(O('isCompleted'), 'equals', ['true'])] }, known: { row: ROW.textValues, status: 200 } },
  { name: 'notEquals', query: { measures: [O('count')], filters: [f(O('status'), 'notEquals', ['completed'])] } },
  { name: 'notEquals on a nullable column', query: { measures: [O('count')], filters: [f(O('coupon'), 'notEquals', ['SPRING'])] } },
  { name: 'contains', query: { measures: [O('count')], filters: [f(O('status'), 'contains', ['ship'])] } },
  { name: 'contains ignores case', query: { measures: [O('count')], dimensions: [O('coupon')], filters: [f(O('coupon'), 'contains', ['VIP'])] } },
  { name: 'contains two values', query: { measures: [O('count')], filters: [f(O('status'), 'contains', ['ship', 'cancel'])] } },
  { name: 'contains a LIKE wildcard', query: { measures: [O('count')], filters: [f(O('status'), 'contains', ['%'])] } },
  { name: 'notContains', query: { measures: [O('count')], filters: [f(O('status'), 'notContains', ['ed'])] } },
  { name: 'startsWith', query: { measures: [O('count')], filters: [f(O('status'), 'startsWith', ['c'])] } },
  { name: 'notStartsWith', query: { measures: [O('count')], filters: [f(O('status'), 'notStartsWith', ['c'])] } },
  { name: 'endsWith', query: { measures: [O('count')], filters: [f(O('status'), 'endsWith', ['ed'])] } },
  { name: 'notEndsWith', query: { measures: [O('count')], filters: [f(O('status'), 'notEndsWith', ['ed'])] } },
  { name: 'gt', query: { measures: [O('count')], filters: [f(O('amount'), 'gt', ['250'])] } },
  { name: 'gte', query: { measures: [O('count')], filters: [f(O('amount'), 'gte', ['10'])] } },
  { name: 'lt', query: { measures: [O('count')], filters: [f(O('amount'), 'lt', ['100.5'])] } },
  { name: 'lte', query: { measures: [O('count')], filters: [f(O('amount'), 'lte', ['12'])] } },
  { name: 'gt on a measure (HAVING)', query: { measures: [O('count')], dimensions: [O('status')], filters: [f(O('count'), 'gt', ['25'])] }, known: { row: ROW.textValues, status: 200, db: 'sqlite' } },
  { name: 'set', query: { measures: [O('count')], filters: [f(O('coupon'), 'set')] } },
  { name: 'notSet', query: { measures: [O('count')], filters: [f(O('coupon'), 'notSet')] } },
  { name: 'inDateRange', query: { measures: [O('count')], filters: [f(O('createdAt'), 'inDateRange', ['2024-01-01', '2024-06-30'])] } },
  { name: 'notInDateRange', query: { measures: [O('count')], filters: [f(O('createdAt'), 'notInDateRange', ['2024-01-01', '2024-06-30'])] } },
  { name: 'beforeDate', query: { measures: [O('count')], filters: [f(O('createdAt'), 'beforeDate', ['2024-01-01'])] } },
  { name: 'afterDate', query: { measures: [O('count')], filters: [f(O('createdAt'), 'afterDate', ['2025-06-01'])] } },
  { name: 'beforeOrOnDate', query: { measures: [O('count')], filters: [f(O('createdAt'), 'beforeOrOnDate', ['2024-01-01'])] } },
  { name: 'afterOrOnDate', query: { measures: [O('count')], filters: [f(O('createdAt'), 'afterOrOnDate', ['2025-06-01'])] } },
  { name: 'onTheDate, a range', query: { measures: [O('count')], filters: [f(O('createdAt'), 'onTheDate', ['2024-03-01', '2024-06-30'])] } },
  { name: 'onTheDate, one value', query: { measures: [O('count')], filters: [f(O('createdAt'), 'onTheDate', ['2024-03-05'])] }, known: { row: ROW.oneValueRange, status: 400, code: 'invalid_query', ownWords: true } },
  { name: 'inDateRange, one value', query: { measures: [O('count')], filters: [f(O('createdAt'), 'inDateRange', ['2024-03-05'])] }, known: { row: ROW.oneValueRange, status: 400, code: 'invalid_query', ownWords: true } },
  { name: 'measureFilter', query: { measures: [O('count')], filters: [f(O('completedCount'), 'measureFilter')] } },
  { name: 'and', query: { measures: [O('count')], filters: [{ and: [f(O('status'), 'equals', ['completed']), f(O('amount'), 'gt', ['100'])] }] } },
  { name: 'or', query: { measures: [O('count')], filters: [{ or: [f(O('status'), 'equals', ['completed']), f(O('coupon'), 'set')] }] } },
  { name: 'nested or inside and', query: { measures: [O('count')], dimensions: [O('status')], filters: [{ and: [f(O('amount'), 'gt', ['50']), { or: [f(O('status'), 'equals', ['completed']), { and: [f(O('coupon'), 'set'), f(O('status'), 'startsWith', ['s'])] }] }] }] } },
  { name: 'several top-level filters (implicit and)', query: { measures: [O('count')], filters: [f(O('status'), 'equals', ['completed']), f(O('coupon'), 'notSet')] } },
  { name: 'legacy dimension key', query: { measures: [O('count')], filters: [{ dimension: O('status'), operator: 'equals', values: ['completed'] }] } },
  { name: 'filter on a member of another cube', query: { measures: [O('count')], filters: [f('Users.city', 'equals', ['Berlin'])] } },
  { name: 'measure and dimension in one or', query: { measures: [O('count')], dimensions: [O('status')], filters: [{ or: [f(O('count'), 'gt', ['5']), f(O('status'), 'equals', ['completed'])] }] } },
  { name: 'unknown operator', query: { measures: [O('count')], filters: [f(O('status'), 'like', ['c%'])] } },
  { name: 'equals without values', query: { measures: [O('count')], filters: [f(O('status'), 'equals')] } },
  { name: 'values not an array', query: { measures: [O('count')], filters: [{ member: O('status'), operator: 'equals', values: 'completed' }] } },
  { name: 'contains on a number dimension', query: { measures: [O('count')], filters: [f(O('amount'), 'contains', ['1'])] }, known: { row: ROW.containsNumber, status: 400, code: 'invalid_query', ownWords: true } },
  { name: 'gt with a non-number', query: { measures: [O('count')], filters: [f(O('amount'), 'gt', ['abc'])] }, known: { row: ROW.notANumber, status: 400, code: 'invalid_query', ownWords: true } },
]);

// ---------------------------------------------------------------- order, limit
add('order and limit', [
  { name: 'default order (measure desc)', query: { measures: [O('count')], dimensions: [O('userId')] } },
  { name: 'default order with time dimension', query: { measures: [O('count')], dimensions: [O('status')], timeDimensions: [td('year')] } },
  { name: 'order object', query: { measures: [O('count')], dimensions: [O('status')], order: { [O('status')]: 'asc' } } },
  { name: 'order object two keys', query: { measures: [O('count')], dimensions: [O('status'), O('coupon')], order: { [O('count')]: 'desc', [O('status')]: 'asc', [O('coupon')]: 'asc' } } },
  { name: 'order object keys apply in the client\'s order', query: { measures: [O('count')], dimensions: [O('status'), O('coupon')], order: { [O('status')]: 'desc', [O('coupon')]: 'asc' } } },
  { name: 'order array of pairs', query: { measures: [O('count')], dimensions: [O('status')], order: [[O('count'), 'asc'], [O('status'), 'desc']] } },
  { name: 'order by time dimension', query: { measures: [O('count')], timeDimensions: [td('month', ['2024-01-01', '2024-12-31'])], order: { [O('createdAt')]: 'desc' } } },
  { name: 'order by a member not selected', query: { measures: [O('count')], dimensions: [O('status')], order: { [O('totalAmount')]: 'desc' } }, known: { row: ROW.orderUnselected, status: 200 } },
  { name: 'order empty object (no ORDER BY)', query: { measures: [O('totalAmount')], dimensions: [O('status')], order: {} } },
  { name: 'order bad direction', query: { measures: [O('count')], dimensions: [O('status')], order: { [O('status')]: 'up' } } },
  { name: 'limit', query: { measures: [O('count')], dimensions: [O('userId')], order: { [O('userId')]: 'asc' }, limit: 3 } },
  { name: 'limit and offset', query: { measures: [O('count')], dimensions: [O('userId')], order: { [O('userId')]: 'asc' }, limit: 3, offset: 2 } },
  { name: 'offset alone', query: { measures: [O('count')], dimensions: [O('userId')], order: { [O('userId')]: 'asc' }, offset: 28 } },
  { name: 'total', query: { measures: [O('count')], dimensions: [O('userId')], order: { [O('userId')]: 'asc' }, limit: 2, total: true } },
  { name: 'total with filter', query: { measures: [O('count')], dimensions: [O('status')], filters: [f(O('coupon'), 'set')], total: true } },
  { name: 'limit 0', query: { measures: [O('count')], dimensions: [O('status')], limit: 0 } },
  { name: 'limit 50000', query: { measures: [O('count')], dimensions: [O('status')], limit: 50000 } },
  { name: 'limit 50001', query: { measures: [O('count')], dimensions: [O('status')], limit: 50001 }, known: { row: ROW.overLimit, status: 400, code: 'invalid_query', ownWords: true } },
  { name: 'negative limit', query: { measures: [O('count')], dimensions: [O('status')], limit: -1 } },
  { name: 'limit as a string', query: { measures: [O('count')], dimensions: [O('status')], limit: '2' } },
  { name: 'renewQuery', query: { measures: [O('count')], renewQuery: true } },
  { name: 'responseFormat compact', query: { measures: [O('count')], dimensions: [O('status')], responseFormat: 'compact' } },
  { name: 'responseFormat compact with a time dimension', query: { measures: [O('count')], timeDimensions: [td('month', ['2024-01-01', '2024-03-31'])], responseFormat: 'compact' } },
  { name: 'responseFormat compact, no rows', query: { measures: [O('count')], dimensions: [O('status')], filters: [f(O('status'), 'equals', ['nope'])], responseFormat: 'compact' } },
  { name: 'responseFormat compact with compareDateRange', queryType: 'multi', query: { measures: [O('count')], timeDimensions: [td('month', undefined, { compareDateRange: [['2024-01-01', '2024-02-29'], ['2025-01-01', '2025-02-28']] })], responseFormat: 'compact' } },
]);

// ---------------------------------------------------------------- multi, blending, compare
const monthly = (measure, cube = 'Orders') => ({
  measures: [`${cube}.${measure}`],
  timeDimensions: [{ dimension: `${cube}.createdAt`, granularity: 'month', dateRange: ['2024-01-01', '2024-06-30'] }],
});
add('multi', [
  { name: 'queryType=multi, one query', queryType: 'multi', query: { measures: [O('count')], dimensions: [O('status')] } },
  { name: 'queryType=multi, POST', method: 'POST', queryType: 'multi', query: { measures: [O('count')] } },
  { name: 'array of queries with queryType=multi', queryType: 'multi', query: [{ measures: [O('count')] }, { measures: ['Users.count'] }] },
  { name: 'array of queries without queryType', query: [{ measures: [O('count')] }, { measures: ['Users.count'] }] },
  { name: 'blending: two cubes, same granularity', queryType: 'multi', query: [monthly('count'), monthly('count', 'Users')] },
  { name: 'blending without queryType', query: [monthly('count'), monthly('count', 'Users')] },
  { name: 'blending: different granularities', queryType: 'multi', query: [monthly('count'), { ...monthly('count', 'Users'), timeDimensions: [{ dimension: 'Users.createdAt', granularity: 'week', dateRange: ['2024-01-01', '2024-06-30'] }] }] },
  { name: 'compareDateRange', query: { measures: [O('count')], timeDimensions: [td('month', undefined, { compareDateRange: [['2024-01-01', '2024-03-31'], ['2025-01-01', '2025-03-31']] })] } },
  { name: 'compareDateRange with queryType=multi', queryType: 'multi', query: { measures: [O('count')], timeDimensions: [td('month', undefined, { compareDateRange: [['2024-01-01', '2024-03-31'], ['2025-01-01', '2025-03-31']] })] } },
  { name: 'compareDateRange with relative ranges', queryType: 'multi', query: { measures: [O('count')], timeDimensions: [td('day', undefined, { compareDateRange: ['this week', 'last week'] })] } },
  { name: 'cross-cube query without a join', query: { measures: [O('count'), 'Users.count'] } },
]);

// ---------------------------------------------------------------- other endpoints
add('sql', [
  { name: 'count by status', endpoint: 'sql', query: { measures: [O('count')], dimensions: [O('status')] }, known: sqlKnown },
  { name: 'filters and time dimension', endpoint: 'sql', query: { measures: [O('totalAmount')], timeDimensions: [td('month', ['2024-01-01', '2024-06-30'])], filters: [f(O('status'), 'equals', ['completed', 'shipped'])], limit: 5 }, known: sqlKnown },
  { name: 'POST', endpoint: 'sql', method: 'POST', query: { measures: [O('count')] }, known: sqlKnown },
  { name: 'dateRange without granularity, a segment and an equals', endpoint: 'sql', query: { measures: [O('count'), O('averageAmount')], dimensions: [O('coupon')], segments: [O('completed')], timeDimensions: [td(null, ['2024-01-01', '2024-03-31'])], filters: [f(O('status'), 'equals', ['completed'])] }, known: sqlKnown },
  { name: 'measure filter and order', endpoint: 'sql', query: { measures: [O('count')], dimensions: [O('status')], filters: [f(O('totalAmount'), 'gt', ['100'])], order: { [O('status')]: 'asc' }, limit: 3, offset: 1 }, known: sqlKnown },
  { name: 'array of queries', endpoint: 'sql', query: [{ measures: [O('count')] }, { measures: ['Users.count'] }] },
  { name: 'unknown member', endpoint: 'sql', query: { measures: [O('nope')] } },
]);
add('dry-run', [
  { name: 'count by status', endpoint: 'dry-run', query: { measures: [O('count')], dimensions: [O('status')] } },
  { name: 'time dimension and filter', endpoint: 'dry-run', query: { measures: [O('count')], timeDimensions: [td('week', ['2024-01-01', '2024-01-31'])], filters: [f(O('coupon'), 'set')] } },
  { name: 'POST', endpoint: 'dry-run', method: 'POST', query: { measures: [O('count')], order: [[O('count'), 'desc']] } },
  { name: 'blending', endpoint: 'dry-run', query: [monthly('count'), monthly('count', 'Users')] },
  { name: 'compareDateRange', endpoint: 'dry-run', query: { measures: [O('count')], timeDimensions: [td('month', undefined, { compareDateRange: [['2024-01-01', '2024-03-31'], ['2025-01-01', '2025-03-31']] })] } },
  { name: 'unknown member', endpoint: 'dry-run', query: { measures: [O('nope')] } },
  // transformedQueries' edges: each filter kind, segments, a time dimension without granularity.
  { name: 'one-value equals on a selected dimension', endpoint: 'dry-run', query: { measures: [O('count')], dimensions: [O('status')], filters: [f(O('status'), 'equals', ['completed'])] } },
  { name: 'one-value equals in an and', endpoint: 'dry-run', query: { measures: [O('count')], dimensions: [O('coupon')], filters: [{ and: [f(O('status'), 'equals', ['completed']), f(O('coupon'), 'equals', ['VIP'])] }] } },
  { name: 'or of dimensions', endpoint: 'dry-run', query: { measures: [O('count')], filters: [{ or: [f(O('status'), 'equals', ['completed']), f(O('coupon'), 'set')] }] } },
  { name: 'measure filter (HAVING)', endpoint: 'dry-run', query: { measures: [O('count')], dimensions: [O('status')], filters: [f(O('totalAmount'), 'gt', ['100'])] } },
  { name: 'measureFilter', endpoint: 'dry-run', query: { measures: [O('count')], filters: [f(O('completedCount'), 'measureFilter')] } },
  { name: 'segment and non-additive measures', endpoint: 'dry-run', query: { measures: [O('averageAmount'), O('customers'), O('amountPerOrder')], dimensions: [O('status')], segments: [O('completed')] } },
  { name: 'dateRange without granularity', endpoint: 'dry-run', query: { measures: [O('count')], timeDimensions: [td(null, ['2024-01-01', '2024-03-31'])] } },
  { name: 'week granularity over whole months', endpoint: 'dry-run', query: { measures: [O('count')], timeDimensions: [td('week', ['2024-02-01', '2024-03-31']), td('year')] } },
  { name: 'a join: measures of both cubes', endpoint: 'dry-run', target: 'ext', file: 'joins.yml', tgModelError: /joins/, query: { measures: ['OrdersJoined.count', 'OrdersJoined.totalAmount', 'UsersJoined.count'], dimensions: ['UsersJoined.city'] } },
  { name: 'through a view', endpoint: 'dry-run', target: 'ext', file: 'js_model.js', tgModelError: /js_model\.js/, query: { measures: ['SalesJs.count', 'SalesJs.totalAmount'], dimensions: ['SalesJs.UsersJs_city'], filters: [f('SalesJs.UsersJs_city', 'equals', ['Berlin'])] } },
]);
add('meta', [
  { name: 'meta', endpoint: 'meta' },
  { name: 'meta without a token', endpoint: 'meta', token: null, known: { row: ROW.refuses403, status: 401, code: 'missing_token' } },
]);

// ---------------------------------------------------------------- errors
add('errors', [
  { name: 'unknown member', query: { measures: [O('nope')] } },
  { name: 'unknown cube', query: { measures: ['Nope.count'] } },
  { name: 'member without cube', query: { measures: ['count'] } },
  { name: 'dimension used as a measure', query: { measures: [O('status')] } },
  { name: 'unknown segment', query: { measures: [O('count')], segments: [O('nope')] } },
  { name: 'missing query', raw: { search: '' } },
  { name: 'empty query param', raw: { search: '?query=' } },
  { name: 'bad JSON', raw: { search: `?query=${encodeURIComponent('{"measures":[')}` }, known: { row: ROW.badJson, status: 400, code: 'invalid_query', ownWords: true } },
  { name: 'query is a number', raw: { search: '?query=5' } },
  { name: 'empty query object', query: {} },
  { name: 'measures not an array', query: { measures: O('count') } },
  { name: 'unknown query key', query: { measures: [O('count')], colour: 'blue' } },
  { name: 'POST without query', method: 'POST', raw: { body: '{}', contentType: 'application/json' } },
  { name: 'POST bad JSON body', method: 'POST', raw: { body: '{"query":', contentType: 'application/json' }, known: { row: ROW.badJson, status: 400, code: 'invalid_query', ownWords: true } },
  { name: 'POST query as a JSON string', method: 'POST', raw: { body: JSON.stringify({ query: JSON.stringify({ measures: [O('count')] }) }), contentType: 'application/json' } },
  { name: 'unknown endpoint', raw: { path: '/cubejs-api/v1/nope', search: '' }, known: { row: ROW.notFound, status: 404, code: 'not_found', ownWords: true } },
  { name: 'DELETE on load', method: 'DELETE', raw: { search: '' }, known: { row: ROW.notFound, status: 405, code: 'method_not_allowed', ownWords: true } },
  { name: 'sql: missing query', endpoint: 'sql', raw: { search: '' } },
  { name: 'dry-run: bad JSON', endpoint: 'dry-run', raw: { search: '?query=%7B' }, known: { row: ROW.badJson, status: 400, code: 'invalid_query', ownWords: true } },
]);

// ---------------------------------------------------------------- auth
const q = { measures: [O('count')] };
const authCases = (target, status) => [
  { name: 'no token', token: null, query: q, known: { row: ROW.refuses403, status, code: 'missing_token' } },
  { name: 'empty Authorization header', token: '', query: q, known: { row: ROW.refuses403, status, code: 'missing_token' } },
  { name: 'Authorization: Bearer alone', token: '', bearer: true, query: q, known: { row: ROW.refuses403, status, code: 'malformed_token' } },
  { name: 'expired', token: 'expired', query: q, known: { row: ROW.refuses403, status, code: 'token_expired' } },
  { name: 'bad signature', token: 'badSignature', query: q, known: { row: ROW.refuses403, status, code: 'invalid_signature' } },
  { name: 'wrong secret', token: 'wrongSecret', query: q, known: { row: ROW.refuses403, status, code: 'invalid_signature' } },
  { name: 'not a JWT', token: 'garbage', query: q, known: { row: ROW.refuses403, status, code: 'malformed_token' } },
  { name: 'alg none', token: 'algNone', query: q, known: { row: ROW.refuses403, status, code: 'algorithm_not_allowed' } },
  { name: 'nbf in the future', token: 'notYetValid', query: q, known: { row: ROW.refuses403, status, code: 'token_not_yet_valid' } },
].map((c) => ({ ...c, target }));
add('auth', [
  ...authCases('main', 401),
  { name: 'Bearer prefix', token: 'acme', bearer: true, query: q },
  { name: 'X-Cube-Authorization header', token: 'acme', header: 'X-Cube-Authorization', query: q, known: { row: ROW.xCube, status: 200 } },
  { name: 'HS512 token with a 40-byte secret', token: 'hs512', query: q, known: { row: ROW.shortHs, status: 401, code: 'algorithm_not_allowed' } },
  { name: 'legacy u claim', token: 'legacyU', query: q },
  { name: 'extra claims are ignored', token: 'extraClaims', query: q },
  { name: 'no exp', token: 'noExp', query: q, known: { row: ROW.exp, status: 401, code: 'missing_exp' } },
  { name: 'payload is a JSON string', token: 'stringPayload', query: q, known: { row: ROW.notObject, status: 401, code: 'claims_not_object' } },
  { name: 'payload is an array', token: 'arrayPayload', query: q, known: { row: ROW.notObject, status: 401, code: 'claims_not_object' } },
  { name: 'duplicate tenant_id claims', token: 'duplicateClaims', query: q, known: { row: ROW.duplicates, status: 401, code: 'malformed_token' } },
  { name: 'no tenant_id', token: 'noTenant', query: q, known: { row: ROW.missing, status: 403, code: 'missing_security_context' } },
  { name: 'tenant_id null', token: 'nullTenant', query: q, known: { row: ROW.missing, status: 403, code: 'missing_security_context' } },
  { name: 'tenant_id 0', token: 'zeroTenant', query: q, known: { row: ROW.falsy, status: 200 } },
  { name: 'tenant_id ""', token: 'emptyTenant', query: q, known: { row: ROW.falsy, status: 200 } },
  { name: 'no tenant_id, cube without a tenant filter', token: 'noTenant', query: { measures: ['Tenants.count'] } },
]);
add('auth, failure_status = 403', authCases('strict403', 403));

// ---------------------------------------------------------------- model features (model-ext/)
// Cube.js loads these model files; tenantgate may refuse a file at startup,
// and then its cases are DIFF with tenantgate's model error.
const X = (m) => `OrdersExt.${m}`;
add('model features', [
  { name: 'count_distinct_approx', target: 'ext', file: 'measure_types.yml', tgModelError: /approxCustomers/, query: { measures: [X('approxCustomers')] }, known: { row: ROW.approxPg, status: 400, code: 'not_supported_by_database', ownWords: true, db: 'postgres' } },
  { name: 'measure type string', target: 'ext', file: 'measure_types.yml', tgModelError: /topStatus/, query: { measures: [X('topStatus')], dimensions: [X('coupon')] } },
  { name: 'measure type time', target: 'ext', file: 'measure_types.yml', tgModelError: /lastOrderAt/, query: { measures: [X('lastOrderAt')], dimensions: [X('status')] } },
  { name: 'measure type boolean', target: 'ext', file: 'measure_types.yml', tgModelError: /anyBig/, query: { measures: [X('anyBig')], dimensions: [X('status')] } },
  { name: 'number measure referencing measures', target: 'ext', file: 'measure_types.yml', tgModelError: /averageOrder/, query: { measures: [X('averageOrder')], dimensions: [X('status')] } },
  { name: 'number measure referencing {CUBE.measure}', target: 'ext', file: 'measure_types.yml', tgModelError: /averageOrder/, query: { measures: [X('averageOrderCube')], dimensions: [X('status')] } },
  { name: 'number measure referencing {Cube.measure}', target: 'ext', file: 'measure_types.yml', tgModelError: /averageOrder/, query: { measures: [X('averageOrderNamed'), X('averageOrder')], dimensions: [X('status')] } },
  { name: 'number over measures with a dimension and a filter', target: 'ext', file: 'measure_types.yml', tgModelError: /averageOrder/, query: { measures: [X('averageOrder'), X('completedShare')], dimensions: [X('coupon')], filters: [f(X('status'), 'equals', ['completed', 'shipped'])], order: { [X('averageOrder')]: 'desc' } } },
  { name: 'number over a filtered measure, ordered by it', target: 'ext', file: 'measure_types.yml', tgModelError: /completedShare/, query: { measures: [X('completedShare')], dimensions: [X('status')], order: { [X('completedShare')]: 'asc' } } },
  { name: 'number over a dimension and a measure', target: 'ext', file: 'measure_types.yml', tgModelError: /bigShare/, query: { measures: [X('bigShare')], dimensions: [X('status')], order: { [X('status')]: 'asc' } } },
  { name: 'number over a number over measures', target: 'ext', file: 'measure_types.yml', tgModelError: /averageOfAverage/, query: { measures: [X('averageOfAverage'), X('count')], dimensions: [X('status')] } },
  { name: 'number over measures as a measure filter', target: 'ext', file: 'measure_types.yml', tgModelError: /averageOrder/, query: { measures: [X('count')], dimensions: [X('status')], filters: [f(X('averageOrder'), 'gt', ['200'])] }, known: { row: ROW.textValues, status: 200, db: 'sqlite' } },
  { name: 'string measure as a measure filter', target: 'ext', file: 'measure_types.yml', tgModelError: /topStatus/, query: { measures: [X('topStatus'), X('count')], dimensions: [X('coupon')], filters: [f(X('topStatus'), 'equals', ['shipped'])] } },
  { name: 'time measure as a measure filter', target: 'ext', file: 'measure_types.yml', tgModelError: /lastOrderAt/, query: { measures: [X('lastOrderAt')], dimensions: [X('status')], filters: [f(X('lastOrderAt'), 'afterDate', ['2024-03-01'])] }, known: { row: ROW.timeMeasureDate, status: 200 } },
  { name: 'calculated measure types together, by a time dimension', target: 'ext', file: 'measure_types.yml', tgModelError: /lastOrderAt/, query: { measures: [X('lastOrderAt'), X('anyBig'), X('topStatus')], timeDimensions: [{ dimension: X('createdAt'), granularity: 'month', dateRange: ['2024-01-01', '2024-06-30'] }] } },
  { name: 'joins: measure by a joined dimension', target: 'ext', file: 'joins.yml', tgModelError: /joins/, query: { measures: ['OrdersJoined.count'], dimensions: ['UsersJoined.city'] } },
  { name: 'joins: filter on the joined cube', target: 'ext', file: 'joins.yml', tgModelError: /joins/, query: { measures: ['OrdersJoined.totalAmount'], filters: [f('UsersJoined.city', 'equals', ['Berlin'])] } },
  { name: 'joins: measures of both cubes', target: 'ext', file: 'joins.yml', tgModelError: /joins/, query: { measures: ['OrdersJoined.count', 'UsersJoined.count'], dimensions: ['UsersJoined.city'] } },
  { name: 'joins: number over measures by a joined dimension', target: 'ext', file: 'joins.yml', tgModelError: /joins/, query: { measures: ['OrdersJoined.averageOrder'], dimensions: ['UsersJoined.city'] } },
  { name: 'joins: number over measures of the multiplied cube', target: 'ext', file: 'joins.yml', tgModelError: /joins/, query: { measures: ['OrdersJoined.totalAmount', 'UsersJoined.countTimesTen'], dimensions: ['UsersJoined.city'] } },
]);

// ---------------------------------------------------------------- cumulative measures (model-ext/cumulative.yml)
// Cube.js 0.33 renders these over a time series of the query's buckets, each
// bucket joined to the rows in its window.
const C = (m) => `OrdersCumulative.${m}`;
const K = { target: 'ext', file: 'cumulative.yml', tgModelError: /OrdersCumulative|rolling_window|running_total/ };
const ctd = (granularity, dateRange, extra = {}) => ({
  dimension: C('createdAt'),
  ...(granularity ? { granularity } : {}),
  ...(dateRange ? { dateRange } : {}),
  ...extra,
});
const H1 = ['2024-01-01', '2024-04-30'];
add('model features', [
  { name: 'running_total', ...K, query: { measures: [C('runningAmount')], timeDimensions: [ctd('month', H1)] } },
  { name: 'rolling_window', ...K, query: { measures: [C('rollingCount')], timeDimensions: [ctd('month', H1)] } },
]);
add('cumulative measures', [
  { name: 'trailing and leading', ...K, query: { measures: [C('aroundAmount')], timeDimensions: [ctd('month', H1)] } },
  { name: 'offset start', ...K, query: { measures: [C('startOffsetCount')], timeDimensions: [ctd('month', H1)] } },
  { name: 'trailing unbounded', ...K, query: { measures: [C('cumulativeCount')], timeDimensions: [ctd('month', H1)] } },
  { name: 'with a dimension', ...K, query: { measures: [C('rollingCount')], dimensions: [C('status')], timeDimensions: [ctd('month', H1)], order: [[C('createdAt'), 'asc'], [C('status'), 'asc']] } },
  { name: 'with a filter', ...K, query: { measures: [C('rollingCount')], timeDimensions: [ctd('month', H1)], filters: [f(C('status'), 'equals', ['completed'])] } },
  { name: 'beside a regular measure', ...K, query: { measures: [C('rollingCount'), C('count')], timeDimensions: [ctd('month', H1)] } },
  { name: 'two cumulative measures and a regular one', ...K, query: { measures: [C('count'), C('runningAmount'), C('rollingCount')], timeDimensions: [ctd('month', H1)] } },
  { name: 'beside a regular measure and a dimension', ...K, query: { measures: [C('count'), C('cumulativeCount')], dimensions: [C('status')], timeDimensions: [ctd('quarter', ['2024-01-01', '2024-12-31'])] }, known: { row: ROW.quarter, status: 200, db: 'sqlite' } },
  { name: 'without a dateRange', ...K, query: { measures: [C('rollingCount')], timeDimensions: [ctd('month')] } },
  { name: 'without a granularity', ...K, query: { measures: [C('rollingCount')], timeDimensions: [ctd(null, H1)] } },
  { name: 'running_total without a granularity', ...K, query: { measures: [C('runningAmount'), C('count')], timeDimensions: [ctd(null, H1)] } },
  { name: 'without a granularity, by a dimension', ...K, query: { measures: [C('aroundAmount')], dimensions: [C('status')], timeDimensions: [ctd(null, H1)] } },
  { name: 'without a time dimension', ...K, query: { measures: [C('rollingCount'), C('runningAmount')] } },
  { name: 'without a time dimension, by a dimension', ...K, query: { measures: [C('rollingCount')], dimensions: [C('status')], order: { [C('status')]: 'asc' } } },
  { name: 'time dimension with neither', ...K, query: { measures: [C('rollingCount')], timeDimensions: [ctd()] } },
  { name: 'day granularity', ...K, query: { measures: [C('runningAmount')], timeDimensions: [ctd('day', ['2024-03-01', '2024-03-15'])] } },
  { name: 'week granularity', ...K, query: { measures: [C('cumulativeCount'), C('rollingCount')], timeDimensions: [ctd('week', ['2024-02-01', '2024-03-31'])] } },
  { name: 'year granularity', ...K, query: { measures: [C('rollingCount')], timeDimensions: [ctd('year', ['2023-01-01', '2025-12-31'])] } },
  { name: 'avg over a window', ...K, query: { measures: [C('rollingAverage')], timeDimensions: [ctd('month', H1)] } },
  { name: 'count_distinct over a window', ...K, query: { measures: [C('rollingCustomers')], timeDimensions: [ctd('month', H1)] } },
  { name: 'max over days', ...K, query: { measures: [C('rollingMax')], timeDimensions: [ctd('day', ['2024-03-01', '2024-03-20'])] } },
  { name: 'a window of weeks', ...K, query: { measures: [C('weekCount')], timeDimensions: [ctd('day', ['2024-03-05', '2024-03-14'])] }, known: { row: ROW.weekWindow, status: 200, db: 'sqlite' } },
  { name: 'a measure with filters', ...K, query: { measures: [C('completedRolling')], timeDimensions: [ctd('month', H1)] } },
  { name: 'ordered by the measure', ...K, query: { measures: [C('rollingCount')], timeDimensions: [ctd('month', H1)], order: { [C('rollingCount')]: 'desc' }, limit: 2 } },
  { name: 'another tenant', ...K, token: 'globex', query: { measures: [C('runningAmount'), C('rollingCount')], timeDimensions: [ctd('month', H1)] } },
  { name: 'in a time zone', ...K, query: { measures: [C('runningAmount')], timeDimensions: [ctd('month', H1)], timezone: 'Asia/Tokyo' } },
  { name: 'a granular time dimension without dateRange, dry-run', ...K, endpoint: 'dry-run', query: { measures: [C('runningAmount')], timeDimensions: [ctd('month')] } },
]);

// ---------------------------------------------------------------- JS model files (model-ext/js_model.js)
// The same file on both sides: Cube.js evaluates it, tenantgate evaluates it
// in its sandbox.
const J = { target: 'ext', file: 'js_model.js', tgModelError: /js_model\.js/ };
add('JS model files', [
  { name: 'measures by a dimension', ...J, query: { measures: ['OrdersJs.count', 'OrdersJs.totalAmount'], dimensions: ['OrdersJs.status'] } },
  { name: 'a filtered measure and a segment', ...J, query: { measures: ['OrdersJs.completedAmount', 'OrdersJs.count'], segments: ['OrdersJs.completed'] } },
  { name: 'a join to another JS cube', ...J, query: { measures: ['OrdersJs.count'], dimensions: ['UsersJs.city'] } },
  { name: 'a number measure built from measures', ...J, query: { measures: ['OrdersJs.completedShare'], dimensions: ['OrdersJs.status'] } },
  { name: 'a time dimension', ...J, query: { measures: ['OrdersJs.count'], timeDimensions: [{ dimension: 'OrdersJs.createdAt', granularity: 'month', dateRange: ['2024-01-01', '2024-03-31'] }] } },
  { name: 'through the view', ...J, query: { measures: ['SalesJs.count', 'SalesJs.totalAmount'], dimensions: ['SalesJs.UsersJs_city'] } },
  { name: 'another tenant', ...J, token: 'globex', query: { measures: ['OrdersJs.count'], dimensions: ['UsersJs.city'] } },
  { name: 'an unknown member', ...J, query: { measures: ['OrdersJs.nope'] } },
]);

export default cases;
export { CLIENT_KNOWN, ROW };

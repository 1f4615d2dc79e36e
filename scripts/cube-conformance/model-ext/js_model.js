// A JavaScript model file, written as Cube.js's docs write them: members
// keyed by name, template literals, `${CUBE}` and other cubes by name, the
// legacy USER_CONTEXT, camelCase keys and a view. (Cube.js 0.33 fails on a
// cube's `sql` given as a function, `evaluatedSql.match is not a function`,
// which tenantgate accepts; and tenantgate leaves a measure's drillMembers
// out of /load's annotation, for YAML models too: neither is here.)
// Cube.js and tenantgate both load this file as it is (run.mjs replaces
// __SCHEMA__, as in every model file).
cube(`OrdersJs`, {
  sql: `SELECT * FROM __SCHEMA__.orders WHERE ${SECURITY_CONTEXT.tenant_id.filter('tenant_id')}`,

  joins: {
    UsersJs: {
      relationship: `belongsTo`,
      sql: `${CUBE}.user_id = ${UsersJs}.id`,
    },
  },

  measures: {
    count: {
      type: `count`,
    },
    totalAmount: {
      sql: `amount`,
      type: `sum`,
    },
    completedAmount: {
      sql: `${CUBE}.amount`,
      type: `sum`,
      filters: [{ sql: `${CUBE}.status = 'completed'` }],
    },
    completedShare: {
      sql: `${completedAmount} * 1.0 / NULLIF(${CUBE.totalAmount}, 0)`,
      type: `number`,
    },
  },

  dimensions: {
    id: { sql: `id`, type: `number`, primaryKey: true },
    status: { sql: `${CUBE}.status`, type: `string` },
    createdAt: { sql: `created_at`, type: `time` },
  },

  segments: {
    completed: { sql: `${CUBE}.status = 'completed'` },
  },
});

cube(`UsersJs`, {
  sql: `SELECT * FROM __SCHEMA__.users WHERE ${USER_CONTEXT.tenant_id.filter('tenant_id')}`,

  measures: {
    count: { type: `count` },
  },

  dimensions: {
    id: { sql: `id`, type: `number`, primaryKey: true },
    city: { sql: `city`, type: `string` },
  },
});

view(`SalesJs`, {
  cubes: [
    { join_path: OrdersJs, includes: [`count`, `totalAmount`, `status`] },
    { join_path: OrdersJs.UsersJs, prefix: true, includes: [`city`] },
  ],
});

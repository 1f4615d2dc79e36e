// The conformance data: a small deterministic seed, the same rows for SQLite
// and PostgreSQL. Rows are a pure function of a fixed PRNG seed, except the
// "recent" orders, which sit at fixed offsets before today's midnight (UTC)
// so that relative date ranges ("last week", "this month") select rows;
// both servers read the same database, so that never makes the runs differ.
//
//   node seed.mjs sqlite > seed.sql    # print the SQL for a dialect

const TENANTS = ['acme', 'globex', 'initech'];
const STATUSES = ['completed', 'processing', 'shipped', 'cancelled'];
const CITIES = ['Berlin', 'Lisbon', 'Osaka', 'Austin', null];
const NAMES = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Ken', 'Dennis', 'Frances', 'John'];

function prng(seed) {
  // mulberry32: small, deterministic, good enough for test data.
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const iso = (ms) => new Date(ms).toISOString();

export function rows(now = Date.now()) {
  const rnd = prng(12);
  const pick = (list) => list[Math.floor(rnd() * list.length)];
  const tenants = TENANTS.map((id, i) => ({ id, name: id[0].toUpperCase() + id.slice(1), plan: ['free', 'pro', 'enterprise'][i] }));
  const users = [];
  for (let id = 1; id <= 30; id += 1) {
    users.push({
      id,
      tenant_id: TENANTS[id % TENANTS.length],
      name: `${pick(NAMES)} ${id}`,
      city: pick(CITIES),
      created_at: iso(Date.UTC(2022, 0, 1) + Math.floor(rnd() * 3 * 365 * 86400) * 1000),
    });
  }
  const orders = [];
  const start = Date.UTC(2023, 0, 1);
  const span = Date.UTC(2026, 0, 1) - start; // 2023-01-01 .. 2025-12-31
  for (let id = 1; id <= 300; id += 1) {
    const user = users[Math.floor(rnd() * users.length)];
    const at = start + Math.floor((rnd() * span) / 1000) * 1000;
    orders.push({
      id,
      user_id: user.id,
      tenant_id: user.tenant_id,
      amount: Math.round(rnd() * 50000) / 100,
      status: pick(STATUSES),
      coupon: rnd() < 0.3 ? pick(['SPRING', 'WELCOME10', 'vip']) : null,
      created_at: iso(at),
    });
  }
  // Several orders inside one hour and one minute, for the finer granularities.
  for (let i = 0; i < 6; i += 1) {
    const user = users[i];
    orders.push({
      id: 301 + i,
      user_id: user.id,
      tenant_id: user.tenant_id,
      amount: 10 + i,
      status: STATUSES[i % STATUSES.length],
      coupon: null,
      created_at: iso(Date.UTC(2024, 2, 10, 14, i < 3 ? 5 : 40, 7 * i)),
    });
  }
  // Recent orders: 0..45 days before today's midnight UTC.
  const midnight = Math.floor(now / 86400000) * 86400000;
  for (let i = 0; i < 24; i += 1) {
    const user = users[(i * 7) % users.length];
    orders.push({
      id: 401 + i,
      user_id: user.id,
      tenant_id: user.tenant_id,
      amount: 20 + i * 3.25,
      status: STATUSES[i % STATUSES.length],
      coupon: i % 5 === 0 ? 'SPRING' : null,
      created_at: iso(midnight - (i * 2 - 1) * 86400000 + (i * 3607 % 86400) * 1000),
    });
  }
  return { tenants, users, orders };
}

const lit = (v) => (v === null ? 'NULL' : typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`);

export function seedSql(dialect, now = Date.now()) {
  if (dialect !== 'sqlite' && dialect !== 'postgres') throw new Error(`unknown dialect ${dialect}`);
  const time = dialect === 'sqlite' ? 'TEXT' : 'TIMESTAMP';
  const { tenants, users, orders } = rows(now);
  const insert = (table, list) =>
    `INSERT INTO ${table} (${Object.keys(list[0]).join(', ')}) VALUES\n` +
    list.map((r) => `(${Object.values(r).map(lit).join(', ')})`).join(',\n') + ';\n';
  return [
    'CREATE TABLE tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL, plan TEXT NOT NULL);\n',
    `CREATE TABLE users (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, name TEXT NOT NULL, city TEXT, created_at ${time} NOT NULL);\n`,
    'CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, tenant_id TEXT NOT NULL, ' +
      `amount NUMERIC(12,2) NOT NULL, status TEXT NOT NULL, coupon TEXT, created_at ${time} NOT NULL);\n`,
    insert('tenants', tenants),
    insert('users', users),
    insert('orders', orders),
  ].join('');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(seedSql(process.argv[2] || 'sqlite'));
}

// How the real Cube.js is configured and given its model, shared by the
// differential suite (run.mjs) and the load run's Cube.js scenario
// (serve-cube.mjs, started by scripts/load.sh), so both measure the same
// server the same way.
import fs from 'node:fs';
import path from 'node:path';

// One secret for both servers; 32 bytes or more, as tenantgate requires
// outside development and test.
export const SECRET = 'cube-conformance-secret-0123456789abcdef';

// The CUBEJS_* environment both servers get. Cube.js resolves
// CUBEJS_SCHEMA_PATH against its working directory, so each instance runs in
// its own folder with the model under ./model. NODE_ENV=production is what
// makes Cube.js enforce auth: its CLI does not set it when dev mode is off
// (it only sets development when dev mode is on).
//
// `db` is sqlite (with `sqliteFile`) or postgres (with `pgUrl`).
export function cubeEnv(port, { db, sqliteFile, pgUrl }) {
  const env = {
    NODE_ENV: 'production',
    CUBEJS_DEV_MODE: 'false',
    CUBEJS_CACHE_AND_QUEUE_DRIVER: 'memory',
    CUBEJS_EXTERNAL_DEFAULT: 'false',
    CUBEJS_SCHEDULED_REFRESH_DEFAULT: 'false',
    CUBEJS_TELEMETRY: 'false',
    CUBEJS_API_SECRET: SECRET,
    CUBEJS_SCHEMA_PATH: 'model',
    PORT: String(port),
  };
  if (db === 'sqlite') {
    Object.assign(env, { CUBEJS_DB_TYPE: 'sqlite', CUBEJS_DB_NAME: sqliteFile });
  } else {
    const u = new URL(pgUrl);
    Object.assign(env, {
      CUBEJS_DB_TYPE: 'postgres',
      CUBEJS_DB_HOST: u.hostname,
      CUBEJS_DB_PORT: u.port || '5432',
      CUBEJS_DB_NAME: decodeURIComponent(u.pathname.slice(1)),
      CUBEJS_DB_USER: decodeURIComponent(u.username),
      ...(u.password ? { CUBEJS_DB_PASS: decodeURIComponent(u.password) } : {}),
    });
  }
  return env;
}

// Copy model files into `dir`, `__SCHEMA__` replaced by `schema` (SQLite:
// main; PostgreSQL: the run's own schema).
export function writeModel(dir, files, schema) {
  fs.mkdirSync(dir, { recursive: true });
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8').replaceAll('__SCHEMA__', schema);
    fs.writeFileSync(path.join(dir, path.basename(file)), text);
  }
}

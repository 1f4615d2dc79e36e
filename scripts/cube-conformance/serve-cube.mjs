// The real Cube.js for scripts/load.sh's Cube.js scenario, set up as the
// differential suite sets it up (lib/cube.mjs's environment, seed.mjs's data,
// the model/ folder), on SQLite:
//
//   node serve-cube.mjs prepare DIR      # DIR/conformance.sqlite and DIR/model; prints the secret
//   node serve-cube.mjs serve DIR PORT   # Cube.js on PORT, in this process (so its pid is Cube.js's)
//
// tenantgate is then pointed at the same DIR/model and DIR/conformance.sqlite.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { SECRET, cubeEnv, writeModel } from './lib/cube.mjs';
import { seedSql } from './seed.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const [mode, dirArg, port] = process.argv.slice(2);
if (!dirArg || !['prepare', 'serve'].includes(mode) || (mode === 'serve' && !port)) {
  console.error('usage: node serve-cube.mjs prepare DIR | serve DIR PORT');
  process.exit(2);
}
const dir = path.resolve(dirArg);
const sqliteFile = path.join(dir, 'conformance.sqlite');

if (mode === 'prepare') {
  fs.mkdirSync(dir, { recursive: true });
  fs.rmSync(sqliteFile, { force: true });
  const sqlite3 = (await import('sqlite3')).default;
  await new Promise((resolve, reject) => {
    const db = new sqlite3.Database(sqliteFile);
    db.exec(seedSql('sqlite'), (e) => db.close(() => (e ? reject(e) : resolve())));
  });
  const model = path.join(here, 'model');
  writeModel(path.join(dir, 'model'), fs.readdirSync(model).map((f) => path.join(model, f)), 'main');
  console.log(SECRET);
} else {
  Object.assign(process.env, cubeEnv(port, { db: 'sqlite', sqliteFile }));
  process.chdir(dir);
  createRequire(import.meta.url)('./cube-server.js');
}

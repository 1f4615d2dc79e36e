// The Cube.js differential suite: the same data, model, tokens and requests
// against the real Cube.js (pinned in package-lock.json) and tenantgate, and
// a SAME / KNOWN / DIFF verdict per request. run.sh installs and builds, then
// runs this; see README.md, "Cube.js conformance".
//
// Environment: CONFORMANCE_DB (sqlite | postgres), PG_URL (default
// postgres://postgres@127.0.0.1:5432/test), TENANTGATE_BIN,
// CONFORMANCE_STRICT=1 (exit 1 on any DIFF), CONFORMANCE_REPORT (write every
// answer as JSON to this file), CONFORMANCE_ONLY (a substring of
// "group / name": run only matching cases), CONFORMANCE_VERBOSE=1 (every
// difference of a DIFF, not only the first lines).
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import cases, { CLIENT_KNOWN, ROW } from './cases.mjs';
import { clientCalls } from './client.mjs';
import { compareAnswerList, describe, knownPaths } from './lib/compare.mjs';
import { SECRET, cubeEnv as cubeEnvFor, writeModel as writeModelFiles } from './lib/cube.mjs';
import { seedSql } from './seed.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const started = Date.now();
const DB = process.env.CONFORMANCE_DB || 'sqlite';
const STRICT = process.env.CONFORMANCE_STRICT === '1';
const VERBOSE = process.env.CONFORMANCE_VERBOSE === '1';
const ONLY = process.env.CONFORMANCE_ONLY || '';
const TG_BIN = process.env.TENANTGATE_BIN || path.join(repo, 'target/release/tenantgate');
const PG_URL = process.env.PG_URL || 'postgres://postgres@127.0.0.1:5432/test';
if (!['sqlite', 'postgres'].includes(DB)) fail(`CONFORMANCE_DB must be sqlite or postgres, not ${DB}`);

function fail(msg) {
  console.error(`cube-conformance: ${msg}`);
  process.exit(2);
}

// ------------------------------------------------------------------ tokens
const b64 = (s) => Buffer.from(s).toString('base64url');
function jwt(payload, { alg = 'HS256', secret = SECRET, rawPayload } = {}) {
  const head = b64(JSON.stringify({ alg, typ: 'JWT' }));
  const body = b64(rawPayload ?? JSON.stringify(payload));
  if (alg === 'none') return `${head}.${body}.`;
  const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg];
  const sig = crypto.createHmac(hash, secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}
const now = Math.floor(Date.now() / 1000);
const exp = now + 3600;
const acme = jwt({ tenant_id: 'acme', exp });
const TOKENS = {
  acme,
  globex: jwt({ tenant_id: 'globex', exp }),
  expired: jwt({ tenant_id: 'acme', exp: now - 3600 }),
  badSignature: `${acme.slice(0, -4)}${acme.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`,
  wrongSecret: jwt({ tenant_id: 'acme', exp }, { secret: 'another-secret-of-at-least-32-bytes!!' }),
  garbage: 'not-a-token',
  algNone: jwt({ tenant_id: 'acme', exp }, { alg: 'none' }),
  notYetValid: jwt({ tenant_id: 'acme', exp, nbf: now + 3600 }),
  hs512: jwt({ tenant_id: 'acme', exp }, { alg: 'HS512' }),
  legacyU: jwt({ u: { tenant_id: 'acme' }, exp }),
  extraClaims: jwt({ tenant_id: 'acme', exp, iat: now, sub: 'user-1', roles: ['a'] }),
  noExp: jwt({ tenant_id: 'acme' }),
  stringPayload: jwt(null, { rawPayload: '"acme"' }),
  arrayPayload: jwt(null, { rawPayload: '["acme"]' }),
  duplicateClaims: jwt(null, { rawPayload: `{"tenant_id":"globex","tenant_id":"acme","exp":${exp}}` }),
  noTenant: jwt({ exp }),
  nullTenant: jwt({ tenant_id: null, exp }),
  zeroTenant: jwt({ tenant_id: 0, exp }),
  emptyTenant: jwt({ tenant_id: '', exp }),
};

// ------------------------------------------------------------------ README's table
// KNOWN must cite a row of README.md's "Deliberate differences from Cube.js".
function deliberateDifferences() {
  const text = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
  const section = text.split(/^## /m).find((s) => s.startsWith('Deliberate differences from Cube.js'));
  if (!section) fail('README.md has no "Deliberate differences from Cube.js" section');
  return new Set(section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| Cube.js |'))
    .map((l) => l.split(' | ')[0].slice(2).trim()));
}

// ------------------------------------------------------------------ processes
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cube-conformance-'));
const children = [];
let pgSchema = null;

function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  if (pgSchema) psql(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
  if (!process.env.CONFORMANCE_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function psql(sql, input) {
  const r = spawnSync('psql', [PG_URL, '-v', 'ON_ERROR_STOP=1', '-q', ...(sql ? ['-c', `SET client_min_messages = warning; ${sql}`] : [])],
    { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql failed: ${r.stderr || r.error}`);
}

async function waitReady(name, child, port, logFile) {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const r = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (r.ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-3000) : '';
  throw new Error(`${name} did not become ready on port ${port}${child.exitCode !== null ? ` (exited ${child.exitCode})` : ''}\n${log}`);
}

function launch(name, cmd, args, { cwd, env }) {
  const logFile = path.join(tmp, `${name}.log`);
  const out = fs.openSync(logFile, 'w');
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', out, out] });
  children.push(child);
  return { child, logFile };
}

// The CUBEJS_* environment both servers get (lib/cube.mjs).
function cubeEnv(port) {
  return cubeEnvFor(port, { db: DB, sqliteFile: path.join(tmp, 'conformance.sqlite'), pgUrl: PG_URL });
}

function writeModel(dir, files) {
  writeModelFiles(dir, files, pgSchema || 'main');
}

function tenantgateToml(port, failureStatus) {
  const database = DB === 'sqlite'
    ? `type = "sqlite"\npath = ${JSON.stringify(path.join(tmp, 'conformance.sqlite'))}`
    : 'type = "postgres"';
  return `# Written by scripts/cube-conformance/run.mjs.
[server]
host = "127.0.0.1"
port = ${port}
[auth]
failure_status = ${failureStatus}
[[auth.providers]]
name = "cubejs"
type = "secret"
secrets = [${JSON.stringify(SECRET)}]
[model]
path = "model"
[database]
${database}
`;
}

// Starts tenantgate in `dir` (which holds model/); resolves to its base URL.
async function startTenantgate(name, dir, failureStatus) {
  const port = await freePort();
  fs.mkdirSync(path.join(dir, `config-${name}`), { recursive: true });
  fs.writeFileSync(path.join(dir, `config-${name}`, 'conformance.toml'), tenantgateToml(port, failureStatus));
  const { child, logFile } = launch(name, TG_BIN, ['serve', '--env', 'conformance', '--config-dir', `config-${name}`],
    { cwd: dir, env: { ...cubeEnv(port), RUST_LOG: 'warn' } });
  await waitReady(name, child, port, logFile);
  return `http://127.0.0.1:${port}`;
}

async function startCube(name, dir) {
  const port = await freePort();
  const { child, logFile } = launch(name, process.execPath, [path.join(here, 'cube-server.js')], { cwd: dir, env: cubeEnv(port) });
  await waitReady(name, child, port, logFile);
  return `http://127.0.0.1:${port}`;
}

// tenantgate check-config on one model folder: null when accepted, else its output.
function checkModel(dir) {
  fs.mkdirSync(path.join(dir, 'config-check'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'config-check', 'conformance.toml'), tenantgateToml(4000, 401));
  const r = spawnSync(TG_BIN, ['check-config', '--env', 'conformance', '--config-dir', 'config-check'],
    { cwd: dir, env: { ...process.env, ...cubeEnv(4000) }, encoding: 'utf8' });
  return r.status === 0 ? null : `${r.stdout}${r.stderr}`.trim();
}

// ------------------------------------------------------------------ requests
async function send(base, c, { retryContinueWait }) {
  const endpoint = c.endpoint || 'load';
  const raw = c.raw || {};
  const method = c.method || 'GET';
  let url = `${base}${raw.path ?? `/cubejs-api/v1/${endpoint}`}`;
  const headers = {};
  let body;
  if (c.raw) {
    url += raw.search ?? '';
    if (raw.body !== undefined) {
      body = raw.body;
      headers['Content-Type'] = raw.contentType || 'application/json';
    }
  } else if (method === 'POST') {
    body = JSON.stringify({ query: c.query, ...(c.queryType ? { queryType: c.queryType } : {}) });
    headers['Content-Type'] = 'application/json';
  } else if (c.query !== undefined) {
    const params = new URLSearchParams({ query: JSON.stringify(c.query) });
    if (c.queryType) params.set('queryType', c.queryType);
    url += `?${params}`;
  }
  const tokenName = c.token === undefined ? 'acme' : c.token;
  if (tokenName !== null) {
    const token = tokenName === '' ? '' : TOKENS[tokenName];
    if (token === undefined) throw new Error(`case ${c.name}: unknown token ${tokenName}`);
    headers[c.header || 'Authorization'] = c.bearer ? `Bearer ${token}` : token;
  }
  for (let attempt = 0; ; attempt += 1) {
    let r;
    let text;
    try {
      r = await fetch(url, { method, headers, body });
      text = await r.text();
    } catch (e) {
      const code = String(e.cause?.code || e.cause?.message || e.message);
      // A kept-alive socket the server closed just as it was reused
      // (UND_ERR_SOCKET, ECONNRESET: Node's 5 s keep-alive timeout against
      // undici's pool) is transport noise: one retry on a fresh request. A
      // reset that repeats, or a server that died, is an answer too.
      if (attempt === 0 && /UND_ERR_SOCKET|ECONNRESET/.test(code)) {
        await new Promise((res) => setTimeout(res, 100));
        continue;
      }
      return { status: 0, body: { '<network error>': code } };
    }
    let parsed;
    try { parsed = JSON.parse(text); } catch { parsed = { '<text>': text.slice(0, 300) }; }
    // Cube.js's long-polling answer; tenantgate's answers are always final.
    if (retryContinueWait && parsed?.error === 'Continue wait' && attempt < 60) {
      await new Promise((res) => setTimeout(res, 250));
      continue;
    }
    return { status: r.status, body: parsed };
  }
}

const summarize = (a) => {
  if (!a) return '(none)';
  const b = a.body || {};
  if (b.error) return `${a.status} ${JSON.stringify(b.error).slice(0, 140)}`;
  if (Array.isArray(b.data)) return `${a.status} with ${b.data.length} rows`;
  if (Array.isArray(b.results)) return `${a.status} with ${b.results.length} results`;
  return `${a.status}`;
};

function verdictKnown(c, cube, tg, rows) {
  const k = c.known;
  if (!rows.has(k.row)) return `cites "${k.row}", which is not a row of README.md's deliberate-differences table`;
  const problems = [];
  if (tg.status !== k.status) problems.push(`tenantgate status ${tg.status}, the table says ${k.status}`);
  if (k.code && tg.body?.code !== k.code) problems.push(`tenantgate code ${JSON.stringify(tg.body?.code)}, expected ${k.code}`);
  // Refusals keep Cube.js's error strings.
  if (!k.ownWords && cube.status >= 400 && tg.status >= 400 && cube.body?.error !== tg.body?.error) {
    problems.push(`error text: cube=${JSON.stringify(cube.body?.error)} tenantgate=${JSON.stringify(tg.body?.error)}`);
  }
  return problems.length ? problems.join('; ') : null;
}

// Whether a query's answer depends on "now": a relative dateRange or
// compareDateRange entry (a string).
function usesNow(query) {
  const queries = Array.isArray(query) ? query : [query];
  return queries.some((q) => (q?.timeDimensions || []).some((td) => typeof td.dateRange === 'string'
    || (Array.isArray(td.compareDateRange) && td.compareDateRange.some((r) => typeof r === 'string'))));
}

// ------------------------------------------------------------------ main
async function main() {
  const rows = deliberateDifferences();
  const selected = cases.filter((c) => !ONLY || `${c.group} / ${c.name}`.includes(ONLY));

  // Data
  if (DB === 'sqlite') {
    const sqlite3 = (await import('sqlite3')).default;
    await new Promise((resolve, reject) => {
      const db = new sqlite3.Database(path.join(tmp, 'conformance.sqlite'));
      db.exec(seedSql('sqlite'), (e) => db.close(() => (e ? reject(e) : resolve())));
    });
  } else {
    pgSchema = `cube_conformance_${process.pid}`;
    psql(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE; CREATE SCHEMA ${pgSchema}`);
    psql(null, `SET search_path TO ${pgSchema};\n${seedSql('postgres')}`);
  }

  // Models: main (shared), ext for Cube.js (main + every model-ext file), ext
  // for tenantgate (main + the model-ext files its check-config accepts).
  const base = fs.readdirSync(path.join(here, 'model')).map((f) => path.join(here, 'model', f));
  const extFiles = fs.readdirSync(path.join(here, 'model-ext')).map((f) => path.join(here, 'model-ext', f));
  writeModel(path.join(tmp, 'main/model'), base);
  writeModel(path.join(tmp, 'ext-cube/model'), [...base, ...extFiles]);
  const refused = {};
  const tgExt = [];
  for (const file of extFiles) {
    const dir = path.join(tmp, `check-${path.basename(file, '.yml')}`);
    writeModel(path.join(dir, 'model'), [...base, file]);
    const err = checkModel(dir);
    if (err) refused[path.basename(file)] = err; else tgExt.push(file);
  }
  writeModel(path.join(tmp, 'ext-tg/model'), [...base, ...tgExt]);

  const wantsExt = selected.some((c) => c.target === 'ext');
  const wants403 = selected.some((c) => c.target === 'strict403');
  const [cubeMain, tgMain, tg403, cubeExt, tgExtBase] = await Promise.all([
    startCube('cube', path.join(tmp, 'main')),
    startTenantgate('tenantgate', path.join(tmp, 'main'), 401),
    wants403 ? startTenantgate('tenantgate-403', path.join(tmp, 'main'), 403) : null,
    wantsExt ? startCube('cube-ext', path.join(tmp, 'ext-cube')) : null,
    wantsExt ? startTenantgate('tenantgate-ext', path.join(tmp, 'ext-tg'), 401) : null,
  ]);
  console.log(`cube-conformance on ${DB}: Cube.js ${cubeMain}, tenantgate ${tgMain}${tg403 ? `, tenantgate (403) ${tg403}` : ''} ` +
    `(servers ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`);

  const results = [];
  const count = { SAME: 0, KNOWN: 0, DIFF: 0 };
  const record = (r) => {
    results.push(r);
    count[r.verdict] += 1;
    const tag = r.verdict.padEnd(5);
    console.log(`${tag} ${r.id}${r.verdict === 'KNOWN' ? `  [README: ${r.row}]` : ''}`);
    if (r.verdict === 'DIFF') {
      const lines = VERBOSE ? r.diffs : r.diffs.slice(0, 6);
      for (const l of lines) console.log(`        ${l}`);
      if (lines.length < r.diffs.length) console.log(`        ... ${r.diffs.length - lines.length} more`);
    }
  };

  for (const c of selected) {
    const id = `${c.group} / ${c.name}`;
    const cubeBase = c.target === 'ext' ? cubeExt : cubeMain;
    const tgBase = { main: tgMain, strict403: tg403, ext: tgExtBase }[c.target || 'main'];
    // A relative date range is read at each server's own "now": both must
    // answer within one 15-minute window (every zone's day starts on a
    // quarter hour), else the pair is sent again, so a run that crosses a
    // day boundary compares like with like.
    let cube;
    let tgEarly = null;
    for (let attempt = 0; ; attempt += 1) {
      const window = Math.floor(Date.now() / 900_000);
      cube = await send(cubeBase, c, { retryContinueWait: true });
      if (!usesNow(c.query) || (c.target === 'ext' && refused[c.file])) break;
      tgEarly = await send({ main: tgMain, strict403: tg403, ext: tgExtBase }[c.target || 'main'], c, { retryContinueWait: false });
      if (Math.floor(Date.now() / 900_000) === window || attempt >= 2) break;
    }
    if (c.target === 'ext' && refused[c.file]) {
      const lines = refused[c.file].split('\n').filter((l) => c.tgModelError.test(l));
      record({ id, verdict: 'DIFF', cube, tg: null, diffs: [
        `tenantgate refuses model file ${c.file}: ${lines.join(' | ') || refused[c.file].split('\n')[0]}`,
        `cube answers ${summarize(cube)}`,
      ] });
      continue;
    }
    const tg = tgEarly ?? await send(tgBase, c, { retryContinueWait: false });
    if (c.known?.db && c.known.db !== DB) delete c.known;
    const diffList = compareAnswerList(cube, tg);
    const diffs = diffList.map(describe);
    // A known difference narrowed to paths: KNOWN only when every
    // difference is at one of them, each citing its README row.
    if (c.known?.paths && diffs.length) {
      const { known, unknown } = knownPaths(diffList, c.known.paths);
      const cited = [...new Set(known.map((d) => d.row))];
      const missing = cited.filter((r) => !rows.has(r));
      if (missing.length) {
        record({ id, verdict: 'DIFF', cube, tg, diffs: [`cites "${missing.join('", "')}", not a row of README.md's deliberate-differences table`, ...diffs] });
      } else if (unknown.length) {
        record({ id, verdict: 'DIFF', cube, tg, diffs: unknown.map(describe).concat(known.length ? [`(and ${known.length} known: ${cited.join('; ')})`] : []) });
      } else if (tg.status !== c.known.status) {
        record({ id, verdict: 'DIFF', cube, tg, diffs: [`not the documented difference: tenantgate status ${tg.status}, the table says ${c.known.status}`, ...diffs] });
      } else {
        record({ id, verdict: 'KNOWN', row: cited.join(' + '), cube, tg, diffs });
      }
      continue;
    }
    // tenantgate's error bodies add `code` (and sometimes `detail`) beside
    // Cube.js's `error`: KNOWN, by the README's row, when nothing else differs.
    const extra = (d) => /^body\.(code|detail): cube=\(absent\)/.test(d);
    if (diffs.length && diffs.every(extra) && !c.known) {
      if (!rows.has(ROW.errorCode)) fail(`README.md's deliberate-differences table has no row "${ROW.errorCode}"`);
      record({ id, verdict: 'KNOWN', row: ROW.errorCode, cube, tg, diffs });
      continue;
    }
    if (!diffs.length) {
      record({ id, verdict: 'SAME', cube, tg, diffs, note: c.known ? 'known difference no longer differs' : undefined });
    } else if (c.known) {
      const problem = verdictKnown(c, cube, tg, rows);
      if (problem) record({ id, verdict: 'DIFF', cube, tg, diffs: [`not the documented difference: ${problem}`, ...diffs] });
      else record({ id, verdict: 'KNOWN', row: c.known.row, cube, tg, diffs });
    } else {
      record({ id, verdict: 'DIFF', cube, tg, diffs });
    }
  }

  // The official JS client against both.
  if (!ONLY || 'client'.includes(ONLY) || ONLY.startsWith('client')) {
    for (const r of await clientCalls({ cube: cubeMain, tenantgate: tgMain, token: TOKENS.acme, known: CLIENT_KNOWN })) {
      const missing = r.verdict === 'KNOWN' ? r.rows.filter((row) => !rows.has(row)) : [];
      if (missing.length) record({ ...r, verdict: 'DIFF', diffs: [`cites "${missing.join('", "')}", not a row of README.md's deliberate-differences table`, ...r.diffs] });
      else record(r);
    }
  }

  if (process.env.CONFORMANCE_REPORT) fs.writeFileSync(process.env.CONFORMANCE_REPORT, JSON.stringify(results, null, 1));
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`cube-conformance on ${DB}: ${results.length} cases in ${secs} s`);
  console.log(`${count.SAME} same, ${count.KNOWN} known, ${count.DIFF} diff`);
  // Exit explicitly: the servers' child handles would keep the event loop
  // alive; the exit handler stops them.
  process.exit(STRICT && count.DIFF ? 1 : 0);
}

main().catch((e) => {
  console.error(`cube-conformance: ${e.stack || e}`);
  process.exit(2);
});

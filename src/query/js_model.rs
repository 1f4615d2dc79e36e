//! Cube.js model files written in JavaScript (`cube(\`Orders\`, {...})`,
//! `view(...)`), turned into the JSON document a YAML model file parses to,
//! so the one loader in [`super::model`] checks both forms with the same
//! errors and everything after loading is one model.
//!
//! Each file is evaluated once, when the model loads, in an embedded
//! QuickJS (rquickjs) runtime of its own: no module loader, no file system,
//! network, environment, clock, timers or randomness (QuickJS's C library
//! of `std`/`os` modules is not even compiled in; `Date`, `Math.random` and
//! the Node.js names are refusals with a message), a memory limit, a stack
//! limit and a time limit enforced by the interrupt handler, which QuickJS
//! calls from the interpreter loop and the regular-expression engine.
//!
//! The globals (`js_model_prelude.js`) make the template text the YAML form
//! uses: `${CUBE}` is `{CUBE}`, `${Users.id}` is `{Users.id}`,
//! `${SECURITY_CONTEXT.id.filter('user_id')}` is
//! `{SECURITY_CONTEXT.id.filter('user_id')}`; `join_path: Orders.Users` and
//! `drillMembers: [id, Users.city]` become the names `Orders.Users`, `id`,
//! `Users.city`; `sql: () => ...` functions are called; members keyed by
//! name become the YAML form's lists. Nothing is resolved here: a reference
//! to a cube that does not exist is the loader's error, as in YAML.
//!
//! **Boundary:** evaluation sees only the file's text; its output is data
//! (JSON), never code the server runs later.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rquickjs::context::{EvalOptions, intrinsic};
use rquickjs::{CatchResultExt, CaughtError, Context, Runtime};
use serde_json::Value;

/// How long one file may run, definitions' functions included.
pub const TIME_LIMIT: Duration = Duration::from_secs(2);
/// The most memory one file's runtime may allocate.
pub const MEMORY_LIMIT: usize = 64 << 20;
/// The most native stack the engine may use: below a Tokio worker's 2 MiB.
pub const STACK_LIMIT: usize = 512 << 10;

/// Queued jobs run after evaluation, at most (see `document_with`).
const MAX_JOBS: usize = 10_000;

const PRELUDE: &str = include_str!("js_model_prelude.js");

/// The sandbox's limits; tests shorten the time limit.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub time: Duration,
    pub memory: usize,
    pub stack: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { time: TIME_LIMIT, memory: MEMORY_LIMIT, stack: STACK_LIMIT }
    }
}

/// Whether `file` is a JavaScript model file (by its extension).
pub fn is_js(file: &str) -> bool {
    file.ends_with(".js")
}

/// A JavaScript model file as the YAML loader's document: `{"cubes": [...],
/// "views": [...]}`. The error is one line for `{file}: {error}`.
pub fn document(source: &str) -> Result<Value, String> {
    document_with(source, Limits::default(), &[])
}

/// [`document`] for one file of a model whose cubes and views are named
/// `declared` (see [`declared_names`]): those names are references in the
/// file even where JavaScript has a global of that name (`Map`, `Number`,
/// `Error`), as Cube.js binds a cube's name over the global inside the
/// functions it compiles.
pub fn document_among(source: &str, declared: &[String]) -> Result<Value, String> {
    document_with(source, Limits::default(), declared)
}

/// The cube and view names a model's files declare: `cube(\`X\`, ...)` and
/// `view('X', ...)` in its JavaScript files (read from the text, before any
/// file runs), `name:` of each cube and view in its YAML files. Empty when
/// no file is JavaScript: only JavaScript files need it.
pub fn declared_names(sources: &[(String, String)]) -> Vec<String> {
    if !sources.iter().any(|(file, _)| is_js(file)) {
        return Vec::new();
    }
    let mut names = Vec::new();
    for (file, text) in sources {
        if is_js(file) {
            names.extend(declared_in_js(text));
        } else if let Ok(doc) = serde_saphyr::from_str::<Value>(text) {
            for list in [doc.get("cubes"), doc.get("views")].into_iter().flatten() {
                let named = list.as_array().into_iter().flatten().filter_map(|c| c.get("name")?.as_str());
                names.extend(named.map(str::to_owned));
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// `cube` or `view` (not part of a longer name), `(`, a quote, a name, the
/// same quote.
fn declared_in_js(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for call in ["cube", "view"] {
        for (at, _) in text.match_indices(call) {
            let before = text[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == '.') {
                continue;
            }
            let Some(rest) = text[at + call.len()..].trim_start().strip_prefix('(') else { continue };
            let rest = rest.trim_start();
            let Some(quote) = rest.chars().next().filter(|q| matches!(q, '`' | '\'' | '"')) else { continue };
            let body = &rest[1..];
            let Some(end) = body.find(quote) else { continue };
            let name = &body[..end];
            if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                names.push(name.to_string());
            }
        }
    }
    names
}

pub fn document_with(source: &str, limits: Limits, declared: &[String]) -> Result<Value, String> {
    let runtime = Runtime::new().map_err(|e| format!("JavaScript: cannot start the engine: {e}"))?;
    runtime.set_memory_limit(limits.memory);
    runtime.set_max_stack_size(limits.stack);
    let timed_out = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + limits.time;
    // Set once the file and its definitions have run: anything after that
    // (a queued job) is stopped at once.
    let finished = Arc::new(AtomicBool::new(false));
    let (flag, done) = (Arc::clone(&timed_out), Arc::clone(&finished));
    runtime.set_interrupt_handler(Some(Box::new(move || {
        if done.load(Ordering::Relaxed) {
            return true;
        }
        let over = Instant::now() >= deadline;
        if over {
            flag.store(true, Ordering::Relaxed);
        }
        over
    })));
    // No Date, Promise, timers, typed arrays or performance: a model file
    // needs objects, strings, functions, regular expressions, JSON and Proxy.
    let context = Context::custom::<(
        intrinsic::Eval,
        intrinsic::RegExpCompiler,
        intrinsic::RegExp,
        intrinsic::Json,
        intrinsic::Proxy,
        intrinsic::MapSet,
    )>(&runtime)
    .map_err(|e| format!("JavaScript: cannot start the engine: {e}"))?;
    let out = context.with(|ctx| -> Result<Option<String>, String> {
        let explain = |e: CaughtError<'_>| explain(e, &timed_out, limits);
        let names = rquickjs::Array::new(ctx.clone()).catch(&ctx).map_err(explain)?;
        for (i, name) in declared.iter().enumerate() {
            names.set(i, name.as_str()).catch(&ctx).map_err(explain)?;
        }
        ctx.globals().set("__tenantgate_declared", names).catch(&ctx).map_err(explain)?;
        ctx.eval::<(), _>(PRELUDE).catch(&ctx).map_err(|e| format!("JavaScript: the prelude failed: {e}"))?;
        ctx.globals().set("__tenantgate_source", source).catch(&ctx).map_err(explain)?;
        // A direct eval inside `with`: the file's own line numbers, and
        // every name it does not define is a model reference.
        // Sloppy mode, as Cube.js runs model files (and `with` needs it).
        let mut sloppy = EvalOptions::default();
        sloppy.strict = false;
        ctx.eval_with_options::<(), _>("with (__tenantgate_scope) { eval(__tenantgate_source); }", sloppy)
            .catch(&ctx)
            .map_err(explain)?;
        ctx.eval::<Option<String>, _>("__tenantgate_finish()").catch(&ctx).map_err(explain)
    });
    // A job left queued holds objects until it runs: run each out,
    // interrupted at its first check, and never use what it does. Without
    // Promise, only `import()` queues one.
    finished.store(true, Ordering::Relaxed);
    let mut queued = false;
    for _ in 0..MAX_JOBS {
        match runtime.execute_pending_job() {
            Ok(false) => break,
            Ok(true) | Err(_) => queued = true,
        }
    }
    let out = out?;
    if queued {
        return Err("JavaScript: import() is not available in a model file: \
                    a model file is evaluated alone, without modules or other files"
            .into());
    }
    let Some(json) = out else {
        return Err("defines no cube or view (expected cube(`Name`, {...}) or view(`Name`, {...}))".into());
    };
    serde_json::from_str(&json).map_err(|e| format!("JavaScript: the definitions are not plain data: {e}"))
}

/// One line saying what went wrong and where (`line 3, column 9`).
fn explain(e: CaughtError<'_>, timed_out: &AtomicBool, limits: Limits) -> String {
    if timed_out.load(Ordering::Relaxed) {
        return format!(
            "JavaScript: evaluation took longer than the {} ms time limit and was stopped",
            limits.time.as_millis()
        );
    }
    match e {
        CaughtError::Exception(ex) => {
            let message = ex.message().unwrap_or_default();
            let name: String = ex.get("name").unwrap_or_else(|_| "Error".into());
            if message == "out of memory" {
                return format!("JavaScript: evaluation ran out of memory (the limit is {} MiB)", limits.memory >> 20);
            }
            let at = ex.stack().as_deref().and_then(location).map(|(l, c)| format!(" (line {l}, column {c})"));
            format!("JavaScript: {name}: {message}{}", at.unwrap_or_default())
        }
        // QuickJS throws null when it cannot even allocate the error object.
        CaughtError::Value(v) if v.is_null() => format!(
            "JavaScript: evaluation failed with null, most likely because it ran out of memory (the limit is {} MiB)",
            limits.memory >> 20
        ),
        CaughtError::Value(v) => {
            let shown =
                v.as_string().and_then(|s| s.to_string().ok()).unwrap_or_else(|| format!("a {}", v.type_name()));
            format!("JavaScript: threw {shown}")
        }
        CaughtError::Error(rquickjs::Error::Allocation) => {
            format!("JavaScript: evaluation ran out of memory (the limit is {} MiB)", limits.memory >> 20)
        }
        CaughtError::Error(e) => format!("JavaScript: {e}"),
    }
}

/// The innermost frame of the file's own code: QuickJS names a direct
/// eval's code `<input>` (the prelude is `eval_script`).
fn location(stack: &str) -> Option<(u32, u32)> {
    stack.lines().find_map(|line| {
        let rest = &line[line.find("<input>:")? + "<input>:".len()..];
        let rest = rest.trim_end_matches(')');
        let (l, c) = rest.split_once(':')?;
        Some((l.parse().ok()?, c.parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::query::model::{ModelOptions, load_sources};

    fn doc(js: &str) -> Value {
        document(js).unwrap_or_else(|e| panic!("{e}\n{js}"))
    }

    /// `time` decides which limit a test meets first: a file that only
    /// allocates must run out of memory, never out of time on a busy machine.
    fn refused_within(js: &str, time: Duration) -> String {
        let limits = Limits { time, memory: 16 << 20, ..Limits::default() };
        match document_with(js, limits, &[]) {
            Ok(v) => panic!("accepted {js}: {v}"),
            Err(e) => e,
        }
    }

    /// The one cube's `sql` of a file `cube('T', {sql: <expr>})`.
    fn cube_sql(expr: &str) -> Value {
        doc(&format!("cube(`T`, {{ sql: {expr} }})"))["cubes"][0]["sql"].clone()
    }

    #[test]
    fn a_cube_named_like_a_javascript_global_is_a_reference_to_the_cube() {
        let orders = "cube(`Orders`, { sql: `SELECT 1`, joins: { Map: { relationship: `belongsTo`, sql: `${CUBE}.map_id = ${Map.id}` } } })";
        let sources = vec![
            ("orders.js".to_string(), orders.to_string()),
            ("map.yml".to_string(), "cubes:\n  - name: Map\n    sql_table: maps\n".to_string()),
            (
                "n.js".to_string(),
                "view ('Number', {cubes: []}); xcube(`Skip`, {}); cube(\"Error\", {sql: `${Map}`})".to_string(),
            ),
        ];
        assert_eq!(declared_names(&sources), ["Error", "Map", "Number", "Orders"]);
        let doc = document_among(orders, &declared_names(&sources)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(doc["cubes"][0]["joins"][0]["sql"], json!("{CUBE}.map_id = {Map.id}"));
        // Without the declaration, `Map` is JavaScript's Map, as before.
        let global = document(orders).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(global["cubes"][0]["joins"][0]["sql"], json!("{CUBE}.map_id = undefined"));
        // A global the model does not name still works in helper code.
        let helper = "const m = new Map([[`a`, `id`]]); cube(`T`, { sql: `SELECT ${m.get('a')}` })";
        assert_eq!(
            document_among(helper, &["T".to_string()]).unwrap_or_else(|e| panic!("{e}"))["cubes"][0]["sql"],
            json!("SELECT id")
        );
        // Only JavaScript models need the names.
        assert!(declared_names(&[("a.yml".to_string(), "cubes: [{name: Map}]".to_string())]).is_empty());
    }

    #[test]
    fn the_docs_example_is_the_same_document_as_its_yaml_form() {
        let js = r#"
cube(`Orders`, {
  sql: `SELECT * FROM orders WHERE ${SECURITY_CONTEXT.tenant_id.filter('tenant_id')}`,
  joins: {
    Users: { relationship: `belongsTo`, sql: `${CUBE}.user_id = ${Users}.id AND ${Orders.status} = ${Users.id}` },
  },
  measures: {
    count: { type: `count`, drillMembers: [id, status, Users.city] },
    total: { sql: `${CUBE}.amount`, type: `sum`, filters: [{ sql: `${CUBE.status} = 'paid'` }] },
  },
  dimensions: {
    id: { sql: `id`, type: `number`, primaryKey: true },
    status: { sql: () => `status`, type: `string` },
  },
  segments: { paid: { sql: (CUBE) => `${CUBE}.status = 'paid'` } },
  preAggregations: { main: { measures: [CUBE.count] } },
});

view(`Sales`, {
  cubes: [
    { join_path: Orders, includes: [`count`, `status`] },
    { joinPath: Orders.Users, prefix: true, includes: `*` },
  ],
});
"#;
        let yaml = r#"
cubes:
  - name: Orders
    sql: SELECT * FROM orders WHERE {SECURITY_CONTEXT.tenant_id.filter('tenant_id')}
    joins:
      - name: Users
        relationship: belongsTo
        sql: "{CUBE}.user_id = {Users}.id AND {Orders.status} = {Users.id}"
    measures:
      - {name: count, type: count, drillMembers: [id, status, Users.city]}
      - name: total
        sql: "{CUBE}.amount"
        type: sum
        filters: [{sql: "{CUBE.status} = 'paid'"}]
    dimensions:
      - {name: id, sql: id, type: number, primaryKey: true}
      - {name: status, sql: status, type: string}
    segments:
      - {name: paid, sql: "{CUBE}.status = 'paid'"}
    preAggregations:
      - {name: main, measures: [CUBE.count]}
views:
  - name: Sales
    cubes:
      - {join_path: Orders, includes: [count, status]}
      - {joinPath: Orders.Users, prefix: true, includes: "*"}
"#;
        let want: Value = serde_saphyr::from_str(yaml).expect("yaml");
        assert_eq!(doc(js), want);
    }

    #[test]
    fn every_template_form_gives_the_yaml_text() {
        for (expr, want) in [
            ("`${CUBE}.id`", "{CUBE}.id"),
            ("`${CUBE.status}`", "{CUBE.status}"),
            ("`${Users}.id`", "{Users}.id"),
            ("`${Users.id}`", "{Users.id}"),
            ("`${Orders.Users.city}`", "{Orders.Users.city}"),
            ("`WHERE ${SECURITY_CONTEXT.id.filter('user_id')}`", "WHERE {SECURITY_CONTEXT.id.filter('user_id')}"),
            ("`${USER_CONTEXT.id.filter(`user_id`)}`", "{USER_CONTEXT.id.filter('user_id')}"),
            (
                "`${SECURITY_CONTEXT.org.id.requiredFilter('o.org_id')}`",
                "{SECURITY_CONTEXT.org.id.requiredFilter('o.org_id')}",
            ),
            ("`${SECURITY_CONTEXT.plan.unsafeValue()}`", "{SECURITY_CONTEXT.plan.unsafeValue()}"),
            ("`${SECURITY_CONTEXT.id}`", "{SECURITY_CONTEXT.id}"),
            ("() => `SELECT 1`", "SELECT 1"),
            ("(CUBE, Users) => `${CUBE}.a = ${Users.b}`", "{CUBE}.a = {Users.b}"),
            ("function () { return `x` + 1 }", "x1"),
            ("`${FILTER_PARAMS.Orders.status.filter('s')}`", "{FILTER_PARAMS.Orders.status.filter('s')}"),
            ("'plain ' + 'text'", "plain text"),
            // Cubes named like what Node.js offers are references, until called.
            ("`${process}.id = ${Date.day} AND ${module.id}`", "{process}.id = {Date.day} AND {module.id}"),
        ] {
            assert_eq!(cube_sql(expr), json!(want), "{expr}");
        }
    }

    #[test]
    fn a_method_shorthand_and_helpers_defined_in_the_file_work() {
        let d = doc("const tenant = (c) => SECURITY_CONTEXT.tenant.filter(c);\n\
             var table = 'orders';\n\
             cube('T', { sql() { return `SELECT * FROM ${table} WHERE ${tenant('t')}` } });");
        assert_eq!(d["cubes"][0]["sql"], json!("SELECT * FROM orders WHERE {SECURITY_CONTEXT.tenant.filter('t')}"));
    }

    #[test]
    fn a_strict_mode_file_and_top_level_declarations_work() {
        let d = doc("'use strict';\nlet n = 0;\nvar t = 'orders';\nfunction next() { n += 1; return n; }\n\
             cube(`A${next()}`, { sql: `SELECT * FROM ${t} WHERE ${CUBE}.x = 1` });\n\
             console.log('ignored');");
        assert_eq!(d["cubes"][0], json!({"name": "A1", "sql": "SELECT * FROM orders WHERE {CUBE}.x = 1"}));
    }

    #[test]
    fn sandbox_refusals_are_clear_errors() {
        for (js, needle) in [
            ("cube(`A`, { sql: `x` ", "JavaScript: SyntaxError"),
            (
                "cube(`A`, {\n  sql: `x`,\n  oops oops\n});",
                "SyntaxError: Unexpected identifier 'oops' (line 3, column 8)",
            ),
            ("\n\nthrow new Error('boom');", "JavaScript: Error: boom (line 3, column"),
            ("throw 'boom'", "JavaScript: threw boom"),
            ("while (true) {}", "time limit"),
            ("for (;;) { try { while (true) {} } catch (e) {} }", "time limit"),
            ("/(a+)+$/.test('a'.repeat(40) + 'b')", "time limit"),
            (
                "let a = []; while (true) a.push('x'.repeat(1000) + a.length);",
                "ran out of memory (the limit is 16 MiB)",
            ),
            ("let o = {}; for (let i = 0; ; i++) o['k' + i] = [i];", "ran out of memory"),
            ("new Array(1e8).fill(0)", "ran out of memory"),
            ("'x'.repeat(1 << 29)", "ran out of memory"),
            ("function f() { return f() + 1 } f()", "Maximum call stack size exceeded"),
            ("require('./other')", "require is not available in a model file"),
            ("fetch('http://example.com')", "fetch is not available"),
            ("cube('A', { sql: `${process.env.HOME}` })", "process is not available"),
            (
                "Date.now()",
                "Date is not available in a model file: the model is evaluated once, in a sandbox without a clock",
            ),
            ("new Date()", "Date is not available"),
            ("Math.random()", "Math.random is not available"),
            (
                "cube(`A`, { sqlTable: `${COMPILE_CONTEXT.securityContext.tenant}.orders` })",
                "COMPILE_CONTEXT is not available in a model file: tenantgate compiles one model for every tenant",
            ),
            ("setTimeout(() => {}, 1)", "setTimeout is not available"),
            ("module.exports = { a: 1 }", "module is not available in a model file"),
            ("new XMLHttpRequest()", "XMLHttpRequest is not available"),
            ("performance.now()", "performance is not available"),
            ("import('x')", "import() is not available in a model file"),
            ("import('x').then(() => {})", "JavaScript: TypeError"),
            ("(async () => { await 0; while (true) {} })()", "JavaScript: TypeError"),
            ("const x = 1;", "defines no cube or view"),
            ("cube(`A`)", "cube A: the definition must be an object"),
            ("cube(`A`, { sql: SECURITY_CONTEXT.id.filter((v) => v) })", "takes a column name"),
            ("cube(`A`, { sql: () => { throw new TypeError('nope') } })", "TypeError: cube A: sql: nope"),
            ("const o = {}; o.o = o; cube(`A`, { meta: o })", "nested too deeply"),
            ("cube(`A`, { name: `B` })", "the name is the first argument"),
            ("cube(`A`, { sql: `x`, ...undefinedHelper })", "it has no keys"),
            ("cube(`A`, { sqlTable: `a` }); veiw(`V`, { cubes: [] })", "ReferenceError: veiw is not defined (line 1"),
            ("undeclared = 1; cube(`A`, { sqlTable: `a` })", "ReferenceError: undeclared is not defined"),
        ] {
            let time = if needle.contains("time limit") { Duration::from_millis(300) } else { Duration::from_secs(60) };
            let err = refused_within(js, time);
            assert!(err.contains(needle), "{js}\n  want {needle:?}\n  got  {err}");
        }
    }

    #[test]
    fn the_readme_states_these_limits() {
        let readme = include_str!("../../README.md");
        for row in [
            format!("| time (the file and its definitions' functions) | {} s ", TIME_LIMIT.as_secs()),
            format!("| memory | {} MiB ", MEMORY_LIMIT >> 20),
            format!("| native stack | {} KiB ", STACK_LIMIT >> 10),
        ] {
            assert!(readme.contains(&row), "README.md lacks {row:?}");
        }
    }

    #[test]
    fn a_dynamic_import_is_refused_and_does_not_abort() {
        // Without a module loader the import's job fails; QuickJS leaks its
        // objects, which with assertions on would abort the process here.
        let err = document("import('./other.js'); cube(`A`, { sqlTable: `a` })").expect_err("refused");
        assert_eq!(
            err,
            "JavaScript: import() is not available in a model file: a model file is evaluated alone, without modules or other files"
        );
    }

    #[test]
    fn errors_after_evaluation_are_the_loaders_with_the_js_file_and_cube() {
        let js = "cube(`Orders`, {\n  sql: `SELECT * FROM orders WHERE ${SECURITY_CONTEXT.id}`,\n  \
                  measures: { count: { type: `tally` } },\n  joins: { Nope: { relationship: `belongsTo`, sql: `${CUBE}.x = ${Nope}.id` } },\n});\n";
        let errs = load_sources(
            &[("model/orders.js".into(), js.into()), ("model/bad.js".into(), "cube(`X`, {".into())],
            ModelOptions::default(),
        )
        .expect_err("invalid");
        assert_eq!(errs.len(), 4, "{errs:#?}");
        assert_eq!(
            errs[0],
            "model/orders.js: cube Orders: sql: template {SECURITY_CONTEXT.id} must end in .filter('column'), .requiredFilter('column') or .unsafeValue()"
        );
        assert_eq!(
            errs[1],
            "model/orders.js: cube Orders: measure count: type \"tally\" is not one of count, count_distinct, count_distinct_approx, sum, avg, min, max, number, string, time, boolean"
        );
        assert!(errs[2].starts_with("model/bad.js: JavaScript: SyntaxError: "), "{}", errs[2]);
        assert_eq!(errs[3], "model/orders.js: cube Orders: join Nope: no cube named Nope in the model");
    }

    #[test]
    fn a_js_cube_and_a_yaml_cube_load_into_one_model_and_join() {
        let js = "cube(`Orders`, { sqlTable: `orders`,\n  joins: { Users: { relationship: `belongsTo`, sql: `${CUBE}.user_id = ${Users.id}` } },\n  \
                  measures: { count: { type: `count` } },\n  dimensions: { id: { sql: `id`, type: `number`, primaryKey: true } } });";
        let yaml = "cubes:\n  - name: Users\n    sql_table: users\n    dimensions:\n      - {name: id, sql: id, type: number, primary_key: true}\n";
        let m = load_sources(
            &[("m/orders.js".into(), js.into()), ("m/users.yml".into(), yaml.into())],
            ModelOptions::default(),
        )
        .expect("loads");
        assert_eq!(m.cubes[0].file, "m/orders.js");
        assert_eq!(m.cubes[0].joins.len(), 1);
        assert_eq!(m.cubes[0].joins[0].to, 1);
    }
}

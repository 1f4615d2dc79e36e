// The globals a Cube.js JavaScript model file sees in tenantgate's sandbox
// (see js_model.rs). Evaluated once per file, before the file itself.
//
// A model file is plain JavaScript run once: `cube(name, def)` and
// `view(name, def)` record definitions, and `__tenantgate_finish()` turns
// them into the JSON the YAML loader reads. Every name the file uses that
// is not a JavaScript global is a reference (`Users`, `CUBE.status`,
// `Orders.Users`), which becomes the template text the YAML form uses
// (`{Users}`, `{CUBE.status}`); `SECURITY_CONTEXT` (and `USER_CONTEXT`)
// becomes `{SECURITY_CONTEXT.path.filter('col')}`. Nothing here resolves
// a reference: the loader does, with its own errors.
(() => {
  'use strict';
  const g = globalThis;
  // Taken now, so a model file that replaces them cannot change the output.
  const { keys, defineProperty } = Object;
  const stringify = JSON.stringify;
  const isArray = Array.isArray;
  const fnSource = Function.prototype.toString;
  const REF = Symbol('reference');
  const CTX = Symbol('context');
  const PLACED = Symbol('placed');
  const cubes = [];
  const views = [];
  // The model's cube and view names (js_model.rs `declared_names`): each is
  // a reference here even where a global has that name (`Map`, `Number`).
  const declared = new Set(g.__tenantgate_declared || []);
  delete g.__tenantgate_declared;

  const text = (s) => () => s;

  // A reference to a cube, a view, a member or a join path. A path is
  // callable, so a Cube.js helper such as FILTER_PARAMS.Orders.status.filter('x')
  // still yields text that the loader refuses with its own message.
  function reference(path) {
    const braced = `{${path}}`;
    return new Proxy(() => undefined, {
      get(_, key) {
        if (key === REF) return path;
        if (key === Symbol.toPrimitive || key === 'toString' || key === 'valueOf') return text(braced);
        if (typeof key === 'symbol' || key === 'then') return undefined;
        return reference(`${path}.${key}`);
      },
      apply(_, __, args) {
        // A bare name is never a function in a model (`cueb(...)` for
        // `cube(...)` must not drop a cube without a word).
        if (!path.includes('.')) throw new ReferenceError(`${path} is not defined`);
        return reference(`${path}(${args.map(argText).join(', ')})`);
      },
      set() {
        throw new TypeError(`${path} is a model reference and cannot be assigned to`);
      },
      ownKeys() {
        throw new TypeError(`${path} is a model reference (or a name this file never defines); it has no keys`);
      },
    });
  }

  function argText(a) {
    if (typeof a === 'string') return `'${a}'`;
    if (typeof a === 'function' && a[REF] !== undefined) return a[REF];
    if (typeof a === 'function') return '<function>';
    return String(a);
  }

  // SECURITY_CONTEXT.a.b, ending in .filter('col'), .requiredFilter('col')
  // or .unsafeValue(), as the YAML templates spell them.
  function context(root, path) {
    const full = [root, ...path].join('.');
    const column = (method) => (col) => {
      if (typeof col !== 'string') {
        throw new TypeError(
          `${full}.${method}() takes a column name, as in ${full}.${method}('user_id'); ` +
            'a function argument is not supported',
        );
      }
      return `{${full}.${method}('${col}')}`;
    };
    return new Proxy(
      {},
      {
        get(_, key) {
          if (key === CTX) return `{${full}}`;
          if (key === Symbol.toPrimitive || key === 'toString' || key === 'valueOf') return text(`{${full}}`);
          if (typeof key === 'symbol' || key === 'then') return undefined;
          if (key === 'filter' || key === 'requiredFilter') return column(key);
          if (key === 'unsafeValue') return text(`{${full}.unsafeValue()}`);
          return context(root, [...path, key]);
        },
        set() {
          throw new TypeError(`${full} cannot be assigned to`);
        },
      },
    );
  }

  function named(name) {
    if (name === 'SECURITY_CONTEXT' || name === 'USER_CONTEXT') return context(name, []);
    return reference(name);
  }

  // The scope the file runs in (`with`): a name that is not a global, or
  // that names a cube or view of the model, is a reference. Other globals
  // (including the refusals below) resolve as usual.
  const scope = new Proxy(Object.create(null), {
    has(_, key) {
      return typeof key === 'string' && (!(key in g) || (declared.has(key) && key !== 'cube' && key !== 'view'));
    },
    get(_, key) {
      if (typeof key === 'symbol') return undefined;
      return named(key);
    },
    set(_, key) {
      throw new ReferenceError(`${String(key)} is not defined (assignment to an undeclared name)`);
    },
  });

  // Names Node.js or a browser gives a meaning are refused when used as that
  // (called, constructed, assigned to, `process.env`), and are otherwise a
  // reference like any other name: a cube may be called `process` or `Date`.
  function guarded(root, why, path) {
    const refusal = () => new Error(`${root} is not available in a model file: ${why}`);
    return new Proxy(function () {}, {
      get(_, key) {
        if (key === REF) return path;
        if (key === Symbol.toPrimitive || key === 'toString' || key === 'valueOf') return text(`{${path}}`);
        if (typeof key === 'symbol' || key === 'then') return undefined;
        if (path === 'process' && key === 'env') throw refusal();
        return guarded(root, why, `${path}.${key}`);
      },
      apply() {
        throw refusal();
      },
      construct() {
        throw refusal();
      },
      set() {
        throw refusal();
      },
    });
  }
  const fixed = (name, value) => defineProperty(g, name, { value, writable: false, configurable: false });
  const REFUSED = [
    [['require', 'module', 'exports'], 'a model file is evaluated alone, without modules or other files'],
    [
      ['process', 'fetch', 'XMLHttpRequest', 'WebSocket', 'Buffer', 'asyncModule'],
      'the model is evaluated once, in a sandbox without file system, network or environment',
    ],
    [
      ['Date', 'performance', 'setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask'],
      'the model is evaluated once, in a sandbox without a clock or timers',
    ],
  ];
  for (const [names, why] of REFUSED) {
    for (const name of names) fixed(name, guarded(name, why, name));
  }
  defineProperty(g, 'COMPILE_CONTEXT', {
    get() {
      throw new Error(
        'COMPILE_CONTEXT is not available in a model file: tenantgate compiles one model for every tenant; ' +
          "reach tenant values through SECURITY_CONTEXT filters (SECURITY_CONTEXT.tenant_id.filter('tenant_id')) " +
          'or [tenancy] routing',
      );
    },
    configurable: false,
  });
  defineProperty(Math, 'random', {
    value() {
      throw new Error('Math.random is not available in a model file: the model must not change between loads');
    },
    writable: false,
    configurable: false,
  });

  function define(kind, list) {
    return function (name, def) {
      if (typeof name !== 'string' || name === '') {
        throw new TypeError(`${kind}() takes a name and a definition, as in ${kind}(\`Orders\`, {...})`);
      }
      if (def === null || typeof def !== 'object' || isArray(def)) {
        throw new TypeError(`${kind} ${name}: the definition must be an object`);
      }
      list.push([name, def]);
    };
  }

  // `sql: () => ...`, `sql: (CUBE) => ...`, `sql() {...}`: called with each
  // parameter bound by its name, as Cube.js binds them.
  function params(fn, where) {
    const src = fnSource.call(fn);
    const m =
      /^\s*(?:async\s*)?(?:function\b[^(]*|[A-Za-z_$][\w$]*\s*)?\(([^)]*)\)/.exec(src) ||
      /^\s*(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(src);
    if (!m) return [];
    const names = m[1]
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    for (const n of names) {
      if (!/^[A-Za-z_$][\w$]*$/.test(n)) {
        throw new TypeError(`${where}: parameter ${n} is not a name (each parameter names a cube or CUBE)`);
      }
    }
    return names;
  }

  // A definition as plain JSON: references become their path (`Users`,
  // `Orders.Users`), functions are called, context values their template.
  function plain(v, where, depth) {
    where = where === '' ? 'the definition' : where;
    if (depth > 64) throw new RangeError(`${where}: nested too deeply (a cycle?)`);
    if (typeof v === 'function') {
      if (v[REF] !== undefined) return v[REF];
      const args = params(v, where).map(named);
      let out;
      try {
        out = v(...args);
      } catch (e) {
        // Say which key's function threw (once, at the innermost).
        if (e instanceof Error && !e[PLACED]) {
          e.message = `${where}: ${e.message}`;
          e[PLACED] = true;
        }
        throw e;
      }
      return plain(out, where, depth + 1);
    }
    if (v === null || v === undefined || typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new TypeError(`${where}: ${v} is not a number a model can hold`);
      return v;
    }
    if (typeof v !== 'object') throw new TypeError(`${where}: a ${typeof v} cannot be part of a model`);
    if (v[CTX] !== undefined) return v[CTX];
    if (isArray(v)) {
      return v.map((x, i) => {
        const p = plain(x, `${where}[${i}]`, depth + 1);
        return p === undefined ? null : p;
      });
    }
    const out = {};
    for (const k of keys(v)) {
      const p = plain(v[k], depth === 0 ? k : `${where}.${k}`, depth + 1);
      if (p !== undefined) out[k] = p;
    }
    return out;
  }

  // The YAML form lists what the JS form keys by name.
  const KEYED = ['measures', 'dimensions', 'segments', 'joins', 'preAggregations', 'pre_aggregations'];

  function entry(kind, name, def) {
    const where = `${kind} ${name}`;
    let body;
    try {
      body = plain(def, '', 0);
    } catch (e) {
      // Name the cube or view in whatever a definition threw.
      if (e instanceof Error) e.message = `${where}: ${e.message}`;
      throw e;
    }
    if ('name' in body) throw new TypeError(`${where}: the name is the first argument of ${kind}(), not a key`);
    const out = { name };
    for (const k of keys(body)) {
      const v = body[k];
      if (KEYED.includes(k) && v !== null && typeof v === 'object' && !isArray(v)) {
        out[k] = keys(v).map((member) => {
          const m = v[member];
          if (m === null || typeof m !== 'object' || isArray(m)) return m;
          if ('name' in m) throw new TypeError(`${where}: ${k}.${member}: the name is the key, not a name: field`);
          return { name: member, ...m };
        });
      } else {
        out[k] = v;
      }
    }
    return out;
  }

  fixed('cube', define('cube', cubes));
  fixed('view', define('view', views));
  fixed('__tenantgate_scope', scope);
  fixed('__tenantgate_finish', () => {
    if (cubes.length === 0 && views.length === 0) return null;
    return stringify({
      cubes: cubes.map(([n, d]) => entry('cube', n, d)),
      views: views.map(([n, d]) => entry('view', n, d)),
    });
  });
})();

//! Configuration loading: layering, Cube.js variables, and every error
//! message asserted exactly.

use std::collections::BTreeMap;
use std::path::Path;

use tenantgate::config::{self, Config, ConfigErrors, LoadOptions, ProviderKind};

struct Dir(tempfile::TempDir);

impl Dir {
    fn new(files: &[(&str, &str)]) -> Dir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write");
        }
        Dir(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    /// How errors name a file of this folder.
    fn name(&self, file: &str) -> String {
        self.path().join(file).display().to_string()
    }

    fn load(&self, env: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let dotenv = self.path().join(".env");
        config::load(&LoadOptions {
            config_dir: self.path().to_path_buf(),
            env: env.into(),
            dotenv: Some(dotenv),
            vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        })
    }

    fn errors(&self, env: &str, vars: &[(&str, &str)]) -> Vec<String> {
        match self.load(env, vars) {
            Ok(_) => panic!("configuration should be refused"),
            Err(e) => e.messages(),
        }
    }
}

const LONG: &str = "0123456789abcdef0123456789abcdef-long-enough";

fn rsa_public() -> String {
    std::fs::read_to_string(format!("{}/fixtures/keys/rsa_public.pem", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

#[test]
fn a_named_environment_without_a_file_is_an_error() {
    let d = Dir::new(&[("default.toml", "")]);
    assert_eq!(
        d.errors("staging", &[]),
        vec![format!("{}: environment `staging` has no configuration file", d.name("staging.toml"))]
    );
}

#[test]
fn toml_syntax_errors_name_the_file() {
    let d = Dir::new(&[("test.toml", "[server\nport = 1\n")]);
    let errs = d.errors("test", &[]);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with(&format!("{}: invalid TOML: ", d.name("test.toml"))), "{}", errs[0]);
}

#[test]
fn a_toml_syntax_error_on_a_secrets_line_gives_file_line_column_and_message_but_never_the_line() {
    let d = Dir::new(&[(
        "test.toml",
        "[[auth.providers]]\nname = \"main\"\ntype = \"secret\"\nsecrets = [\"toml-needle-0123456789abcdef0123456789\" \"x\"]\n",
    )]);
    let errs = d.errors("test", &[]);
    assert_eq!(
        errs,
        vec![format!(
            "{}: invalid TOML: line 4, column 53: missing comma between array elements, expected `,`",
            d.name("test.toml")
        )]
    );
    assert!(!errs[0].contains("toml-needle"), "{}", errs[0]);
}

#[test]
fn a_dotenv_syntax_error_on_a_secrets_line_gives_file_and_line_but_never_the_line() {
    let d = Dir::new(&[
        ("test.toml", ""),
        (".env", "PORT=3000\n# a comment\nCUBEJS_API_SECRET=dotenv-needle-0123456789abcdef0123456789 tail\n"),
    ]);
    let errs = d.errors("test", &[]);
    assert_eq!(errs, vec![format!("{}: invalid .env syntax on line 3", d.name(".env"))]);
    assert!(!errs[0].contains("dotenv-needle"), "{}", errs[0]);
    // A quoted value left open spans lines: the error names the line it starts on.
    let d = Dir::new(&[("test.toml", ""), (".env", "PORT=3000\nCUBEJS_API_SECRET=\"dotenv-needle-open\nmore\n")]);
    let errs = d.errors("test", &[]);
    assert_eq!(errs, vec![format!("{}: invalid .env syntax on line 2", d.name(".env"))]);
    assert!(!errs[0].contains("dotenv-needle"), "{}", errs[0]);
}

#[test]
fn unknown_keys_wrong_types_and_bad_values_are_all_reported_together_with_their_file() {
    let d = Dir::new(&[
        ("default.toml", "[server]\nprot = 4000\n"),
        (
            "test.toml",
            r#"
[server]
port = "eighty"
tls_cert = "cert.pem"
max_header_bytes = 100
[auth]
requre_exp = false
leeway = "soon"
failure_status = 500
dev_mode = "yes"
[metrics]
enabled = true
[[auth.providers]]
name = "main"
type = "secret"
secrets = ["a-test-secret", 7]
algorithms = ["RS256", "none", "XX999", "HS512"]
issuer = 12
[[auth.providers]]
name = "odd"
type = "magic"
"#,
        ),
    ]);
    let (def, test) = (d.name("default.toml"), d.name("test.toml"));
    assert_eq!(
        d.errors("test", &[]),
        vec![
            format!("{test}: metrics: unknown key"),
            format!("{def}: server.prot: unknown key"),
            format!("{test}: server.port: expected an integer"),
            format!("{test}: server.tls_cert: tls_cert and tls_key must be set together"),
            format!("{test}: server.max_header_bytes: must be between 8192 and 1048576"),
            format!("{test}: auth.requre_exp: unknown key"),
            format!("{test}: auth.dev_mode: expected true or false"),
            format!(
                "{test}: auth.leeway: invalid duration \"soon\": expected a number and a unit (ms, s, m, h, d, w), such as \"60s\" or \"30 days\""
            ),
            format!("{test}: auth.failure_status: expected 401 or 403"),
            format!(
                "{test}: auth.providers[main].algorithms: \"RS256\" is not an HMAC algorithm; a secret provider accepts HS256, HS384 and HS512"
            ),
            format!("{test}: auth.providers[main].algorithms: \"none\" is never accepted"),
            format!("{test}: auth.providers[main].algorithms: unknown algorithm \"XX999\""),
            format!("{test}: auth.providers[main].secrets[1]: expected a string or {{ base64 = \"...\" }}"),
            format!("{test}: auth.providers[main].issuer: expected a string"),
            format!(
                "{test}: auth.providers[odd].type: unknown provider type \"magic\"; expected \"secret\", \"public_key\", \"jwks\", \"cognito\", \"auth0\", \"oidc\", \"webhook\" or \"custom\""
            ),
        ]
    );
}

#[test]
fn production_refuses_weak_settings_from_files_and_variables_at_once() {
    let d = Dir::new(&[
        ("default.toml", "[auth]\nrequire_exp = false\n"),
        ("production.toml", "[auth]\ndev_mode = true\n"),
    ]);
    assert_eq!(
        d.errors("production", &[("CUBEJS_API_SECRET", "hunter2"), ("TENANTGATE__SERVER__HOST", "0.0.0.0")]),
        vec![
            format!("{}: auth.dev_mode: dev mode requires a loopback server.host (got 0.0.0.0)", d.name("production.toml")),
            format!("{}: auth.dev_mode: dev mode is not allowed in environment \"production\"", d.name("production.toml")),
            format!("{}: auth.require_exp: require_exp = false is not allowed in environment \"production\"", d.name("default.toml")),
            "environment variable CUBEJS_API_SECRET: auth.providers[cubejs].secrets[0]: secret is 7 bytes; at least 32 are required outside development and test".to_string(),
        ]
    );
    let d = Dir::new(&[("production.toml", "")]);
    assert_eq!(
        d.errors("production", &[]),
        vec![format!(
            "{}: auth.providers: at least one provider is required in environment \"production\"",
            d.name("production.toml")
        )]
    );
}

#[test]
fn secrets_never_appear_in_errors_or_debug_output() {
    let d = Dir::new(&[("production.toml", "[auth]\nrequire_exp = false\n")]);
    let joined = d.errors("production", &[("CUBEJS_API_SECRETS", "tiny-secret-1,tiny-secret-2")]).join("\n");
    assert!(!joined.contains("tiny-secret"), "{joined}");
    let cfg = d.load("test", &[]).err();
    assert!(cfg.is_some(), "no test.toml here");
    let d = Dir::new(&[("test.toml", "")]);
    let cfg = d.load("test", &[("CUBEJS_API_SECRET", LONG)]).expect("valid");
    assert!(!format!("{cfg:?}").contains(LONG));
}

#[test]
fn dev_mode_on_a_public_host_is_refused_even_in_development() {
    let d = Dir::new(&[("development.toml", "[server]\nhost = \"0.0.0.0\"\n[auth]\ndev_mode = true\n")]);
    assert_eq!(
        d.errors("development", &[]),
        vec![format!(
            "{}: auth.dev_mode: dev mode requires a loopback server.host (got 0.0.0.0)",
            d.name("development.toml")
        )]
    );
}

#[test]
fn providers_that_could_not_be_told_apart_by_the_token_are_refused() {
    let d = Dir::new(&[(
        "test.toml",
        &format!(
            r#"
[[auth.providers]]
name = "a"
type = "secret"
secrets = ["{LONG}"]
[[auth.providers]]
name = "b"
type = "secret"
secrets = ["{LONG}"]
[[auth.providers]]
name = "c"
type = "secret"
issuer = "https://x"
secrets = ["{LONG}"]
[[auth.providers]]
name = "d"
type = "secret"
issuer = "https://x"
secrets = ["{LONG}"]
"#
        ),
    )]);
    let t = d.name("test.toml");
    assert_eq!(
        d.errors("test", &[]),
        vec![
            format!(
                "{t}: auth.providers[b]: two HMAC providers without issuer (\"a\" and \"b\"); tokens without a matching iss could not be routed"
            ),
            format!("{t}: auth.providers[d].issuer: issuer \"https://x\" is already used by provider \"c\""),
        ]
    );
}

#[test]
fn public_key_providers_check_the_pem_and_that_algorithms_fit_the_key() {
    let pem = rsa_public();
    let d = Dir::new(&[(
        "test.toml",
        &format!(
            "[[auth.providers]]\nname = \"pk\"\ntype = \"public_key\"\npem = '''{pem}'''\nalgorithms = [\"HS256\", \"ES256\", \"PS256\"]\n\
             [[auth.providers]]\nname = \"bad\"\ntype = \"public_key\"\nissuer = \"https://bad\"\npem = \"not a key\"\n\
             [[auth.providers]]\nname = \"nofile\"\ntype = \"public_key\"\nissuer = \"https://nofile\"\npem_file = \"/nonexistent/key.pem\"\n"
        ),
    )]);
    let t = d.name("test.toml");
    assert_eq!(
        d.errors("test", &[]),
        vec![
            format!(
                "{t}: auth.providers[pk].algorithms: \"HS256\" is an HMAC algorithm; a public_key provider accepts only asymmetric algorithms"
            ),
            format!("{t}: auth.providers[pk].algorithms: \"ES256\" does not fit this RSA key"),
            format!("{t}: auth.providers[bad].pem: not a PEM public key (RSA, EC P-256/P-384 or Ed25519)"),
            format!(
                "{t}: auth.providers[nofile].pem_file: cannot read /nonexistent/key.pem: No such file or directory (os error 2)"
            ),
        ]
    );
}

#[test]
fn public_key_algorithms_default_to_the_key_type() {
    for (file, alg) in [
        ("rsa_public.pem", jsonwebtoken::Algorithm::RS256),
        ("ec256_public.pem", jsonwebtoken::Algorithm::ES256),
        ("ec384_public.pem", jsonwebtoken::Algorithm::ES384),
        ("ed25519_public.pem", jsonwebtoken::Algorithm::EdDSA),
    ] {
        let path = format!("{}/fixtures/keys/{file}", env!("CARGO_MANIFEST_DIR"));
        let d = Dir::new(&[(
            "test.toml",
            &format!("[[auth.providers]]\nname = \"pk\"\ntype = \"public_key\"\npem_file = \"{path}\"\n"),
        )]);
        let cfg = d.load("test", &[]).unwrap_or_else(|e| panic!("{file}: {e}"));
        match &cfg.auth.providers[0].kind {
            ProviderKind::PublicKey(p) => assert_eq!(p.algorithms, vec![alg], "{file}"),
            other => panic!("{file}: {other:?}"),
        }
    }
}

#[test]
fn layers_apply_in_order_defaults_file_env_file_dotenv_then_variables() {
    let d = Dir::new(&[
        (
            "default.toml",
            "[server]\nport = 1000\nmax_body_bytes = 10\nmax_header_bytes = 9000\n[auth]\nleeway = \"1s\"\n",
        ),
        ("test.toml", "[server]\nport = 2000\nmax_body_bytes = 20\n"),
        (".env", "PORT=3000\nTENANTGATE__AUTH__LEEWAY=5s\n"),
    ]);
    let cfg = d.load("test", &[]).expect("valid");
    assert_eq!((cfg.server.port, cfg.server.max_body_bytes, cfg.server.max_header_bytes), (3000, 20, 9000));
    assert_eq!(cfg.auth.leeway.as_secs(), 5);
    assert_eq!(cfg.server.shutdown_timeout.as_secs(), 10, "built-in default");
    // The environment beats .env; TENANTGATE__ beats the Cube.js name.
    let cfg = d.load("test", &[("PORT", "4001")]).expect("valid");
    assert_eq!(cfg.server.port, 4001);
    let cfg = d.load("test", &[("PORT", "4001"), ("TENANTGATE__SERVER__PORT", "4002")]).expect("valid");
    assert_eq!(cfg.server.port, 4002);
}

#[test]
fn a_malformed_tenantgate_variable_is_named() {
    let d = Dir::new(&[("test.toml", "")]);
    assert_eq!(
        d.errors("test", &[("TENANTGATE__PORT", "1")]),
        vec![
            "environment variable TENANTGATE__PORT: TENANTGATE__PORT: expected TENANTGATE__<SECTION>__<KEY>, such as TENANTGATE__SERVER__PORT"
        ]
    );
    assert_eq!(
        d.errors("test", &[("TENANTGATE__SERVER__PROT", "1")]),
        vec!["environment variable TENANTGATE__SERVER__PROT: server.prot: unknown key"]
    );
}

#[test]
fn cube_js_variables_build_the_cubejs_provider() {
    let d = Dir::new(&[("test.toml", "")]);
    let cfg = d
        .load(
            "test",
            &[
                ("CUBEJS_API_SECRETS", "s1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, s2-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
                ("CUBEJS_JWT_ALGS", "HS256,HS512"),
                ("CUBEJS_JWT_ISSUER", "https://issuer"),
                ("CUBEJS_JWT_AUDIENCE", "a1,a2"),
                ("CUBEJS_JWT_SUBJECT", "svc"),
                ("CUBEJS_JWT_CLAIMS_NAMESPACE", "https://ns"),
                ("CUBEJS_DEV_MODE", "true"),
            ],
        )
        .expect("valid");
    assert!(cfg.auth.dev_mode);
    assert_eq!(cfg.auth.claims_namespace.as_deref(), Some("https://ns"));
    let p = &cfg.auth.providers[0];
    assert_eq!(p.name, "cubejs");
    let ProviderKind::Secret(s) = &p.kind else { panic!("{p:?}") };
    assert_eq!(
        s.secrets.iter().map(|s| s.expose().to_vec()).collect::<Vec<_>>(),
        vec![b"s1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(), b"s2-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb".to_vec()]
    );
    assert_eq!(s.algorithms, vec![jsonwebtoken::Algorithm::HS256, jsonwebtoken::Algorithm::HS512]);
    assert_eq!(s.claims.issuer.as_deref(), Some("https://issuer"));
    assert_eq!(s.claims.audience, vec!["a1", "a2"]);
    assert_eq!(s.claims.subject.as_deref(), Some("svc"));
}

#[test]
fn a_pem_in_cubejs_jwt_key_makes_a_public_key_provider_and_overrides_a_file_defined_cubejs() {
    let d = Dir::new(&[(
        "test.toml",
        &format!(
            "[[auth.providers]]\nname = \"cubejs\"\ntype = \"secret\"\nsecrets = [\"{LONG}\"]\nissuer = \"https://from-file\"\n"
        ),
    )]);
    let cfg = d.load("test", &[("CUBEJS_JWT_KEY", &rsa_public()), ("CUBEJS_API_SECRET", LONG)]).expect("valid");
    assert_eq!(cfg.auth.providers.len(), 1);
    let ProviderKind::PublicKey(p) = &cfg.auth.providers[0].kind else { panic!("{:?}", cfg.auth.providers[0]) };
    assert_eq!(p.algorithms, vec![jsonwebtoken::Algorithm::RS256]);
    assert_eq!(p.claims.issuer.as_deref(), Some("https://from-file"), "fields the variables do not set stay");
    // A non-PEM JWT key is an HMAC secret.
    let cfg = d.load("test", &[("CUBEJS_JWT_KEY", "k-0123456789012345678901234567890123")]).expect("valid");
    let ProviderKind::Secret(s) = &cfg.auth.providers[0].kind else { panic!() };
    assert_eq!(s.secrets[0].expose(), b"k-0123456789012345678901234567890123");
}

#[test]
fn providers_with_the_same_name_merge_across_layers_and_new_names_append() {
    let d = Dir::new(&[
        ("default.toml", &format!("[[auth.providers]]\nname = \"main\"\ntype = \"secret\"\nsecrets = [\"{LONG}\"]\n")),
        (
            "test.toml",
            "[[auth.providers]]\nname = \"main\"\nissuer = \"https://main\"\n[[auth.providers]]\nname = \"keys\"\ntype = \"custom\"\n",
        ),
    ]);
    let cfg = d.load("test", &[]).expect("valid");
    let names: Vec<&str> = cfg.auth.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["main", "keys"]);
    let ProviderKind::Secret(s) = &cfg.auth.providers[0].kind else { panic!() };
    assert_eq!(s.claims.issuer.as_deref(), Some("https://main"));
}

#[test]
fn the_shipped_configuration_files_load_where_they_should() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let load = |env: &str, vars: &[(&str, &str)]| {
        config::load(&LoadOptions {
            config_dir: dir.clone(),
            env: env.into(),
            dotenv: None,
            vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        })
    };
    let dev = load("development", &[]).expect("development loads");
    assert!(dev.auth.dev_mode);
    assert_eq!((dev.server.host.to_string(), dev.server.port), ("127.0.0.1".to_string(), 4000));
    // A Cube.js user's first run: CUBEJS_API_SECRET replaces the development
    // secret instead of adding a second provider.
    for env in ["development", "test"] {
        let cfg = load(env, &[("CUBEJS_API_SECRET", LONG)]).unwrap_or_else(|e| panic!("{env}: {e}"));
        let secrets: Vec<(&str, Vec<&[u8]>)> = cfg
            .auth
            .providers
            .iter()
            .map(|p| match &p.kind {
                ProviderKind::Secret(s) => (p.name.as_str(), s.secrets.iter().map(|s| s.expose()).collect()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(secrets, vec![("cubejs", vec![LONG.as_bytes()])], "{env}");
    }
    let test = load("test", &[]).expect("test loads");
    assert!(!test.auth.dev_mode);
    let errs = load("production", &[]).expect_err("production needs a secret").messages();
    assert_eq!(
        errs,
        vec![format!(
            "{}: auth.providers: at least one provider is required in environment \"production\"",
            dir.join("production.toml").display()
        )]
    );
    let prod = load("production", &[("CUBEJS_API_SECRET", LONG)]).expect("production with a secret");
    assert_eq!(prod.server.host.to_string(), "0.0.0.0");
}

#[test]
fn jwks_providers_report_missing_and_unsafe_settings() {
    let d = Dir::new(&[(
        "test.toml",
        r#"
[[auth.providers]]
name = "plain"
type = "jwks"
issuer = "https://plain"
algorithms = ["HS256"]
[[auth.providers]]
name = "cleartext"
type = "jwks"
jwks_url = "http://keys.example.com/jwks.json"
[[auth.providers]]
name = "cog"
type = "cognito"
region = "eu-west-1"
token_use = "both"
[[auth.providers]]
name = "a0"
type = "auth0"
domain = "acme.auth0.com"
prefetch = false
ttl_min = "2h"
[[auth.providers]]
name = "idp"
type = "oidc"
[auth.providers.claims]
tenant_id = "tenant_id"
org = { path = "/org~2id" }
"#,
    )]);
    let t = d.name("test.toml");
    assert_eq!(
        d.errors("test", &[]),
        vec![
            format!("{t}: auth.providers[plain].jwks_url: required for type = \"jwks\""),
            format!(
                "{t}: auth.providers[plain].algorithms: \"HS256\" is an HMAC algorithm; a JWKS provider never accepts HMAC"
            ),
            format!(
                "{t}: auth.providers[cleartext].jwks_url: plain http:// is allowed only to loopback hosts; use https:// or set dangerous_allow_http = true (got \"http://keys.example.com/jwks.json\")"
            ),
            format!("{t}: auth.providers[cog].user_pool_id: required for type = \"cognito\""),
            format!("{t}: auth.providers[cog].client_ids: at least one app client id is required"),
            format!("{t}: auth.providers[cog].token_use: expected \"id\", \"access\" or \"any\""),
            format!("{t}: auth.providers[a0].audience: required for type = \"auth0\" (the API identifier)"),
            format!("{t}: auth.providers[a0].ttl_default: expected ttl_min <= ttl_default <= ttl_max"),
            format!(
                "{t}: auth.providers[a0].prefetch: a required provider must prefetch (readiness waits for its first key set); set required = false too"
            ),
            format!("{t}: auth.providers[idp].issuer: required for type = \"oidc\""),
            format!(
                "{t}: auth.providers[idp].claims.tenant_id: \"tenant_id\" is not a JSON pointer: it must start with \"/\" (e.g. \"/custom:tenant_id\")"
            ),
            format!(
                "{t}: auth.providers[idp].claims.org: \"/org~2id\" is not a JSON pointer: \"~\" must be followed by 0 or 1 (\"~1\" is \"/\")"
            ),
        ]
    );
}

#[test]
fn outside_development_and_test_jwks_and_oidc_providers_need_an_audience_or_dangerous_skip_audience() {
    let providers = r#"
[[auth.providers]]
name = "plain"
type = "jwks"
jwks_url = "https://keys.example.com/jwks.json"
[[auth.providers]]
name = "okta"
type = "oidc"
issuer = "https://acme.okta.com"
[[auth.providers]]
name = "scoped"
type = "oidc"
issuer = "https://scoped.example.com"
audience = ["api://default"]
[[auth.providers]]
name = "shared"
type = "jwks"
issuer = "https://shared.example.com"
jwks_url = "https://shared.example.com/jwks.json"
dangerous_skip_audience = true
"#;
    let d = Dir::new(&[("production.toml", providers), ("test.toml", providers)]);
    let p = d.name("production.toml");
    let cube =
        [("CUBEJS_JWK_URL", "https://cube.example.com/jwks.json"), ("CUBEJS_JWT_ISSUER", "https://cube.example.com")];
    let why = "without one, every token the issuer minted for any application is accepted; set audience or dangerous_skip_audience = true";
    assert_eq!(
        d.errors("production", &cube),
        vec![
            format!("{p}: auth.providers[plain].audience: required in environment \"production\": {why}"),
            format!("{p}: auth.providers[okta].audience: required in environment \"production\": {why}"),
            format!(
                "environment variable CUBEJS_JWK_URL: auth.providers[cubejs].audience: required in environment \"production\": {why}"
            ),
        ]
    );
    // CUBEJS_JWT_AUDIENCE gives the cubejs provider its audience.
    let cube_aud = [cube[0], cube[1], ("CUBEJS_JWT_AUDIENCE", "cube")];
    assert_eq!(
        d.errors("production", &cube_aud),
        vec![
            format!("{p}: auth.providers[plain].audience: required in environment \"production\": {why}"),
            format!("{p}: auth.providers[okta].audience: required in environment \"production\": {why}"),
        ]
    );
    // The opt-out is allowed everywhere and warned about at startup.
    let cfg = d.load("test", &cube).expect("development and test do not require an audience");
    assert_eq!(
        cfg.dangerous_settings().into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
        vec!["auth.providers[shared].dangerous_skip_audience"]
    );

    let d = Dir::new(&[(
        "test.toml",
        r#"
[[auth.providers]]
name = "both"
type = "oidc"
issuer = "https://both.example.com"
audience = ["api"]
dangerous_skip_audience = true
[[auth.providers]]
name = "a0"
type = "auth0"
domain = "acme.auth0.com"
audience = ["https://api"]
dangerous_skip_audience = true
"#,
    )]);
    let t = d.name("test.toml");
    assert_eq!(
        d.errors("test", &[]),
        vec![
            format!(
                "{t}: auth.providers[both].dangerous_skip_audience: set either audience or dangerous_skip_audience, not both"
            ),
            format!("{t}: auth.providers[a0].dangerous_skip_audience: unknown key"),
        ]
    );
}

#[test]
fn presets_derive_the_issuer_and_key_url_and_cubejs_jwk_url_makes_a_jwks_provider() {
    let d = Dir::new(&[(
        "test.toml",
        r#"
[[auth.providers]]
name = "cog"
type = "cognito"
region = "eu-west-1"
user_pool_id = "eu-west-1_AbC"
client_ids = ["c1"]
[[auth.providers]]
name = "a0"
type = "auth0"
domain = "acme.auth0.com"
audience = ["https://api"]
[[auth.providers]]
name = "okta"
type = "oidc"
issuer = "https://acme.okta.com/oauth2/default/"
"#,
    )]);
    let cfg = d.load("test", &[]).expect("valid");
    let jwks = |i: usize| match &cfg.auth.providers[i].kind {
        ProviderKind::Jwks(j) => j.clone(),
        other => panic!("{other:?}"),
    };
    let cog = jwks(0);
    assert_eq!(cog.claims.issuer.as_deref(), Some("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"));
    assert_eq!(
        cog.jwks_url.as_deref(),
        Some("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC/.well-known/jwks.json")
    );
    let a0 = jwks(1);
    assert_eq!(a0.claims.issuer.as_deref(), Some("https://acme.auth0.com/"));
    assert_eq!(a0.jwks_url.as_deref(), Some("https://acme.auth0.com/.well-known/jwks.json"));
    let okta = jwks(2);
    assert_eq!(okta.jwks_url, None);
    assert_eq!(
        okta.discovery_url.as_deref(),
        Some("https://acme.okta.com/oauth2/default/.well-known/openid-configuration")
    );
    assert_eq!(okta.algorithms, vec![jsonwebtoken::Algorithm::RS256]);

    let d = Dir::new(&[("test.toml", "")]);
    let cfg = d
        .load(
            "test",
            &[
                ("CUBEJS_JWK_URL", "https://idp/jwks.json"),
                ("CUBEJS_API_SECRET", LONG),
                ("CUBEJS_JWT_ALGS", "RS256,ES256"),
            ],
        )
        .expect("valid");
    let ProviderKind::Jwks(j) = &cfg.auth.providers[0].kind else { panic!("{:?}", cfg.auth.providers[0]) };
    assert_eq!(j.jwks_url.as_deref(), Some("https://idp/jwks.json"));
    assert_eq!(j.algorithms, vec![jsonwebtoken::Algorithm::RS256, jsonwebtoken::Algorithm::ES256]);
}

#[test]
fn cubejs_db_name_is_the_sqlite_file_and_overrides_the_path_of_a_file() {
    let sqlite_path = |cfg: &Config| match &cfg.database.as_ref().expect("database").kind {
        tenantgate::config::DatabaseKind::Sqlite { path, .. } => path.clone(),
        other => panic!("{other:?}"),
    };
    let vars = [("CUBEJS_DB_TYPE", "sqlite"), ("CUBEJS_DB_NAME", "/data/analytics.sqlite")];
    let d = Dir::new(&[("test.toml", "")]);
    let cfg = d.load("test", &vars).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sqlite_path(&cfg), Path::new("/data/analytics.sqlite"));
    let d = Dir::new(&[("test.toml", "[database]\ntype = \"sqlite\"\npath = \"from-file.sqlite\"\n")]);
    let cfg = d.load("test", &vars[1..]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sqlite_path(&cfg), Path::new("/data/analytics.sqlite"), "the environment wins over the file");
    // TENANTGATE__DATABASE__PATH wins over the Cube.js name, as everywhere.
    let cfg = d.load("test", &[vars[1], ("TENANTGATE__DATABASE__PATH", "/data/mine.sqlite")]).expect("valid");
    assert_eq!(sqlite_path(&cfg), Path::new("/data/mine.sqlite"));
}

#[test]
fn cube_js_database_variables_configure_postgres_and_the_password_is_never_shown() {
    let d = Dir::new(&[("test.toml", "")]);
    let cfg = d
        .load(
            "test",
            &[
                ("CUBEJS_DB_TYPE", "postgres"),
                ("CUBEJS_DB_HOST", "db.internal"),
                ("CUBEJS_DB_PORT", "6543"),
                ("CUBEJS_DB_NAME", "analytics"),
                ("CUBEJS_DB_USER", "app"),
                ("CUBEJS_DB_PASS", "pa55-word-needle"),
                ("CUBEJS_SCHEMA_PATH", "/nonexistent/model"),
            ],
        )
        .expect("valid");
    let db = cfg.database.as_ref().expect("database");
    let tenantgate::config::DatabaseKind::Postgres(pg, tls) = &db.kind else { panic!("{:?}", db.kind) };
    assert_eq!((pg.get_dbname(), pg.get_user(), pg.get_ports()), (Some("analytics"), Some("app"), &[6543][..]));
    assert_eq!(*tls, tenantgate::config::PgTls::Off);
    assert!(!format!("{cfg:?}").contains("pa55-word-needle"), "the password must not appear in Debug output");
    assert_eq!(cfg.model.path, std::path::PathBuf::from("/nonexistent/model"));

    let errs = d.errors("test", &[("CUBEJS_DB_TYPE", "mysql")]);
    assert_eq!(
        errs,
        vec![
            "environment variable CUBEJS_DB_TYPE: database.type: unknown database type \"mysql\"; expected \"sqlite\" or \"postgres\""
        ]
    );
}

#[test]
fn connection_limits_out_of_range_or_zero_are_each_reported() {
    let d =
        Dir::new(&[("test.toml", "[server]\nmax_connections = 0\nhandshake_timeout = \"0ms\"\nidle_timeout = 60\n")]);
    let test = d.name("test.toml");
    assert_eq!(
        d.errors("test", &[("TENANTGATE__SERVER__IDLE_TIMEOUT", "0s")]),
        vec![
            format!("{test}: server.max_connections: must be between 1 and 1048576"),
            format!("{test}: server.handshake_timeout: must be above zero"),
            "environment variable TENANTGATE__SERVER__IDLE_TIMEOUT: server.idle_timeout: must be above zero"
                .to_string(),
        ]
    );
    let d = Dir::new(&[("test.toml", "[server]\nmax_connections = \"many\"\nidle_timeout = 60\n")]);
    let test = d.name("test.toml");
    assert_eq!(
        d.errors("test", &[]),
        vec![
            format!("{test}: server.max_connections: expected an integer"),
            format!("{test}: server.idle_timeout: expected a duration string such as \"60s\""),
        ]
    );
}

#[test]
fn connection_limits_default_to_the_documented_constants() {
    let d = Dir::new(&[("test.toml", "")]);
    let cfg = d.load("test", &[]).expect("valid");
    assert_eq!(cfg.server.max_connections, config::DEFAULT_MAX_CONNECTIONS);
    assert_eq!(cfg.server.handshake_timeout, config::DEFAULT_HANDSHAKE_TIMEOUT);
    assert_eq!(cfg.server.idle_timeout, config::DEFAULT_IDLE_TIMEOUT);
    let d = Dir::new(&[("test.toml", "[server]\nmax_connections = 8\nhandshake_timeout = \"250ms\"\n")]);
    let cfg = d.load("test", &[("TENANTGATE__SERVER__IDLE_TIMEOUT", "2m")]).expect("valid");
    assert_eq!(
        (cfg.server.max_connections, cfg.server.handshake_timeout.as_millis(), cfg.server.idle_timeout.as_secs()),
        (8, 250, 120)
    );
}

#[test]
fn the_readme_shows_the_connection_limit_defaults() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    for line in [
        format!("max_connections = {}", config::DEFAULT_MAX_CONNECTIONS),
        format!("handshake_timeout = \"{}s\"", config::DEFAULT_HANDSHAKE_TIMEOUT.as_secs()),
        format!("idle_timeout = \"{}s\"", config::DEFAULT_IDLE_TIMEOUT.as_secs()),
    ] {
        assert!(readme.lines().any(|l| l.starts_with(&line)), "README lacks a line starting `{line}`");
    }
}

#[test]
fn a_sqlite_database_refuses_the_postgres_keys_it_would_ignore() {
    let d = Dir::new(&[(
        "test.toml",
        "[database]\ntype = \"sqlite\"\npath = \"data.sqlite\"\nurl = \"postgres://app@db/x\"\nhost = \"db\"\n\
         port = 5432\nuser = \"app\"\nssl = true\nca_file = \"ca.pem\"\nstatement_timeout = \"soon\"\n",
    )]);
    let t = d.name("test.toml");
    assert_eq!(
        d.errors("test", &[("CUBEJS_DB_PASS", "pa55-word-needle")]),
        vec![
            format!("{t}: database.url: unknown key"),
            format!("{t}: database.host: unknown key"),
            format!("{t}: database.port: unknown key"),
            format!("{t}: database.user: unknown key"),
            format!("{t}: database.ssl: unknown key"),
            format!("{t}: database.ca_file: unknown key"),
            "environment variable CUBEJS_DB_PASS: database.password: unknown key".to_string(),
            format!(
                "{t}: database.statement_timeout: invalid duration \"soon\": expected a number and a unit (ms, s, m, h, d, w), such as \"60s\" or \"30 days\""
            ),
        ]
    );
    // CUBEJS_DB_NAME also sets `name` (PostgreSQL's database): not a stray key for SQLite.
    let d = Dir::new(&[("test.toml", "[database]\ntype = \"sqlite\"\n")]);
    d.load("test", &[("CUBEJS_DB_NAME", "data.sqlite")]).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_postgres_database_refuses_sqlite_keys_and_a_ca_file_without_ssl() {
    let d = Dir::new(&[(
        "test.toml",
        "[database]\ntype = \"postgres\"\nurl = \"postgres://app@db/x\"\npath = \"data.sqlite\"\nseed = \"seed.sql\"\n\
         ca_file = \"ca.pem\"\n",
    )]);
    let t = d.name("test.toml");
    assert_eq!(
        d.errors("test", &[]),
        vec![
            format!("{t}: database.path: unknown key"),
            format!("{t}: database.seed: unknown key"),
            format!("{t}: database.ca_file: only used with ssl = true; set ssl = true or remove ca_file"),
        ]
    );
    // A refused URL still has its other keys read and checked.
    let d = Dir::new(&[("test.toml", "[database]\ntype = \"postgres\"\nurl = \"mysql:x\"\nport = \"five\"\n")]);
    let t = d.name("test.toml");
    assert_eq!(
        d.errors("test", &[]),
        vec![
            format!("{t}: database.url: not a PostgreSQL connection URL (postgres://user:password@host:port/database)"),
            format!("{t}: database.port: expected an integer"),
        ]
    );
}

#[test]
fn every_table_refuses_the_keys_its_type_does_not_read() {
    let d = Dir::new(&[(
        "test.toml",
        &format!(
            r#"
[[auth.providers]]
name = "hmac"
type = "secret"
secrets = ["{LONG}"]
jwks_url = "https://keys.example.com/jwks.json"
pem_file = "key.pem"
[auth.providers.claims]
tenant_id = {{ path = "/tenant_id", defualt = "none" }}
[[auth.providers]]
name = "keys"
type = "jwks"
issuer = "https://keys.example.com"
jwks_url = "https://keys.example.com/jwks.json"
secrets = ["{LONG}"]
domain = "acme.auth0.com"
[[auth.providers]]
name = "cog"
type = "cognito"
region = "eu-west-1"
user_pool_id = "eu-west-1_AbC"
client_ids = ["c1"]
domain = "acme.auth0.com"
[[auth.providers]]
name = "api-keys"
type = "custom"
secrets = ["{LONG}"]
[tenancy]
tenant_key = "tenant_id"
tenant_path = "tenant_id"
[tenants.acme]
sqlite_path = "acme.sqlite"
shema = "acme"
[database]
path = "data.sqlite"
[access]
roles_key = "groups"
[[access.roles]]
name = "analyst"
cube = "Orders"
"#
        ),
    )]);
    let t = d.name("test.toml");
    assert_eq!(
        d.errors("test", &[]),
        vec![
            format!("{t}: auth.providers[hmac].jwks_url: unknown key"),
            format!("{t}: auth.providers[hmac].pem_file: unknown key"),
            format!("{t}: auth.providers[hmac].claims.tenant_id.defualt: unknown key"),
            format!("{t}: auth.providers[keys].secrets: unknown key"),
            format!("{t}: auth.providers[keys].domain: unknown key"),
            format!("{t}: auth.providers[cog].domain: unknown key"),
            format!("{t}: auth.providers[api-keys].secrets: unknown key"),
            format!("{t}: tenancy.tenant_path: unknown key"),
            format!("{t}: tenants.acme.shema: unknown key"),
            format!("{t}: access.roles[0].cube: unknown key"),
        ]
    );
}

#[test]
fn postgres_tls_is_off_unless_ssl_and_then_verified_with_an_optional_private_ca() {
    use tenantgate::config::{DatabaseKind, PgTls};
    let tls = |db: &str| {
        let d = Dir::new(&[(
            "test.toml",
            &format!("[database]\ntype = \"postgres\"\nurl = \"postgres://app@db/x\"\n{db}"),
        )]);
        match d.load("test", &[]).unwrap_or_else(|e| panic!("{e}")).database.expect("database").kind {
            DatabaseKind::Postgres(_, tls) => tls,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(tls(""), PgTls::Off);
    assert_eq!(tls("ssl = false\n"), PgTls::Off);
    assert_eq!(tls("ssl = true\n"), PgTls::Verified { ca_file: None });
    assert_eq!(
        tls("ssl = true\nca_file = \"/etc/db-ca.pem\"\n"),
        PgTls::Verified { ca_file: Some("/etc/db-ca.pem".into()) }
    );
}

#[test]
fn failure_status_is_kept_as_a_status_code() {
    let d = Dir::new(&[("test.toml", "")]);
    assert_eq!(d.load("test", &[]).expect("valid").auth.failure_status, config::DEFAULT_FAILURE_STATUS);
    let d = Dir::new(&[("test.toml", "[auth]\nfailure_status = 403\n")]);
    assert_eq!(d.load("test", &[]).expect("valid").auth.failure_status, http::StatusCode::FORBIDDEN);
}

#[test]
fn a_public_key_provider_keeps_the_key_it_parsed() {
    use tenantgate::config::pem::KeyType;
    for (file, key_type, family) in [
        ("rsa_public.pem", KeyType::Rsa, jsonwebtoken::AlgorithmFamily::Rsa),
        ("ec384_public.pem", KeyType::EcP384, jsonwebtoken::AlgorithmFamily::Ec),
        ("ed25519_public.pem", KeyType::Ed25519, jsonwebtoken::AlgorithmFamily::Ed),
    ] {
        let path = format!("{}/fixtures/keys/{file}", env!("CARGO_MANIFEST_DIR"));
        let d = Dir::new(&[(
            "test.toml",
            &format!("[[auth.providers]]\nname = \"pk\"\ntype = \"public_key\"\npem_file = \"{path}\"\n"),
        )]);
        let cfg = d.load("test", &[]).unwrap_or_else(|e| panic!("{file}: {e}"));
        let ProviderKind::PublicKey(p) = &cfg.auth.providers[0].kind else { panic!("{file}") };
        assert_eq!((p.key_type, p.key.family()), (key_type, family), "{file}");
    }
}

#[test]
fn cache_settings_are_read_per_backend_and_a_redis_url_is_never_shown() {
    let d = Dir::new(&[(
        "test.toml",
        "[cache]\nenabled = true\nttl = \"2s\"\nbackend = \"redis\"\nurl = \"redis://:hunter2@cache:6379/0\"\n",
    )]);
    let cfg = d.load("test", &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.cache.enabled);
    assert_eq!(cfg.cache.ttl, std::time::Duration::from_secs(2));
    assert!(matches!(cfg.cache.backend, config::CacheBackend::Redis { .. }));
    assert!(!format!("{cfg:?}").contains("hunter2"), "the URL's password is redacted");

    let d = Dir::new(&[(
        "test.toml",
        "[cache]\nbackend = \"memory\"\nurl = \"redis://cache\"\nttl = \"0s\"\nmax_bytes = 10\n",
    )]);
    let f = d.name("test.toml");
    assert_eq!(
        d.errors("test", &[]),
        [
            format!("{f}: cache.url: unknown key"),
            format!("{f}: cache.max_bytes: must be between 1024 and 1099511627776"),
            format!("{f}: cache.ttl: must be above zero"),
        ]
    );
    let d = Dir::new(&[("test.toml", "[cache]\nbackend = \"redis\"\n")]);
    assert_eq!(
        d.errors("test", &[]),
        [format!("{}: cache.url: required for backend = \"redis\"", d.name("test.toml"))]
    );
    let d = Dir::new(&[("test.toml", "[cache]\nbackend = \"redis\"\nurl = \"rediss://:hunter2@cache\"\n")]);
    let errors = d.errors("test", &[]);
    assert_eq!(
        errors,
        [format!(
            "{}: cache.url: expected a redis:// URL (TLS to Redis, rediss://, is not supported)",
            d.name("test.toml")
        )]
    );
}

#[test]
fn api_scopes_are_a_closed_set_and_each_source_is_checked() {
    let d = Dir::new(&[(
        "test.toml",
        r#"
[access]
roles_key = "groups"
[access.group_scopes]
analyst = ["meta", "dta", "graphql"]
dev = "sql"
ops = ["explain", "explain"]
"#,
    )]);
    let t = d.name("test.toml");
    assert_eq!(
        d.errors("test", &[]),
        vec![
            format!(
                "{t}: access.group_scopes.analyst: unknown scope \"dta\"; the scopes are meta, data, sql and explain"
            ),
            format!(
                "{t}: access.group_scopes.analyst: unknown scope \"graphql\"; the scopes are meta, data, sql and explain"
            ),
            format!("{t}: access.group_scopes.dev: expected an array of scope names, such as [\"meta\", \"data\"]"),
        ]
    );

    let d =
        Dir::new(&[("test.toml", "[access]\nscopes_key = \"scopes\"\n[access.group_scopes]\nanalyst = [\"meta\"]\n")]);
    let t = d.name("test.toml");
    assert_eq!(
        d.errors("test", &[]),
        vec![
            format!("{t}: access.group_scopes: needs [access] roles_key, the context path holding the groups"),
            format!("{t}: access.scopes_key: set scopes_key or [access.group_scopes], not both"),
        ]
    );

    let d = Dir::new(&[("test.toml", "[access]\nscopes_key = \"a..b\"\n")]);
    assert_eq!(d.errors("test", &[]).len(), 1, "a bad context path is refused");

    use tenantgate::config::ApiScope;
    let d = Dir::new(&[(
        "test.toml",
        "[access]\nroles_key = \"groups\"\n[access.group_scopes]\nanalyst = [\"meta\", \"data\"]\n\"*\" = []\n",
    )]);
    let scopes = d.load("test", &[]).expect("valid").access.scopes;
    assert_eq!(
        scopes.group_scopes,
        vec![("analyst".to_string(), vec![ApiScope::Meta, ApiScope::Data]), ("*".to_string(), vec![])]
    );
    let d = Dir::new(&[("test.toml", "")]);
    let cfg = d.load("test", &[]).expect("valid");
    assert!(cfg.access.scopes.scopes_key.is_none() && cfg.access.scopes.group_scopes.is_empty());
    assert!(cfg.audit.enabled, "the audit log is on by default");
    let d = Dir::new(&[("test.toml", "[audit]\nenabled = false\nformat = \"json\"\n")]);
    assert_eq!(d.errors("test", &[]), vec![format!("{}: audit.format: unknown key", d.name("test.toml"))]);
}

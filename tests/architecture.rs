//! ARCHITECTURE.md is the map a newcomer trusts: every file or folder it
//! names in backticks must exist.

use std::path::Path;

/// Backticked spans that look like repository paths: `src/...`,
/// `tests/...`, a `*.rs` file named on its own (resolved under `src/`, its
/// section's folder, or the repository root), or a folder ending in `/`.
fn named_paths(doc: &str) -> Vec<String> {
    doc.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| !s.contains(' ') && !s.contains('(') && !s.contains('{') && !s.contains(':'))
        .filter(|s| s.ends_with(".rs") || s.ends_with(".md") || s.ends_with(".sh") || s.ends_with('/'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_path_architecture_md_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let paths = named_paths(&doc);
    assert!(paths.len() >= 30, "too few paths found ({}): the extractor is broken", paths.len());
    // A bare file name is looked up where the document's sections put it.
    let homes: Vec<std::path::PathBuf> = [
        "",
        "src",
        "src/config",
        "src/server",
        "src/auth",
        "src/auth/provider",
        "src/auth/jwks",
        "src/query",
        "src/db",
        "src/cache",
        "src/config/schema",
        "tests",
        "scripts",
        "examples",
        "fuzz",
    ]
    .iter()
    .map(|d| root.join(d))
    .collect();
    let missing: Vec<&String> =
        paths.iter().filter(|p| !homes.iter().any(|h| h.join(p.trim_end_matches('/')).exists())).collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md names paths that do not exist: {missing:?}");
}

/// The dependency direction ARCHITECTURE.md states: leaf helpers and
/// `config` <- `auth` <- `query` <- `db` <- `tls` <- `cache` <- `build` <- `server`. A module's
/// files may name (`crate::x`) only modules below it, and leaves nothing.
#[test]
fn lower_layers_never_import_higher_ones() {
    const LEAVES: [&str; 4] = ["context_path", "text", "telemetry", "trust"];
    const LAYERS: [&str; 8] = ["config", "auth", "query", "db", "tls", "cache", "build", "server"];

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    fn allowed(module: &'static str) -> Vec<&'static str> {
        match LAYERS.iter().position(|l| *l == module) {
            Some(i) => LEAVES.iter().chain(&LAYERS[..=i]).copied().collect(),
            None => vec![module],
        }
    }
    let mut violations = Vec::new();
    for module in LAYERS.iter().chain(&LEAVES) {
        let ok = allowed(module);
        let mut files = Vec::new();
        let dir = root.join(module);
        if dir.is_dir() {
            let mut stack = vec![dir];
            while let Some(d) = stack.pop() {
                for entry in std::fs::read_dir(&d).expect("read_dir").flatten() {
                    let p = entry.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.extension().is_some_and(|e| e == "rs") {
                        files.push(p);
                    }
                }
            }
        } else {
            files.push(root.join(format!("{module}.rs")));
        }
        for file in files {
            let text = std::fs::read_to_string(&file).expect("source");
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for part in code.split("crate::").skip(1) {
                    let target: String = part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    if !target.is_empty() && !ok.contains(&target.as_str()) && target != "install_crypto_provider" {
                        violations.push(format!("{}:{}: {module} imports crate::{target}", file.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

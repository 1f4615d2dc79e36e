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

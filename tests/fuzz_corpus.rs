//! Replays every committed fuzz corpus file (and every regression input in
//! `fuzz/regressions/`) through the same entry points the fuzz targets use,
//! so `cargo test` and CI exercise them on stable Rust.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let mut count = 0;
    for folder in ["fuzz/corpus", "fuzz/regressions"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).expect("corpus file");
            run(&data);
            count += 1;
        }
    }
    count
}

#[test]
fn every_corpus_file_runs_through_its_target_without_panicking() {
    let counts = [
        ("token", replay("token", tenantgate::fuzzing::token)),
        ("claims", replay("claims", tenantgate::fuzzing::claims)),
        ("jwks", replay("jwks", tenantgate::fuzzing::jwks)),
        ("query", replay("query", tenantgate::fuzzing::query)),
        ("plan", replay("plan", tenantgate::fuzzing::plan)),
    ];
    assert!(tenantgate::fuzzing::plan_ready(), "the plan target's configuration does not build");
    for (target, n) in counts {
        assert!(n >= 5, "the {target} corpus is missing ({n} files)");
    }
    println!("fuzz corpus replayed: {counts:?}");
}

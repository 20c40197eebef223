//! The committed schema artifact matches the code.

const COMMITTED: &str = "schema/schema.graphql";

#[test]
fn the_committed_schema_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED);
    let generated = techbalance_api::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write schema");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{COMMITTED} is out of date: regenerate it with `UPDATE_SCHEMA=1 cargo test --test api schema` \
         (or `cargo run -- schema > {COMMITTED}`) and review the diff"
    );
}

//! Links the Linux binary at a fixed address (not position-independent). The alert command
//! is one process per Pandora alert: a position-independent binary makes the dynamic loader
//! patch ~17,000 addresses and copy the pages holding them at every start, about a third of
//! a re-fire's instructions (README, "Speed"). `PANDORA_ILERT_PIE=1` keeps the default
//! position-independent link, for a distribution whose policy requires it.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PANDORA_ILERT_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let pie = std::env::var("PANDORA_ILERT_PIE").is_ok_and(|v| v == "1");
    if linux && !pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}

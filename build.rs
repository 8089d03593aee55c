//! Start-up cost of the Linux binary. The alert command is one process per Pandora alert, so
//! what the dynamic loader does at every start counts (README, "Performance"):
//!
//! - Linked at a fixed address (not position-independent): a position-independent binary makes
//!   the loader patch ~17,000 addresses and copy the pages holding them at every start, about a
//!   third of a re-fire's instructions. `PANDORA_ILERT_PIE=1` keeps the default
//!   position-independent link, for a distribution whose policy requires it.
//! - The unwinder linked in (`libgcc_eh.a`) instead of loading `libgcc_s.so.1`: one shared
//!   library fewer to open, map and relocate, and its start-up CPU probe not run (~0.1 ms a
//!   start on the project's VM, measured interleaved). The packages' zig build already links
//!   its own unwinder statically; this gives the native build the same. Skipped when a custom
//!   linker is configured (zig) or the C compiler has no `libgcc_eh.a`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PANDORA_ILERT_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if !linux {
        return;
    }
    let pie = std::env::var("PANDORA_ILERT_PIE").is_ok_and(|v| v == "1");
    if !pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    let gnu = std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|env| env == "gnu");
    let custom_linker = std::env::var_os("RUSTC_LINKER").is_some();
    if gnu && !custom_linker {
        if let (Some(out), Some(_)) = (std::env::var_os("OUT_DIR"), libgcc_eh()) {
            link_unwinder_statically(Path::new(&out));
        }
    }
}

/// The path of the C compiler's static unwinder, if it has one.
fn libgcc_eh() -> Option<PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let out = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    // Without the file, the compiler prints the bare name back.
    (path.is_absolute() && path.is_file()).then_some(path)
}

/// The standard library asks the linker for `-lgcc_s`; a linker script of that name, found
/// first, answers with the static unwinder instead.
fn link_unwinder_statically(out_dir: &Path) {
    let dir = out_dir.join("static-unwinder");
    let script = dir.join("libgcc_s.so");
    if std::fs::create_dir_all(&dir).is_ok() && std::fs::write(&script, "INPUT(-lgcc_eh)\n").is_ok()
    {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
}

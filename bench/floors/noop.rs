//! The start-up floor of any Rust program on this machine: the standard library's runtime,
//! dynamically linked to glibc, linked non-PIE and with the unwinder linked in like pandora-ilert
//! (build.rs, bench/run.sh), doing nothing.
fn main() {}

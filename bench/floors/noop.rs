//! The start-up floor of any Rust program on this machine: the standard library's runtime,
//! dynamically linked to glibc and linked non-PIE like pandora-ilert (build.rs), doing nothing.
fn main() {}

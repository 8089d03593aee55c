//! The process entry. `alert` is one process per Pandora alert, so start-up is part of every
//! alert's cost: the standard library's runtime start-up (reading `/proc/self/maps` to place
//! a stack-overflow guard, an alternate signal stack, `SIGSEGV`/`SIGBUS` handlers) costs about
//! 0.1 ms a process on the project's VM (a no-op Rust program, measured interleaved: 0.62 →
//! 0.52 ms). The binary starts here instead (`#![no_main]`) and does only the two parts of it
//! that matter for correctness, the same way:
//!
//! - standard input, output and error are open: a closed one is opened on `/dev/null`, so no
//!   store file can take descriptor 1 or 2 and receive what is printed or logged;
//! - `SIGPIPE` is ignored: a write to a closed pipe (the agent stopped reading the plugin's
//!   output) is an error the code handles, not a silent death.
//!
//! The arguments are still read by `std::env::args_os` (glibc hands them to the standard
//! library at load time). A stack overflow ends the process with `SIGSEGV` and no message.
//! A panic's message is printed by the standard hook; the process then exits 70 (internal
//! error), as documented, rather than the runtime's 101.

use std::ffi::{c_char, c_int};

use crate::exit::Exit;

/// The C entry point the C runtime calls. (A test build keeps the test harness's own entry;
/// this one stays compiled there, as the root of what the binary uses.)
#[allow(unsafe_code)]
#[cfg_attr(not(test), no_mangle)]
#[cfg_attr(test, allow(dead_code))]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    prepare_process();
    #[cfg(static_glibc)]
    hosts_from_files_and_dns();
    let exit = std::panic::catch_unwind(crate::run).unwrap_or(Exit::Software);
    // `exit` flushes standard output, as returning from the runtime's `main` would.
    std::process::exit(exit as i32)
}

/// Opens closed standard descriptors on `/dev/null` and ignores `SIGPIPE`.
#[allow(unsafe_code)]
fn prepare_process() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of three `pollfd` for the duration of the call.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    if polled > 0 {
        for fd in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
            // Opening takes the lowest free descriptor: the closed one, lowest first.
            match std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                Ok(null) if std::os::fd::AsRawFd::as_raw_fd(&null) == fd.fd => {
                    // Kept open for the life of the process, as descriptor `fd.fd`.
                    let _ = std::os::fd::IntoRawFd::into_raw_fd(null);
                }
                // Without /dev/null the process cannot safely run.
                _ => std::process::exit(Exit::Software as i32),
            }
        }
    }
    // SAFETY: setting a signal's disposition to `SIG_IGN` has no memory effects.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Host names in the statically linked build (build.rs, `static_glibc`; the packages' and the
/// benchmark's binary) are looked up in `/etc/hosts`, then in DNS as `/etc/resolv.conf` says
/// (systemd-resolved's local stub included). Those two sources are built into glibc; any
/// other source `/etc/nsswitch.conf` may name (`resolve`, `mdns4_minimal`, `myhostname`,
/// `sss`) would be loaded from the host's own glibc with `dlopen`, which a program carrying
/// another glibc inside must not do.
#[cfg(static_glibc)]
#[allow(unsafe_code)]
fn hosts_from_files_and_dns() {
    extern "C" {
        // glibc's <nss.h>; returns -1 only for an unknown database.
        fn __nss_configure_lookup(db: *const c_char, service_line: *const c_char) -> c_int;
    }
    // SAFETY: two NUL-terminated static strings; called once at start, before any thread
    // or lookup.
    unsafe {
        __nss_configure_lookup(c"hosts".as_ptr(), c"files dns".as_ptr());
    }
}

//! The packages and what they install: builds the .deb and .rpm once with `packaging/build.sh`
//! (glibc linked into the binary), unpacks the .deb into a scratch root and checks files,
//! modes, conffiles, the maintainer scripts and the binary; lists the .rpm with `rpm`. Those
//! tests are `#[ignore]`d for a plain `cargo test`: tests/run.sh installs the tools and runs
//! them. Also checks the example config and its documentation, which need no build.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use support::{code, stderr, stdout, TestDir, BIN};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const EXAMPLE: &str = include_str!("../packaging/pandora-ilert.toml");

/// What every package installs: path, mode, and whether it is a config file kept on upgrade.
const FILES: &[(&str, u32, bool)] = &[
    ("/usr/bin/pandora-ilert", 0o755, false),
    ("/etc/pandora-ilert/pandora-ilert.toml", 0o640, true),
    ("/etc/logrotate.d/pandora-ilert", 0o644, true),
    ("/usr/share/man/man1/pandora-ilert.1.gz", 0o644, false),
    ("/usr/share/doc/pandora-ilert/README.md", 0o644, false),
    ("/usr/share/doc/pandora-ilert/copyright", 0o644, false),
    (
        "/usr/lib/systemd/system/pandora-ilert-watch.service",
        0o644,
        false,
    ),
    (
        "/usr/share/doc/pandora-ilert/pandora-ilert.toml.example",
        0o644,
        false,
    ),
    ("/usr/share/pandora-ilert/pandora/README.md", 0o644, false),
    ("/usr/share/pandora-ilert/pandora/command.txt", 0o644, false),
    (
        "/usr/share/pandora-ilert/pandora/command-classic-unsafe.txt",
        0o644,
        false,
    ),
    (
        "/usr/share/pandora-ilert/pandora/pandora-ilert.sql",
        0o644,
        false,
    ),
    (
        "/usr/share/pandora-ilert/pandora/pandora_agent.conf",
        0o644,
        false,
    ),
];

struct Packages {
    deb: PathBuf,
    rpm: PathBuf,
}

/// Builds both packages once per test run (installing the tools on first use).
fn packages() -> &'static Packages {
    static BUILT: OnceLock<Result<Packages, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let out = Command::new("bash")
            .arg("packaging/build.sh")
            .current_dir(ROOT)
            .env_remove("CARGO_TARGET_DIR")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run packaging/build.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!("packaging/build.sh failed:\n{}", stderr(&out)));
        }
        let paths: Vec<PathBuf> = stdout(&out)
            .lines()
            .map(|l| Path::new(ROOT).join(l.trim()))
            .collect();
        match paths.as_slice() {
            [deb, rpm] => Ok(Packages {
                deb: deb.clone(),
                rpm: rpm.clone(),
            }),
            _ => Err(format!("unexpected build.sh output: {paths:?}")),
        }
    });
    built.as_ref().unwrap_or_else(|e| panic!("{e}"))
}

fn run_tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", stderr(&out));
    stdout(&out)
}

/// `-rw-r-----` to 0o640.
fn mode_of(perms: &str) -> u32 {
    perms[1..10]
        .chars()
        .fold(0, |m, c| (m << 1) | u32::from(c != '-'))
}

/// The regular files of a `dpkg-deb -c` or `rpm -qlpv` listing: path -> (mode, owner).
fn listing(text: &str) -> BTreeMap<String, (u32, String)> {
    text.lines()
        .filter(|l| l.starts_with('-'))
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let path = cols.last().unwrap().trim_start_matches('.').to_string();
            // dpkg: "root/root" in one column; rpm: a link count, then owner and group.
            let owner = if cols[1].contains('/') {
                cols[1].to_string()
            } else {
                format!("{}/{}", cols[2], cols[3])
            };
            (path, (mode_of(cols[0]), owner))
        })
        .collect()
}

#[test]
#[ignore = "needs the packaging tools (cargo-deb, cargo-generate-rpm; tests/run.sh installs them): run by tests/run.sh"]
fn deb_installs_the_documented_files_with_their_modes() {
    let p = packages();
    let files = listing(&run_tool("dpkg-deb", &["-c", p.deb.to_str().unwrap()]));
    for (path, mode, _) in FILES {
        let (m, owner) = files
            .get(*path)
            .unwrap_or_else(|| panic!("{path} not in the .deb: {files:?}"));
        assert_eq!(*m, *mode, "{path}: mode {m:o}");
        assert!(owner == "root/root" || owner == "0/0", "{path}: {owner}");
    }
    let info = run_tool("dpkg-deb", &["-I", p.deb.to_str().unwrap()]);
    assert!(info.contains("Package: pandora-ilert"), "{info}");
    // glibc linked in: no dependency on the host's (installable on Debian 10 and before).
    assert!(!info.contains("libc6"), "{info}");
    assert!(
        info.contains("postinst") && info.contains("postrm"),
        "{info}"
    );
    let conffiles = run_tool("dpkg-deb", &["-I", p.deb.to_str().unwrap(), "conffiles"]);
    let conffiles: Vec<&str> = conffiles.lines().map(str::trim).collect();
    for (path, _, config) in FILES {
        assert_eq!(
            conffiles.contains(path),
            *config,
            "{path} conffile: {conffiles:?}"
        );
    }
}

#[test]
#[ignore = "needs the packaging tools (cargo-deb, cargo-generate-rpm; tests/run.sh installs them): run by tests/run.sh"]
fn unpacked_deb_runs_reports_its_version_and_ships_a_usable_config_and_man_page() {
    let p = packages();
    let dir = TestDir::new("deb-root");
    let root = dir.join("root");
    run_tool(
        "dpkg-deb",
        &["-x", p.deb.to_str().unwrap(), root.to_str().unwrap()],
    );
    let bin = root.join("usr/bin/pandora-ilert");
    let version = run_tool(bin.to_str().unwrap(), &["--version"]);
    assert_eq!(
        version.trim(),
        format!("pandora-ilert {}", env!("CARGO_PKG_VERSION"))
    );
    // glibc linked in: no program interpreter, no shared library.
    let headers = run_tool("readelf", &["-lW", bin.to_str().unwrap()]);
    assert!(
        !headers.contains("INTERP") && !headers.contains("DYNAMIC"),
        "{headers}"
    );
    // It pages through a host name, looked up in /etc/hosts by the glibc inside it.
    let ilert = support::ilert::FakeIlert::start();
    let url = ilert.url().replace("127.0.0.1", "localhost");
    let cfg = support::ConfigBuilder::at(&url).write(&dir);
    let line = support::PandoraAlert::firing("7001").command_line(&cfg, "");
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(line.replacen(BIN, bin.to_str().unwrap(), 1))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ilert.events(), [("ALERT".to_string(), "7001".to_string())]);
    // Debian's machine-readable copyright file, with the licence Cargo.toml declares.
    let copyright =
        std::fs::read_to_string(root.join("usr/share/doc/pandora-ilert/copyright")).unwrap();
    assert!(
        copyright.starts_with(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        ),
        "{copyright}"
    );
    assert!(
        copyright.contains("Files: *\nCopyright: 2026 pandora-ilert developers\nLicense: MIT\n"),
        "{copyright}"
    );
    assert!(!copyright.contains("missing"), "{copyright}");
    // The installed config is the example, valid as shipped (placeholder key included).
    let cfg = root.join("etc/pandora-ilert/pandora-ilert.toml");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), EXAMPLE);
    let out = Command::new(&bin)
        .args(["--config", cfg.to_str().unwrap(), "config", "check"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // The man page is gzip'd roff with a section per subcommand.
    let man = run_tool(
        "gzip",
        &[
            "-dc",
            root.join("usr/share/man/man1/pandora-ilert.1.gz")
                .to_str()
                .unwrap(),
        ],
    );
    assert!(man.contains(".TH pandora-ilert 1"), "{}", &man[..200]);
    assert!(man.contains(".SS \"pandora-ilert doctor\""));
}

#[test]
#[ignore = "needs the packaging tools (cargo-deb, cargo-generate-rpm; tests/run.sh installs them): run by tests/run.sh"]
fn deb_postinst_creates_private_directories_and_tolerates_a_missing_pandora_group() {
    let p = packages();
    let dir = TestDir::new("deb-postinst");
    let control = dir.join("control");
    run_tool(
        "dpkg-deb",
        &["-e", p.deb.to_str().unwrap(), control.to_str().unwrap()],
    );
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("var/spool")).unwrap();
    std::fs::create_dir_all(root.join("var/log")).unwrap();
    let postinst = control.join("postinst");
    let run = |arg: &str| {
        let out = Command::new("sh")
            .arg(&postinst)
            .arg(arg)
            .env("DPKG_ROOT", &root)
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "postinst {arg}: {}", stderr(&out));
    };
    run("abort-upgrade");
    assert!(
        !root.join("var/spool/pandora-ilert").exists(),
        "ran on abort-upgrade"
    );
    run("configure");
    let has = |db: &str| {
        Command::new("getent")
            .args([db, "pandora"])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let (user, group) = (has("passwd"), has("group"));
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for d in ["var/spool/pandora-ilert", "var/log/pandora-ilert"] {
        let m = std::fs::metadata(root.join(d)).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o750, "{d}");
        if !user {
            assert_eq!(m.uid(), 0, "{d} owner without a pandora user");
        }
        if !group {
            assert_eq!(m.gid(), 0, "{d} group without a pandora group");
        }
    }
    // An administrator's choice survives a reconfigure.
    let spool = root.join("var/spool/pandora-ilert");
    std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o700)).unwrap();
    run("configure");
    assert_eq!(std::fs::metadata(&spool).unwrap().mode() & 0o7777, 0o700);
    // purge removes state and logs; remove keeps them.
    let postrm = control.join("postrm");
    for (arg, gone) in [("remove", false), ("purge", true)] {
        let out = Command::new("sh")
            .arg(&postrm)
            .arg(arg)
            .env("DPKG_ROOT", &root)
            .output()
            .unwrap();
        assert_eq!(code(&out), 0);
        assert_eq!(!spool.exists(), gone, "postrm {arg}");
    }
}

#[test]
#[ignore = "needs the packaging tools (cargo-deb, cargo-generate-rpm, rpm; tests/run.sh installs them): run by tests/run.sh"]
fn rpm_installs_the_same_files_with_noreplace_config_and_the_postinst() {
    let p = packages();
    let bytes = std::fs::read(&p.rpm).unwrap();
    assert_eq!(&bytes[..4], b"\xed\xab\xee\xdb", "not an RPM file");
    Command::new("rpm")
        .arg("--version")
        .output()
        .expect("this test needs rpm (apt-get install rpm; tests/run.sh installs it)");
    let rpm = p.rpm.to_str().unwrap();
    let files = listing(&run_tool("rpm", &["-qlpv", rpm]));
    for (path, mode, _) in FILES {
        let (m, owner) = files
            .get(*path)
            .unwrap_or_else(|| panic!("{path} not in the .rpm: {files:?}"));
        assert_eq!(*m, *mode, "{path}: mode {m:o}");
        assert_eq!(owner, "root/root", "{path}");
    }
    let configs = run_tool("rpm", &["-qp", "--configfiles", rpm]);
    for (path, _, config) in FILES {
        assert_eq!(configs.lines().any(|l| l == *path), *config, "{path}");
    }
    // %config(noreplace): RPMFILE_CONFIG (1) | RPMFILE_NOREPLACE (16).
    let flags = run_tool(
        "rpm",
        &["-qp", "--qf", "[%{FILENAMES} %{FILEFLAGS}\n]", rpm],
    );
    let flag = |path: &str| -> u32 {
        flags
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{path} ")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(flag("/etc/pandora-ilert/pandora-ilert.toml") & 17, 17);
    // glibc linked in: no shared library required (installable on RHEL / Rocky / Alma 8 and
    // before).
    let requires = run_tool("rpm", &["-qpR", rpm]);
    assert!(
        !requires.contains("GLIBC") && !requires.contains(".so"),
        "{requires}"
    );
    let scripts = run_tool("rpm", &["-qp", "--scripts", rpm]);
    assert!(scripts.contains("install -d -m 0750"), "{scripts}");
    assert!(
        !scripts.contains("systemctl"),
        "watch is not enabled: {scripts}"
    );
}

#[test]
#[ignore = "needs the packaging tools (cargo-deb, cargo-generate-rpm; tests/run.sh installs them): run by tests/run.sh"]
fn deb_ships_the_watch_unit_and_no_script_enables_it() {
    let p = packages();
    let dir = TestDir::new("deb-unit");
    let control = dir.join("control");
    run_tool(
        "dpkg-deb",
        &["-e", p.deb.to_str().unwrap(), control.to_str().unwrap()],
    );
    for script in ["postinst", "postrm", "prerm", "preinst"] {
        let text = std::fs::read_to_string(control.join(script)).unwrap_or_default();
        assert!(
            !text.contains("systemctl"),
            "{script} enables or starts watch:\n{text}"
        );
    }
    let listing = run_tool("dpkg-deb", &["-c", p.deb.to_str().unwrap()]);
    assert!(
        listing.contains("./usr/lib/systemd/system/pandora-ilert-watch.service"),
        "{listing}"
    );
}

/// The watch unit as shipped: it runs the installed binary with the installed config as the
/// Pandora user, can be enabled, and nothing in the packages enables it (cargo-deb would add
/// `systemctl enable` scripts only for `systemd-units`, which the package does not use).
#[test]
fn watch_unit_runs_the_installed_binary_with_the_installed_config_and_is_not_enabled() {
    let unit =
        std::fs::read_to_string(Path::new(ROOT).join("packaging/pandora-ilert-watch.service"))
            .unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let argv: Vec<&str> = exec.split_whitespace().collect();
    let installed = |path: &str| FILES.iter().any(|(p, _, _)| *p == path);
    assert!(installed(argv[0]), "{exec}");
    assert_eq!(argv[1], "--config");
    assert!(installed(argv[2]), "{exec}");
    assert_eq!(&argv[3..], ["watch"]);
    assert!(
        unit.contains("\nUser=pandora\n"),
        "the Pandora user, as the postinst"
    );
    assert!(unit.contains("\n[Install]\nWantedBy=multi-user.target\n"));
    let manifest = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    assert!(
        !manifest.contains("systemd-units"),
        "cargo-deb would enable the unit"
    );
    for script in ["postinst", "postrm"] {
        let text = std::fs::read_to_string(Path::new(ROOT).join("packaging/scripts").join(script))
            .unwrap();
        assert!(!text.contains("systemctl"), "{script}");
    }
    // The argv the unit runs is one the binary accepts.
    let out = Command::new(BIN)
        .args(["--config", "/nonexistent.toml", "watch", "--help"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
#[ignore = "needs logrotate (tests/run.sh installs it): run by tests/run.sh"]
fn logrotate_accepts_the_shipped_rotation_rule() {
    Command::new("logrotate")
        .arg("--version")
        .output()
        .expect("this test needs logrotate (apt-get install logrotate; tests/run.sh installs it)");
    let dir = TestDir::new("logrotate");
    let logs = dir.join("log");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("pandora-ilert.log"), "x\n").unwrap();
    let rule = std::fs::read_to_string(Path::new(ROOT).join("packaging/logrotate"))
        .unwrap()
        .replace("/var/log/pandora-ilert", logs.to_str().unwrap());
    let conf = dir.join("rule");
    std::fs::write(&conf, rule).unwrap();
    let out = Command::new("logrotate")
        .arg("-d")
        .arg("-s")
        .arg(dir.join("state"))
        .arg(&conf)
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(code(&out), 0, "{text}");
    assert!(!text.contains("error"), "{text}");
    assert!(text.contains("pandora-ilert.log"), "{text}");
}

#[test]
fn maintainer_contact_and_copyright_holder_agree_and_name_no_real_mailbox() {
    let read = |p: &str| std::fs::read_to_string(Path::new(ROOT).join(p)).unwrap();
    let (cargo, copyright, licence) = (
        read("Cargo.toml"),
        read("packaging/copyright"),
        read("LICENSE"),
    );
    let maintainer = cargo
        .lines()
        .find_map(|l| l.strip_prefix("maintainer = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("[package.metadata.deb] maintainer");
    assert!(
        copyright.contains(&format!("\nUpstream-Contact: {maintainer}\n")),
        "{maintainer} / {copyright}"
    );
    // The copyright holder, named the same in LICENSE, the copyright file and the maintainer.
    assert!(licence.contains("Copyright (c) 2026 pandora-ilert developers\n"));
    assert!(copyright.contains("Files: *\nCopyright: 2026 pandora-ilert developers\n"));
    assert!(
        maintainer.starts_with("pandora-ilert developers "),
        "{maintainer}"
    );
    // A reserved domain (RFC 2606): the address reaches, and impersonates, nobody.
    assert!(maintainer.ends_with(".invalid>"), "{maintainer}");
}

#[test]
fn example_config_is_valid_as_shipped() {
    let dir = TestDir::new("example");
    let cfg = private_copy(&dir, "pandora-ilert.toml", EXAMPLE);
    let out = Command::new(BIN)
        .args(["--config", cfg.to_str().unwrap(), "config", "check"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // No warning but the one that asks for the integration key.
    let text = stdout(&out);
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(
        warnings,
        ["warning: route 'default' still has the placeholder ilert_key: replace REPLACE-WITH-... by the real value (ilert shows an alert source's integration key on its page)"],
        "{text}"
    );
}

#[test]
fn example_config_with_every_setting_uncommented_is_valid() {
    let dir = TestDir::new("example-all");
    let all = uncomment_all(EXAMPLE);
    let cfg = private_copy(&dir, "all.toml", &all);
    let out = Command::new(BIN)
        .args(["--config", cfg.to_str().unwrap(), "config", "check"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}\n{all}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("1. databases"), "{text}");
    assert!(text.contains("chat slack"), "{text}");
}

#[test]
fn doctor_flags_the_placeholder_key_of_the_example() {
    let dir = TestDir::new("example-doctor");
    let cfg = private_copy(&dir, "pandora-ilert.toml", EXAMPLE);
    let out = Command::new(BIN)
        .args(["--config", cfg.to_str().unwrap(), "doctor"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 78, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("route 'default' still has the placeholder ilert_key"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn every_config_key_is_in_the_example_and_in_the_readme() {
    let source = std::fs::read_to_string(Path::new(ROOT).join("src/config.rs")).unwrap();
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let all = uncomment_all(EXAMPLE);
    let keys = config_keys(&source);
    assert!(keys.len() > 40, "parsed only {keys:?}");
    for key in &keys {
        let in_example = all.lines().any(|l| {
            let l = l.trim();
            l.starts_with(&format!("{key} ="))
                || l == format!("[{key}]")
                || l.ends_with(&format!(".{key}]]"))
                || l == format!("[[{key}]]")
        });
        assert!(
            in_example,
            "config key '{key}' (src/config.rs) is not in packaging/pandora-ilert.toml"
        );
        let documented = [
            format!("`{key}`"),
            format!("`[{key}]`"),
            format!("`[[{key}]]`"),
            format!(".{key}]]`"),
        ]
        .iter()
        .any(|form| readme.contains(form.as_str()));
        assert!(
            documented,
            "config key '{key}' (src/config.rs) is not in README.md's config reference"
        );
    }
}

/// Field names of the `Raw*` structs in config.rs (serde renames applied): every key a config
/// file may contain.
fn config_keys(source: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut in_raw = false;
    let mut rename: Option<String> = None;
    for line in source.lines() {
        let t = line.trim();
        if t.starts_with("struct Raw") && t.ends_with('{') {
            in_raw = true;
            continue;
        }
        if !in_raw {
            continue;
        }
        if t == "}" {
            in_raw = false;
            continue;
        }
        if let Some(r) = t.split("rename = \"").nth(1) {
            rename = r.split('"').next().map(str::to_string);
            continue;
        }
        if let Some((name, _)) = t.split_once(':') {
            if !name.starts_with("//") && !name.starts_with('#') {
                keys.push(rename.take().unwrap_or_else(|| name.trim().to_string()));
            }
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The example with every optional setting switched on: `#key = v` and `#[table]` lines lose
/// their `#`; prose comments (`# text`) stay.
fn uncomment_all(text: &str) -> String {
    text.lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '[') => {
                rest.to_string()
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn private_copy(dir: &TestDir, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
    p
}

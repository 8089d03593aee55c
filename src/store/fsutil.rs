//! Crash-safe file primitives: every file we keep is replaced whole, never edited in place.
//!
//! Every system call that changes the store (create, write, fsync, rename, remove) passes
//! through [`fault_point`] first. In production that is one relaxed atomic load. The
//! crash-consistency tests set `PANDORA_ILERT_FAULT=<n>:<kill|enospc|eio|term>` to make the
//! n-th such call kill the process, fail, or (`term`) raise SIGTERM and go on, and
//! `PANDORA_ILERT_FAULT_TRACE=<file>` to list every point an operation passes (see
//! docs/store.md).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

static TMP_COUNTER: AtomicU32 = AtomicU32::new(0);
static FAULT_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fault to inject at one store write, for the crash-consistency tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Kill,
    NoSpace,
    Io,
    /// SIGTERM, as Pandora's `timeout` sends it, just before the call (which then proceeds).
    Term,
}

struct FaultPlan {
    at: Option<(u64, Fault)>,
    trace: Option<std::path::PathBuf>,
}

fn fault_plan() -> &'static FaultPlan {
    static PLAN: OnceLock<FaultPlan> = OnceLock::new();
    PLAN.get_or_init(|| {
        let at = std::env::var("PANDORA_ILERT_FAULT").ok().and_then(|v| {
            let (n, kind) = v.split_once(':')?;
            let fault = match kind {
                "kill" => Fault::Kill,
                "enospc" => Fault::NoSpace,
                "eio" => Fault::Io,
                "term" => Fault::Term,
                _ => return None,
            };
            Some((n.parse().ok()?, fault))
        });
        let trace = std::env::var_os("PANDORA_ILERT_FAULT_TRACE").map(Into::into);
        FaultPlan { at, trace }
    })
}

/// Called before every store-changing system call; `what` names it in the trace.
pub fn fault_point(what: &str, path: &Path) -> io::Result<()> {
    let plan = fault_plan();
    if plan.at.is_none() && plan.trace.is_none() {
        return Ok(());
    }
    let n = FAULT_COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(trace) = &plan.trace {
        let name = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = path
            .parent()
            .and_then(Path::file_name)
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Written without passing through fault_point again.
        if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(trace) {
            let _ = f.write_all(format!("{n} {what} {dir}/{name}\n").as_bytes());
        }
    }
    match plan.at {
        Some((at, fault)) if at == n => match fault {
            Fault::Kill => {
                let _ = signal_hook::low_level::raise(signal_hook::consts::SIGKILL);
                std::process::abort()
            }
            Fault::NoSpace => Err(io::Error::from_raw_os_error(28)),
            Fault::Io => Err(io::Error::from_raw_os_error(5)),
            Fault::Term => {
                let _ = signal_hook::low_level::raise(signal_hook::consts::SIGTERM);
                Ok(())
            }
        },
        _ => Ok(()),
    }
}

fn temp_name(path: &Path) -> std::path::PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    dir.join(format!(
        ".tmp-{}-{}-{name}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// How hard a write insists on reaching the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Data and directory entry flushed before returning: the write commits a decision.
    Commit,
    /// Data flushed, the rename not: after a power cut the previous version may come back,
    /// which only repeats work (a delivery is sent again), never loses it.
    Progress,
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync,
/// rename over the target, and (for `Commit`) fsync the directory. A crash leaves the old
/// file or the new one, never a mix; an orphaned `.tmp-*` file is swept by housekeeping.
///
/// A `Commit` that makes a new name on a filesystem whose file `fsync` also makes the file's
/// latest rename durable (`rename_carried_by_fsync`) takes one flush instead of two: the
/// rename (refused if the name exists), then `fsync` of the file. A power cut before that
/// `fsync` returns may leave the name with the file's data missing or short, which readers
/// treat as unreadable (quarantined): as if the write had not happened, which is all a write
/// cut short may leave. A replacement keeps the flush before the rename, so a power cut
/// never costs the version it replaces.
///
/// Once the rename has happened the new version is what every reader sees, so a failing
/// directory fsync after it is logged and not reported as a failed write: reporting it would
/// make the caller say "not queued" about an entry that is queued.
pub fn write_file(path: &Path, bytes: &[u8], durability: Durability) -> io::Result<()> {
    write_file_dated(path, bytes, durability, None)
}

/// `write_file`, with the file's modification time set to `modified` (the store keeps the
/// age of a queue's oldest entry there, so listing the outbox orders it without reading it).
pub fn write_file_dated(
    path: &Path,
    bytes: &[u8],
    durability: Durability,
    modified: Option<std::time::SystemTime>,
) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = temp_name(path);
    let result = (|| {
        fault_point("create", &tmp)?;
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        fault_point("write", &tmp)?;
        f.write_all(bytes)?;
        if let Some(t) = modified {
            f.set_modified(t)?;
        }
        if durability == Durability::Commit && rename_carried_by_fsync(&f) {
            fault_point("rename", path)?;
            match rename_new(&tmp, path) {
                Ok(()) => return commit_renamed(&f, path).map(|()| true),
                // Replacing a file, or no `RENAME_NOREPLACE` here: the flush first.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST | libc::EINVAL)) => {}
                Err(e) => return Err(e),
            }
        }
        fault_point("fsync", &tmp)?;
        f.sync_data()?;
        fault_point("rename", path)?;
        fs::rename(&tmp, path).map(|()| false)
    })();
    let committed = match result {
        Ok(committed) => committed,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if durability == Durability::Commit && !committed {
        if let Err(e) = sync_dir(dir) {
            log::warn!(
                "{} was written but its directory could not be flushed to disk ({e}); \
                 a power cut now could undo it",
                path.display()
            );
        }
    }
    Ok(())
}

/// Flushes a file just renamed to the new name `path` (`write_file_dated`'s one-flush
/// commit). If the flush fails the name is removed again, so the write fails as a whole, as
/// it would had the flush come before the rename: nothing was replaced.
fn commit_renamed(f: &File, path: &Path) -> io::Result<()> {
    let flushed = fault_point("fsync", path).and_then(|()| f.sync_all());
    if let Err(e) = flushed {
        if let Err(gone) = remove(path) {
            log::warn!(
                "{} could not be flushed to disk ({e}) nor removed ({gone}); it stays",
                path.display()
            );
        }
        return Err(e);
    }
    Ok(())
}

/// Renames `from` to `to` unless `to` exists (`EEXIST`; `EINVAL` where the filesystem cannot
/// tell, as `renameat2(2)` documents).
#[allow(unsafe_code)]
fn rename_new(from: &Path, to: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other);
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: both paths are NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether `fsync` of a file on `f`'s filesystem also makes the file's latest rename durable,
/// so that the directory needs no flush of its own:
/// - ext4: with a journal, `fsync` waits for the commit of the transaction that last changed
///   the inode, and a rename changes it (its ctime); without one, `fsync` writes the parent
///   directory of an inode given a new name (`ext4_sync_parent`, fs/ext4/fsync.c). The ext2
///   and ext3 magic is the same; current kernels mount both with the ext4 driver.
/// - XFS: `fsync` forces the log up to the inode's last logged change, the rename among them.
/// - btrfs: `fsync` logs an inode's new names (fs/btrfs/tree-log.c).
///
/// Anywhere else (NFS, tmpfs, FUSE, ...) the directory is flushed as POSIX asks.
#[allow(unsafe_code)]
fn rename_carried_by_fsync(f: &File) -> bool {
    use std::os::fd::AsRawFd;
    const EXT4: i64 = 0xEF53;
    const XFS: i64 = 0x5846_5342;
    const BTRFS: i64 = 0x9123_683E;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `st` is written by the call, and read below only when it succeeded.
    if unsafe { libc::fstatfs(f.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: initialised by the successful call above. (`f_type` is an `i64` here and an
    // `i32` on 32-bit targets, hence the conversion clippy sees as useless on this one.)
    #[allow(clippy::useless_conversion)]
    let f_type = i64::from(unsafe { st.assume_init() }.f_type);
    matches!(f_type, EXT4 | XFS | BTRFS)
}

/// `write_file` with `Durability::Commit`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_file(path, bytes, Durability::Commit)
}

/// Replaces `path` atomically but without fsync: for statistics that may be lost in a power
/// cut (never for events or records).
pub fn replace_quick(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_quick_to(&temp_name(path), path, bytes, None)
}

/// `replace_quick`, with the file's modification time set to `modified` before the rename
/// (as `write_file_dated` does), for a file whose age is read by one `stat`.
pub fn replace_quick_dated(
    path: &Path,
    bytes: &[u8],
    modified: std::time::SystemTime,
) -> io::Result<()> {
    replace_quick_to(&temp_name(path), path, bytes, Some(modified))
}

/// `replace_quick` with the temporary file made in `tmp_dir` (same filesystem), for a
/// directory that never holds temporary files (`open/`).
pub fn replace_quick_via(tmp_dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path.file_name().unwrap_or_default();
    replace_quick_to(&temp_name(&tmp_dir.join(name)), path, bytes, None)
}

fn replace_quick_to(
    tmp: &Path,
    path: &Path,
    bytes: &[u8],
    modified: Option<std::time::SystemTime>,
) -> io::Result<()> {
    fault_point("write", tmp)?;
    let mut f = File::create(tmp)?;
    f.write_all(bytes)?;
    if let Some(t) = modified {
        f.set_modified(t)?;
    }
    drop(f);
    fault_point("rename", path)?;
    fs::rename(tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(tmp);
    })
}

/// Moves `from` to `to` (same filesystem) atomically; `Commit` flushes both directories.
pub fn rename(from: &Path, to: &Path, durability: Durability) -> io::Result<()> {
    fault_point("rename", to)?;
    fs::rename(from, to)?;
    if durability == Durability::Commit {
        for dir in [to.parent(), from.parent()].into_iter().flatten() {
            if let Err(e) = sync_dir(dir) {
                log::warn!("cannot flush {} to disk: {e}", dir.display());
            }
        }
    }
    Ok(())
}

/// A directory's identity: `[inode, change time ns, modification time ns]`.
pub type DirId = [i64; 3];

/// A directory's identity when a listing of it started: its inode and its change and
/// modification times (ns), which every name made, removed or renamed in it moves; and when
/// the listing started. A cache of what the listing found may stand for the directory while
/// it keeps this identity, if the listing was `settled` (`open_head`, `queue_index`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirStamp {
    pub id: DirId,
    started: std::time::SystemTime,
}

impl DirStamp {
    /// How much older than a listing's start the directory's times must be for the listing
    /// to stand for it: filesystems stamp changes with a coarse clock (or whole seconds,
    /// ext4 with small inodes), so two changes in one tick can carry the same times; a
    /// change after the listing started is later than both times by more than this.
    pub const SETTLED: std::time::Duration = std::time::Duration::from_secs(2);

    /// The stamp of `dir` now, before listing it.
    pub fn take(dir: &Path) -> Option<DirStamp> {
        let started = std::time::SystemTime::now();
        Some(DirStamp {
            id: dir_identity(&fs::metadata(dir).ok()?),
            started,
        })
    }

    /// Whether `dir` still has this identity.
    pub fn unchanged(&self, dir: &Path) -> bool {
        fs::metadata(dir).is_ok_and(|m| dir_identity(&m) == self.id)
    }

    /// Whether both of the directory's times were at least `SETTLED` old when the listing
    /// started.
    pub fn settled(&self) -> bool {
        let limit = self
            .started
            .checked_sub(Self::SETTLED)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_nanos()).ok());
        limit.is_some_and(|limit| self.id[1] < limit && self.id[2] < limit)
    }
}

fn dir_identity(meta: &fs::Metadata) -> DirId {
    use std::os::unix::fs::MetadataExt;
    let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
    [
        i64::try_from(meta.ino()).unwrap_or(i64::MAX),
        ns(meta.ctime(), meta.ctime_nsec()),
        ns(meta.mtime(), meta.mtime_nsec()),
    ]
}

/// Checks that a file can be made and written in `dir` without leaving a name there: an
/// unnamed file (`O_TMPFILE`, Linux 3.11 and later; gone when closed) needs what a new
/// record needs (write permission on the directory, a writable filesystem with room) and
/// leaves the directory's entries, and so its times, as they were. Where the filesystem
/// has no unnamed files, a named one is written, renamed and removed.
pub fn probe_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    fault_point("create", &dir.join(".probe"))?;
    match OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(0o600)
        .open(dir)
    {
        Ok(mut f) => return f.write_all(b"probe"),
        // No unnamed files here (EOPNOTSUPP; EISDIR or EINVAL from kernels or libcs that
        // do not know the flag): the named way.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
            ) => {}
        Err(e) => return Err(e),
    }
    probe_named(dir)
}

/// `probe_dir` where the filesystem has no unnamed files: a file written, renamed and
/// removed.
fn probe_named(dir: &Path) -> io::Result<()> {
    let tmp = dir.join(format!(".probe-{}", std::process::id()));
    let moved = dir.join(format!(".probe-{}-moved", std::process::id()));
    replace_quick(&tmp, b"probe")?;
    let renamed = rename(&tmp, &moved, Durability::Progress);
    let _ = fs::remove_file(&tmp);
    renamed?;
    remove(&moved)
}

/// Removes a file; a missing file is not an error.
pub fn remove(path: &Path) -> io::Result<()> {
    fault_point("remove", path)?;
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Flushes a directory's entries (renames, creations, removals) to disk.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fault_point("fsync-dir", dir)?;
    File::open(dir)?.sync_all()
}

/// Appends one line to a log-like file with one `write` call. `O_APPEND` writes of one
/// buffer do not interleave between processes for the sizes we write, and a torn last line is
/// skipped by readers.
pub fn append_line(path: &Path, line: &str) -> io::Result<()> {
    fault_point("append", path)?;
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    let mut buf = String::with_capacity(line.len() + 1);
    buf.push_str(line);
    buf.push('\n');
    f.write_all(buf.as_bytes())
}

/// Creates a directory (and parents) if it is missing.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fault_point("mkdir", dir)?;
    match fs::create_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probing_a_directory_leaves_nothing_in_it_and_fails_where_nothing_can_be_made() {
        let dir = std::env::temp_dir().join(format!("pi-probe-{}", std::process::id()));
        ensure_dir(&dir).unwrap();
        for probe in [probe_dir, probe_named] {
            probe(&dir).unwrap();
            assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
            let missing = dir.join("missing");
            assert_eq!(probe(&missing).unwrap_err().kind(), io::ErrorKind::NotFound);
        }
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_listing_stands_for_its_directory_only_when_the_directory_was_settled_before_it() {
        let now = std::time::SystemTime::now();
        let ns = |t: std::time::SystemTime| {
            i64::try_from(t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()).unwrap()
        };
        let old = ns(now - std::time::Duration::from_secs(3));
        let fresh = ns(now - std::time::Duration::from_millis(500));
        let stamp = |ctime, mtime| DirStamp {
            id: [1, ctime, mtime],
            started: now,
        };
        assert!(stamp(old, old).settled());
        assert!(
            !stamp(fresh, old).settled(),
            "changed within the last ticks"
        );
        assert!(!stamp(old, fresh).settled());
        let dir = std::env::temp_dir().join(format!("pi-dirstamp-{}", std::process::id()));
        ensure_dir(&dir).unwrap();
        // Each change a clock tick later than the last (a coarse clock stamps changes).
        let tick = || std::thread::sleep(std::time::Duration::from_millis(20));
        tick();
        let taken = DirStamp::take(&dir).unwrap();
        assert!(taken.unchanged(&dir));
        tick();
        fs::write(dir.join("a"), b"").unwrap();
        assert!(!taken.unchanged(&dir), "a name made");
        tick();
        let taken = DirStamp::take(&dir).unwrap();
        tick();
        fs::write(dir.join("a"), b"in place").unwrap();
        assert!(
            taken.unchanged(&dir),
            "a file written in place changes no name"
        );
        tick();
        fs::rename(dir.join("a"), dir.join("b")).unwrap();
        assert!(!taken.unchanged(&dir), "a name renamed");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_commit_makes_a_new_name_with_one_flush_and_replaces_with_the_flush_first() {
        use std::time::{Duration, UNIX_EPOCH};
        let dir = std::env::temp_dir().join(format!("pi-commit-{}", std::process::id()));
        ensure_dir(&dir).unwrap();
        let p = dir.join("q.json");
        let due = |s| UNIX_EPOCH + Duration::from_secs(s);
        // A new name (the rename refuses an existing one), then a replacement (refused, so
        // the flush-first way): each leaves its contents and due time, and no temporary file.
        for (bytes, at) in [(&b"new"[..], 1_000_000), (&b"replaced"[..], 2_000_000)] {
            write_file_dated(&p, bytes, Durability::Commit, Some(due(at))).unwrap();
            assert_eq!(fs::read(&p).unwrap(), bytes);
            assert_eq!(fs::metadata(&p).unwrap().modified().unwrap(), due(at));
            assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        }
        let other = dir.join("other");
        fs::write(&other, b"x").unwrap();
        let refused = rename_new(&other, &p).unwrap_err();
        assert!(
            matches!(refused.raw_os_error(), Some(libc::EEXIST | libc::EINVAL)),
            "{refused}"
        );
        assert_eq!(fs::read(&p).unwrap(), b"replaced", "never replaced");
        // tmpfs has no such guarantee: the directory is flushed there.
        if let Ok(f) = File::open("/dev/shm") {
            if fs::metadata("/dev/shm").is_ok_and(|m| m.is_dir()) {
                assert!(!rename_carried_by_fsync(&f));
            }
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp_files() {
        let dir = std::env::temp_dir().join(format!("pi-fsutil-{}", std::process::id()));
        ensure_dir(&dir).unwrap();
        let p = dir.join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_file(&p, b"two", Durability::Progress).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        fs::remove_dir_all(&dir).unwrap();
    }
}

//! What the queue holds, without reading every queue file: `meta/queue-index` keeps, per
//! queue file, how many entries it held, the oldest one's time and when each lane last failed
//! there, keyed by the file's identity (inode, change time, modification time and size). Every
//! write of a queue file makes a new file renamed into place, with a modification time whose
//! sub-millisecond digits are a nonce (`Store::write_record`), so a rewritten file never looks
//! like the version the index describes. A run reads only the files whose identity changed
//! since the index was written (and, for each lane, the one file holding its newest failure),
//! and rewrites the index when any changed.
//!
//! The index is a cache, never the truth: a file it does not describe is read, a name it
//! lists that is gone is dropped, and losing it (a power cut, a deletion) only costs one
//! run that reads every queue file. It is written without fsync.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::MetadataExt;

use super::{fsutil, OutboxEntry, OutboxScan, Store};
use crate::time::Timestamp;

const INDEX: &str = "queue-index";

/// A queue file's identity: it changes with every write of a queue file.
pub(super) type FileId = [i64; 4];

/// A queue file's identity: `[inode, change time ns, modification time ns, size]`.
pub(super) fn identity(meta: &fs::Metadata) -> FileId {
    [
        i64::try_from(meta.ino()).unwrap_or(i64::MAX),
        meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
        meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        i64::try_from(meta.size()).unwrap_or(i64::MAX),
    ]
}

/// A queue file's modification time (ns) from its identity: when its first entry is due.
pub(super) fn modified_ns(id: &FileId) -> i64 {
    id[2]
}

/// The first line of an index written for `outbox/` as a whole, with its identity then
/// (`DirStamp`); a `FileSummary` line never starts with `#`.
const DIR_LINE: &str = "#outbox";

fn dir_line(id: &fsutil::DirId) -> String {
    format!("{DIR_LINE} {} {} {}\n", id[0], id[1], id[2])
}

fn parse_dir_line(line: &str) -> Option<fsutil::DirId> {
    let mut w = line.strip_prefix(DIR_LINE)?.split_ascii_whitespace();
    let mut id: fsutil::DirId = [0; 3];
    for n in &mut id {
        *n = w.next()?.parse().ok()?;
    }
    w.next().is_none().then_some(id)
}

/// What one queue file held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct FileSummary {
    id: FileId,
    entries: usize,
    oldest: Option<i64>,
    /// `(lane, last failed attempt in ms)`, the newest per lane.
    failed: Vec<(String, i64)>,
}

impl FileSummary {
    fn of(id: FileId, queue: &[OutboxEntry]) -> Self {
        let mut failed: BTreeMap<String, i64> = BTreeMap::new();
        for e in queue {
            if let (Some(at), Some(_)) = (e.last_attempt, &e.last_error) {
                let t = failed
                    .entry(e.action.lane().name().to_string())
                    .or_insert(at.millis());
                *t = (*t).max(at.millis());
            }
        }
        FileSummary {
            id,
            entries: queue.len(),
            oldest: queue.iter().map(|e| e.created_at.millis()).min(),
            failed: failed.into_iter().collect(),
        }
    }

    /// One line: `name ino ctime mtime size entries oldest|- lane=ms,lane=ms`.
    fn line(&self, name: &str, out: &mut String) {
        let _ = write!(out, "{name}");
        for n in self.id {
            let _ = write!(out, " {n}");
        }
        let _ = write!(out, " {}", self.entries);
        match self.oldest {
            Some(t) => {
                let _ = write!(out, " {t}");
            }
            None => out.push_str(" -"),
        }
        out.push(' ');
        for (i, (lane, at)) in self.failed.iter().enumerate() {
            let _ = write!(out, "{}{lane}={at}", if i > 0 { "," } else { "" });
        }
        out.push('\n');
    }

    fn parse(line: &str) -> Option<(&str, FileSummary)> {
        let mut w = line.split(' ');
        let name = w.next()?;
        let mut id = [0i64; 4];
        for n in &mut id {
            *n = w.next()?.parse().ok()?;
        }
        let entries = w.next()?.parse().ok()?;
        let oldest = match w.next()? {
            "-" => None,
            t => Some(t.parse().ok()?),
        };
        let failed = w
            .next()?
            .split(',')
            .filter(|f| !f.is_empty())
            .map(|f| {
                let (lane, at) = f.rsplit_once('=')?;
                Some((lane.to_string(), at.parse().ok()?))
            })
            .collect::<Option<Vec<_>>>()?;
        Some((
            name,
            FileSummary {
                id,
                entries,
                oldest,
                failed,
            },
        ))
    }
}

/// The whole queue in a few numbers: what the plugin's health modules and `flush` report.
#[derive(Clone, Debug, Default)]
pub struct QueueSummary {
    /// Queued deliveries.
    pub entries: usize,
    /// When the oldest of them was queued.
    pub oldest: Option<Timestamp>,
    /// The newest failed attempt of each lane (read from its queue file).
    pub failed: Vec<OutboxEntry>,
}

impl Store {
    /// Counts and summarises the queue from `outbox/`'s listing, one `stat` per queue file,
    /// reading only the files `meta/queue-index` does not describe yet (see the module).
    pub fn queue_summary(&self) -> QueueSummary {
        self.queue_summary_of(&self.scan_outbox())
    }

    /// The queue files as `meta/queue-index` lists them, when the index was written for
    /// `outbox/` whole as it is now (its first line names `stamp`'s identity): a scan with
    /// no listing and no `stat`. `None` when it was not, or any line does not read.
    pub(super) fn indexed_scan(
        &self,
        stamp: &fsutil::DirStamp,
    ) -> Option<BTreeMap<String, (String, Option<FileId>)>> {
        let text = fs::read_to_string(self.dir("meta").join(INDEX)).ok()?;
        let mut lines = text.lines();
        if parse_dir_line(lines.next()?)? != stamp.id {
            return None;
        }
        let mut files = BTreeMap::new();
        for line in lines {
            let (name, summary) = FileSummary::parse(line)?;
            let enc = name
                .strip_suffix(".json")
                .filter(|enc| super::is_encoded_key(enc))?;
            files.insert(name.to_string(), (super::decode_key(enc), Some(summary.id)));
        }
        Some(files)
    }

    /// `queue_summary` from a scan already taken (see `refresh_scan`).
    pub fn queue_summary_of(&self, scan: &OutboxScan) -> QueueSummary {
        let path = self.dir("meta").join(INDEX);
        let text = fs::read_to_string(&path).unwrap_or_default();
        let old_dir = text.lines().next().and_then(parse_dir_line);
        let old: HashMap<&str, FileSummary> = text.lines().filter_map(FileSummary::parse).collect();
        // In name order (the scan's), borrowed from the old index where it still holds.
        let mut index: Vec<(&str, Cow<'_, FileSummary>)> = Vec::with_capacity(scan.files.len());
        let mut changed = false;
        for (name, (_, id)) in &scan.files {
            let Some(id) = *id else {
                continue;
            };
            let summary = match old.get(name.as_str()).filter(|s| s.id == id) {
                Some(s) => Cow::Borrowed(s),
                None => {
                    changed = true;
                    match self.read_record(&self.dir("outbox").join(name)) {
                        Some(r) => Cow::Owned(FileSummary::of(id, &r.queue)),
                        None => continue,
                    }
                }
            };
            index.push((name, summary));
        }
        changed |= index.len() != old.len();
        // The index stands for `outbox/` whole (the next scan may take it instead of
        // listing) only if it describes every file of a scan taken of `outbox/` as it still
        // is, and settled: not if this process or another changed a queue file since.
        let dir = scan
            .dir
            .filter(|d| {
                scan.legacy.is_empty()
                    && index.len() == scan.files.len()
                    && d.settled()
                    && d.unchanged(&self.dir("outbox"))
            })
            .map(|d| d.id);
        changed |= dir != old_dir;
        if changed && !self.read_only {
            let mut text = dir.as_ref().map(dir_line).unwrap_or_default();
            for (name, s) in &index {
                s.line(name, &mut text);
            }
            if let Err(e) = fsutil::replace_quick(&path, text.as_bytes()) {
                log::warn!("cannot write {}: {e}", path.display());
            }
        }
        // Each lane's newest failure: one queue file read per lane.
        let mut newest: BTreeMap<&str, (i64, &str)> = BTreeMap::new();
        for (name, s) in &index {
            let name: &str = name;
            for (lane, at) in &s.failed {
                if newest.get(lane.as_str()).is_none_or(|(t, _)| t < at) {
                    newest.insert(lane, (*at, name));
                }
            }
        }
        let failed = newest
            .into_iter()
            .filter_map(|(lane, (_, name))| {
                self.read_record(&self.dir("outbox").join(name))?
                    .queue
                    .into_iter()
                    .filter(|e| e.action.lane().name() == lane && e.last_error.is_some())
                    .max_by_key(|e| e.last_attempt)
            })
            .collect();
        QueueSummary {
            entries: index.iter().map(|(_, s)| s.entries).sum(),
            oldest: index
                .iter()
                .map(|(_, s)| s)
                .filter_map(|s| s.oldest)
                .min()
                .map(Timestamp::from_millis),
            failed,
        }
    }

    /// The summary as the last `queue_summary` left it in `meta/queue-index`, nothing checked
    /// against the files (for a report that is only a fallback); `None` without an index.
    pub fn queue_summary_as_indexed(&self) -> Option<QueueSummary> {
        let text = fs::read_to_string(self.dir("meta").join(INDEX)).ok()?;
        let index: Vec<FileSummary> = text
            .lines()
            .filter_map(FileSummary::parse)
            .map(|(_, s)| s)
            .collect();
        Some(QueueSummary {
            entries: index.iter().map(|s| s.entries).sum(),
            oldest: index
                .iter()
                .filter_map(|s| s.oldest)
                .min()
                .map(Timestamp::from_millis),
            failed: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Durability, Record};
    use super::*;

    fn entry(key: &str, id: &str, at: i64) -> OutboxEntry {
        OutboxEntry::new(
            id.into(),
            key,
            1,
            1,
            Timestamp::from_millis(at),
            crate::lifecycle::chat_action(
                crate::config::ChatPlatform::Slack,
                crate::lifecycle::ChatChange::Refire,
            ),
        )
    }

    /// The summary follows every change of a queue file, read or from the index.
    #[test]
    fn the_summary_follows_the_queue_files_and_reads_only_changed_ones() {
        let dir = std::env::temp_dir().join(format!("pi-queue-index-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.queue_summary().entries, 0);
        let save = |key: &str, queue: Vec<OutboxEntry>| {
            store
                .save_record(
                    key,
                    &Record {
                        incident: None,
                        queue,
                    },
                    Durability::Commit,
                )
                .unwrap();
        };
        save("a", vec![entry("a", "1", 5_000), entry("a", "2", 6_000)]);
        let mut failing = entry("b", "3", 4_000);
        failing.last_attempt = Some(Timestamp::from_millis(9_000));
        failing.last_error = Some("HTTP 503".into());
        failing.attempts = 2;
        save("b", vec![failing]);
        let s = store.queue_summary();
        assert_eq!(s.entries, 3);
        assert_eq!(s.oldest, Some(Timestamp::from_millis(4_000)));
        assert_eq!(s.failed.len(), 1);
        assert_eq!(s.failed[0].last_error.as_deref(), Some("HTTP 503"));
        assert_eq!(store.scan_outbox().incidents(), 2);
        // Unchanged files are taken from the index, not read again: an index entry altered
        // by hand shows through.
        assert_eq!(store.queue_summary().entries, 3);
        let path = dir.join("meta").join(INDEX);
        let text = fs::read_to_string(&path).unwrap();
        let mut index: BTreeMap<String, FileSummary> = text
            .lines()
            .filter_map(FileSummary::parse)
            .map(|(n, s)| (n.to_string(), s))
            .collect();
        assert_eq!(index.len(), 2, "{text}");
        index.get_mut("a.json").unwrap().entries = 40;
        let mut text = String::new();
        for (name, s) in &index {
            s.line(name, &mut text);
        }
        fs::write(&path, text).unwrap();
        assert_eq!(store.queue_summary().entries, 41);
        // A changed file is read again; a removed one drops out.
        save("a", vec![entry("a", "1", 5_000)]);
        save("b", vec![]);
        let s = store.queue_summary();
        assert_eq!(s.entries, 1);
        assert_eq!(s.oldest, Some(Timestamp::from_millis(5_000)));
        assert!(s.failed.is_empty());
        // Losing the index costs a read of every file, not a wrong answer.
        fs::remove_file(dir.join("meta").join(INDEX)).unwrap();
        let again = store.queue_summary();
        assert_eq!((again.entries, again.oldest), (1, s.oldest));
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Once `outbox/` has been still for a while, the index written for it stands for it:
    /// the next scan lists nothing and takes the files from the index, until a queue file is
    /// written, moved or removed.
    #[test]
    fn a_settled_outbox_is_scanned_from_the_index_until_it_changes() {
        let dir = std::env::temp_dir().join(format!("pi-queue-scan-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        let save = |key: &str, at: i64| {
            let record = Record {
                incident: None,
                queue: vec![entry(key, key, at)],
            };
            store.save_record(key, &record, Durability::Commit).unwrap();
        };
        save("a", 5_000);
        save("b", 4_000);
        let path = dir.join("meta").join(INDEX);
        assert_eq!(store.queue_summary().entries, 2);
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            !text.starts_with(DIR_LINE),
            "outbox/ changed just now: {text}"
        );
        std::thread::sleep(fsutil::DirStamp::SETTLED + std::time::Duration::from_millis(100));
        store.probe_writable().unwrap();
        assert_eq!(store.queue_summary().entries, 2);
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(DIR_LINE),
            "the writability probe left outbox/ as it was"
        );
        let listed = store.scan_outbox();
        assert_eq!(
            store.pending_keys_due_in(&listed),
            [("b", 4_000), ("a", 5_000)].map(|(k, t)| (k.to_string(), Timestamp::from_millis(t)))
        );
        // The scan is the index's: a due time altered there shows through...
        let a = text.lines().find(|l| l.starts_with("a.json ")).unwrap();
        let mut fields: Vec<String> = a.split(' ').map(str::to_string).collect();
        fields[3] = "1000000000".to_string();
        fs::write(&path, text.replace(a, &fields.join(" "))).unwrap();
        let keys = |scan: &OutboxScan| -> Vec<String> {
            store
                .pending_keys_due_in(scan)
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert_eq!(keys(&store.scan_outbox()), ["a", "b"]);
        // ...until a queue file changes: then `outbox/` is listed again.
        save("c", 3_000);
        assert_eq!(keys(&store.scan_outbox()), ["c", "b", "a"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}

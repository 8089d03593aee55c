//! The plugin's count of open incidents and their oldest markers, kept in `meta/open-head`
//! while `open/` does not change. Listing 100,000 markers took ~50 ms on the project's VM
//! (ext4 reads a hashed directory in hash order, a tree per block), every run, for the same
//! answer on a store where nothing opened or closed since the last run.
//!
//! The cache is keyed by the directory's identity: its inode and its change and
//! modification times, which every marker made, removed or renamed over moves (a re-fire
//! writing into a marker it already owns does not, and changes no name). It is written only
//! when the directory did not change while it was listed and its times are more than
//! `DirStamp::SETTLED` older than the listing's start: a filesystem stamps changes with a coarse clock
//! (or whole seconds), so a change in the same tick as an earlier one could carry the same
//! times; a change after the listing is later than its start, so its times differ from
//! those the cache names. Never the truth: a cache that is missing, unreadable or for
//! another identity costs one listing, and it is written without `fsync`.

use std::fmt::Write as _;
use std::fs;

use super::fsutil::{self, DirId, DirStamp};
use super::{parse_marker, OpenIndexHead, SliceMarkers, Store};

const CACHE: &str = "open-head";
const HEADER: &str = "pandora-ilert open-head 1";

/// What the cache says: the identity it was listed at, the count, the oldest names.
#[derive(Debug, PartialEq, Eq)]
struct Cached {
    id: DirId,
    count: usize,
    oldest: Vec<String>,
}

impl Cached {
    fn render(&self) -> String {
        let [ino, ctime, mtime] = self.id;
        let mut out = format!("{HEADER}\n{ino} {ctime} {mtime} {}\n", self.count);
        for name in &self.oldest {
            let _ = writeln!(out, "{name}");
        }
        let _ = writeln!(out, "end {}", self.oldest.len());
        out
    }

    /// The cache, if whole: a header, the identity and count, the names, and an `end` line
    /// that counts them (a file cut short is not taken).
    fn parse(text: &str) -> Option<Cached> {
        let mut lines = text.lines();
        if lines.next()? != HEADER {
            return None;
        }
        let mut fields = lines.next()?.split(' ').map(str::parse::<i64>);
        let id = [
            fields.next()?.ok()?,
            fields.next()?.ok()?,
            fields.next()?.ok()?,
        ];
        let count = usize::try_from(fields.next()?.ok()?).ok()?;
        let mut oldest = Vec::new();
        for line in lines {
            if let Some(n) = line.strip_prefix("end ") {
                return (n.parse() == Ok(oldest.len()) && oldest.len() <= count)
                    .then_some(Cached { id, count, oldest });
            }
            parse_marker(line)?;
            oldest.push(line.to_string());
        }
        None
    }
}

impl Store {
    /// `open_index_head`, answered from `meta/open-head` when `open/` has not changed since
    /// a run listed it (see the module's notes). From the cache, a `slice` gets
    /// `SliceMarkers::ByRecord`: the slice checks its records' own markers by name.
    pub fn open_index_head_cached(
        &self,
        keep: usize,
        slice: Option<std::ops::Range<u32>>,
    ) -> OpenIndexHead {
        let dir = self.dir("open");
        let Some(stamp) = DirStamp::take(&dir) else {
            return self.open_index_head(keep, slice);
        };
        let path = self.dir("meta").join(CACHE);
        let cached = fs::read_to_string(&path)
            .ok()
            .and_then(|t| Cached::parse(&t))
            .filter(|c| c.id == stamp.id && c.oldest.len() >= keep.min(c.count));
        if let Some(c) = cached {
            return OpenIndexHead {
                count: c.count,
                oldest: c
                    .oldest
                    .into_iter()
                    .take(keep)
                    .filter_map(|n| Some((parse_marker(&n)?.0, n)))
                    .map(|(at, n)| (n, at))
                    .collect(),
                slice_markers: slice.map(|_| SliceMarkers::ByRecord),
            };
        }
        let head = self.open_index_head(keep, slice);
        if !self.read_only && stamp.settled() && stamp.unchanged(&dir) {
            let cache = Cached {
                id: stamp.id,
                count: head.count,
                oldest: head.oldest.iter().map(|(n, _)| n.clone()).collect(),
            };
            if let Err(e) = fsutil::replace_quick(&path, cache.render().as_bytes()) {
                log::warn!("cannot write {}: {e}", path.display());
            }
        }
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_reads_back_only_whole() {
        let c = Cached {
            id: [7, 1_700_000_000_123_456_789, 1_700_000_000_123_456_000],
            count: 3,
            oldest: vec![
                "1764000000000.a2V5LTE".to_string(),
                "1764000000001.a2V5LTI".to_string(),
            ],
        };
        let text = c.render();
        assert_eq!(Cached::parse(&text), Some(c));
        let cut = &text[..text.rfind("end").unwrap()];
        assert_eq!(Cached::parse(cut), None, "a file cut short");
        assert_eq!(Cached::parse(&text.replace("end 2", "end 3")), None);
        assert_eq!(
            Cached::parse(&text.replace("a2V5LTI", "not a marker!")),
            None
        );
    }

    /// A listing is cached once `open/` has been still for `SETTLED`; the cache answers
    /// while the directory stays as it was, and a marker made or removed is seen at once.
    #[test]
    fn the_cache_answers_only_while_open_is_unchanged() {
        let dir = std::env::temp_dir().join(format!("pi-open-head-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        let open = dir.join("open");
        let cache = dir.join("meta").join(CACHE);
        for k in 1..=4 {
            fs::write(open.join(format!("{:013}.k{k}", 1_000 * k)), b"").unwrap();
        }
        let names = |h: &OpenIndexHead| -> Vec<String> {
            h.oldest.iter().map(|(n, _)| n.clone()).collect()
        };
        let listed = store.open_index_head(2, None);
        assert_eq!(listed.count, 4);
        let first = store.open_index_head_cached(2, Some(0..10));
        assert_eq!((first.count, names(&first)), (4, names(&listed)));
        assert!(!cache.exists(), "open/ changed just now: not cached");
        assert!(matches!(
            first.slice_markers,
            Some(SliceMarkers::Listed { .. })
        ));

        std::thread::sleep(DirStamp::SETTLED + std::time::Duration::from_millis(100));
        let second = store.open_index_head_cached(2, None);
        assert_eq!((second.count, names(&second)), (4, names(&listed)));
        let text = fs::read_to_string(&cache).expect("settled: cached");
        // The cache, not a listing, answers now: one that says otherwise is believed...
        fs::write(&cache, text.replacen(" 4\n", " 40\n", 1)).unwrap();
        let third = store.open_index_head_cached(2, Some(0..10));
        assert_eq!((third.count, names(&third)), (40, names(&listed)));
        assert!(matches!(third.slice_markers, Some(SliceMarkers::ByRecord)));
        // ...more names than it holds are listed...
        assert_eq!(store.open_index_head_cached(3, None).count, 4);
        // ...and a marker made since is seen.
        fs::write(&cache, text.replacen(" 4\n", " 40\n", 1)).unwrap();
        fs::write(open.join(format!("{:013}.k0", 500)), b"").unwrap();
        let fourth = store.open_index_head_cached(2, None);
        assert_eq!(fourth.count, 5);
        assert_eq!(fourth.oldest[0].0, format!("{:013}.k0", 500));
        let _ = fs::remove_dir_all(dir);
    }
}

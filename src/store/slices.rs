//! The plugin's passes over every record (closed-record housekeeping, archiving, the repair of
//! the `open/` index) done a slice per run, so no run reads more than about
//! `RECORDS_PER_SLICE` records however large the store grows (docs/store.md, "Passes over
//! every record").
//!
//! A record file belongs to one of `BUCKETS` buckets by a hash of its key's file name; a run
//! takes the buckets from where the last run stopped up to about `RECORDS_PER_SLICE`
//! records (counted in the same listing), so one cycle visits every bucket, hence every
//! record that exists throughout the cycle, exactly once. The cursor (where the cycle
//! started, the next bucket) is kept under `meta/`, one per pass. Pure: the store lists
//! and reads, this decides.

use std::time::Duration;

use crate::text::fnv1a;
use crate::time::Timestamp;

/// How many buckets the records are spread over.
pub const BUCKETS: u32 = 4096;

/// About how many records one run of a pass reads.
pub const RECORDS_PER_SLICE: usize = 1000;

/// The bucket of a record whose file name (without `.json`, or a history file's key part)
/// is `name`: the same in every run and every process.
pub fn bucket(name: &str) -> u32 {
    // The low bits of FNV-1a: no allocation, as it runs for every name of a large listing.
    (fnv1a(name.as_bytes()) % u64::from(BUCKETS)) as u32
}

/// The bucket at which a cycle does the `n`-th of `of` pieces of work that are not records
/// (sweeping one store directory): spread evenly, so each is done in exactly one slice.
pub fn spread(n: usize, of: usize) -> u32 {
    u32::try_from(n * BUCKETS as usize / of.max(1)).unwrap_or(BUCKETS)
}

/// Where a cycle of a pass stands, as kept under `meta/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// When the cycle started.
    pub started: Timestamp,
    /// The next bucket to visit; `BUCKETS` once the cycle is complete.
    pub next: u32,
}

impl Cursor {
    /// Reads the `meta/` text: `<started>` alone (a complete cycle, also what earlier
    /// versions wrote: the time of their last whole pass) or `<started> next <bucket> of
    /// <buckets>`. Anything else, or another bucket count, is `None` (a new cycle starts).
    pub fn parse(text: &str) -> Option<Cursor> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let started = Timestamp::parse_rfc3339(words.first()?)?;
        match words[1..] {
            [] => Some(Cursor {
                started,
                next: BUCKETS,
            }),
            ["next", next, "of", buckets] => {
                let (next, buckets) = (next.parse().ok()?, buckets.parse::<u32>().ok()?);
                (buckets == BUCKETS && next < BUCKETS).then_some(Cursor { started, next })
            }
            _ => None,
        }
    }

    /// The `meta/` text of this cursor.
    pub fn text(&self) -> String {
        if self.next >= BUCKETS {
            self.started.rfc3339_millis()
        } else {
            format!(
                "{} next {} of {BUCKETS}",
                self.started.rfc3339_millis(),
                self.next
            )
        }
    }
}

/// What a run of a pass does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Nothing: the last cycle is complete and started less than `every` ago.
    Idle,
    /// Start a new cycle now: list the record files.
    Start {
        /// Now.
        started: Timestamp,
    },
    /// Visit the buckets from `from` on, in the cycle that started at `started`.
    From {
        /// When the cycle started.
        started: Timestamp,
        /// The first bucket of this run's slice.
        from: u32,
    },
}

/// Decides this run's part of a pass from its cursor (`None`: missing or unreadable) and how
/// often a cycle starts. A cycle in progress goes on; a complete one is followed by the next
/// `every` after it started (at once if it took longer); a cursor from the future (the clock
/// went back) starts a new cycle.
pub fn plan(cursor: Option<Cursor>, now: Timestamp, every: Duration) -> Plan {
    let fresh = Plan::Start { started: now };
    match cursor {
        None => fresh,
        Some(c) if c.started > now => fresh,
        Some(c) if c.next < BUCKETS => Plan::From {
            started: c.started,
            from: c.next,
        },
        Some(c) if now.since(c.started) < every => Plan::Idle,
        Some(_) => fresh,
    }
}

/// The end (exclusive) of the slice that starts at bucket `from`, given how many records
/// each bucket holds (`counts`, one per bucket): whole buckets, as many as keep the slice
/// within `limit` records, and at least one.
pub fn slice_end(counts: &[u32], from: u32, limit: usize) -> u32 {
    let mut end = from.min(BUCKETS);
    let mut taken = 0usize;
    while end < BUCKETS {
        let n = counts.get(end as usize).copied().unwrap_or(0) as usize;
        if end > from && taken + n > limit {
            break;
        }
        taken += n;
        end += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_millis(1_800_000_000_000 + secs * 1000)
    }

    /// Runs a whole cycle of slices over `names` (counting per bucket, as the store does
    /// with a cycle's list) and returns how often each name was visited, how many runs it
    /// took, and each slice's bucket range.
    fn cycle(names: &[String], limit: usize) -> (Vec<usize>, usize, Vec<(u32, u32)>) {
        let mut counts = vec![0u32; BUCKETS as usize];
        for n in names {
            counts[bucket(n) as usize] += 1;
        }
        let mut visits = vec![0; names.len()];
        let (mut from, mut ranges) = (0, Vec::new());
        while from < BUCKETS {
            let end = slice_end(&counts, from, limit);
            assert!(end > from, "every run makes progress");
            let read = names
                .iter()
                .enumerate()
                .filter(|(_, n)| (from..end).contains(&bucket(n)))
                .map(|(i, _)| visits[i] += 1)
                .count();
            assert!(
                read <= limit || end == from + 1,
                "a slice stays within the limit unless one bucket alone exceeds it: {read}"
            );
            ranges.push((from, end));
            from = end;
        }
        (visits, ranges.len(), ranges)
    }

    #[test]
    fn one_cycle_visits_every_record_exactly_once() {
        let names: Vec<String> = (0..100_000).map(|i| (10_000_000 + i).to_string()).collect();
        let (visits, runs, ranges) = cycle(&names, RECORDS_PER_SLICE);
        assert!(visits.iter().all(|v| *v == 1));
        assert!(
            (100..=110).contains(&runs),
            "{runs} runs for 100,000 records"
        );
        assert!(
            ranges.windows(2).all(|w| w[0].1 == w[1].0) && ranges[0].0 == 0,
            "consecutive ranges from 0 to the end: {ranges:?}"
        );
        let small: Vec<String> = (0..700).map(|i| format!("key-{i}")).collect();
        let (visits, runs, _) = cycle(&small, RECORDS_PER_SLICE);
        assert!(visits.iter().all(|v| *v == 1));
        assert_eq!(runs, 1, "a small store is visited whole in one run");
        let (visits, runs, _) = cycle(&[], RECORDS_PER_SLICE);
        assert!(visits.is_empty());
        assert_eq!(runs, 1);
    }

    #[test]
    fn spread_work_falls_in_exactly_one_slice_of_any_cycle() {
        let names: Vec<String> = (0..30_000).map(|i| format!("k{i}")).collect();
        for limit in [1, 100, 1000, usize::MAX] {
            let (_, _, ranges) = cycle(&names, limit);
            let done: Vec<usize> = (0..10)
                .map(|n| {
                    ranges
                        .iter()
                        .filter(|(f, e)| (*f..*e).contains(&spread(n, 10)))
                        .count()
                })
                .collect();
            assert_eq!(done, [1; 10], "limit {limit}");
        }
    }

    #[test]
    fn a_bucket_larger_than_the_limit_is_still_one_slice() {
        let mut counts = vec![0u32; BUCKETS as usize];
        counts[5] = 5000;
        counts[6] = 1;
        counts[9] = 1;
        assert_eq!(slice_end(&counts, 0, 1000), 5);
        assert_eq!(slice_end(&counts, 5, 1000), 6);
        assert_eq!(slice_end(&counts, 6, 1000), BUCKETS);
        assert_eq!(slice_end(&counts, 6, 1), 9);
        assert_eq!(slice_end(&counts, BUCKETS, 1000), BUCKETS);
    }

    #[test]
    fn buckets_are_stable_and_spread() {
        assert_eq!(bucket("10000000"), bucket("10000000"));
        let mut counts = vec![0u32; BUCKETS as usize];
        for i in 0..409_600 {
            counts[bucket(&(10_000_000 + i).to_string()) as usize] += 1;
        }
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(*min > 40 && *max < 200, "{min}..{max} per bucket");
    }

    #[test]
    fn cursors_round_trip_and_old_or_odd_ones_are_read_safely() {
        let c = Cursor {
            started: t(0),
            next: 17,
        };
        assert_eq!(Cursor::parse(&c.text()), Some(c));
        let done = Cursor {
            started: t(0),
            next: BUCKETS,
        };
        assert_eq!(Cursor::parse(&done.text()), Some(done));
        // What earlier versions wrote: the time of the last whole pass.
        assert_eq!(
            Cursor::parse(&t(0).rfc3339_millis()).map(|c| c.next),
            Some(BUCKETS)
        );
        let started = t(0).rfc3339_millis();
        for odd in [
            "",
            "garbage",
            &format!("{started} next 5 of 1024"),
            &format!("{started} next 5000 of 4096"),
            &format!("{started} next x of 4096"),
            &format!("{started} next 5"),
        ] {
            assert_eq!(Cursor::parse(odd), None, "{odd:?}");
        }
    }

    #[test]
    fn a_cycle_goes_on_and_the_next_starts_an_hour_after_the_last() {
        let fresh = |now| Plan::Start { started: now };
        assert_eq!(plan(None, t(10), HOUR), fresh(t(10)));
        let going = Cursor {
            started: t(0),
            next: 40,
        };
        assert_eq!(
            plan(Some(going), t(99_999), HOUR),
            Plan::From {
                started: t(0),
                from: 40
            },
            "a cycle in progress goes on however long it takes"
        );
        let done = Cursor {
            started: t(0),
            next: BUCKETS,
        };
        assert_eq!(plan(Some(done), t(3599), HOUR), Plan::Idle);
        assert_eq!(plan(Some(done), t(3600), HOUR), fresh(t(3600)));
        assert_eq!(
            plan(Some(done), t(-5), HOUR),
            fresh(t(-5)),
            "the clock went back"
        );
        assert_eq!(
            plan(Some(going), t(-5), HOUR),
            fresh(t(-5)),
            "the clock went back mid-cycle"
        );
    }
}

//! A store bounded by bytes that lets its least recently used entry go, one
//! at a time, to make room (the ready answers, docs/rules.md#ready-answers,
//! and the verdicts on bearer tokens). Dropping everything when full would
//! make a working set a little larger than the budget miss on every poll.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

struct Slot<V> {
    value: V,
    size: usize,
    /// When it was last used: its key in `by_use`.
    used: u64,
}

/// What a store has done, for `/metrics`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LruStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub bytes: usize,
    pub entries: usize,
}

pub struct Lru<K, V> {
    slots: HashMap<K, Slot<V>>,
    /// Keys by last use, oldest first.
    by_use: BTreeMap<u64, K>,
    clock: u64,
    budget: usize,
    stats: LruStats,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    /// A store of at most `budget` bytes (0: it keeps nothing).
    pub fn new(budget: usize) -> Self {
        Self {
            slots: HashMap::new(),
            by_use: BTreeMap::new(),
            clock: 0,
            budget,
            stats: LruStats::default(),
        }
    }

    pub fn stats(&self) -> LruStats {
        self.stats
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// `usable`'s view of the entry under `key` when it takes it (a hit, which
    /// makes the entry the most recently used). An entry it refuses is
    /// useless from now on and is let go (a miss, like no entry).
    pub fn get<Q, R>(&mut self, key: &Q, usable: impl FnOnce(&V) -> Option<R>) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let found = self.slots.get(key).map(|slot| usable(&slot.value));
        match found {
            Some(Some(view)) => {
                let now = self.tick();
                let slot = self.slots.get_mut(key).expect("just found");
                let key = self
                    .by_use
                    .remove(&slot.used)
                    .expect("every slot is ordered");
                slot.used = now;
                self.by_use.insert(now, key);
                self.stats.hits += 1;
                Some(view)
            }
            Some(None) => {
                self.remove(key);
                self.stats.misses += 1;
                None
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    fn remove<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(slot) = self.slots.remove(key) {
            self.by_use.remove(&slot.used);
            self.stats.bytes -= slot.size;
            self.stats.entries -= 1;
        }
    }

    /// Keeps `value` (of `size` bytes, key included) under `key`, replacing
    /// what was there and letting the least recently used entries go until
    /// it fits. Nothing is kept of a value larger than a quarter of the
    /// budget: one answer must not push out hundreds.
    pub fn put(&mut self, key: K, value: V, size: usize) {
        self.remove(&key);
        if size > self.budget / 4 {
            return;
        }
        while self.stats.bytes + size > self.budget {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            if let Some(slot) = self.slots.remove(&oldest) {
                self.stats.bytes -= slot.size;
                self.stats.entries -= 1;
                self.stats.evictions += 1;
            }
        }
        let used = self.tick();
        self.by_use.insert(used, key.clone());
        self.slots.insert(key, Slot { value, size, used });
        self.stats.bytes += size;
        self.stats.entries += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_goes_first_and_alone() {
        let mut lru = Lru::new(400);
        for key in ["a", "b", "c", "d"] {
            lru.put(key, key, 100);
        }
        // "a" is used, so "b" is now the least recently used.
        assert_eq!(lru.get("a", |v| Some(*v)), Some("a"));
        lru.put("e", "e", 100);
        assert_eq!(lru.get("b", |v| Some(*v)), None);
        for key in ["a", "c", "d", "e"] {
            assert_eq!(lru.get(key, |v| Some(*v)), Some(key), "{key}");
        }
        let stats = lru.stats();
        assert_eq!((stats.evictions, stats.bytes, stats.entries), (1, 400, 4));
        assert_eq!((stats.hits, stats.misses), (5, 1));
    }

    #[test]
    fn a_refused_entry_is_let_go_and_a_large_one_never_kept() {
        let mut lru = Lru::new(400);
        lru.put("a", 1, 100);
        assert_eq!(lru.get("a", |_| None::<i32>), None);
        assert_eq!(lru.stats().bytes, 0);
        lru.put("big", 2, 101);
        assert_eq!(lru.get("big", |v| Some(*v)), None);
        assert_eq!(lru.stats().entries, 0);
        // Replacing an entry counts its bytes once.
        lru.put("a", 1, 100);
        lru.put("a", 3, 50);
        assert_eq!(lru.get("a", |v| Some(*v)), Some(3));
        assert_eq!((lru.stats().bytes, lru.stats().evictions), (50, 0));
    }
}

//! Fast hashing for label-keyed maps, seeded per map against flooding.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

use xxhash_rust::xxh3::Xxh3Builder;

pub(crate) type FastMap<K, V> = HashMap<K, V, Xxh3Builder>;
pub(crate) type FastSet<K> = HashSet<K, Xxh3Builder>;

/// A hasher with a random seed: label sets come from outside, so a fixed
/// seed would let a sender craft colliding series.
pub(crate) fn hasher() -> Xxh3Builder {
    Xxh3Builder::new().with_seed(random_seed())
}

/// A seed that differs per call and per process.
pub(crate) fn random_seed() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(0u64)
}

pub(crate) fn fast_map<K, V>() -> FastMap<K, V> {
    HashMap::with_hasher(hasher())
}

pub(crate) fn fast_set<K>() -> FastSet<K> {
    HashSet::with_hasher(hasher())
}

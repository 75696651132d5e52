//! Finding the users a file names twice, in bounded memory: 8 bytes per record.

use std::{
    collections::{HashSet, hash_map::RandomState},
    fmt,
    hash::BuildHasher,
};

/// Finds user ids named twice in a stream of millions, in bounded memory: each id is kept as
/// a 64-bit keyed hash, not as a string, in one flat array: 8 bytes per record, 8 MB per
/// million, whatever the ids' length. [`repeated`](Self::repeated) sorts the array and returns
/// the hashes seen more than once.
///
/// Two different ids share a hash with a probability of about 3 × 10⁻⁸ in a file of a million:
/// a caller that must be exact confirms each repeated hash by looking at the records that carry
/// it (the command re-reads the file to name the earlier line, which settles it).
///
/// ```
/// use authing_otp_cli::fingerprints::UserFingerprints;
///
/// let mut seen = UserFingerprints::with_capacity(3);
/// for user in ["alice@example.com", "bob@example.com", "alice@example.com"] {
///     seen.push(user);
/// }
/// let repeated = seen.repeated();
/// assert!(repeated.contains(&seen.hash("alice@example.com")));
/// assert!(!repeated.contains(&seen.hash("bob@example.com")));
/// ```
pub struct UserFingerprints {
    keys: RandomState,
    hashes: Vec<u64>,
}

impl UserFingerprints {
    /// An empty set with room for `records` ids (a count of lines is a fine upper bound).
    pub fn with_capacity(records: usize) -> Self {
        UserFingerprints {
            keys: RandomState::new(),
            hashes: Vec::with_capacity(records),
        }
    }

    /// The hash `user_id` is kept as.
    pub fn hash(&self, user_id: &str) -> u64 {
        self.keys.hash_one(user_id)
    }

    /// Records `user_id`.
    pub fn push(&mut self, user_id: &str) {
        let hash = self.hash(user_id);
        self.hashes.push(hash);
    }

    /// The hashes recorded more than once (the array is sorted in place to find them).
    pub fn repeated(&mut self) -> HashSet<u64> {
        self.hashes.sort_unstable();
        self.hashes
            .windows(2)
            .filter(|pair| pair[0] == pair[1])
            .map(|pair| pair[0])
            .collect()
    }

    /// How many ids were recorded.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

impl Default for UserFingerprints {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl fmt::Debug for UserFingerprints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserFingerprints")
            .field("users", &self.hashes.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_find_repeats_among_many() {
        let mut seen = UserFingerprints::with_capacity(100_001);
        for n in 0..100_000 {
            seen.push(&format!("user-{n}@example.com"));
        }
        seen.push("user-99999@example.com");
        let repeated = seen.repeated();
        assert_eq!(repeated.len(), 1);
        assert!(repeated.contains(&seen.hash("user-99999@example.com")));
        assert_eq!(seen.len(), 100_001);
        assert_eq!(format!("{seen:?}"), "UserFingerprints { users: 100001 }");
    }
}

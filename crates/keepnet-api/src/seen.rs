//! A compact set of 64-bit fingerprints, for dropping users served twice.
//!
//! A `HashSet<u64>` rounds its table up to a power of two: one million fingerprints take a
//! 2^21-slot table, 18.9 MB. This open-addressing table sizes itself to the expected count
//! instead (8 bytes a slot at most 85% full: about 10 MB for a million), which keeps a large
//! export's memory close to a small one's.

/// The set. Fingerprint 0 marks an empty slot, so it is stored as 1.
#[derive(Debug, Default)]
pub(crate) struct Fingerprints {
    slots: Vec<u64>,
    len: usize,
}

/// Grow past this fill ratio (in percent): linear probing stays short below it.
const MAX_LOAD_PERCENT: usize = 85;

impl Fingerprints {
    /// Room for `expected` fingerprints without growing.
    pub(crate) fn reserve(&mut self, expected: usize) {
        let wanted = expected * 100 / (MAX_LOAD_PERCENT - 5) + 16;
        if wanted > self.slots.len() {
            self.rebuild(wanted);
        }
    }

    /// Adds `fingerprint`; false if it was already there.
    pub(crate) fn insert(&mut self, fingerprint: u64) -> bool {
        if (self.len + 1) * 100 > self.slots.len() * MAX_LOAD_PERCENT {
            self.rebuild((self.slots.len() * 3 / 2).max(64));
        }
        let added = Self::place(&mut self.slots, fingerprint.max(1));
        self.len += usize::from(added);
        added
    }

    /// Number of fingerprints held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn place(slots: &mut [u64], fingerprint: u64) -> bool {
        // Fingerprints are uniform: map them onto the table by multiplication, no modulo.
        let mut index = ((u128::from(fingerprint) * slots.len() as u128) >> 64) as usize;
        loop {
            match slots[index] {
                0 => {
                    slots[index] = fingerprint;
                    return true;
                }
                existing if existing == fingerprint => return false,
                _ => {
                    index = if index + 1 == slots.len() {
                        0
                    } else {
                        index + 1
                    }
                }
            }
        }
    }

    fn rebuild(&mut self, size: usize) {
        let mut slots = vec![0u64; size];
        for &fingerprint in self.slots.iter().filter(|&&f| f != 0) {
            Self::place(&mut slots, fingerprint);
        }
        self.slots = slots;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_set() {
        let mut set = Fingerprints::default();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut values = Vec::new();
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x);
        }
        for &v in &values {
            assert!(set.insert(v), "new value");
        }
        for &v in &values {
            assert!(!set.insert(v), "repeat");
        }
        assert_eq!(set.len(), values.len());
        assert!(
            set.insert(0) && !set.insert(0) && !set.insert(1),
            "0 is stored as 1"
        );
        assert!(set.slots.len() * 85 >= set.len * 100, "load bound holds");
    }

    #[test]
    fn reserve_sizes_to_the_count() {
        let mut set = Fingerprints::default();
        set.reserve(1_000_000);
        assert!(set.slots.len() < 1_300_000, "{}", set.slots.len());
        let before = set.slots.len();
        for v in 1..=1_000_000u64 {
            set.insert(v.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
        assert_eq!(
            set.slots.len(),
            before,
            "no growth when the count was known"
        );
    }
}

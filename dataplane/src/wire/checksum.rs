//! The Internet checksum (RFC 1071).

/// Ones'-complement sum of 16-bit big-endian words (odd tail padded),
/// added to `sum`; the result is folded to at most 17 bits, so callers
/// may add a few more words before [`csum_fold`].
#[inline]
pub fn csum_add(sum: u32, b: &[u8]) -> u32 {
    // Eight bytes at a time in the machine's byte order, as two 32-bit
    // halves: the ones'-complement sum does not depend on the word width,
    // and the sum of byte-swapped words is the byte-swapped sum (RFC 1071
    // §2(B)), so one swap at the end replaces one per word (per-word
    // swaps kept the compiler's vector loop busy shuffling). A u64
    // accumulator cannot overflow for any frame.
    let mut acc = 0u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let x = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        acc += (x >> 32) + (x & 0xffff_ffff);
    }
    let mut pairs = chunks.remainder().chunks_exact(2);
    for c in &mut pairs {
        acc += u16::from_ne_bytes([c[0], c[1]]) as u64;
    }
    if let [x] = pairs.remainder() {
        // The odd byte is the high byte of a word padded with zero.
        acc += u16::from_ne_bytes([*x, 0]) as u64;
    }
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    let acc = (acc & 0xffff) + (acc >> 16);
    let acc = (acc & 0xffff) + (acc >> 16);
    let acc = (acc & 0xffff) + (acc >> 16);
    let words = u16::from_be_bytes((acc as u16).to_ne_bytes()) as u64;
    let s = sum as u64 + words;
    let s = (s & 0xffff_ffff) + (s >> 32);
    let s = (s & 0xffff) + (s >> 16);
    ((s & 0xffff) + (s >> 16)) as u32
}

/// Folds a sum to 16 bits and complements it.
#[inline(always)]
pub fn csum_fold(mut sum: u32) -> u16 {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

/// The Internet checksum of `b`.
pub fn checksum(b: &[u8]) -> u16 {
    csum_fold(csum_add(0, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: words 0001 f203 f4f5 f6f7 sum to ddf2, checksum 220d.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        assert_eq!(checksum(&[0xff]), !0xff00);
    }

    /// The 16-bit words one by one, as RFC 1071 states the sum.
    fn by_words(sum: u32, b: &[u8]) -> u16 {
        let mut s = sum as u64;
        for c in b.chunks(2) {
            s += (c[0] as u64) << 8 | c.get(1).copied().unwrap_or(0) as u64;
        }
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    proptest! {
        #[test]
        fn wide_sum_is_the_word_sum(b in prop::collection::vec(any::<u8>(), 0..9300), sum in 0u32..0x4_0000) {
            prop_assert_eq!(csum_fold(csum_add(sum, &b)), by_words(sum, &b));
        }
    }
}

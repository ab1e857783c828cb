//! Restricted rule semantics (the papers' third experiment): patterns built from a base string.
//!
//! With a base `b` of `n` letters and a parameter `k`, every family gives a string of `n * k` letters:
//! - repeated: each letter of `b` written `k` times (`abc`, k = 3: `aaabbbccc`);
//! - periodic: `b` written `k` times (`abc`, k = 2: `abcabc`);
//! - mirrored: `b`, its reverse, `b`, ... `k` segments in all (`abc`, k = 3: `abccbaabc`).
//!
//! At `k = 1` every family is an arbitrary string, so training on `k` in 2-3 and testing on `k = 1`
//! asks whether the model follows instructions whose structure it never saw.

use crate::engine::config::Span;
use crate::engine::rng::SeededRng;
use serde::{Deserialize, Serialize};

/// A pattern family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Each letter repeated `k` times.
    Repeated,
    /// The base repeated `k` times.
    Periodic,
    /// The base and its mirror image alternating, `k` segments.
    Mirrored,
}

impl Family {
    /// Every family, in display order.
    pub const ALL: [Family; 3] = [Family::Repeated, Family::Periodic, Family::Mirrored];

    /// Lowercase name, as in settings and links.
    pub fn name(self) -> &'static str {
        match self {
            Family::Repeated => "repeated",
            Family::Periodic => "periodic",
            Family::Mirrored => "mirrored",
        }
    }

    /// Base lengths `n >= 1` whose pattern length `n * k` lies in `span`.
    pub fn base_lengths(self, k: usize, span: Span) -> impl Iterator<Item = usize> {
        (1..=span.max).filter(move |n| span.contains(n * k))
    }

    /// Builds the pattern of this family from a base string.
    pub fn expand(self, base: &[u8], k: usize) -> String {
        let mut out = Vec::with_capacity(base.len() * k);
        match self {
            Family::Repeated => {
                for &letter in base {
                    out.extend(std::iter::repeat_n(letter, k));
                }
            }
            Family::Periodic => {
                for _ in 0..k {
                    out.extend_from_slice(base);
                }
            }
            Family::Mirrored => {
                for segment in 0..k {
                    if segment % 2 == 0 {
                        out.extend_from_slice(base);
                    } else {
                        out.extend(base.iter().rev());
                    }
                }
            }
        }
        String::from_utf8(out).expect("letters are ASCII")
    }

    /// Draws a pattern of this family with parameter `k` and a length in `span`.
    /// An empty pattern is allowed when `span` starts at 0 (a deletion rule's `y`).
    /// Returns `None` when no base length fits.
    pub fn sample(
        self,
        k: usize,
        span: Span,
        alphabet: usize,
        rng: &mut SeededRng,
    ) -> Option<String> {
        let mut lengths: Vec<usize> = self.base_lengths(k, span).collect();
        if span.min == 0 {
            lengths.push(0);
        }
        if lengths.is_empty() {
            return None;
        }
        let n = lengths[rng.index(lengths.len())];
        let base: Vec<u8> = (0..n).map(|_| b'a' + rng.index(alphabet) as u8).collect();
        Some(self.expand(&base, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_examples_expand() {
        assert_eq!(Family::Repeated.expand(b"abc", 3), "aaabbbccc");
        assert_eq!(Family::Periodic.expand(b"abc", 2), "abcabc");
        assert_eq!(Family::Mirrored.expand(b"abc", 3), "abccbaabc");
    }

    #[test]
    fn k_one_is_the_base_itself() {
        for family in Family::ALL {
            assert_eq!(family.expand(b"abd", 1), "abd");
        }
    }

    #[test]
    fn sampled_lengths_fit_the_span() {
        let mut rng = SeededRng::from_seed(3);
        for _ in 0..100 {
            let s = Family::Mirrored
                .sample(2, Span::new(1, 6), 5, &mut rng)
                .unwrap();
            assert!(
                s.len().is_multiple_of(2) && (2..=6).contains(&s.len()),
                "{s}"
            );
        }
        assert!(
            Family::Periodic
                .sample(4, Span::new(1, 3), 5, &mut rng)
                .is_none()
        );
    }
}

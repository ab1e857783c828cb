//! The instruction: a string-rewrite rule `x -> y` applied once, at the leftmost occurrence.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A rewrite rule `x -> y`. Strings are lowercase ASCII letters drawn from the task's alphabet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rule {
    /// The pattern to find (never empty).
    pub x: String,
    /// Its replacement (may be empty: a deletion).
    pub y: String,
}

impl Rule {
    /// A rule from its two sides.
    pub fn new(x: impl Into<String>, y: impl Into<String>) -> Self {
        Self {
            x: x.into(),
            y: y.into(),
        }
    }

    /// Applies the rule to `z`: the leftmost occurrence of `x` is replaced by `y`; `z` is returned
    /// unchanged when `x` does not occur (a no-op).
    ///
    /// ```
    /// use instruction_diversity::engine::task::Rule;
    /// assert_eq!(Rule::new("aa", "bac").apply("caaba"), "cbacba");
    /// assert_eq!(Rule::new("iss", "art").apply("mississippi"), "martissippi");
    /// assert_eq!(Rule::new("iss", "art").apply("canada"), "canada");
    /// ```
    pub fn apply(&self, z: &str) -> String {
        match leftmost_occurrence(&self.x, z) {
            Some(at) => {
                let mut out = String::with_capacity(z.len() + self.y.len());
                out.push_str(&z[..at]);
                out.push_str(&self.y);
                out.push_str(&z[at + self.x.len()..]);
                out
            }
            None => z.to_string(),
        }
    }

    /// Whether applying the rule to `z` changes nothing because `x` is absent.
    pub fn is_noop_on(&self, z: &str) -> bool {
        leftmost_occurrence(&self.x, z).is_none()
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.x, self.y)
    }
}

/// Byte offset of the leftmost occurrence of a non-empty `pattern` in `text`.
pub fn leftmost_occurrence(pattern: &str, text: &str) -> Option<usize> {
    if pattern.is_empty() {
        return None;
    }
    text.as_bytes()
        .windows(pattern.len())
        .position(|window| window == pattern.as_bytes())
}

/// Number of (possibly overlapping) occurrences of a non-empty `pattern` in `text`:
/// `aa` occurs twice in `aaa`.
pub fn count_occurrences(pattern: &str, text: &str) -> usize {
    if pattern.is_empty() {
        return 0;
    }
    text.as_bytes()
        .windows(pattern.len())
        .filter(|window| *window == pattern.as_bytes())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_examples() {
        assert_eq!(Rule::new("aa", "bac").apply("caaba"), "cbacba");
        assert_eq!(Rule::new("iss", "art").apply("mississippi"), "martissippi");
        assert_eq!(Rule::new("iss", "art").apply("canada"), "canada");
    }

    #[test]
    fn deletion_and_whole_string() {
        assert_eq!(Rule::new("ab", "").apply("cabd"), "cd");
        assert_eq!(Rule::new("abc", "d").apply("abc"), "d");
    }

    #[test]
    fn overlapping_occurrences_rewrite_only_the_leftmost() {
        assert_eq!(Rule::new("aa", "b").apply("aaa"), "ba");
        assert_eq!(count_occurrences("aa", "aaa"), 2);
    }

    #[test]
    fn display_uses_arrow() {
        assert_eq!(Rule::new("ab", "c").to_string(), "ab -> c");
    }
}

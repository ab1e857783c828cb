//! Character diff between the expected answer and the model's, for highlighting in the page.

use serde::{Deserialize, Serialize};

/// How a run of characters differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// In both answers.
    Same,
    /// In the expected answer, missing from the model's.
    Missing,
    /// In the model's answer, not expected.
    Extra,
}

/// A run of characters of one kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffSegment {
    /// How it differs.
    pub kind: DiffKind,
    /// The characters.
    pub text: String,
}

/// A minimal edit script from `expected` to `output` (longest common subsequence; ties prefer
/// reporting missing characters first), merged into runs. Answers are short (tens of characters), so
/// the quadratic table is cheap.
pub fn char_diff(expected: &str, output: &str) -> Vec<DiffSegment> {
    let a: Vec<char> = expected.chars().collect();
    let b: Vec<char> = output.chars().collect();
    // lcs[i][j]: length of the LCS of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut segments: Vec<DiffSegment> = Vec::new();
    let mut push = |kind: DiffKind, c: char| match segments.last_mut() {
        Some(last) if last.kind == kind => last.text.push(c),
        _ => segments.push(DiffSegment {
            kind,
            text: c.to_string(),
        }),
    };
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            push(DiffKind::Same, a[i]);
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            push(DiffKind::Missing, a[i]);
            i += 1;
        } else {
            push(DiffKind::Extra, b[j]);
            j += 1;
        }
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(segments: &[DiffSegment]) -> String {
        segments
            .iter()
            .map(|s| match s.kind {
                DiffKind::Same => s.text.clone(),
                DiffKind::Missing => format!("[-{}]", s.text),
                DiffKind::Extra => format!("[+{}]", s.text),
            })
            .collect()
    }

    #[test]
    fn identical_answers_are_one_same_run() {
        assert_eq!(render(&char_diff("cbacba", "cbacba")), "cbacba");
    }

    #[test]
    fn substitution_insertion_and_deletion() {
        assert_eq!(render(&char_diff("cbacba", "cbxcba")), "cb[-a][+x]cba");
        assert_eq!(render(&char_diff("abc", "abxc")), "ab[+x]c");
        assert_eq!(render(&char_diff("abc", "ac")), "a[-b]c");
        assert_eq!(render(&char_diff("", "ab")), "[+ab]");
        assert_eq!(render(&char_diff("ab", "")), "[-ab]");
    }

    #[test]
    fn both_sides_are_recoverable() {
        let segments = char_diff("martissippi", "mississippi");
        let expected: String = segments
            .iter()
            .filter(|s| s.kind != DiffKind::Extra)
            .map(|s| s.text.as_str())
            .collect();
        let output: String = segments
            .iter()
            .filter(|s| s.kind != DiffKind::Missing)
            .map(|s| s.text.as_str())
            .collect();
        assert_eq!(expected, "martissippi");
        assert_eq!(output, "mississippi");
    }
}

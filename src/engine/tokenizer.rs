//! Characters plus special tokens, and the one sequence format of the project.
//!
//! A training sequence has fixed-width fields, so every prompt has the same length and the answer
//! always starts at the same position (batched greedy decoding then needs no per-row offsets):
//!
//! ```text
//! BOS  x x x .  >  y y y  |  z z z z z z z z z z z z  =  a a a a a a a a a a a a a a EOS . .
//!      x field     y field   z field                      answer field (+ EOS)
//! ```
//!
//! Each field is padded on the right with `PAD` (`.` above) to the longest length the task allows.
//! The loss covers only the answer letters and the `EOS` after them: never the prompt, never the
//! padding after `EOS`.

use crate::engine::config::TaskConfig;

/// Padding inside fields and after the answer.
pub const PAD: u32 = 0;
/// Start of sequence.
pub const BOS: u32 = 1;
/// Separates `x` from `y` (shown as `>`).
pub const ARROW: u32 = 2;
/// Separates the rule from the input (shown as `|`).
pub const BAR: u32 = 3;
/// Ends the prompt (shown as `=`).
pub const EQUALS: u32 = 4;
/// Ends the answer.
pub const EOS: u32 = 5;
/// Id of the letter `a`; letter `i` of the alphabet is `FIRST_LETTER + i`.
pub const FIRST_LETTER: u32 = 6;

/// Field widths of a task's sequences.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequenceLayout {
    /// Letters in the alphabet.
    pub alphabet: usize,
    /// Width of the `x` field.
    pub x_width: usize,
    /// Width of the `y` field.
    pub y_width: usize,
    /// Width of the `z` field.
    pub z_width: usize,
    /// Width of the answer field, `EOS` included.
    pub answer_width: usize,
}

impl SequenceLayout {
    /// The layout for a task.
    pub fn new(task: &TaskConfig) -> Self {
        Self {
            alphabet: task.alphabet,
            x_width: task.x_len.max,
            y_width: task.y_len.max,
            z_width: task.z_len.max,
            answer_width: task.max_answer_len() + 1,
        }
    }

    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        FIRST_LETTER as usize + self.alphabet
    }

    /// Tokens before the answer: `BOS x > y | z =`.
    pub fn prompt_len(&self) -> usize {
        1 + self.x_width + 1 + self.y_width + 1 + self.z_width + 1
    }

    /// Tokens of a whole sequence.
    pub fn sequence_len(&self) -> usize {
        self.prompt_len() + self.answer_width
    }

    fn letter(&self, c: char) -> u32 {
        let index = (c as u32).wrapping_sub('a' as u32);
        assert!(
            (index as usize) < self.alphabet,
            "letter {c:?} is outside the alphabet of {}",
            self.alphabet
        );
        FIRST_LETTER + index
    }

    fn push_field(&self, out: &mut Vec<u32>, text: &str, width: usize) {
        assert!(
            text.len() <= width,
            "{text:?} is wider than its field ({width})"
        );
        out.extend(text.chars().map(|c| self.letter(c)));
        out.extend(std::iter::repeat_n(PAD, width - text.len()));
    }

    /// The prompt `BOS x > y | z =`, `prompt_len()` tokens.
    pub fn encode_prompt(&self, x: &str, y: &str, z: &str) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.sequence_len());
        out.push(BOS);
        self.push_field(&mut out, x, self.x_width);
        out.push(ARROW);
        self.push_field(&mut out, y, self.y_width);
        out.push(BAR);
        self.push_field(&mut out, z, self.z_width);
        out.push(EQUALS);
        out
    }

    /// A whole training sequence (`sequence_len()` tokens) and the number of tokens the loss covers
    /// (answer letters plus `EOS`), which start at `prompt_len()`.
    pub fn encode_example(&self, x: &str, y: &str, z: &str, answer: &str) -> (Vec<u32>, usize) {
        let mut out = self.encode_prompt(x, y, z);
        self.push_field(&mut out, answer, self.answer_width - 1);
        // EOS goes right after the answer, so shift the padding behind it.
        let answer_end = self.prompt_len() + answer.len();
        out.insert(answer_end, EOS);
        (out, answer.len() + 1)
    }

    /// Reads generated answer tokens up to `EOS`. `None` when no `EOS` came or a non-letter token
    /// came before it: such an answer never matches.
    pub fn decode_answer(&self, tokens: &[u32]) -> Option<String> {
        let mut out = String::new();
        for &token in tokens {
            if token == EOS {
                return Some(out);
            }
            out.push(self.token_char(token)?);
        }
        None
    }

    /// Like [`Self::decode_answer`] but always gives something to show: unknown tokens as `?`, and
    /// the text up to the end when no `EOS` came.
    pub fn render_answer(&self, tokens: &[u32]) -> String {
        tokens
            .iter()
            .take_while(|&&t| t != EOS)
            .map(|&t| self.token_char(t).unwrap_or('?'))
            .collect()
    }

    /// The letter of a token, if it is one.
    pub fn token_char(&self, token: u32) -> Option<char> {
        let index = token.checked_sub(FIRST_LETTER)? as usize;
        (index < self.alphabet).then(|| (b'a' + index as u8) as char)
    }

    /// A printable form of any token, for attention views and debugging.
    pub fn token_label(&self, token: u32) -> String {
        match token {
            PAD => "·".into(),
            BOS => "^".into(),
            ARROW => ">".into(),
            BAR => "|".into(),
            EQUALS => "=".into(),
            EOS => "$".into(),
            t => self
                .token_char(t)
                .map(String::from)
                .unwrap_or_else(|| "?".into()),
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::engine::config::{Span, TaskConfig};
    use proptest::prelude::*;

    fn layout() -> SequenceLayout {
        SequenceLayout::new(&TaskConfig {
            alphabet: 4,
            x_len: Span::new(1, 2),
            y_len: Span::new(0, 2),
            z_len: Span::new(2, 5),
            ..TaskConfig::default()
        })
    }

    #[test]
    fn documented_layout() {
        let l = layout();
        assert_eq!(l.prompt_len(), 1 + 2 + 1 + 2 + 1 + 5 + 1);
        assert_eq!(l.answer_width, 5 + 2 - 1 + 1);
        let (tokens, loss_len) = l.encode_example("ab", "", "cabd", "cd");
        let text: String = tokens.iter().map(|&t| l.token_label(t)).collect();
        assert_eq!(text, "^ab>··|cabd·=cd$····");
        assert_eq!(loss_len, 3);
        assert_eq!(tokens.len(), l.sequence_len());
    }

    #[test]
    fn missing_eos_or_bad_token_never_decodes() {
        let l = layout();
        assert_eq!(l.decode_answer(&[FIRST_LETTER, EOS]), Some("a".into()));
        assert_eq!(l.decode_answer(&[FIRST_LETTER, FIRST_LETTER]), None);
        assert_eq!(l.decode_answer(&[FIRST_LETTER, BAR, EOS]), None);
        assert_eq!(l.render_answer(&[FIRST_LETTER, BAR, EOS]), "a?");
    }

    proptest! {
        #[test]
        fn encode_decode_round_trips(
            x in "[a-d]{1,2}", y in "[a-d]{0,2}", z in "[a-d]{2,5}"
        ) {
            let l = layout();
            let answer = crate::engine::task::Rule::new(x.clone(), y.clone()).apply(&z);
            let (tokens, loss_len) = l.encode_example(&x, &y, &z, &answer);
            prop_assert_eq!(tokens.len(), l.sequence_len());
            prop_assert_eq!(loss_len, answer.len() + 1);
            let decoded = l.decode_answer(&tokens[l.prompt_len()..]);
            prop_assert_eq!(decoded, Some(answer));
            prop_assert_eq!(&tokens[..l.prompt_len()], &l.encode_prompt(&x, &y, &z)[..]);
        }
    }
}

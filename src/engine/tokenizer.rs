//! Characters plus special tokens, and the project's two sequence formats.
//!
//! With [`SequenceFormat::Fields`] (the presets'), a training sequence has fixed-width fields, so every
//! prompt has the same length and the answer always starts at the same position:
//!
//! ```text
//! BOS  x x x .  >  y y y  |  z z z z z z z z z z z z  =  a a a a a a a a a a a a a a EOS . .
//!      x field     y field   z field                      answer field (+ EOS)
//! ```
//!
//! Each field is padded on the right with `PAD` (`.` above) to the longest length the task allows.
//! With [`SequenceFormat::Packed`] nothing inside is padded (`BOS x > y | z = answer EOS`, then `PAD`
//! to the longest sequence), so the answer starts where each prompt ends. Either way the loss covers
//! only the answer letters and the `EOS` after them: never the prompt, never the padding.

use crate::engine::config::{SequenceFormat, TaskConfig};
use serde::{Deserialize, Serialize};
use std::ops::Range;

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
    /// Fields padded inside the prompt, or packed.
    pub format: SequenceFormat,
}

/// Where one prompt's fields lie: token positions of the letters of `x`, `y` and `z` (padding
/// excluded) and the prompt's length, for the head scores ([`crate::engine::mechanism`]) and the
/// attention view. With the `fields` format each field starts at a fixed position; packed, each
/// starts after the one before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptFields {
    /// The letters of `x`.
    pub x: Range<usize>,
    /// The letters of `y`.
    pub y: Range<usize>,
    /// The letters of `z`.
    pub z: Range<usize>,
    /// Tokens before the answer (`BOS` to `=` included).
    pub prompt_len: usize,
}

/// A training sequence: its tokens (`sequence_len()` of them), where its answer starts, and how many
/// tokens the loss covers there (the answer letters and `EOS`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// The tokens.
    pub tokens: Vec<u32>,
    /// Tokens before the answer.
    pub prompt_len: usize,
    /// Tokens the loss covers, from `prompt_len` on.
    pub loss_len: usize,
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
            format: task.format,
        }
    }

    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        FIRST_LETTER as usize + self.alphabet
    }

    /// Tokens before the answer in the longest prompt, `BOS x > y | z =` (every prompt's, with fields).
    pub fn prompt_len(&self) -> usize {
        1 + self.x_width + 1 + self.y_width + 1 + self.z_width + 1
    }

    /// Where the fields of the prompt of a rule `x -> y` and an input `z` lie (lengths in letters).
    ///
    /// ```
    /// use instruction_diversity::engine::config::{SequenceFormat, Span, TaskConfig};
    /// use instruction_diversity::engine::tokenizer::SequenceLayout;
    /// let mut task = TaskConfig::default();
    /// (task.x_len, task.y_len, task.z_len) = (Span::new(1, 3), Span::new(0, 3), Span::new(1, 6));
    /// task.format = SequenceFormat::Fields;
    /// // ^ x x x > y y y | z z z z z z =
    /// let fields = SequenceLayout::new(&task).fields(2, 1, 4);
    /// assert_eq!((fields.x, fields.y, fields.z, fields.prompt_len), (1..3, 5..6, 9..13, 16));
    /// task.format = SequenceFormat::Packed;
    /// // ^ x x > y | z z z z =
    /// let fields = SequenceLayout::new(&task).fields(2, 1, 4);
    /// assert_eq!((fields.x, fields.y, fields.z, fields.prompt_len), (1..3, 4..5, 6..10, 11));
    /// ```
    pub fn fields(&self, x_len: usize, y_len: usize, z_len: usize) -> PromptFields {
        let packed = self.format == SequenceFormat::Packed;
        let width = |len: usize, field: usize| if packed { len } else { field };
        let x = 1;
        let y = x + width(x_len, self.x_width) + 1;
        let z = y + width(y_len, self.y_width) + 1;
        PromptFields {
            x: x..x + x_len,
            y: y..y + y_len,
            z: z..z + z_len,
            prompt_len: z + width(z_len, self.z_width) + 1,
        }
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
        if self.format == SequenceFormat::Fields {
            out.extend(std::iter::repeat_n(PAD, width - text.len()));
        }
    }

    /// The prompt `BOS x > y | z =`: `prompt_len()` tokens with fields, fewer when packed.
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

    /// A whole training sequence: the prompt, the answer and `EOS`, padded to `sequence_len()`.
    pub fn encode_example(&self, x: &str, y: &str, z: &str, answer: &str) -> Encoded {
        let mut tokens = self.encode_prompt(x, y, z);
        let prompt_len = tokens.len();
        assert!(
            answer.len() < self.answer_width,
            "{answer:?} is wider than the answer field ({})",
            self.answer_width - 1
        );
        tokens.extend(answer.chars().map(|c| self.letter(c)));
        tokens.push(EOS);
        tokens.resize(self.sequence_len(), PAD);
        Encoded {
            tokens,
            prompt_len,
            loss_len: answer.len() + 1,
        }
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
        let encoded = l.encode_example("ab", "", "cabd", "cd");
        let text: String = encoded.tokens.iter().map(|&t| l.token_label(t)).collect();
        assert_eq!(text, "^ab>··|cabd·=cd$····");
        assert_eq!((encoded.prompt_len, encoded.loss_len), (l.prompt_len(), 3));
        assert_eq!(encoded.tokens.len(), l.sequence_len());
    }

    #[test]
    fn packed_sequences_have_no_padding_inside() {
        let l = SequenceLayout {
            format: SequenceFormat::Packed,
            ..layout()
        };
        let encoded = l.encode_example("ab", "", "cabd", "cd");
        let text: String = encoded.tokens.iter().map(|&t| l.token_label(t)).collect();
        assert_eq!(text, "^ab>|cabd=cd$·······");
        assert_eq!((encoded.prompt_len, encoded.loss_len), (10, 3));
        assert_eq!(encoded.tokens.len(), l.sequence_len());
        assert_eq!(l.encode_prompt("ab", "", "cabd").len(), 10);
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
            for format in [SequenceFormat::Fields, SequenceFormat::Packed] {
                let l = SequenceLayout { format, ..l };
                let encoded = l.encode_example(&x, &y, &z, &answer);
                let p = encoded.prompt_len;
                prop_assert_eq!(encoded.tokens.len(), l.sequence_len());
                prop_assert_eq!(encoded.loss_len, answer.len() + 1);
                let decoded = l.decode_answer(&encoded.tokens[p..]);
                prop_assert_eq!(decoded, Some(answer.clone()));
                prop_assert_eq!(&encoded.tokens[..p], &l.encode_prompt(&x, &y, &z)[..]);
            }
        }
    }
}

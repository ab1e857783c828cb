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
//!
//! A program of `k` rules ([`crate::engine::task::program`]) writes its rules one after the other,
//! separated by `;`, a terminal rule with `»` for its arrow:
//!
//! ```text
//! BOS  x1 x1 >  y1 y1  ;  x2 x2 »  y2 y2  |  z z z z  =  a a a , a a a EOS
//! ```
//!
//! and a step-by-step answer writes each intermediate string, then the final one, separated by `,`.
//! These three tokens come after the letters (ids `FIRST_LETTER + alphabet` onwards) and exist only
//! in tasks of programs, so the papers' task keeps its vocabulary and its models.

use crate::engine::config::{AnswerFormat, SequenceFormat, TaskConfig};
use crate::engine::task::Instruction;
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
    /// Rules per instruction (`k`).
    pub rules: usize,
    /// Whether the vocabulary holds the program tokens (`;`, `,` and `»`).
    pub program_tokens: bool,
    /// What the answer field holds.
    pub answer: AnswerFormat,
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
    /// The letters of each rule's `x` and `y`, in order (`x` and `y` above are the first's).
    #[serde(default)]
    pub rules: Vec<(Range<usize>, Range<usize>)>,
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
            rules: task.program.rules,
            program_tokens: !task.program.is_single_rule(),
            answer: task.program.answer,
        }
    }

    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        FIRST_LETTER as usize + self.alphabet + if self.program_tokens { 3 } else { 0 }
    }

    /// Separates the rules of a program (shown as `;`).
    pub fn semicolon(&self) -> u32 {
        FIRST_LETTER + self.alphabet as u32
    }

    /// Separates the strings of a step-by-step answer (shown as `,`).
    pub fn comma(&self) -> u32 {
        FIRST_LETTER + self.alphabet as u32 + 1
    }

    /// The arrow of a terminal rule (shown as `»`).
    pub fn terminal_arrow(&self) -> u32 {
        FIRST_LETTER + self.alphabet as u32 + 2
    }

    /// Tokens before the answer in the longest prompt, `BOS x > y | z =` (every prompt's, with
    /// fields), with `k` rules separated by `;`.
    pub fn prompt_len(&self) -> usize {
        1 + self.rules * (self.x_width + 1 + self.y_width) + (self.rules - 1) + 1 + self.z_width + 1
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
        self.rule_fields(&[(x_len, y_len)], z_len)
    }

    /// Where the fields of an instruction's prompt on an input of `z_len` letters lie.
    pub fn instruction_fields(&self, instruction: &Instruction, z_len: usize) -> PromptFields {
        let lengths: Vec<(usize, usize)> = instruction
            .rules()
            .iter()
            .map(|r| (r.x.len(), r.y.len()))
            .collect();
        self.rule_fields(&lengths, z_len)
    }

    fn rule_fields(&self, lengths: &[(usize, usize)], z_len: usize) -> PromptFields {
        let packed = self.format == SequenceFormat::Packed;
        let width = |len: usize, field: usize| if packed { len } else { field };
        let mut at = 1;
        let mut rules = Vec::with_capacity(lengths.len());
        for &(x_len, y_len) in lengths {
            let y = at + width(x_len, self.x_width) + 1;
            rules.push((at..at + x_len, y..y + y_len));
            // `;` after each rule but the last, `|` after the last.
            at = y + width(y_len, self.y_width) + 1;
        }
        let z = at;
        PromptFields {
            x: rules[0].0.clone(),
            y: rules[0].1.clone(),
            z: z..z + z_len,
            prompt_len: z + width(z_len, self.z_width) + 1,
            rules,
        }
    }

    /// Tokens of a whole sequence.
    pub fn sequence_len(&self) -> usize {
        self.prompt_len() + self.answer_width
    }

    fn letter(&self, c: char) -> u32 {
        if c == ',' && self.program_tokens {
            return self.comma();
        }
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

    /// The prompt `BOS x > y | z =` (`BOS x1 > y1 ; x2 > y2 | z =` for a program):
    /// `prompt_len()` tokens with fields, fewer when packed.
    ///
    /// # Panics
    /// When the instruction has more rules than the layout, or a field is too wide: a dataset of
    /// the layout's task never does that.
    pub fn encode_prompt(&self, instruction: &Instruction, z: &str) -> Vec<u32> {
        let rules = instruction.rules();
        assert!(
            rules.len() <= self.rules,
            "{} rules where the task has {}",
            rules.len(),
            self.rules
        );
        let mut out = Vec::with_capacity(self.sequence_len());
        out.push(BOS);
        for (i, rule) in rules.iter().enumerate() {
            if i > 0 {
                out.push(self.semicolon());
            }
            self.push_field(&mut out, &rule.x, self.x_width);
            out.push(if instruction.is_terminal(i) {
                self.terminal_arrow()
            } else {
                ARROW
            });
            self.push_field(&mut out, &rule.y, self.y_width);
        }
        out.push(BAR);
        self.push_field(&mut out, z, self.z_width);
        out.push(EQUALS);
        out
    }

    /// A whole training sequence: the prompt, the target (the answer, or the trace ending in it,
    /// strings separated by `,`) and `EOS`, padded to `sequence_len()`.
    pub fn encode_example(&self, instruction: &Instruction, z: &str, answer: &str) -> Encoded {
        let mut tokens = self.encode_prompt(instruction, z);
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

    /// The answer a decoded output gives: the whole output for a direct answer, the string after
    /// the last `,` for a step-by-step one (exact match looks at the final string only).
    pub fn final_string<'a>(&self, decoded: &'a str) -> &'a str {
        match self.answer {
            AnswerFormat::Direct => decoded,
            AnswerFormat::Trace => decoded.rsplit(',').next().unwrap_or(decoded),
        }
    }

    /// Reads generated answer tokens up to `EOS` (a trace's separators as `,`). `None` when no
    /// `EOS` came or a token other than a letter or a separator came before it: such an answer
    /// never matches.
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

    /// The letter of a token, if it is one (and `,` for a trace's separator).
    pub fn token_char(&self, token: u32) -> Option<char> {
        if self.program_tokens && token == self.comma() {
            return Some(',');
        }
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
            t if self.program_tokens && t == self.semicolon() => ";".into(),
            t if self.program_tokens && t == self.terminal_arrow() => "»".into(),
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
        let encoded = l.encode_example(&rule("ab", ""), "cabd", "cd");
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
        let encoded = l.encode_example(&rule("ab", ""), "cabd", "cd");
        let text: String = encoded.tokens.iter().map(|&t| l.token_label(t)).collect();
        assert_eq!(text, "^ab>|cabd=cd$·······");
        assert_eq!((encoded.prompt_len, encoded.loss_len), (10, 3));
        assert_eq!(encoded.tokens.len(), l.sequence_len());
        assert_eq!(l.encode_prompt(&rule("ab", ""), "cabd").len(), 10);
    }

    fn rule(x: &str, y: &str) -> Instruction {
        Instruction::Rule(crate::engine::task::Rule::new(x, y))
    }

    #[test]
    fn programs_write_their_rules_and_traces_with_their_own_tokens() {
        use crate::engine::config::{ProgramConfig, ProgramSemantics, Terminal};
        let task = TaskConfig {
            alphabet: 4,
            x_len: Span::new(1, 2),
            y_len: Span::new(0, 2),
            z_len: Span::new(2, 5),
            program: ProgramConfig {
                rules: 2,
                semantics: ProgramSemantics::Markov,
                terminal: Terminal::Last,
                max_steps: 3,
                answer: AnswerFormat::Trace,
                rule_pool: 0,
            },
            ..TaskConfig::default()
        };
        let l = SequenceLayout::new(&task);
        assert_eq!(l.vocab_size(), FIRST_LETTER as usize + 4 + 3);
        let program = Instruction::parse("ab -> c; c ->. d", ProgramSemantics::Markov, 3).unwrap();
        let run = program.run("abab", task.max_string_len()).unwrap();
        let target = run.trace(&program, "abab").join(",");
        assert_eq!(target, "cab,cc,dc");
        let encoded = l.encode_example(&program, "abab", &target);
        let text: String = encoded.tokens.iter().map(|&t| l.token_label(t)).collect();
        assert_eq!(
            &text[..text.find('$').unwrap() + 1],
            "^ab>c·;c·»d·|abab·=cab,cc,dc$"
        );
        assert_eq!(encoded.tokens.len(), l.sequence_len());
        assert_eq!(encoded.prompt_len, l.prompt_len());
        let fields = l.instruction_fields(&program, 4);
        assert_eq!(fields.rules, [(1..3, 4..5), (7..8, 10..11)]);
        assert_eq!(fields.z, 13..17);
        let decoded = l
            .decode_answer(&encoded.tokens[encoded.prompt_len..])
            .unwrap();
        assert_eq!(l.final_string(&decoded), "dc");
        // The papers' task keeps its vocabulary.
        assert_eq!(layout().vocab_size(), FIRST_LETTER as usize + 4);
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
                let encoded = l.encode_example(&rule(&x, &y), &z, &answer);
                let p = encoded.prompt_len;
                prop_assert_eq!(encoded.tokens.len(), l.sequence_len());
                prop_assert_eq!(encoded.loss_len, answer.len() + 1);
                let decoded = l.decode_answer(&encoded.tokens[p..]);
                prop_assert_eq!(decoded, Some(answer.clone()));
                prop_assert_eq!(&encoded.tokens[..p], &l.encode_prompt(&rule(&x, &y), &z)[..]);
            }
        }
    }
}

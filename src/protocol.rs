//! The typed messages between the page and the training worker.
//!
//! The worker owns all compute: it receives [`Command`]s, trains in chunks, checks its inbox between
//! chunks, and streams [`Event`]s: which backend runs, progress, evaluations, then `Finished` or
//! `Error`. Both sides exchange them as JSON text ([`Command::to_json`], [`Event::from_json`]), so
//! a malformed message is a clear error rather than a crash.

use crate::engine::config::{ExperimentConfig, ValidConfig};
use crate::engine::metrics::{EvalSummary, Evaluation};
use serde::{Deserialize, Serialize};

/// Predictions per split the worker sends with each evaluation, and the page shows for a run.
pub const SAMPLES_PER_SPLIT: usize = 4;

/// Which backend the page asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendPreference {
    /// WebGPU when the browser offers an adapter, else the CPU.
    Auto,
    /// Always the CPU backend.
    Cpu,
}

/// Page -> worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum Command {
    /// Start a run (any run in progress is dropped).
    Start {
        /// The run's settings (validated again as the message is read).
        config: Box<ValidConfig>,
        /// The backend asked for.
        backend: BackendPreference,
    },
    /// Stop taking steps until `Resume` or `Step`.
    Pause,
    /// Go on training.
    Resume,
    /// While paused: take this many steps, then pause again.
    Step {
        /// Steps to take.
        steps: usize,
    },
    /// End the run; what was measured stays with the page.
    Stop,
    /// The worker's tab: its checkpoints are kept under this owner id in the browser's storage (so
    /// two tabs keep two runs). Sent before any other command; the worker keeps no checkpoint
    /// before it.
    Own {
        /// The tab's owner id.
        owner: String,
    },
    /// Go on with the run saved in the browser's storage under the worker's owner id (the worker
    /// reads the checkpoint itself).
    ResumeSaved {
        /// The backend asked for.
        backend: BackendPreference,
    },
    /// Train this run, going on from the run saved under the worker's owner id when it is this
    /// run (a helper worker's run a reload interrupted), else from the start, as `Start` does. A
    /// saved run that is missing, damaged or another run's is not an error: the run starts again.
    Continue {
        /// The run's settings (validated again as the message is read).
        config: Box<ValidConfig>,
        /// The backend asked for.
        backend: BackendPreference,
    },
    /// Train a sweep's runs together as one stacked model ([`crate::engine::stack`]) when the
    /// worker trains on WebGPU, where one run leaves the device idle between its small kernels;
    /// on the CPU the worker trains only the first (the page's helper workers train the others at
    /// once). The worker says which with [`Event::Stacked`]; the first run's events come as a
    /// single run's, the others' wrapped in [`Event::Member`]. The runs share their
    /// [`crate::engine::stack::StackKey`] (the page plans them so; the worker refuses others).
    StartStack {
        /// The runs' settings, the run panel's first (each validated again as the message is read).
        configs: Vec<ValidConfig>,
        /// The backend asked for.
        backend: BackendPreference,
    },
    /// [`Command::StartStack`], going on from the stack saved under the worker's owner id when it
    /// holds these runs (a reload interrupted it), else from the start.
    ContinueStack {
        /// The runs' settings, in the stack's order.
        configs: Vec<ValidConfig>,
        /// The backend asked for.
        backend: BackendPreference,
    },
    /// Put a typed rule and input to the model of the run with these settings (the run in progress,
    /// or one of the last [`KEPT_MODELS`] finished); answered by [`Event::Answer`]. Training goes on.
    Ask {
        /// Settings of the run whose model answers.
        config: Box<ExperimentConfig>,
        /// The rule and input, already checked by [`crate::engine::question::check_question`].
        question: crate::engine::question::Question,
    },
}

/// Most runs the page stacks in its worker on WebGPU. A bound on what one stack holds (a stack of
/// the reference model is about 8 times its 2 MB of training memory, see
/// [`crate::engine::memory::estimate_stack`]), and on the results a reload makes it train again;
/// the worker stacks fewer when the adapter's largest buffer cannot hold them.
pub const MAX_PAGE_STACK: usize = 8;

/// Finished runs whose models the worker keeps for questions (a reference model is about 0.4 MB).
pub const KEPT_MODELS: usize = 32;

/// The backend a run trains on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// burn on the browser's WebGPU.
    WebGpu,
    /// burn's CPU backend in wasm.
    Cpu,
}

/// The backend and why it was chosen, for the badge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// Which backend.
    pub kind: BackendKind,
    /// `WebGPU: <adapter>` or `CPU: WebGPU unavailable because ...`.
    pub description: String,
}

/// One prediction shown in the page's table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplePrediction {
    /// `seen`, `unseen` or `noop`.
    pub split: String,
    /// The rule, as `x -> y`.
    pub rule: String,
    /// The input.
    pub input: String,
    /// The correct answer.
    pub expected: String,
    /// The model's answer.
    pub output: String,
    /// Exact match.
    pub correct: bool,
}

impl SamplePrediction {
    /// The first `per_split` predictions of each split of an evaluation, the rule text taken from the
    /// split's own per-rule scores (so the page, which has no dataset, makes them too).
    pub fn from_evaluation(evaluation: &Evaluation, per_split: usize) -> Vec<Self> {
        [&evaluation.seen, &evaluation.unseen, &evaluation.noop]
            .into_iter()
            .flat_map(|report| {
                report
                    .predictions
                    .iter()
                    .take(per_split)
                    .map(move |p| Self {
                        split: report.name.clone(),
                        rule: report
                            .per_rule
                            .iter()
                            .find(|r| r.rule == p.rule)
                            .map(|r| r.text.to_string())
                            .unwrap_or_default(),
                        input: p.z.clone(),
                        expected: p.expected.clone(),
                        output: p.output.clone(),
                        correct: p.correct,
                    })
            })
            .collect()
    }
}

/// Worker -> page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    /// The worker is loaded and listening; commands sent before this are lost, so the page holds
    /// them until it arrives.
    Ready,
    /// The backend is ready; sent once per run, before any progress.
    Backend(BackendInfo),
    /// How many of the runs of a [`Command::StartStack`] or [`Command::ContinueStack`] the worker
    /// trains together, the first `runs` of them (all on WebGPU when they fit the adapter, the
    /// first alone on the CPU), or of the stack a [`Command::ResumeSaved`] goes on with. Sent
    /// before [`Event::Backend`]; the page gives the runs left out to its helper workers.
    Stacked {
        /// Runs trained together.
        runs: usize,
    },
    /// An event of run `member` (1 or more) of the stack the worker trains: its `Progress`,
    /// `Evaluation`, `Record` and `Finished`. Run 0's events come unwrapped, as a single run's.
    Member {
        /// The run's place in the stack.
        member: usize,
        /// What it said.
        said: Box<Event>,
    },
    /// Training advanced.
    Progress {
        /// Steps taken.
        step: usize,
        /// Steps the run will take.
        total_steps: usize,
        /// Mean loss since the previous progress event.
        loss: f32,
        /// Recent training speed.
        steps_per_second: f64,
    },
    /// An evaluation finished.
    Evaluation {
        /// Headline numbers.
        summary: EvalSummary,
        /// A few predictions per split.
        samples: Vec<SamplePrediction>,
        /// [`crate::engine::metrics::Evaluation::fingerprint`] of the whole evaluation.
        #[serde(default)]
        fingerprint: String,
        /// Every prediction and per-rule score, for the instruction inspector.
        #[serde(default)]
        detail: Option<Box<Evaluation>>,
    },
    /// The run was checkpointed to the browser's storage at this step: a reload resumes it here.
    Checkpointed {
        /// Steps taken.
        step: usize,
        /// Size of the weights and optimizer state written.
        bytes: usize,
        /// Wall time of the read-back and the write, in seconds (training waits for it).
        seconds: f64,
    },
    /// Checkpointing failed (a full storage quota, say); training goes on.
    CheckpointFailed {
        /// Why, in plain words.
        message: String,
    },
    /// The answer to an [`Command::Ask`], or why there is none (no such model, a bad question).
    Answer {
        /// The answer and the attention weights behind it.
        answer: Result<Box<crate::engine::question::Answer>, String>,
    },
    /// The worker stopped taking steps.
    Paused {
        /// Steps taken.
        step: usize,
    },
    /// The worker is training again.
    Resumed,
    /// The finished run's record (curves, final numbers, per-rule scores), sent just before
    /// `Finished`, for export.
    Record {
        /// The record.
        record: Box<crate::study::record::RunRecord>,
    },
    /// Every step is done.
    Finished {
        /// Steps taken.
        step: usize,
    },
    /// The run ended on an error: rejected settings, a diverged loss, a crash.
    Error {
        /// What happened, in plain words.
        message: String,
    },
    /// The GPU device was lost: the run ended, but its latest checkpoint is kept, so it can go on
    /// from there (in a fresh worker, on a new device or the CPU).
    DeviceLost {
        /// What the browser said, in plain words.
        message: String,
    },
}

/// A message that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what} message: {detail}")]
pub struct MessageError {
    /// `command` or `event`.
    pub what: &'static str,
    /// The parser's explanation.
    pub detail: String,
}

macro_rules! json_message {
    ($type:ty, $what:literal) => {
        impl $type {
            /// The message as JSON text.
            pub fn to_json(&self) -> String {
                serde_json::to_string(self).expect("messages serialize")
            }

            /// Reads a message from JSON text.
            pub fn from_json(text: &str) -> Result<Self, MessageError> {
                serde_json::from_str(text).map_err(|e| MessageError {
                    what: $what,
                    detail: e.to_string(),
                })
            }
        }
    };
}

json_message!(Command, "command");
json_message!(Event, "event");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_through_json() {
        let commands = [
            Command::Start {
                config: Box::default(),
                backend: BackendPreference::Auto,
            },
            Command::Own {
                owner: "19a2b-00f3c1".into(),
            },
            Command::Pause,
            Command::Resume,
            Command::Step { steps: 5 },
            Command::Stop,
            Command::ResumeSaved {
                backend: BackendPreference::Cpu,
            },
            Command::Continue {
                config: Box::default(),
                backend: BackendPreference::Cpu,
            },
            Command::StartStack {
                configs: vec![ValidConfig::default(); 3],
                backend: BackendPreference::Auto,
            },
            Command::ContinueStack {
                configs: vec![ValidConfig::default(); 2],
                backend: BackendPreference::Cpu,
            },
            Command::Ask {
                config: Box::default(),
                question: crate::engine::question::Question {
                    rule: crate::engine::task::Rule::new("ab", ""),
                    z: "cabd".into(),
                },
            },
        ];
        for command in commands {
            assert_eq!(Command::from_json(&command.to_json()).unwrap(), command);
        }
        assert!(Command::Pause.to_json().contains(r#""command":"pause""#));
    }

    #[test]
    fn events_round_trip_through_json() {
        let events = [
            Event::Ready,
            Event::Backend(BackendInfo {
                kind: BackendKind::Cpu,
                description: "CPU: WebGPU unavailable because no adapter".into(),
            }),
            Event::Progress {
                step: 10,
                total_steps: 100,
                loss: 1.5,
                steps_per_second: 3.25,
            },
            Event::Paused { step: 10 },
            Event::Stacked { runs: 4 },
            Event::Member {
                member: 2,
                said: Box::new(Event::Finished { step: 100 }),
            },
            Event::Resumed,
            Event::Finished { step: 100 },
            Event::Checkpointed {
                step: 40,
                bytes: 1_048_576,
                seconds: 0.25,
            },
            Event::CheckpointFailed {
                message: "full".into(),
            },
            Event::Error {
                message: "diverged".into(),
            },
            Event::DeviceLost {
                message: "device lost".into(),
            },
            Event::Answer {
                answer: Err("no model".into()),
            },
        ];
        for event in events {
            assert_eq!(Event::from_json(&event.to_json()).unwrap(), event);
        }
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        let err = Command::from_json(r#"{"command":"fly"}"#).unwrap_err();
        assert_eq!(err.what, "command");
        assert!(Event::from_json("not json").is_err());
        assert!(Command::from_json(r#"{"command":"step"}"#).is_err());
    }

    /// A small dataset and an evaluation of it scored as evaluation does: every prediction (each
    /// answer the input unchanged), and a per-rule score, with the rule's text, for each rule.
    fn evaluation() -> (crate::engine::task::Dataset, Evaluation) {
        let mut config = crate::engine::config::ExperimentConfig::default();
        config.task.instructions = 16;
        config.task.budget = crate::engine::config::Budget::Total(200);
        config.eval.test_rules = 4;
        let dataset = crate::engine::task::Dataset::generate(&config.validate().unwrap()).unwrap();
        let report = |split: &crate::engine::task::EvalSplit| {
            let mut rules: Vec<u32> = split.examples.iter().map(|e| e.rule).collect();
            rules.sort_unstable();
            rules.dedup();
            crate::engine::metrics::SplitReport {
                name: split.name.clone(),
                all: Default::default(),
                hasop: Default::default(),
                noop: Default::default(),
                per_rule: rules
                    .into_iter()
                    .map(|rule| crate::engine::metrics::RuleScore {
                        rule,
                        text: dataset.rule(split.rules, rule).clone(),
                        tally: Default::default(),
                    })
                    .collect(),
                predictions: split
                    .examples
                    .iter()
                    .map(|e| crate::engine::metrics::Prediction {
                        rule: e.rule,
                        z: e.z.clone(),
                        expected: e.answer.clone(),
                        output: e.z.clone(),
                        correct: e.noop,
                        noop: e.noop,
                    })
                    .collect(),
            }
        };
        let evaluation = Evaluation {
            step: 0,
            seen: report(&dataset.seen),
            unseen: report(&dataset.unseen),
            noop: report(&dataset.noop),
        };
        (dataset, evaluation)
    }

    #[test]
    fn the_large_events_round_trip_too() {
        let (_, evaluation) = evaluation();
        let record = crate::study::record::RunRecord {
            labels: vec!["16".into()],
            config: crate::engine::config::ExperimentConfig::default(),
            instructions: 16,
            examples_per_rule: 12.5,
            rules_with_examples: 16,
            steps: 100,
            result: evaluation.summary(),
            final_loss: 0.25,
            losses: vec![crate::engine::metrics::LossPoint {
                step: 100,
                loss: 0.25,
            }],
            evaluations: vec![evaluation.summary()],
            seen_rules: evaluation.seen.per_rule.clone(),
            unseen_rules: evaluation.unseen.per_rule.clone(),
            wall_seconds: 2.5,
        };
        let answer = crate::engine::question::Answer {
            question: crate::engine::question::Question {
                rule: crate::engine::task::Rule::new("ab", "c"),
                z: "dabba".into(),
            },
            output: "dcba".into(),
            expected: "dcba".into(),
            correct: true,
            origin: crate::engine::question::RuleOrigin::HeldOut,
            step: 100,
            attention: crate::engine::question::AttentionMap {
                columns: vec!["^".into(), "a".into()],
                prompt_len: 2,
                rows: vec!["d".into()],
                layers: 1,
                heads: 2,
                weights: vec![0.25, 0.75, 1.0, 0.0],
            },
        };
        let events = [
            Event::Evaluation {
                summary: evaluation.summary(),
                samples: SamplePrediction::from_evaluation(&evaluation, SAMPLES_PER_SPLIT),
                fingerprint: evaluation.fingerprint(),
                detail: Some(Box::new(evaluation.clone())),
            },
            Event::Record {
                record: Box::new(record),
            },
            Event::Answer {
                answer: Ok(Box::new(answer)),
            },
        ];
        for event in events {
            let text = event.to_json();
            assert_eq!(Event::from_json(&text).unwrap(), event, "{}", &text[..80]);
        }
        // A start with settings that are not a valid run is refused as the message is read.
        let mut bad = serde_json::to_value(Command::Start {
            config: Box::default(),
            backend: BackendPreference::Auto,
        })
        .unwrap();
        bad["config"]["model"]["heads"] = 5.into();
        let error = Command::from_json(&bad.to_string()).unwrap_err();
        assert!(error.detail.contains("model.heads"), "{error}");
    }

    #[test]
    fn samples_take_a_few_predictions_per_split() {
        let (dataset, evaluation) = evaluation();
        let samples = SamplePrediction::from_evaluation(&evaluation, 2);
        assert_eq!(samples.len(), 6);
        assert_eq!(samples[0].split, "seen");
        assert_eq!(samples[5].split, "noop");
        for (sample, (split, example)) in samples.iter().zip(
            dataset
                .eval_splits()
                .into_iter()
                .flat_map(|s| s.examples.iter().take(2).map(move |e| (s, e))),
        ) {
            assert_eq!(sample.input, example.z);
            assert_eq!(
                sample.rule,
                dataset.rule(split.rules, example.rule).to_string()
            );
        }
    }
}

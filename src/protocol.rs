//! The typed messages between a host (the page, the CLI) and a training session (the page's
//! worker, the CLI's own; see `crate::session`).
//!
//! The session owns all compute: it receives [`Command`]s (one, [`Command::Train`], starts any
//! work), trains in chunks, checks its inbox between chunks, and streams [`Event`]s: how many runs
//! train together and on which backend, then each run's progress, evaluations, record and end, each
//! inside an [`Event::Member`] naming the run, or an `Error`. The page and its workers exchange them
//! as JSON text ([`Command::to_json`], [`Event::from_json`]), so a malformed message is a clear
//! error rather than a crash.

use crate::engine::config::{ExperimentConfig, ValidConfig};
use crate::engine::metrics::{EvalSummary, Evaluation};
use serde::{Deserialize, Serialize};

/// This build's name: a hash of the sources the page and its worker are built from (`build.rs`).
/// The worker says it in [`Event::Ready`]; the page compares it with its own.
pub const BUILD: &str = env!("IDP_BUILD");

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

/// What a [`Command::Train`] trains, and from where.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "from")]
pub enum Work {
    /// These runs, from their first step (any checkpoint kept before is forgotten first: a reload
    /// must not resume a run that was replaced).
    Fresh {
        /// The runs' settings (each validated again as the message is read).
        runs: Vec<ValidConfig>,
    },
    /// These runs, going on from the checkpoint kept for the trainer when it holds exactly these
    /// runs in this order (a reload interrupted them), else from their first step. A checkpoint
    /// that is missing, damaged or of other runs is not an error: the runs start again.
    SavedIfSame {
        /// The runs' settings, in the order they were trained together.
        runs: Vec<ValidConfig>,
    },
    /// The runs of the checkpoint kept for the trainer, going on from it (a reload or a lost GPU
    /// device interrupted them); an error when there is none or it cannot be used.
    Saved,
}

impl Work {
    /// The runs asked for (none for [`Work::Saved`]: the checkpoint says).
    pub fn runs(&self) -> &[ValidConfig] {
        match self {
            Self::Fresh { runs } | Self::SavedIfSame { runs } => runs,
            Self::Saved => &[],
        }
    }
}

/// Host (the page, the CLI) -> training session (the worker's, the CLI's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum Command {
    /// Train runs (any training in progress ends first). The runs train together as one model
    /// ([`crate::engine::stack`]; a run alone is a stack of one) when the session's policy and the
    /// device allow: all of them where a GPU holds them, the first alone on the page's CPU
    /// fallback (the page's helper workers train the others at once). The session says how many
    /// with [`Event::Training`]; every event of a run is an [`Event::Member`] naming its place.
    /// Runs trained together share their [`crate::engine::stack::StackKey`] (the page and the CLI
    /// plan them so; the session refuses others).
    Train {
        /// What to train, and from where.
        work: Work,
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
    /// End the training; what was measured stays with the page, and the checkpoint is forgotten.
    Stop,
    /// Checkpoint the training, then end it, so that the same runs go on from there later (the CLI
    /// sends it when Ctrl-C or a cluster's scheduler stops it).
    Suspend,
    /// The worker's tab: its checkpoints are kept under this owner id in the browser's storage (so
    /// two tabs keep two runs). Sent before any other command; the worker keeps no checkpoint
    /// before it.
    Own {
        /// The tab's owner id.
        owner: String,
    },
    /// Put a typed rule and input to the model of the run with these settings (a run in training,
    /// or one of the last [`KEPT_MODELS`] finished); answered by [`Event::Answer`]. Training goes on.
    Ask {
        /// Settings of the run whose model answers.
        config: Box<ExperimentConfig>,
        /// The rule and input, already checked by [`crate::engine::question::check_question`].
        question: crate::engine::question::Question,
        /// The steps the model meant was trained (a finished or stopped run's last); `None`: the
        /// run in training. Two runs of the same settings are told apart by it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<usize>,
    },
    /// Evaluate the model of the run with these settings (as [`Command::Ask`] finds it) with every
    /// head and with these heads silenced, on the first [`ABLATION_EXAMPLES`] examples of each
    /// split; answered by [`Event::Ablated`]. Training goes on.
    Ablate {
        /// Settings of the run whose model is ablated.
        config: Box<ExperimentConfig>,
        /// The heads to silence.
        ablation: crate::engine::mechanism::Ablation,
        /// As [`Command::Ask`]'s.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<usize>,
    },
}

/// Examples of each split an ablation from the page evaluates: the interim evaluations' share,
/// so that it answers within a couple of seconds on the CPU fallback.
pub const ABLATION_EXAMPLES: usize = 100;

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

/// What one run of a training said (its place among the runs trained together is the
/// [`Event::Member`] around it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum RunEvent {
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
        /// GPU kernels a recent step launched (for all the runs training together), where the
        /// host counts them ([`crate::session::Host::kernel_launches`]); `None` on the CPU.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        launches_per_step: Option<f64>,
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
    /// The finished run's record (curves, final numbers, per-rule scores), sent just before
    /// `Finished`, for export.
    Record {
        /// The record.
        record: Box<crate::study::record::RunRecord>,
    },
    /// Every step is done. The runs of one training finish at the same step, member 0 last: its
    /// `Finished` ends the training.
    Finished {
        /// Steps taken.
        step: usize,
    },
    /// The run's loss became NaN or infinite: it ended, and says nothing more. The runs trained
    /// with it go on (no run's gradient reaches another's weights); the training ends when none is
    /// left.
    Failed {
        /// Why, in plain words.
        message: String,
    },
}

/// Training session (the worker's, the CLI's) -> host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    /// The worker is loaded and listening; commands sent before this are lost, so the page holds
    /// them until it arrives. It names the worker's build ([`BUILD`]): the page refuses a worker of
    /// another build (a cached copy from before a deploy). A worker from before builds were named
    /// says none.
    Ready {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        build: Option<String>,
    },
    /// A [`Command::Train`] trains the first `runs` of its runs (all on a GPU when they fit its
    /// memory, the first alone on the page's CPU fallback; for [`Work::Saved`], the checkpoint's),
    /// on this backend, from this step. Sent once per training, when it is ready and before any
    /// run's event; the page gives the runs left out to its helper workers.
    Training {
        /// Runs trained together.
        runs: usize,
        /// The backend and why it was chosen.
        backend: BackendInfo,
        /// The step the runs start from: 0, or their checkpoint's.
        step: usize,
    },
    /// What run `member` (its place among the runs trained together, from 0) said.
    Member {
        /// The run's place.
        member: usize,
        /// What it said.
        said: RunEvent,
    },
    /// The training was checkpointed at this step: a reload (or the same command again) goes on
    /// from here.
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
    /// What an [`Command::Ablate`] measured, or why it could not (no such model, heads outside
    /// it, a failed device).
    Ablated {
        /// Accuracies with every head and with the heads silenced.
        ablated: Result<Box<crate::study::mechanism::Ablated>, String>,
    },
    /// The session stopped taking steps.
    Paused {
        /// Steps taken.
        step: usize,
    },
    /// The session is training again.
    Resumed,
    /// The training ended on an error: rejected settings, a failed backend, a crash.
    Error {
        /// What happened, in plain words.
        message: String,
    },
    /// The GPU device was lost: the training ended, but its latest checkpoint is kept, so it can go
    /// on from there (in a fresh worker, on a new device or the CPU).
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
            Command::Train {
                work: Work::Fresh {
                    runs: vec![ValidConfig::default()],
                },
                backend: BackendPreference::Auto,
            },
            Command::Own {
                owner: "19a2b-00f3c1".into(),
            },
            Command::Pause,
            Command::Resume,
            Command::Step { steps: 5 },
            Command::Stop,
            Command::Suspend,
            Command::Train {
                work: Work::Saved,
                backend: BackendPreference::Cpu,
            },
            Command::Train {
                work: Work::SavedIfSame {
                    runs: vec![ValidConfig::default(); 3],
                },
                backend: BackendPreference::Cpu,
            },
            Command::Ask {
                config: Box::default(),
                question: crate::engine::question::Question {
                    instruction: crate::engine::task::Rule::new("ab", "").into(),
                    z: "cabd".into(),
                },
                step: Some(40),
            },
            Command::Ablate {
                config: Box::default(),
                ablation: crate::engine::mechanism::Ablation {
                    heads: vec![(1, 0), (0, 3)],
                },
                step: None,
            },
        ];
        for command in commands {
            assert_eq!(Command::from_json(&command.to_json()).unwrap(), command);
        }
        assert!(Command::Pause.to_json().contains(r#""command":"pause""#));
    }

    #[test]
    fn a_worker_from_before_named_builds_is_ready_with_no_build() {
        assert_eq!(
            Event::from_json(r#"{"event":"ready"}"#).unwrap(),
            Event::Ready { build: None }
        );
        assert_eq!(BUILD.len(), 16, "{BUILD}");
        assert!(BUILD.bytes().all(|b| b.is_ascii_hexdigit()), "{BUILD}");
    }

    #[test]
    fn events_round_trip_through_json() {
        let events = [
            Event::Ready {
                build: Some(BUILD.into()),
            },
            Event::Training {
                runs: 4,
                backend: BackendInfo {
                    kind: BackendKind::Cpu,
                    description: "CPU: WebGPU unavailable because no adapter".into(),
                },
                step: 40,
            },
            Event::Member {
                member: 0,
                said: RunEvent::Progress {
                    step: 10,
                    total_steps: 100,
                    loss: 1.5,
                    steps_per_second: 3.25,
                    launches_per_step: None,
                },
            },
            Event::Member {
                member: 1,
                said: RunEvent::Progress {
                    step: 10,
                    total_steps: 100,
                    loss: 1.5,
                    steps_per_second: 0.5,
                    launches_per_step: Some(486.5),
                },
            },
            Event::Paused { step: 10 },
            Event::Member {
                member: 2,
                said: RunEvent::Finished { step: 100 },
            },
            Event::Member {
                member: 1,
                said: RunEvent::Failed {
                    message: "diverged".into(),
                },
            },
            Event::Resumed,
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
    fn progress_without_a_launch_count_is_read_as_uncounted() {
        // What a CPU training says, and what a worker from before the count said.
        let json = r#"{"event":"member","member":0,"said":{"event":"progress","step":3,"total_steps":9,"loss":1.0,"steps_per_second":2.0}}"#;
        let Event::Member { said, .. } = Event::from_json(json).unwrap() else {
            panic!("not a member event");
        };
        assert!(matches!(
            said,
            RunEvent::Progress {
                launches_per_step: None,
                ..
            }
        ));
        let uncounted = Event::Member {
            member: 0,
            said: RunEvent::Progress {
                step: 3,
                total_steps: 9,
                loss: 1.0,
                steps_per_second: 2.0,
                launches_per_step: None,
            },
        };
        assert!(
            !uncounted.to_json().contains("launches"),
            "the CPU's progress stays as short"
        );
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
                        text: dataset.instruction(split.rules, rule).clone(),
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
            composed: None,
            inside: None,
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
            inside: Vec::new(),
            seen_rules: evaluation.seen.per_rule.clone(),
            unseen_rules: evaluation.unseen.per_rule.clone(),
            wall_seconds: 2.5,
        };
        let answer = crate::engine::question::Answer {
            question: crate::engine::question::Question {
                instruction: crate::engine::task::Rule::new("ab", "c").into(),
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
                fields: None,
                sources: Vec::new(),
            },
        };
        let events = [
            Event::Member {
                member: 0,
                said: RunEvent::Evaluation {
                    summary: evaluation.summary(),
                    samples: SamplePrediction::from_evaluation(&evaluation, SAMPLES_PER_SPLIT),
                    fingerprint: evaluation.fingerprint(),
                    detail: Some(Box::new(evaluation.clone())),
                },
            },
            Event::Member {
                member: 3,
                said: RunEvent::Record {
                    record: Box::new(record),
                },
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
        let mut bad = serde_json::to_value(Command::Train {
            work: Work::Fresh {
                runs: vec![ValidConfig::default()],
            },
            backend: BackendPreference::Auto,
        })
        .unwrap();
        bad["work"]["runs"][0]["model"]["heads"] = 5.into();
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
                dataset.instruction(split.rules, example.rule).to_string()
            );
        }
    }
}

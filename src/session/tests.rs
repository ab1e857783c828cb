//! The session's loop and start policy, driven by a fake host: a scripted inbox, a clock that
//! moves a tenth of a second each time it is read, a checkpoint kept in memory, and every event
//! recorded. Divergence and failed chunks are played by a fake trainee; everything else trains a
//! tiny real model on the CPU.

use super::*;
use crate::engine::config::{Budget, ExperimentConfig, ModelConfig, Span, ValidConfig};
use crate::engine::eval::BackendError;
use crate::engine::metrics::LossPoint;
use crate::engine::question::Question;
use crate::engine::run::RunError;
use crate::engine::stack::Advance;
use crate::engine::task::Rule;
use crate::protocol::{BackendKind, RunEvent};
use crate::study::record::RunRecord;

/// A command that arrives once the events said so far meet its condition.
type Cue = Box<dyn Fn(&[Event]) -> bool>;

struct FakeHost {
    clock: std::cell::Cell<f64>,
    /// Each command, the condition it waits for, and how many waits of the session it waits for
    /// at least.
    cues: Vec<(Cue, usize, Command)>,
    events: Vec<Event>,
    saved: Option<Vec<u8>>,
    /// The clock at each checkpoint written.
    written_at: Vec<f64>,
    fail_writes: bool,
    kind: BackendKind,
    limits: MemoryLimits,
    lost: bool,
    sleeps: usize,
    /// Kernel launches "counted" so far, where the host counts them: each read adds
    /// [`LAUNCHES_PER_READ`], so a chunk (read before and after) launched exactly that many.
    launches: Option<std::cell::Cell<u64>>,
}

const LAUNCHES_PER_READ: u64 = 120;

impl FakeHost {
    fn new() -> Self {
        Self {
            clock: std::cell::Cell::new(0.0),
            cues: Vec::new(),
            events: Vec::new(),
            saved: None,
            written_at: Vec::new(),
            fail_writes: false,
            kind: BackendKind::Cpu,
            limits: MemoryLimits {
                total: None,
                buffer: None,
            },
            lost: false,
            sleeps: 0,
            launches: None,
        }
    }

    /// Sends `command` once `when` holds of the events said so far.
    fn cue(self, when: impl Fn(&[Event]) -> bool + 'static, command: Command) -> Self {
        self.cue_after_waits(0, when, command)
    }

    /// Sends `command` once `when` holds and the session has waited (slept) `waits` times more
    /// since the host began.
    fn cue_after_waits(
        mut self,
        waits: usize,
        when: impl Fn(&[Event]) -> bool + 'static,
        command: Command,
    ) -> Self {
        self.cues.push((Box::new(when), waits, command));
        self
    }

    /// Each member's progress steps, in order.
    fn progress(&self, member: usize) -> Vec<usize> {
        self.run_events(member)
            .filter_map(|e| match e {
                RunEvent::Progress { step, .. } => Some(*step),
                _ => None,
            })
            .collect()
    }

    fn run_events(&self, member: usize) -> impl Iterator<Item = &RunEvent> {
        self.events.iter().filter_map(move |e| match e {
            Event::Member { member: m, said } if *m == member => Some(said),
            _ => None,
        })
    }

    fn finished(&self, member: usize) -> bool {
        self.run_events(member)
            .any(|e| matches!(e, RunEvent::Finished { .. }))
    }

    fn count(&self, matches: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|e| matches(e)).count()
    }
}

/// The last step any member reported.
fn step_at_least(step: usize) -> impl Fn(&[Event]) -> bool {
    move |events| {
        events.iter().any(|e| {
            matches!(e, Event::Member { said: RunEvent::Progress { step: s, .. }, .. } if *s >= step)
        })
    }
}

impl Host for FakeHost {
    fn now(&self) -> f64 {
        let now = self.clock.get() + 0.1;
        self.clock.set(now);
        now
    }

    async fn yield_now(&mut self) {}

    async fn sleep(&mut self, seconds: f64) {
        self.sleeps += 1;
        assert!(self.sleeps < 10_000, "the session waits forever");
        self.clock.set(self.clock.get() + seconds);
    }

    fn next_command(&mut self) -> Option<Command> {
        let at = self
            .cues
            .iter()
            .position(|(when, waits, _)| self.sleeps >= *waits && when(&self.events))?;
        Some(self.cues.remove(at).2)
    }

    fn emit(&mut self, event: Event) {
        self.events.push(event);
    }

    async fn read_checkpoint(&mut self) -> Result<Option<Vec<u8>>, String> {
        Ok(self.saved.clone())
    }

    async fn write_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<Option<usize>, String> {
        if self.fail_writes {
            return Err("the storage quota is full".into());
        }
        let bytes = checkpoint.to_bytes();
        self.written_at.push(self.clock.get());
        let written = bytes.len();
        self.saved = Some(bytes);
        Ok(Some(written))
    }

    async fn forget_checkpoint(&mut self) {
        self.saved = None;
    }

    async fn backend(&mut self, _: BackendPreference) -> Backend {
        Backend {
            device: Device::flex(),
            info: BackendInfo {
                kind: self.kind,
                description: "fake".into(),
            },
            limits: self.limits.clone(),
        }
    }

    fn device_lost(&self) -> bool {
        self.lost
    }

    fn kernel_launches(&self) -> Option<u64> {
        let count = self.launches.as_ref()?;
        count.set(count.get() + LAUNCHES_PER_READ);
        Some(count.get())
    }
}

/// A run that trains in milliseconds: 30 steps, evaluated every 10 on small sets.
fn tiny(seed: u64) -> ValidConfig {
    let mut config = ExperimentConfig {
        seed,
        ..ExperimentConfig::default()
    };
    config.task.alphabet = 4;
    config.task.x_len = Span::new(1, 2);
    config.task.y_len = Span::new(0, 2);
    config.task.z_len = Span::new(3, 5);
    config.task.instructions = 8;
    config.task.budget = Budget::Total(128);
    config.model = ModelConfig {
        layers: 1,
        width: 16,
        heads: 2,
        ff_width: 32,
        max_len: 20,
        ..ModelConfig::default()
    };
    config.train.batch_size = 8;
    config.train.steps = 30;
    config.train.warmup_steps = 2;
    config.train.eval_every = 10;
    config.eval.test_rules = 4;
    config.eval.seen_examples = 8;
    config.eval.unseen_examples = 8;
    config.eval.noop_examples = 4;
    config.validate().unwrap()
}

fn fresh(runs: Vec<ValidConfig>) -> Work {
    Work::Fresh { runs }
}

fn train(host: FakeHost, policy: Policy, work: Work) -> (Ended, Session<FakeHost>) {
    let mut session = Session::new(host, policy);
    let ended = pollster::block_on(session.train(work, BackendPreference::Auto));
    (ended, session)
}

#[test]
fn a_run_trains_to_its_end_saying_each_chunk_evaluation_and_record() {
    let (ended, session) = train(FakeHost::new(), Policy::page(), fresh(vec![tiny(1)]));
    assert_eq!(ended, Ended::Finished);
    let host = &session.host;
    assert!(matches!(
        host.events[0],
        Event::Training {
            runs: 1,
            step: 0,
            ..
        }
    ));
    let steps = host.progress(0);
    assert_eq!(steps.last(), Some(&30));
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
    let evaluated: Vec<usize> = host
        .run_events(0)
        .filter_map(|e| match e {
            RunEvent::Evaluation { summary, .. } => Some(summary.step),
            _ => None,
        })
        .collect();
    assert_eq!(evaluated, [10, 20, 30]);
    let tail: Vec<&RunEvent> = host.run_events(0).collect();
    assert!(matches!(tail[tail.len() - 2], RunEvent::Record { record } if record.steps == 30));
    assert!(matches!(
        tail[tail.len() - 1],
        RunEvent::Finished { step: 30 }
    ));
    // Forgotten before the end is said; the model is kept for questions.
    assert_eq!(host.saved, None);
    assert_eq!(session.kept().len(), 1);
}

#[test]
fn progress_reports_a_steps_kernel_launches_where_the_host_counts_them() {
    let progress = |host: &FakeHost| -> Vec<(usize, Option<f64>)> {
        host.run_events(0)
            .filter_map(|e| match e {
                RunEvent::Progress {
                    step,
                    launches_per_step,
                    ..
                } => Some((*step, *launches_per_step)),
                _ => None,
            })
            .collect()
    };
    let (_, uncounted) = train(FakeHost::new(), Policy::page(), fresh(vec![tiny(1)]));
    assert!(progress(&uncounted.host).iter().all(|(_, l)| l.is_none()));

    let counting = FakeHost {
        launches: Some(std::cell::Cell::new(0)),
        ..FakeHost::new()
    };
    let (ended, session) = train(counting, Policy::page(), fresh(vec![tiny(1)]));
    assert_eq!(ended, Ended::Finished);
    let said = progress(&session.host);
    assert!(said.iter().all(|(_, l)| l.is_some()), "{said:?}");
    // A chunk without an evaluation launched LAUNCHES_PER_READ kernels over the steps it took.
    let exact = said.windows(2).any(|w| {
        let taken = (w[1].0 - w[0].0) as f64;
        (w[1].1.unwrap() * taken - LAUNCHES_PER_READ as f64).abs() < 1e-9
    });
    assert!(
        exact,
        "no chunk's launches per step match its steps: {said:?}"
    );
}

#[test]
fn pause_takes_no_step_single_steps_take_exactly_those_and_resume_goes_on() {
    let host = FakeHost::new()
        .cue(step_at_least(5), Command::Pause)
        // Asked for once the paused session has waited a while.
        .cue_after_waits(
            20,
            |events: &[Event]| events.iter().any(|e| matches!(e, Event::Paused { .. })),
            Command::Step { steps: 3 },
        )
        .cue(
            |events: &[Event]| {
                let paused = events
                    .iter()
                    .find_map(|e| match e {
                        Event::Paused { step } => Some(*step),
                        _ => None,
                    })
                    .unwrap_or(usize::MAX);
                paused != usize::MAX && step_at_least(paused + 3)(events)
            },
            Command::Resume,
        );
    let (ended, session) = train(host, Policy::page(), fresh(vec![tiny(1)]));
    assert_eq!(ended, Ended::Finished);
    let host = &session.host;
    let paused_at = host
        .events
        .iter()
        .position(|e| matches!(e, Event::Paused { .. }))
        .unwrap();
    let Event::Paused { step: paused } = host.events[paused_at] else {
        unreachable!()
    };
    let resumed_at = host
        .events
        .iter()
        .position(|e| matches!(e, Event::Resumed))
        .unwrap();
    // Between Paused and Resumed: exactly the 3 single steps, and the loop waited meanwhile.
    let between: Vec<usize> = host.events[paused_at..resumed_at]
        .iter()
        .filter_map(|e| match e {
            Event::Member {
                said: RunEvent::Progress { step, .. },
                ..
            } => Some(*step),
            _ => None,
        })
        .collect();
    assert_eq!(between.iter().max(), Some(&(paused + 3)), "{between:?}");
    // It waited, paused, before the single steps came, and took none meanwhile.
    assert!(host.sleeps >= 20);
    assert!(host.finished(0));
}

#[test]
fn stop_ends_where_it_is_and_forgets_the_checkpoint() {
    let host = FakeHost::new().cue(step_at_least(12), Command::Stop);
    let (ended, session) = train(host, Policy::page(), fresh(vec![tiny(1)]));
    assert_eq!(ended, Ended::Stopped);
    let host = &session.host;
    assert!(!host.finished(0));
    // It was checkpointed at its evaluation at step 10, then forgotten.
    assert!(host.count(|e| matches!(e, Event::Checkpointed { step: 10, .. })) == 1);
    assert_eq!(host.saved, None);
    assert!(host.progress(0).last().unwrap() < &30);
}

#[test]
fn suspend_checkpoints_and_the_same_runs_go_on_from_there() {
    let runs = vec![tiny(1), tiny(2)];
    let host = FakeHost::new().cue(step_at_least(14), Command::Suspend);
    let (ended, session) = train(host, Policy::cli(None), fresh(runs.clone()));
    let Ended::Suspended { step } = ended else {
        panic!("{ended:?}")
    };
    assert!(step >= 14);
    let saved = session.host.saved.clone().expect("kept");
    // Other runs start afresh and leave it be; the same runs go on from it.
    let mut host = FakeHost::new();
    host.saved = Some(saved.clone());
    let (_, other) = train(
        host,
        Policy::cli(None),
        Work::SavedIfSame {
            runs: vec![tiny(3), tiny(2)],
        },
    );
    assert!(matches!(
        other.host.events[0],
        Event::Training { step: 0, .. }
    ));
    let mut host = FakeHost::new();
    host.saved = Some(saved);
    let (ended, again) = train(host, Policy::cli(None), Work::SavedIfSame { runs });
    assert_eq!(ended, Ended::Finished);
    assert!(matches!(again.host.events[0], Event::Training { runs: 2, step: s, .. } if s == step));
    assert_eq!(
        again.host.progress(1).first().copied().map(|s| s > step),
        Some(true)
    );
    assert!(again.host.finished(0) && again.host.finished(1));
}

#[test]
fn a_question_while_training_is_answered_and_training_goes_on() {
    let config = tiny(1);
    let question = Question {
        instruction: Rule::new("ab", "c").into(),
        z: "dabc".into(),
    };
    let ask = |config: &ValidConfig| Command::Ask {
        config: Box::new(config.raw().clone()),
        question: question.clone(),
        step: None,
    };
    let host = FakeHost::new()
        .cue(step_at_least(5), ask(&config))
        .cue(step_at_least(5), ask(&tiny(9)));
    let (ended, mut session) = train(host, Policy::page(), fresh(vec![config.clone()]));
    assert_eq!(ended, Ended::Finished);
    let answers: Vec<&Result<Box<crate::engine::question::Answer>, String>> = session
        .host
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Answer { answer } => Some(answer),
            _ => None,
        })
        .collect();
    assert_eq!(answers.len(), 2);
    let answer = answers[0].as_ref().expect("the run in training answers");
    assert_eq!(answer.expected, "dcc");
    assert!(answer.step < 30);
    assert!(
        answers[1]
            .as_ref()
            .unwrap_err()
            .contains("not in this tab's memory")
    );
    // Once it finished, its kept model answers, between trainings too.
    session
        .host
        .cues
        .push((Box::new(|_: &[Event]| true), 0, ask(&config)));
    pollster::block_on(session.serve());
    match session.host.events.last() {
        Some(Event::Answer { answer: Ok(answer) }) => assert_eq!(answer.step, 30),
        other => panic!("{other:?}"),
    }
    // A model of these settings trained another number of steps (a stopped run's, or a finished
    // one the page means) is not this one: refused, not answered by the wrong model.
    let at = |step: usize, query: Command| match query {
        Command::Ask {
            config, question, ..
        } => Command::Ask {
            config,
            question,
            step: Some(step),
        },
        other => other,
    };
    for (step, answered) in [(30, true), (12, false)] {
        session
            .host
            .cues
            .push((Box::new(|_: &[Event]| true), 0, at(step, ask(&config))));
        pollster::block_on(session.serve());
        match session.host.events.last() {
            Some(Event::Answer { answer }) => assert_eq!(answer.is_ok(), answered, "{answer:?}"),
            other => panic!("{other:?}"),
        }
    }
    // An ablation finds its model the same way, and silencing heads is answered.
    let ablate = |step: usize| Command::Ablate {
        config: Box::new(config.raw().clone()),
        ablation: crate::engine::mechanism::Ablation {
            heads: vec![(0, 0)],
        },
        step: Some(step),
    };
    for (step, answered) in [(30, true), (12, false)] {
        session
            .host
            .cues
            .push((Box::new(|_: &[Event]| true), 0, ablate(step)));
        pollster::block_on(session.serve());
        match session.host.events.last() {
            Some(Event::Ablated { ablated }) => {
                assert_eq!(ablated.is_ok(), answered, "{ablated:?}");
                if let Ok(ablated) = ablated {
                    assert_eq!((ablated.step, ablated.heads.as_str()), (30, "0.0"));
                }
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn checkpoints_follow_the_policy_at_evaluations_and_by_time() {
    // The page: at every evaluation but the last (the run's end forgets it), and every 5 s.
    let (_, session) = train(FakeHost::new(), Policy::page(), fresh(vec![tiny(1)]));
    let steps: Vec<usize> = session
        .host
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Checkpointed { step, .. } => Some(*step),
            _ => None,
        })
        .collect();
    assert!(steps.contains(&10) && steps.contains(&20), "{steps:?}");
    assert!(!steps.contains(&30));
    // The CLI: by time only, at least `every` apart (small chunks, so that the fake clock, a tenth
    // of a second a reading, passes a second several times in the run).
    let every_second = Policy {
        max_chunk: 2,
        ..Policy::cli(Some(1.0))
    };
    let (_, session) = train(FakeHost::new(), every_second, fresh(vec![tiny(1)]));
    let at = &session.host.written_at;
    assert!(at.len() >= 2, "{at:?}");
    assert!(at.windows(2).all(|w| w[1] - w[0] >= 1.0), "{at:?}");
    let (_, session) = train(FakeHost::new(), Policy::cli(None), fresh(vec![tiny(1)]));
    assert!(session.host.written_at.is_empty());
    // A failed write is said, and training goes on.
    let mut host = FakeHost::new();
    host.fail_writes = true;
    let (ended, session) = train(host, Policy::page(), fresh(vec![tiny(1)]));
    assert_eq!(ended, Ended::Finished);
    assert!(
        session.host.count(
            |e| matches!(e, Event::CheckpointFailed { message } if message.contains("quota"))
        ) >= 2
    );
}

/// Runs trained together, played: member `diverges.0` diverges at step `diverges.1`, and the
/// device fails at `fails` steps.
struct FakeTrainee {
    configs: Vec<ValidConfig>,
    step: usize,
    diverges: Vec<(usize, usize)>,
    diverged: Vec<Option<RunError>>,
    fails: Option<usize>,
}

impl FakeTrainee {
    fn new(members: usize) -> Self {
        Self {
            configs: (1..=members as u64).map(tiny).collect(),
            step: 0,
            diverges: Vec::new(),
            diverged: vec![None; members],
            fails: None,
        }
    }
}

impl Trainee for FakeTrainee {
    fn members(&self) -> usize {
        self.configs.len()
    }

    fn config(&self, k: usize) -> &ValidConfig {
        &self.configs[k]
    }

    fn step(&self) -> usize {
        self.step
    }

    fn total_steps(&self) -> usize {
        30
    }

    async fn advance(&mut self, max_steps: usize) -> Result<Advance, RunError> {
        if self.fails.is_some_and(|at| self.step >= at) {
            return Err(BackendError("the device stopped answering".into()).into());
        }
        let taken = max_steps.min(30 - self.step);
        self.step += taken;
        for &(k, at) in &self.diverges {
            if self.step >= at && self.diverged[k].is_none() {
                self.diverged[k] = Some(RunError::NonFiniteLoss {
                    step: self.step,
                    loss: f32::NAN,
                });
            }
        }
        let losses = (0..self.members())
            .map(|k| {
                self.diverged[k].is_none().then_some(LossPoint {
                    step: self.step,
                    loss: 1.0,
                })
            })
            .collect();
        Ok(Advance {
            taken,
            losses,
            evaluations: vec![None; self.members()],
            finished: self.step == 30,
        })
    }

    fn diverged(&self, k: usize) -> Option<&RunError> {
        self.diverged[k].as_ref()
    }

    async fn checkpoint(&self) -> Result<Checkpoint, String> {
        Ok(Checkpoint {
            metas: self
                .configs
                .iter()
                .map(|c| {
                    crate::engine::checkpoint::CheckpointMeta::new(
                        c.clone(),
                        self.step,
                        Vec::new(),
                        Vec::new(),
                    )
                })
                .collect(),
            model: Vec::new(),
            optimizer: Vec::new(),
        })
    }

    fn record(&self, _: usize, _: crate::engine::metrics::Evaluation, _: f64) -> RunRecord {
        unreachable!("the fake never evaluates")
    }

    fn model(&self, _: usize) -> Option<KeptModel> {
        None
    }
}

fn drive(host: FakeHost, trainee: FakeTrainee, kind: BackendKind) -> (Ended, FakeHost) {
    let mut session = Session::new(host, Policy::page());
    let info = BackendInfo {
        kind,
        description: "fake".into(),
    };
    let ended = pollster::block_on(session.drive(trainee, &info));
    (ended, session.host)
}

#[test]
fn a_diverged_member_ends_alone_and_the_others_finish() {
    let mut trainee = FakeTrainee::new(3);
    trainee.diverges = vec![(1, 3)];
    let (ended, host) = drive(FakeHost::new(), trainee, BackendKind::Cpu);
    assert_eq!(ended, Ended::Finished);
    let failed: Vec<&RunEvent> = host
        .run_events(1)
        .filter(|e| matches!(e, RunEvent::Failed { .. }))
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(matches!(failed[0], RunEvent::Failed { message } if message.contains("diverged")));
    assert!(
        host.progress(1).iter().all(|&s| s < 3),
        "{:?}",
        host.progress(1)
    );
    assert!(!host.finished(1));
    assert!(host.finished(0) && host.finished(2));
    assert_eq!(host.progress(2).last(), Some(&30));
    // Member 0 ends last: its `Finished` ends the training.
    assert!(matches!(
        host.events.last(),
        Some(Event::Member {
            member: 0,
            said: RunEvent::Finished { .. }
        })
    ));
    // When every member diverged, the training fails.
    let mut trainee = FakeTrainee::new(2);
    trainee.diverges = vec![(0, 5), (1, 8)];
    let (ended, host) = drive(FakeHost::new(), trainee, BackendKind::Cpu);
    assert_eq!(ended, Ended::Failed);
    assert!(!host.finished(0) && !host.finished(1));
}

#[test]
fn a_failed_chunk_is_an_error_unless_a_lost_device_was_said() {
    let mut trainee = FakeTrainee::new(1);
    trainee.fails = Some(6);
    let mut host = FakeHost::new();
    host.saved = Some(vec![1]);
    let (ended, host) = drive(host, trainee, BackendKind::Cpu);
    assert_eq!(ended, Ended::Failed);
    assert!(
        matches!(host.events.last(), Some(Event::Error { message }) if message.contains("stopped answering"))
    );
    assert_eq!(host.saved, None, "a failed training is not resumed");
    // On a GPU whose loss the host said, the checkpoint stays and nothing more is said.
    let mut trainee = FakeTrainee::new(1);
    trainee.fails = Some(6);
    let mut host = FakeHost::new();
    host.saved = Some(vec![1]);
    host.lost = true;
    let (ended, host) = drive(host, trainee, BackendKind::WebGpu);
    assert_eq!(ended, Ended::Failed);
    assert_eq!(host.count(|e| matches!(e, Event::Error { .. })), 0);
    assert_eq!(host.saved, Some(vec![1]));
}

#[test]
fn the_start_policy_stacks_what_the_device_holds_and_refuses_what_cannot_go_on() {
    let runs = vec![tiny(1), tiny(2), tiny(3)];
    let training = |host: &FakeHost| match &host.events[0] {
        Event::Training { runs, .. } => *runs,
        other => panic!("{other:?}"),
    };
    // The page's CPU fallback trains the first alone (its helpers take the others).
    let host = FakeHost::new().cue(|_: &[Event]| true, Command::Stop);
    let (_, session) = train(host, Policy::page(), fresh(runs.clone()));
    assert_eq!(training(&session.host), 1);
    // On a GPU, as many as its largest buffer holds.
    let two = crate::engine::memory::estimate_stack(&runs[0], 2).largest_buffer;
    let mut host = FakeHost::new().cue(|_: &[Event]| true, Command::Stop);
    host.kind = BackendKind::WebGpu;
    host.limits.buffer = Some((two, "the fake adapter's largest buffer".into()));
    let (_, session) = train(host, Policy::page(), fresh(runs.clone()));
    assert_eq!(training(&session.host), 2);
    // The CLI asks for all or nothing.
    let mut host = FakeHost::new();
    host.kind = BackendKind::WebGpu;
    host.limits.buffer = Some((two, "the fake adapter's largest buffer".into()));
    let (ended, session) = train(host, Policy::cli(None), fresh(runs.clone()));
    assert_eq!(ended, Ended::Failed);
    assert!(
        matches!(&session.host.events[0], Event::Error { message } if message.contains("largest buffer"))
    );
    // Nothing saved to go on with, or a damaged file: said, and forgotten.
    let (ended, session) = train(FakeHost::new(), Policy::page(), Work::Saved);
    assert_eq!(ended, Ended::Failed);
    assert!(
        matches!(&session.host.events[0], Event::Error { message } if message.contains("cannot go on"))
    );
    let mut host = FakeHost::new();
    host.saved = Some(b"junk".to_vec());
    let (_, session) = train(host, Policy::page(), Work::Saved);
    assert_eq!(session.host.saved, None);
    // A fresh start forgets what was kept before it.
    let mut host = FakeHost::new().cue(|_: &[Event]| true, Command::Stop);
    host.saved = Some(b"an earlier run".to_vec());
    let (_, session) = train(host, Policy::page(), fresh(vec![tiny(1)]));
    assert_eq!(session.host.saved, None);
}

#[test]
fn a_training_asked_for_while_one_runs_replaces_it() {
    let host = FakeHost::new()
        .cue(
            |_: &[Event]| true,
            Command::Train {
                work: fresh(vec![tiny(1)]),
                backend: BackendPreference::Auto,
            },
        )
        .cue(
            step_at_least(5),
            Command::Train {
                work: fresh(vec![tiny(2)]),
                backend: BackendPreference::Auto,
            },
        );
    let mut session = Session::new(host, Policy::page());
    pollster::block_on(session.serve());
    let host = &session.host;
    assert_eq!(host.count(|e| matches!(e, Event::Training { .. })), 2);
    // Only the second finished: the first ended when the second was asked for.
    assert_eq!(
        host.count(|e| matches!(
            e,
            Event::Member {
                said: RunEvent::Finished { .. },
                ..
            }
        )),
        1
    );
    let Some(Event::Member {
        said: RunEvent::Record { record },
        ..
    }) = host.events.iter().rev().nth(1)
    else {
        panic!("{:?}", host.events.last())
    };
    assert_eq!(record.config.seed, 2);
}

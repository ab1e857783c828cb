//! A class on the page: a student training the cells a hub gives (or the cell of its seat, with a
//! result code to hand in), or the teacher watching the class's phase diagram fill (from the hub's
//! live state, or from pasted codes). The networking is the app's; what it does next is decided
//! here, from this state.

use crate::engine::config::ValidConfig;
use crate::engine::metrics::EvalSummary;
use crate::page::link::{ClassLink, ClassRole};
use crate::study::class::{ClassBook, ClassPlan, ClassResult, HubState, HubWork, ResultCode};
use crate::study::record::{RunRecord, SweepReport};
use std::rc::Rc;

/// What the page trains for the class now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Training {
    /// The canary (before any cell).
    Canary,
    /// A cell of the plan.
    Cell(usize),
}

/// A result the page made, waiting for the hub to take it.
#[derive(Clone, Debug, PartialEq)]
pub enum Unsent {
    /// A cell's result.
    Result(Box<ClassResult>),
    /// The canary's accuracies.
    Canary(EvalSummary),
}

/// The class part of the page state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClassRoom {
    /// What the link asked for; `None`: no class.
    pub link: Option<ClassLink>,
    /// The class's plan, once known.
    pub class: Option<Rc<ClassPlan>>,
    /// This student's id at the hub.
    pub student: Option<String>,
    /// This student's seat number.
    pub seat: Option<usize>,
    /// What the page trains for the class now.
    pub training: Option<Training>,
    /// The hub had nothing to hand out (asked again in a moment).
    pub waiting: bool,
    /// Every cell is done.
    pub finished: bool,
    /// The result codes of what this page trained: (cell, code).
    pub codes: Vec<(usize, String)>,
    /// Results the hub has not taken yet (sent again until it does).
    pub unsent: Vec<Unsent>,
    /// Why the last exchange with the hub failed, while it does.
    pub trouble: Option<String>,
    /// A failure the student or teacher must act on (another build, a plan that cannot be read).
    pub error: Option<String>,
    /// The hub's state (the teacher's dashboard).
    pub hub: Option<Rc<HubState>>,
    /// Hide the students' names (for the projector).
    pub hide_names: bool,
    /// The nickname the student typed (the teacher's dashboard shows it, hidden on the
    /// projector), and the one the hub has.
    pub name: String,
    /// The nickname the hub was last told.
    pub name_sent: String,
    /// A number drawn once per page (from 0 to 1) that picks the cell of a student without a seat.
    pub draw: f64,
    /// The teacher's pasted codes (without a hub).
    pub pasted: ClassBook,
    /// The pasted lines refused, with why.
    pub refused: Vec<String>,
}

/// A change to the class part.
#[derive(Clone, Debug, PartialEq)]
pub enum ClassAction {
    /// The class's plan, from the link or the hub.
    Planned(Box<ClassPlan>),
    /// The hub took this student in.
    Joined {
        /// Its id.
        student: String,
        /// Its seat.
        seat: usize,
    },
    /// The hub does not know this student (it was restarted, perhaps with another class): get
    /// the plan and join again.
    Forgotten,
    /// The student typed a nickname.
    Name(String),
    /// The page drew its number (see [`ClassRoom::draw`]).
    Drawn(f64),
    /// The hub was told this nickname.
    NameSent(String),
    /// The page's run for the class was stopped by the reader.
    Stopped,
    /// The page was busy with a run of its own when work arrived: asked again once it ends.
    Busy,
    /// The hub's answer to "what next" (the page then trains it).
    Work(HubWork),
    /// The hub took the oldest unsent result.
    Delivered,
    /// An exchange with the hub failed: why (retried).
    Trouble(String),
    /// The hub answers again.
    Reached,
    /// A failure to act on.
    Error(String),
    /// The hub's state, for the dashboard.
    Hub(Box<HubState>),
    /// Hide or show the names.
    HideNames(bool),
    /// Codes pasted (or a file of them) into the teacher's page.
    Paste(String),
}

impl ClassRoom {
    /// The class part for a link's class.
    pub fn opened(link: ClassLink) -> Self {
        Self {
            seat: link.seat,
            link: Some(link),
            ..Self::default()
        }
    }

    /// Whether the page is a student's.
    pub fn is_student(&self) -> bool {
        self.link
            .as_ref()
            .is_some_and(|l| l.role == ClassRole::Student)
    }

    /// Whether the page is the teacher's.
    pub fn is_teacher(&self) -> bool {
        self.link
            .as_ref()
            .is_some_and(|l| l.role == ClassRole::Teacher)
    }

    /// The hub's address (`""`: this page's server), if the class has a hub.
    pub fn hub_url(&self) -> Option<&str> {
        self.link.as_ref()?.hub.as_deref()
    }

    /// The cell a student without a hub trains: its seat's (seat 1 trains cell 0, and seats past
    /// the last cell start again at cell 0), or the one `random` picks among all.
    pub fn seat_cell(&self) -> Option<usize> {
        let cells = self.class.as_ref()?.len();
        Some(match self.seat.filter(|&s| s >= 1) {
            Some(seat) => (seat - 1) % cells,
            None => ((self.draw.clamp(0.0, 1.0) * cells as f64) as usize).min(cells - 1),
        })
    }

    /// The settings of what the page is to train now, if anything.
    pub fn config(&self) -> Option<ValidConfig> {
        let class = self.class.as_ref()?;
        match self.training? {
            Training::Canary => Some(class.canary()),
            Training::Cell(cell) => class.cell(cell).ok().cloned(),
        }
    }

    /// The run trained for the class finished: its record and fingerprint become a result (or
    /// the canary's report), a code is shown and the result waits to be sent. Returns whether the
    /// run was the class's.
    pub fn trained(&mut self, record: &RunRecord, fingerprint: &str, backend: &str) -> bool {
        let (Some(class), Some(training)) = (self.class.clone(), self.training) else {
            return false;
        };
        let expected = match self.config() {
            Some(config) => config,
            None => return false,
        };
        if &record.config != expected.raw() {
            return false;
        }
        self.training = None;
        match training {
            Training::Canary => self.unsent.push(Unsent::Canary(record.result)),
            Training::Cell(cell) => {
                match ClassResult::new(
                    &class,
                    cell,
                    &class.build,
                    fingerprint,
                    backend,
                    record.clone(),
                ) {
                    Ok(result) => {
                        let code = ResultCode::of(&result).text();
                        self.codes.retain(|(c, _)| *c != cell);
                        self.codes.push((cell, code));
                        if self.hub_url().is_some() {
                            self.unsent.push(Unsent::Result(Box::new(result)));
                        }
                    }
                    Err(e) => self.error = Some(e.to_string()),
                }
            }
        }
        true
    }

    /// The run trained for the class failed (`why`, as the run panel says it): the class's work
    /// stops here, and the student is told (a failing device would fail every cell).
    pub fn failed(&mut self, why: &str) {
        if self.training.take().is_some() {
            self.error = Some(format!(
                "the run for the class failed ({why}); tell your teacher, and reload the page to try again"
            ));
        }
    }

    /// The next state after `action`. Returns the settings to train, when the action hands the
    /// page a run (the caller starts it).
    pub fn reduce(&mut self, action: ClassAction, this_build: &str) -> Option<ValidConfig> {
        match action {
            ClassAction::Planned(class) => {
                if !class.build.starts_with(this_build) && self.hub_url().is_some() {
                    self.error = Some(format!(
                        "this page is another version (build {this_build}) than the class's (build {}): reload the page; if that does not help, the teacher rebuilds the page and restarts the hub",
                        class.build
                    ));
                }
                self.class = Some(Rc::new(*class));
                None
            }
            ClassAction::Joined { student, seat } => {
                self.student = Some(student);
                self.seat = Some(seat).filter(|&s| s >= 1);
                None
            }
            ClassAction::Forgotten => {
                self.student = None;
                self.class = None;
                self.name_sent = String::new();
                None
            }
            ClassAction::Name(name) => {
                self.name = name;
                None
            }
            ClassAction::Drawn(draw) => {
                self.draw = draw;
                None
            }
            ClassAction::NameSent(name) => {
                self.name_sent = name;
                None
            }
            ClassAction::Stopped => {
                if self.training.take().is_some() {
                    self.error = Some(
                        "you stopped the class's run: reload the page to train for the class again"
                            .into(),
                    );
                }
                None
            }
            ClassAction::Busy => {
                self.training = None;
                self.trouble = Some(
                    "a run of your own is training: the class's cell starts once it ends (or stop it)"
                        .into(),
                );
                None
            }
            ClassAction::Work(work) => {
                self.waiting = false;
                match work {
                    HubWork::Canary => self.training = Some(Training::Canary),
                    HubWork::Cell { cell, .. } => self.training = Some(Training::Cell(cell)),
                    HubWork::Wait => self.waiting = true,
                    HubWork::Done => self.finished = true,
                }
                self.config()
            }
            ClassAction::Delivered => {
                if !self.unsent.is_empty() {
                    self.unsent.remove(0);
                }
                self.trouble = None;
                None
            }
            ClassAction::Trouble(why) => {
                self.trouble = Some(why);
                None
            }
            ClassAction::Reached => {
                self.trouble = None;
                None
            }
            ClassAction::Error(why) => {
                self.error = Some(why);
                None
            }
            ClassAction::Hub(state) => {
                self.trouble = None;
                self.hub = Some(Rc::new(*state));
                None
            }
            ClassAction::HideNames(hide) => {
                self.hide_names = hide;
                None
            }
            ClassAction::Paste(text) => {
                if let Some(class) = &self.class {
                    let pasted = crate::study::class::read_codes(&text, class);
                    for (line, why) in pasted.refused {
                        self.refused.push(format!("line {line}: {why}"));
                    }
                    for result in pasted.results {
                        self.pasted.add(result);
                    }
                }
                None
            }
        }
    }

    /// The class's sweep from the pasted codes (the teacher without a hub), for the sweep views.
    pub fn pasted_report(&self) -> Option<SweepReport> {
        Some(self.class.as_ref()?.report(&self.pasted))
    }

    /// Whether the page should ask the hub for work: a student with a hub, joined, training
    /// nothing, with nothing unsent, and the class not finished.
    pub fn wants_work(&self) -> bool {
        self.is_student()
            && self.hub_url().is_some()
            && self.student.is_some()
            && self.class.is_some()
            && self.error.is_none()
            && self.training.is_none()
            && self.unsent.is_empty()
            && !self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::ExperimentConfig;
    use crate::study::sweep::{Axis, SweepSpec};

    fn class() -> ClassPlan {
        let mut base = ExperimentConfig::default();
        base.train.steps = 40;
        base.train.warmup_steps = 2;
        base.train.eval_every = 20;
        ClassPlan::new(
            SweepSpec {
                base,
                axes: vec![Axis::values(
                    "instructions",
                    "task.instructions",
                    [4usize, 16],
                )],
                seeds: vec![1, 2],
            },
            "abcdef0123456789",
        )
        .unwrap()
    }

    fn record_of(config: &ValidConfig) -> RunRecord {
        let summary = EvalSummary {
            step: config.train.steps,
            seen_accuracy: 1.0,
            unseen_accuracy: 0.5,
            unseen_hasop_accuracy: 0.4,
            noop_accuracy: 1.0,
            composed_accuracy: None,
        };
        RunRecord {
            labels: Vec::new(),
            config: config.raw().clone(),
            instructions: config.task.instructions,
            examples_per_rule: 1.0,
            rules_with_examples: 1,
            steps: config.train.steps,
            result: summary,
            final_loss: 0.1,
            losses: Vec::new(),
            evaluations: vec![summary],
            inside: Vec::new(),
            seen_rules: Vec::new(),
            unseen_rules: Vec::new(),
            wall_seconds: 3.0,
        }
    }

    fn student(hub: Option<&str>) -> ClassRoom {
        ClassRoom::opened(ClassLink {
            role: ClassRole::Student,
            hub: hub.map(String::from),
            id: None,
            seat: None,
            key: None,
        })
    }

    #[test]
    fn a_student_with_a_hub_trains_the_canary_then_cells_and_queues_each_result() {
        let mut room = student(Some(""));
        assert!(!room.wants_work());
        room.reduce(ClassAction::Planned(Box::new(class())), "abcdef0123456789");
        room.reduce(
            ClassAction::Joined {
                student: "s1".into(),
                seat: 1,
            },
            "",
        );
        assert!(room.wants_work());
        let canary = room.reduce(ClassAction::Work(HubWork::Canary), "").unwrap();
        assert_eq!(canary, class().canary());
        assert!(!room.wants_work());
        // A run of other settings (the reader's own) is not the class's.
        assert!(!room.trained(&record_of(class().cell(1).unwrap()), "0000-0000", "CPU"));
        assert!(room.trained(&record_of(&canary), "0000-0000", "CPU"));
        assert!(matches!(room.unsent[..], [Unsent::Canary(_)]));
        assert!(!room.wants_work());
        room.reduce(ClassAction::Delivered, "");
        assert!(room.wants_work());
        let cell = room
            .reduce(
                ClassAction::Work(HubWork::Cell {
                    cell: 3,
                    replica: false,
                }),
                "",
            )
            .unwrap();
        assert!(room.trained(&record_of(&cell), "1234-abcd", "CPU (wasm)"));
        let Unsent::Result(result) = &room.unsent[0] else {
            panic!("a result")
        };
        assert_eq!(result.cell, 3);
        assert_eq!(result.fingerprint, "1234-abcd");
        assert_eq!(class().check(result), Ok(()));
        assert_eq!(room.codes[0].0, 3);
        // The code shown is the result's.
        let code = ResultCode::parse(&room.codes[0].1).unwrap();
        assert_eq!(code.result(&class()).unwrap().cell, 3);
        room.reduce(ClassAction::Trouble("the hub does not answer".into()), "");
        assert!(!room.wants_work(), "the result is sent first");
        room.reduce(ClassAction::Delivered, "");
        assert_eq!(room.trouble, None);
        room.reduce(ClassAction::Work(HubWork::Done), "");
        assert!(room.finished && !room.wants_work());
    }

    #[test]
    fn a_class_link_reads_back_to_its_class_role_and_seat_and_a_cut_one_is_refused() {
        let a = class();
        for (role, seat) in [(ClassRole::Student, Some(4)), (ClassRole::Teacher, None)] {
            let fragment = crate::page::link::class_fragment(&a, role, seat).unwrap();
            // Over any base: the link carries every setting.
            let read = crate::page::link::parse(&fragment, &ExperimentConfig::default());
            let link = read.class.expect("a class link");
            assert_eq!((link.role, link.seat, link.hub), (role, seat, None));
            assert_eq!(link.id.as_deref(), Some(a.id.as_str()));
            let spec = read.sweep.unwrap().spec(&read.config).unwrap();
            assert_eq!(ClassPlan::new(spec, "x").unwrap().plan, a.plan);
        }
        // Cut before its sweep, or with a setting edited: the class is refused, with why.
        let fragment = crate::page::link::class_fragment(&a, ClassRole::Student, None).unwrap();
        let cut = format!(
            "{}{}",
            &fragment[..fragment.find("&sweep=").unwrap()],
            crate::page::link::write_class(&a.id, ClassRole::Student)
        );
        let read = crate::page::link::parse(&cut, &ExperimentConfig::default());
        assert!(read.class.is_none());
        assert!(
            read.notices.iter().any(|n| n.contains("holds no sweep")),
            "{:?}",
            read.notices
        );
        let edited = fragment.replace("&lr=", "&lr=0.5&x_lr=");
        let read = crate::page::link::parse(&edited, &ExperimentConfig::default());
        assert!(read.class.is_none());
        assert!(
            read.notices.iter().any(|n| n.contains("not that class's")),
            "{:?}",
            read.notices
        );
        // With a hub: the page's own server, or another named by `hub=`.
        let read = crate::page::link::parse("class=join", &ExperimentConfig::default());
        assert_eq!(read.class.unwrap().hub.as_deref(), Some(""));
        let read = crate::page::link::parse(
            &format!(
                "v=1{}",
                crate::page::link::write_hub_class(
                    ClassRole::Teacher,
                    "http://10.0.0.2:8000",
                    Some("k1")
                )
            ),
            &ExperimentConfig::default(),
        );
        let link = read.class.unwrap();
        assert_eq!(
            (link.role, link.hub.as_deref(), link.key.as_deref()),
            (ClassRole::Teacher, Some("http://10.0.0.2:8000"), Some("k1"))
        );
        let read = crate::page::link::parse(
            "class=join&hub=javascript:alert(1)",
            &ExperimentConfig::default(),
        );
        assert!(read.class.is_none());
    }

    #[test]
    fn a_student_without_a_seat_gets_a_cell_drawn_once_and_a_bad_seat_never_panics() {
        let mut room = student(None);
        room.reduce(ClassAction::Planned(Box::new(class())), "");
        room.draw = 0.99;
        assert_eq!(room.seat_cell(), Some(3));
        assert_eq!(room.seat_cell(), Some(3));
        room.reduce(
            ClassAction::Joined {
                student: "s".into(),
                seat: 0,
            },
            "",
        );
        assert_eq!(room.seat, None);
        assert_eq!(room.seat_cell(), Some(3));
    }

    #[test]
    fn a_stopped_or_busy_run_and_a_forgetful_hub_never_leave_the_student_stuck() {
        let mut room = student(Some(""));
        room.reduce(ClassAction::Planned(Box::new(class())), "abcdef0123456789");
        room.reduce(
            ClassAction::Joined {
                student: "s1".into(),
                seat: 1,
            },
            "",
        );
        // Busy with a run of the reader's: the cell is given up and asked for again later.
        room.reduce(ClassAction::Work(HubWork::Canary), "");
        room.reduce(ClassAction::Busy, "");
        assert!(room.training.is_none() && room.trouble.is_some());
        assert!(room.wants_work());
        // The hub was restarted: plan and seat are asked for again.
        room.reduce(ClassAction::Forgotten, "");
        assert!(room.class.is_none() && room.student.is_none());
        room.reduce(ClassAction::Planned(Box::new(class())), "abcdef0123456789");
        room.reduce(
            ClassAction::Joined {
                student: "s1".into(),
                seat: 1,
            },
            "",
        );
        // The reader stops the class's run, or it fails: said, and nothing more is asked.
        room.reduce(ClassAction::Work(HubWork::Canary), "");
        room.reduce(ClassAction::Stopped, "");
        assert!(room.error.as_ref().unwrap().contains("reload"));
        assert!(!room.wants_work());
        let mut room = student(Some(""));
        room.reduce(ClassAction::Planned(Box::new(class())), "abcdef0123456789");
        room.reduce(ClassAction::Work(HubWork::Canary), "");
        room.failed("the worker crashed");
        assert!(room.error.as_ref().unwrap().contains("the worker crashed"));
        assert!(room.training.is_none());
    }

    #[test]
    fn a_page_of_another_build_is_told_to_reload() {
        let mut room = student(Some(""));
        room.reduce(ClassAction::Planned(Box::new(class())), "ffff000011112222");
        assert!(room.error.as_ref().unwrap().contains("reload the page"));
        room.reduce(
            ClassAction::Joined {
                student: "s".into(),
                seat: 1,
            },
            "",
        );
        assert!(!room.wants_work());
    }

    #[test]
    fn without_a_hub_a_seat_picks_its_cell_and_the_result_is_a_code() {
        let mut room = ClassRoom::opened(ClassLink {
            role: ClassRole::Student,
            hub: None,
            id: Some(class().id),
            seat: Some(6),
            key: None,
        });
        room.reduce(ClassAction::Planned(Box::new(class())), "other");
        assert_eq!(
            room.error, None,
            "codes carry the build; no hub to refuse it"
        );
        assert_eq!(room.seat_cell(), Some(1));
        let config = room
            .reduce(
                ClassAction::Work(HubWork::Cell {
                    cell: 1,
                    replica: false,
                }),
                "",
            )
            .unwrap();
        assert!(room.trained(&record_of(&config), "0000-0001", "CPU"));
        assert!(room.unsent.is_empty());
        assert_eq!(room.codes.len(), 1);
    }

    #[test]
    fn the_teachers_pasted_codes_fill_the_report_and_the_bad_ones_are_named() {
        let a = class();
        let mut room = ClassRoom::opened(ClassLink {
            role: ClassRole::Teacher,
            hub: None,
            id: Some(a.id.clone()),
            seat: None,
            key: None,
        });
        room.reduce(ClassAction::Planned(Box::new(a.clone())), "");
        let codes: Vec<String> = (0..4)
            .map(|c| {
                let r = ClassResult::new(
                    &a,
                    c,
                    &a.build,
                    "0000-0000",
                    "CPU",
                    record_of(a.cell(c).unwrap()),
                )
                .unwrap();
                ResultCode::of(&r).text()
            })
            .collect();
        let mut edited = codes[3].clone();
        edited.replace_range(10..11, if &edited[10..11] == "A" { "B" } else { "A" });
        room.reduce(
            ClassAction::Paste(format!("{}\n{}\n{edited}", codes[0], codes[1])),
            "",
        );
        assert_eq!(room.refused.len(), 1);
        assert!(room.refused[0].starts_with("line 3:"), "{:?}", room.refused);
        room.reduce(ClassAction::Paste(codes.join("\n")), "");
        assert_eq!(room.pasted.tallies(4).done, 4);
        assert_eq!(room.pasted_report().unwrap().runs.len(), 4);
    }
}

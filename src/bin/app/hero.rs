//! The top of the page: the papers' question, the task shown on a rule the model trains on and one
//! it never sees, the one primary action (the phase transition, its prediction first), and right
//! there its curve, filling in as runs finish, beside the accuracy of the run in training.

use crate::app::{Dispatch, on_click};
use crate::chart_view::ChartView;
use crate::run_panel::{CHART_SIZE, accuracy_chart, format_duration};
use instruction_diversity::engine::config::{AnswerFormat, ProgramSemantics, ValidConfig};
use instruction_diversity::engine::task::{Dataset, WorkedCase, worked_example};
use instruction_diversity::page::chart::LineChart;
use instruction_diversity::page::inside::{head_name, lesson_rows};
use instruction_diversity::page::state::inside::{InsideAction, InsideView};
use instruction_diversity::page::state::lessons::{LessonAction, LessonState};
use instruction_diversity::page::state::library::Library;
use instruction_diversity::page::state::run::LiveRun;
use instruction_diversity::page::state::sweep::{SweepQueue, SweepStatus};
use instruction_diversity::page::state::{Action, SweepAction};
use instruction_diversity::page::trace::{task_sentence, trace_rows};
use instruction_diversity::study::lessons::lesson;
use instruction_diversity::study::record::RunRecord;
use instruction_diversity::study::verdict::Verdict;
use std::rc::Rc;
use yew::prelude::*;

/// The lesson the primary action opens.
pub const PRIMARY_LESSON: &str = "phase-transition";

/// The papers' question, in one sentence.
const QUESTION: &str = "Trained on enough different instructions, does a model follow instructions it has never seen, even with fewer examples of each?";

#[derive(Properties, PartialEq)]
pub struct HeroProps {
    /// The settings of the next run: the example is drawn from them.
    pub config: ValidConfig,
    pub lesson: Option<LessonState>,
    pub queue: Rc<SweepQueue>,
    pub library: Rc<Library>,
    pub run: Rc<LiveRun>,
    /// The view inside the model: a lesson that looks inside shows its ablation.
    pub inside: Rc<InsideView>,
    /// The run the inspector shows.
    pub opened: Option<usize>,
    pub active: bool,
    /// The running sweep's time left, in seconds, once it can be estimated.
    pub seconds_left: Option<f64>,
    /// False where a link hides the lessons: then there is no primary action either.
    pub show_lesson: bool,
    pub dispatch: Dispatch,
}

#[function_component(Hero)]
pub fn hero(props: &HeroProps) -> Html {
    let draw = use_state(|| 0u64);
    let example = {
        let key = (props.config.clone(), *draw);
        use_memo(key, |(config, draw)| worked_example(config, *draw).ok())
    };
    // Markov programs that do not halt are drawn again: say how many, as `idp run` does.
    let rejections = use_memo(props.config.clone(), |config| {
        (config.task.program.semantics == ProgramSemantics::Markov)
            .then(|| Dataset::generate(config).ok())
            .flatten()
            .and_then(|data| data.rejected.describe())
    });
    let redraw = {
        let draw = draw.clone();
        Callback::from(move |_: MouseEvent| draw.set(*draw + 1))
    };
    let curve = props
        .queue
        .sweep
        .as_ref()
        .map(|s| s.grid(&props.library.runs).curve());
    html! {
        <section class="hero" aria-labelledby="question">
            <div class="task">
                <p class="question" id="question">{ QUESTION }</p>
                <p class="muted" id="task-sentence">{ task_sentence(&props.config.task.program) }</p>
                <div class="examples" id="worked-example">
                    if let Some((seen, unseen)) = &*example {
                        if props.config.task.program.is_single_rule() {
                            { case_card("trained on", "A rule of the training set", seen) }
                            { case_card("never seen", "A held-out rule: never in a training batch", unseen) }
                        } else {
                            { program_card("trained on", "A program of the training set", seen, props.config.task.program.answer) }
                            { program_card("never seen", "A held-out program of held-out rules: never in a training batch", unseen, props.config.task.program.answer) }
                        }
                    }
                </div>
                if let Some(text) = &*rejections {
                    <p class="muted" id="rejections">{ format!("Drawing this task's data: {text}.") }</p>
                }
                <button class="secondary" id="redraw-example" onclick={redraw}>{ "Another example" }</button>
                if props.show_lesson {
                    <LessonBox lesson={props.lesson.clone()} queue={props.queue.clone()} library={props.library.clone()} inside={props.inside.clone()} opened={props.opened} active={props.active} seconds_left={props.seconds_left} dispatch={props.dispatch.clone()} />
                }
            </div>
            <div class="figures">
                {
                    match curve {
                        Some(chart) if !chart.x_values().is_empty() => html! {
                            <ChartView chart={chart} size={CHART_SIZE} id="sweep-curve" />
                        },
                        _ => html! {
                            <figure id="sweep-curve" class="placeholder">
                                <p>{ "The curve of seen- and unseen-rule accuracy against the number of rules appears here, one point per run as the runs finish." }</p>
                            </figure>
                        },
                    }
                }
                if !props.run.evaluations.is_empty() {
                    <ChartView chart={live_chart(&props.run)} size={CHART_SIZE} id="live-accuracy" />
                }
            </div>
        </section>
    }
}

/// The accuracy curve of the run in training, titled with the rule count it trains on.
fn live_chart(run: &LiveRun) -> LineChart {
    let mut chart = accuracy_chart(run);
    if let Some(config) = &run.config {
        chart.title = format!("This run: {} rules", config.task.instructions);
    }
    chart
}

/// One worked instance of a program: its rules, then each step with the rule that fired and the
/// occurrence it rewrote marked, then the answer.
fn program_card(title: &str, hint: &str, case: &WorkedCase, answer: AnswerFormat) -> Html {
    let rules = case.instruction.rules();
    let rows = trace_rows(&case.instruction, &case.z, &case.run);
    let writes = match answer {
        AnswerFormat::Direct => case.answer.clone(),
        AnswerFormat::Trace => case.run.trace(&case.instruction, &case.z).join(","),
    };
    html! {
        <div class="case program">
            <h2>{ title }</h2>
            <p class="muted">{ hint }</p>
            <ol class="mono rule program-rules">
                { for rules.iter().enumerate().map(|(i, rule)| html! {
                    <li>{ format!("{} {} {}", rule.x, if case.instruction.is_terminal(i) { "→." } else { "→" }, if rule.y.is_empty() { "∅" } else { &rule.y }) }</li>
                }) }
            </ol>
            <p><span class="muted">{ "input " }</span><span class="mono">{ &case.z }</span></p>
            <ul class="trace">
                { for rows.iter().enumerate().map(|(step, row)| html! {
                    <li><span class="muted">{ format!("step {}, rule {}: ", step + 1, row.rule + 1) }</span>
                        <span class="mono">{ &row.head }<mark>{ &row.matched }</mark>{ &row.tail }{ " → " }{ &row.after }</span></li>
                }) }
            </ul>
            <p class="answer-line"><span class="muted">{ "answer " }</span><span class="mono">{ &case.answer }</span></p>
            <p class="writes"><span class="muted">{ if answer == AnswerFormat::Trace { "the model writes its steps " } else { "the model writes " } }</span><span class="mono">{ writes }</span></p>
        </div>
    }
}

/// One worked instance: the rule, the input with its leftmost `x` marked, the answer.
fn case_card(title: &str, hint: &str, case: &WorkedCase) -> Html {
    let Some(rule) = case.instruction.as_rule() else {
        return program_card(title, hint, case, AnswerFormat::Direct);
    };
    let x_end = case.at + rule.x.len();
    let y = if rule.y.is_empty() {
        "∅".to_string()
    } else {
        rule.y.clone()
    };
    html! {
        <div class="case">
            <h2>{ title }</h2>
            <p class="muted">{ hint }</p>
            <p class="mono rule">{ format!("{} → {y}", rule.x) }
                if rule.y.is_empty() {
                    <span class="muted">{ " (∅: delete it)" }</span>
                }
            </p>
            <p><span class="muted">{ "input " }</span>
                <span class="mono">{ &case.z[..case.at] }<mark>{ &case.z[case.at..x_end] }</mark>{ &case.z[x_end..] }</span></p>
            <p><span class="muted">{ "answer " }</span><span class="mono">{ &case.answer }</span></p>
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct LessonBoxProps {
    pub lesson: Option<LessonState>,
    pub queue: Rc<SweepQueue>,
    pub library: Rc<Library>,
    pub inside: Rc<InsideView>,
    pub opened: Option<usize>,
    pub active: bool,
    /// The running sweep's time left, in seconds, once it can be estimated.
    pub seconds_left: Option<f64>,
    pub dispatch: Dispatch,
}

/// The primary action, or the open lesson: its paragraph, the prediction to make, one button to
/// run it, and the answer once its runs are done.
/// The reveal of a lesson that looks inside: each run's best heads on held-out rules, and a button
/// that silences its best substitution head (the result shows here and in "Inside the model").
fn inside_reveal(props: &LessonBoxProps) -> Html {
    let Some(sweep) = &props.queue.sweep else {
        return html! {};
    };
    let runs: Vec<(usize, &RunRecord)> = props
        .library
        .runs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.sweep_key.as_deref() == Some(sweep.key.as_str()))
        .map(|(i, r)| (i, r.record.as_ref()))
        .collect();
    let head = |best: Option<(usize, usize, f32)>| {
        best.map_or("–".to_string(), |(l, h, s)| {
            format!("{} ({s:.2})", head_name(l, h))
        })
    };
    html! {
        <table class="inside-reveal" id="inside-reveal">
            <caption>{ "Your runs, on held-out rules at their end: the head that looks most at each answer letter's source, and the accuracy on the first 100 examples of each split with the substitution head silenced" }</caption>
            <thead><tr><th scope="col">{ "rules" }</th><th scope="col">{ "unseen accuracy" }</th>
                <th scope="col">{ "best substitution head" }</th><th scope="col">{ "best copy head" }</th><th scope="col">{ "silenced" }</th></tr></thead>
            <tbody>
            { for lesson_rows(&runs).into_iter().map(|row| {
                let result = props.inside.of_run(Some(row.run));
                let silencing = props.inside.ablating.is_some() && props.inside.ablating_run == Some(row.run);
                let silence = row.substitute.map(|(l, h, _)| {
                    let dispatch = props.dispatch.clone();
                    let run = row.run;
                    Callback::from(move |_: MouseEvent| {
                        dispatch.dispatch(Action::OpenRun(Some(run)));
                        dispatch.dispatch(Action::Inside(InsideAction::Head(Some((l, h)))));
                        dispatch.dispatch(Action::Ablate(vec![(l, h)]));
                    })
                });
                html! {
                    <tr id={format!("inside-reveal-{}", row.instructions)}>
                        <td>{ row.instructions }</td>
                        <td>{ format!("{:.0}%", 100.0 * row.unseen) }</td>
                        <td>{ head(row.substitute) }</td>
                        <td>{ head(row.copy) }</td>
                        <td>{ match (result, silence) {
                            _ if silencing => html! { <span aria-live="polite">{ "Silencing…" }</span> },
                            (Some(ablated), _) => html! { <span class="ablated">{ format!("unseen {:.0}% → {:.0}%, seen {:.0}% → {:.0}%",
                                100.0 * ablated.whole.unseen_accuracy, 100.0 * ablated.ablated.unseen_accuracy,
                                100.0 * ablated.whole.seen_accuracy, 100.0 * ablated.ablated.seen_accuracy) }</span> },
                            (None, _) if props.opened == Some(row.run) && matches!(props.inside.ablation, Some(Err(_))) => html! {
                                <span class="error">{ props.inside.ablation.as_ref().and_then(|a| a.as_ref().err()).cloned().unwrap_or_default() }</span>
                            },
                            (None, Some(onclick)) => html! { <button class="secondary" id={format!("silence-{}", row.instructions)} {onclick}>{ "Silence it" }</button> },
                            (None, None) => html! { "–" },
                        } }</td>
                    </tr>
                }
            }) }
            </tbody>
        </table>
    }
}

#[function_component(LessonBox)]
pub fn lesson_box(props: &LessonBoxProps) -> Html {
    let dispatch = &props.dispatch;
    // A lesson opened from its card further down comes up here: bring it into view. Only as far as
    // needed ("nearest"): the primary lesson opens where it already is, and the curve its runs fill,
    // above it, stays in view through the reveal.
    use_effect_with(props.lesson.as_ref().map(|l| l.id.clone()), |id| {
        if id.is_some()
            && let Some(element) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.get_element_by_id("lesson"))
        {
            let options = web_sys::ScrollIntoViewOptions::new();
            options.set_block(web_sys::ScrollLogicalPosition::Nearest);
            element.scroll_into_view_with_scroll_into_view_options(&options);
        }
        || ()
    });
    let Some((opened, lesson)) = props
        .lesson
        .as_ref()
        .and_then(|l| Some((l, lesson(&l.id)?)))
    else {
        let primary = lesson(PRIMARY_LESSON).expect("the primary lesson exists");
        return html! {
            <div class="primary">
                <button id="primary" disabled={props.active}
                    onclick={on_click(dispatch, Action::Lesson(LessonAction::Open(Some(PRIMARY_LESSON.into()))))}>
                    { "Run the phase transition" }
                </button>
                <span class="muted">{ format!(" {} runs of {} steps, one budget spread over more and more rules; first make your prediction.",
                    primary.sweep.run_count(), primary.sweep.base.train.steps) }</span>
            </div>
        };
    };
    let done = props.queue.sweep.as_ref().is_some_and(|s| {
        s.lesson.as_deref() == Some(lesson.id)
            && matches!(s.status, SweepStatus::Done | SweepStatus::Saved)
    });
    // The lesson's own sweep while it trains: its progress and its stop are in the card, where the
    // class looks (the sweep panel may be far below, or hidden by a student link).
    let training = props
        .queue
        .running()
        .filter(|s| s.lesson.as_deref() == Some(lesson.id));
    html! {
        <div class="lesson" id="lesson">
            <h2>{ lesson.title }
                <button class="close" onclick={on_click(dispatch, Action::Lesson(LessonAction::Open(None)))} aria-label="Close the lesson">{ "×" }</button></h2>
            <p class="lesson-text">{ lesson.text }</p>
            <fieldset class="predict">
                <legend>{ format!("Predict before you run: {}", lesson.question) }</legend>
                { for lesson.choices.iter().enumerate().map(|(i, choice)| {
                    let dispatch = dispatch.clone();
                    html! {
                        <label class="check choice">
                            <input type="radio" name="lesson-choice" id={format!("lesson-choice-{i}")}
                                checked={opened.prediction == Some(i)}
                                onchange={Callback::from(move |_: Event| dispatch.dispatch(Action::Lesson(LessonAction::Predict(i))))} />
                            { format!(" {choice}") }
                        </label>
                    }
                }) }
            </fieldset>
            <button id="run-lesson" disabled={opened.prediction.is_none() || props.active}
                onclick={on_click(dispatch, Action::Lesson(LessonAction::Run))}>
                { format!("Run the lesson ({} runs of {} steps)", lesson.sweep.run_count(), lesson.sweep.base.train.steps) }
            </button>
            if opened.prediction.is_none() {
                <span class="muted">{ " Choose an answer first." }</span>
            }
            if let Some(sweep) = training {
                <p class="lesson-progress" id="lesson-progress" role="status">
                    { format!("Training: {} of {} runs done", sweep.done.len(), sweep.plan.len()) }
                    if let Some(seconds) = props.seconds_left {
                        { format!(", about {} left", format_duration(seconds)) }
                    }
                    { " " }
                    <button id="stop-lesson" class="secondary" onclick={on_click(dispatch, Action::Sweep(SweepAction::Cancel))}>{ "Stop the lesson" }</button>
                </p>
            }
            if let (true, Some(choice)) = (done, opened.prediction) {
                <div class="reveal" id="lesson-reveal" role="status">
                    <p><b>{ if choice == lesson.answer { "Your prediction matches. " } else { "Not quite. " } }</b>
                        { format!("You predicted: “{}”. {} “{}”.", lesson.choices[choice],
                            if lesson.inside || lesson.id == "programs" { "Over three seeds of these settings, the answer was:" } else { "The paper's answer:" },
                            lesson.choices[lesson.answer]) }</p>
                    <p>{ lesson.explanation }</p>
                    if lesson.inside {
                        { inside_reveal(props) }
                    }
                </div>
            }
        </div>
    }
}

/// A run's label, what it learned, as a badge.
pub fn verdict_badge(seen: f64, unseen: f64, id: Option<&'static str>) -> Html {
    let verdict = Verdict::of(seen, unseen);
    html! {
        <span id={id} class={classes!("verdict", verdict.class())} title={verdict.explain()}>{ verdict.label() }</span>
    }
}

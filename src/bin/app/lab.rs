//! The page's views past a single run: lessons, sweeps (queue, curve and phase diagram), the
//! instruction inspector, try-your-own with the attention view, and run comparison. Each is a thin
//! rendering of the core's data (`heatmap`, `inspect`, `lessons`) and dispatches reducer actions.

use crate::app::{Dispatch, on_click};
use crate::chart_view::ChartView;
use crate::field::DraftInput;
use crate::run_panel::{diff_html, event_value, format_duration};
use instruction_diversity::engine::config::ExperimentConfig;
use instruction_diversity::engine::metrics::Tally;
use instruction_diversity::engine::question::{Answer, AttentionMap};
use instruction_diversity::engine::task::rule::leftmost_occurrence;
use instruction_diversity::page::chart::{LineChart, Series};
use instruction_diversity::page::heatmap::{
    ColorScale, SEEN_TEXT_COLOR, UNSEEN_TEXT_COLOR, differing_settings,
};
use instruction_diversity::page::inspect::{
    FEW_INPUTS, RuleCase, RuleGroup, RuleSort, Share, kind_rows, rule_cases, rule_rows,
    set_summaries, sort_rows,
};
use instruction_diversity::page::link;
use instruction_diversity::page::state::inspector::{Inspector, InspectorAction};
use instruction_diversity::page::state::lessons::LessonAction;
use instruction_diversity::page::state::library::{Kept, Library, LibraryAction};
use instruction_diversity::page::state::run::LiveRun;
use instruction_diversity::page::state::sweep::{MAX_WORKERS, SweepField, SweepQueue, SweepStatus};
use instruction_diversity::page::state::{Action, SweepAction, inspected};
use instruction_diversity::protocol::MAX_PAGE_STACK;
use instruction_diversity::study::class::ClassPlan;
use instruction_diversity::study::lessons::{LESSON_IDS, lesson};
use instruction_diversity::study::presets::preset;
use instruction_diversity::study::sweep::SweepSetting;
use std::rc::Rc;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

/// Width and height of the sweep and comparison charts.
const CHART_SIZE: (f64, f64) = (480.0, 260.0);

/// Rules listed at first in the inspector; more on request.
const RULE_PAGE: usize = 60;

fn percent(value: f64) -> String {
    format!("{:.0}%", 100.0 * value)
}

#[derive(Properties, PartialEq)]
pub struct LessonsProps {
    /// The open lesson's identifier.
    pub open: Option<String>,
    pub active: bool,
    pub dispatch: Dispatch,
}

/// Every lesson but the primary one as a card: its title, its question and its cost. Opening one
/// puts it at the top of the page, in place of the primary action, with its prediction to make.
#[function_component(Lessons)]
pub fn lessons(props: &LessonsProps) -> Html {
    html! {
        <section class="panel lessons" aria-labelledby="lessons-title" id="lessons">
            <h2 id="lessons-title">{ "More lessons: read, predict, then run" }</h2>
            <ul class="cards">
                { for LESSON_IDS.iter().filter(|id| **id != crate::hero::PRIMARY_LESSON).filter_map(|id| lesson(id)).map(|l| {
                    let open = props.open.as_deref() == Some(l.id);
                    html! {
                        <li class={classes!("card", open.then_some("open"))}>
                            <h3>{ l.title }</h3>
                            <p>{ l.question }</p>
                            <p class="muted">{ format!("{} runs of {} steps", l.sweep.run_count(), l.sweep.base.train.steps) }</p>
                            <button class="secondary" id={format!("lesson-card-{}", l.id)} disabled={props.active || open}
                                onclick={on_click(&props.dispatch, Action::Lesson(LessonAction::Open(Some(l.id.to_string()))))}>
                                { if open { "Open at the top" } else { "Open" } }
                            </button>
                        </li>
                    }
                }) }
                <li class="card" id="class-card">
                    <h3>{ "A class fills the phase diagram" }</h3>
                    <p>{ "One laptop trains one cell of the grid in minutes; a class fills all of it in one sitting, and watches it fill on the projector." }</p>
                    <p>{ "With a hub: the teacher runs " }<code>{ "idp class --preset phase-transition --seeds 1,2,3" }</code>
                        { " on a laptop and projects its dashboard. Students open the join link or scan its QR code. Each page trains a short check run (the canary), then one cell after another, and sends the results." }</p>
                    <p>{ "Without a hub: set up a sweep below and press “Run it as a class”. Each student trains the cell of their seat and pastes the result code it gives where you ask. You paste all the codes at once." }</p>
                    <p class="muted">{ "The diagram: one square per number of rules and examples per rule, coloured by accuracy on rules no run trained on. It stays low at few rules and jumps past a few hundred." }</p>
                </li>
            </ul>
        </section>
    }
}

#[derive(Properties, PartialEq)]
pub struct SweepsProps {
    pub queue: Rc<SweepQueue>,
    pub library: Rc<Library>,
    /// The preset the settings came from: its sweep can run as it is.
    pub preset: Option<String>,
    /// The settings every run of the sweep starts from.
    pub config: ExperimentConfig,
    pub active: bool,
    pub seconds_left: Option<f64>,
    /// Counts the links opened (see `DraftInput::reset`).
    pub reset: u64,
    pub dispatch: Dispatch,
}

/// The sweep builder, its queue, the accuracy curve and the phase diagram.
#[function_component(Sweeps)]
pub fn sweeps(props: &SweepsProps) -> Html {
    let dispatch = props.dispatch.clone();
    let form = &props.queue.form;
    // Each input sends its own field only: the reducer applies it to the form as it is then, so
    // quick edits of two fields both stay (and links carry the form). `commit` takes a field's
    // text (the text fields), `edit` a select's change event.
    let commit = |field: SweepField| {
        let dispatch = dispatch.clone();
        Callback::from(move |text: String| {
            dispatch.dispatch(Action::Sweep(SweepAction::Edit(field, text)));
        })
    };
    let edit = |field: SweepField| commit(field).reform(|e: Event| event_value(&e));
    let on_start = on_click(&dispatch, Action::Sweep(SweepAction::StartForm));
    let on_workers = {
        let dispatch = dispatch.clone();
        Callback::from(move |text: String| {
            dispatch.dispatch(Action::Sweep(SweepAction::WorkersText(text)));
        })
    };
    let on_stack = {
        let dispatch = dispatch.clone();
        Callback::from(move |text: String| {
            dispatch.dispatch(Action::Sweep(SweepAction::StackText(text)));
        })
    };
    let preset_sweep = props.preset.as_deref().and_then(preset);
    let options = |selected: Option<SweepSetting>, none: bool| {
        html! {
            <>
                if none { <option value="" selected={selected.is_none()}>{ "none" }</option> }
                { for SweepSetting::all().map(|s| html! {
                    <option value={s.id()} selected={selected == Some(s)}>{ s.name() }</option>
                }) }
            </>
        }
    };
    html! {
        <section class="panel sweeps" aria-label="Sweeps" id="sweeps">
            <h2>{ "Sweeps and the phase diagram" }</h2>
            <p class="muted">{ "Runs the current settings once per value (and per seed) and plots the final accuracy of each: on the CPU fallback, several runs at once, one per worker. Put examples per rule on the second axis for the I × S phase diagram." }</p>
            <div class="sweep-form">
                <label class="field" for="sweep-axis"><span class="name">{ "Vary" }</span>
                    <select id="sweep-axis" onchange={edit(SweepField::Axis)}>{ options(Some(form.first), false) }</select></label>
                <label class="field" for="sweep-values"><span class="name">{ "Values" }</span>
                    <DraftInput id="sweep-values" reset={props.reset} value={form.first_values.clone()} onchange={commit(SweepField::Values)} /></label>
                <label class="field" for="sweep-axis2"><span class="name">{ "Second axis" }</span>
                    <select id="sweep-axis2" onchange={edit(SweepField::Axis2)}>{ options(form.second, true) }</select></label>
                if form.second.is_some() {
                    <label class="field" for="sweep-values2"><span class="name">{ "Values" }</span>
                        <DraftInput id="sweep-values2" reset={props.reset} value={form.second_values.clone()} onchange={commit(SweepField::Values2)} /></label>
                }
                <label class="field" for="sweep-seeds"><span class="name">{ "Seeds" }</span>
                    <DraftInput id="sweep-seeds" kind="number" min="1" max="5" reset={props.reset} value={form.seeds.clone()} onchange={commit(SweepField::Seeds)} /></label>
                <label class="field" for="sweep-workers"><span class="name">{ "Workers" }</span>
                    <DraftInput id="sweep-workers" kind="number" min="1" max={MAX_WORKERS.to_string()} reset={props.reset} value={props.queue.workers.to_string()}
                        title="Runs trained at once on the CPU fallback, each in its own worker (default: one per core, up to 16). On WebGPU one worker stacks them instead."
                        disabled={props.active} onchange={on_workers} /></label>
                <label class="field" for="sweep-stack"><span class="name">{ "Stacked on WebGPU" }</span>
                    <DraftInput id="sweep-stack" kind="number" min="1" max={MAX_PAGE_STACK.to_string()} reset={props.reset} value={props.queue.stack.to_string()}
                        title="Runs the GPU trains at once as one model whose every weight has a run axis, when their model and training settings agree (1: one after another). The CPU fallback uses the workers instead."
                        disabled={props.active} onchange={on_stack} /></label>
            </div>
            <div class="controls">
                <button id="start-sweep" onclick={on_start} disabled={props.active}>{ "Start sweep" }</button>
                if let Some(p) = preset_sweep {
                    <button id="start-preset-sweep" disabled={props.active} title={p.summary}
                        onclick={on_click(&dispatch, Action::Sweep(SweepAction::Start(Box::new(p.sweep.clone()), None)))}>
                        { format!("Run the “{}” preset at full size ({} runs of {} steps, as the CLI calibrates it)", p.title, p.sweep.run_count(), p.sweep.base.train.steps) }
                    </button>
                }
                <button id="class-from-sweep" class="secondary" disabled={props.active} onclick={class_link(props)}
                    title="A class trains this sweep together: each student trains one cell and hands in a result code, which you paste here (or run `idp class` for a hub)">
                    { "Run it as a class" }</button>
                <button id="cancel-sweep" disabled={props.queue.running().is_none()}
                    onclick={on_click(&dispatch, Action::Sweep(SweepAction::Cancel))}>{ "Cancel sweep" }</button>
            </div>
            if let Some(e) = &props.queue.error {
                <p class="error" role="alert" id="sweep-error">{ e }</p>
            }
            <SweepViews queue={props.queue.clone()} library={props.library.clone()} seconds_left={props.seconds_left} dispatch={dispatch.clone()} />
        </section>
    }
}

/// Opens the sweep in the builder as a class with result codes (the teacher's page): the link of
/// the settings, the sweep and the class's identifier, put in the address bar (the page opens
/// links from there). The builder's error says why when the sweep cannot be planned.
fn class_link(props: &SweepsProps) -> Callback<MouseEvent> {
    let form = props.queue.form.clone();
    let config = props.config.clone();
    let dispatch = props.dispatch.clone();
    Callback::from(move |_: MouseEvent| match form.spec(&config) {
        Ok(spec) => {
            let id = ClassPlan::id_of(&spec);
            let fragment = format!(
                "{}{}{}",
                link::write_with_view(&config, None, false, &link::View::default()),
                link::write_sweep(&form),
                link::write_class(&id, link::ClassRole::Teacher)
            );
            if let Some(window) = web_sys::window() {
                let _ = window.location().set_hash(&fragment);
            }
        }
        // The same check refuses the sweep's start, which says why in the builder.
        Err(_) => dispatch.dispatch(Action::Sweep(SweepAction::StartForm)),
    })
}

#[derive(Properties, PartialEq)]
pub struct SweepViewsProps {
    pub queue: Rc<SweepQueue>,
    pub library: Rc<Library>,
    pub seconds_left: Option<f64>,
    pub dispatch: Dispatch,
    /// Whether a cell opens its run in the inspector (not for a class's runs, which are not the
    /// library's).
    #[prop_or(true)]
    pub open: bool,
}

/// The queue, the curve and the heatmap of the sweep on show.
#[function_component(SweepViews)]
pub fn sweep_views(props: &SweepViewsProps) -> Html {
    let Some(sweep) = &props.queue.sweep else {
        return html! { <p class="muted">{ "No sweep yet." }</p> };
    };
    let grid = sweep.grid(&props.library.runs);
    let status = match sweep.status {
        SweepStatus::Running => "running",
        SweepStatus::Done => "done",
        SweepStatus::Cancelled => "cancelled",
        SweepStatus::Failed => "failed",
        SweepStatus::Imported => "imported",
        SweepStatus::Saved => "kept from an earlier visit",
    };
    let open = |run: usize| {
        if props.open {
            on_click(&props.dispatch, Action::OpenRun(Some(run)))
        } else {
            Callback::noop()
        }
    };
    html! {
        <div class="sweep-views">
            <p class="sweep-status">
                { "Sweep " }<b id="sweep-status">{ status }</b>
                { format!(": {} done", sweep.done.len()) }
                if !sweep.plan.is_empty() {
                    { format!(" of {}", sweep.plan.len()) }
                }
                if let Some(seconds) = props.seconds_left {
                    <span id="sweep-time-left">{ format!(" · about {} left", format_duration(seconds)) }</span>
                }
            </p>
            if !sweep.plan.is_empty() {
                <ol class="queue" id="sweep-queue">
                    { for sweep.plan.iter().map(|run| {
                        // Workers are named only while a helper trains too (never on WebGPU).
                        let several = sweep.helpers_busy();
                        let in_worker = if several { " in worker 1" } else { "" };
                        // The runs the page's worker trains together as one stacked model (WebGPU).
                        let stack = match sweep.stacked.len() {
                            0 => String::new(),
                            n => format!(", stacked: {} runs at once", n + 1),
                        };
                        let (class, word) = if sweep.is_done(run.index) {
                            ("done", "done".to_string())
                        } else if sweep.current == Some(run.index) {
                            ("running", format!("running{in_worker}{stack}"))
                        } else if let Some(member) = sweep.stacked.iter().find(|e| e.plan == run.index) {
                            ("running", format!("running{in_worker}{stack}, step {}", member.step))
                        } else if let Some(helper) = sweep.helper_of(run.index) {
                            let step = sweep.elsewhere[helper].as_ref().map_or(0, |e| e.step);
                            ("running", format!("running in worker {}, step {step}", helper + 2))
                        } else {
                            match sweep.status {
                                SweepStatus::Running => ("waiting", "waiting".into()),
                                // Runs in progress at the cancel never finished either.
                                SweepStatus::Cancelled => ("skipped", "cancelled".into()),
                                SweepStatus::Failed => ("skipped", "not finished: the sweep failed".into()),
                                _ => ("skipped", "not run".into()),
                            }
                        };
                        html! { <li class={class}>{ format!("{} · seed {} · {word}", run.labels.join(" × "), run.seed) }</li> }
                    }) }
                </ol>
            }
            <div class="charts">
                <figure id="heatmap-figure">
                    <figcaption>{ format!("Phase diagram: unseen-rule accuracy by {}{}", grid.column_axis, grid.row_axis.as_ref().map(|r| format!(" and {r}")).unwrap_or_default()) }</figcaption>
                    <div class="table-scroll">
                    <table class="heatmap" id="heatmap">
                        <tbody>
                            { for (0..grid.rows.len()).rev().map(|row| html! {
                                <tr>
                                    <th scope="row">
                                        if grid.rows[row].is_empty() { <span class="visually-hidden">{ "all runs" }</span> } else { { &grid.rows[row] } }
                                    </th>
                                    { for (0..grid.columns.len()).map(|column| {
                                        let cell = grid.cell(row, column);
                                        let value = cell.unseen.map(|s| s.mean);
                                        let style = format!("background:{};color:{}", ColorScale::color(value), ColorScale::text_color(value));
                                        let verdict = cell.verdict();
                                        let title = match cell.unseen {
                                            Some(s) if s.count > 1 => format!("{} runs: unseen mean {}, {} to {}", s.count, percent(s.mean), percent(s.min), percent(s.max)),
                                            Some(s) => format!("unseen {}, seen {}", percent(s.mean), cell.seen.map(|s| percent(s.mean)).unwrap_or_default()),
                                            None => "not run yet".into(),
                                        };
                                        let title = match verdict {
                                            Some(v) => format!("{}: {title}", v.label()),
                                            None => title,
                                        };
                                        match cell.runs.first() {
                                            Some(&k) => html! {
                                                <td><button class={classes!("cell", "filled", verdict.map(|v| v.class()))} {style} {title} data-row={row.to_string()} data-column={column.to_string()}
                                                    onclick={open(sweep.done[k])}>
                                                    { value.map(percent).unwrap_or_default() }
                                                    if let Some(v) = verdict { <small class="cell-verdict">{ v.label() }</small> }
                                                </button></td>
                                            },
                                            None => html! { <td><span class="cell" {style} {title}>{ "·" }</span></td> },
                                        }
                                    }) }
                                </tr>
                            }) }
                            <tr>
                                <th scope="col">{ grid.row_axis.clone().map(|r| format!("{r} ↑ / {} →", grid.column_axis)).unwrap_or_else(|| format!("{} →", grid.column_axis)) }</th>
                                { for grid.columns.iter().map(|c| html! { <th scope="col">{ c }</th> }) }
                            </tr>
                        </tbody>
                    </table>
                    </div>
                    <div class="legend" aria-label="Colour scale">
                        { for ColorScale::legend().into_iter().map(|(label, color)| html! {
                            <span><i style={format!("background:{color}")}></i>{ label }</span>
                        }) }
                    </div>
                    <p class="muted">{ "Click a cell to inspect its run." }</p>
                </figure>
            </div>
        </div>
    }
}

/// Exact match with the inputs behind it: "52% (312 of 600)".
fn score(tally: &Tally) -> String {
    match tally.accuracy() {
        Some(accuracy) => format!(
            "{} ({} of {})",
            percent(accuracy),
            tally.correct,
            tally.total
        ),
        None => "no inputs".into(),
    }
}

/// A set's line in the inspector's summary, with the name the run's headline numbers give it.
fn set_title(group: RuleGroup) -> &'static str {
    match group {
        RuleGroup::HeldOut => "held-out rules (unseen)",
        RuleGroup::Training => "training rules (seen)",
    }
}

fn set_key(group: RuleGroup) -> &'static str {
    match group {
        RuleGroup::HeldOut => "held-out",
        RuleGroup::Training => "training",
    }
}

/// An evaluation split as the run's headline numbers name it.
fn split_title(name: &str) -> &str {
    match name {
        "seen" => "seen rules",
        "unseen" => "unseen rules",
        "noop" => "no-ops",
        other => other,
    }
}

fn share_cell(share: &Share) -> Html {
    if share.rules == 0 {
        return html! { <td class="muted">{ "no rules" }</td> };
    }
    let inputs = &share.inputs;
    let accuracy = inputs.accuracy().map(percent).unwrap_or_else(|| "–".into());
    html! {
        <td>{ format!("{accuracy} ({} of {} inputs)", inputs.correct, inputs.total) }
            <span class="muted">{ format!(" · {} rule{}", share.rules, if share.rules == 1 { "" } else { "s" }) }</span></td>
    }
}

/// Per-set and per-kind accuracy of the inspected run, per-rule accuracy, a rule's cases across
/// evaluations, and a picker of runs.
#[derive(Properties, PartialEq)]
pub struct InspectorProps {
    pub inspector: Rc<Inspector>,
    pub library: Rc<Library>,
    pub run: Rc<LiveRun>,
    pub dispatch: Dispatch,
}

#[function_component(InspectorPanel)]
pub fn inspector_panel(props: &InspectorProps) -> Html {
    let inspector = &props.inspector;
    let library = &props.library;
    let dispatch = props.dispatch.clone();
    let shown_rules = use_state(|| RULE_PAGE);
    let on_run = {
        let dispatch = dispatch.clone();
        Callback::from(move |e: Event| {
            let value = e.target_unchecked_into::<HtmlSelectElement>().value();
            dispatch.dispatch(Action::OpenRun(value.parse().ok()));
        })
    };
    let picker = html! {
        <label class="field" for="inspect-run"><span class="name">{ "Run" }</span>
            <select id="inspect-run" onchange={on_run}>
                <option value="" selected={inspector.opened.is_none()}>{ if props.run.is_active() { "the run in progress" } else { "the latest run" } }</option>
                { for library.runs.iter().enumerate().map(|(i, run)| html! {
                    <option value={i.to_string()} selected={inspector.opened == Some(i)}>{ &run.name }</option>
                }) }
            </select>
        </label>
    };
    let name = inspector
        .opened
        .and_then(|i| library.runs.get(i))
        .map(|r| r.name.clone());
    let Some((config, history)) =
        inspected(inspector, library, &props.run).filter(|(_, h)| !h.is_empty())
    else {
        return html! {
            <section class="panel inspector" aria-label="Instruction inspector" id="inspector">
                <h2>{ "Instruction inspector" }</h2>
                { picker }
                <p class="muted">{ "Per-rule results appear at the first evaluation of a run trained in this tab." }</p>
            </section>
        };
    };
    let latest = history.last().expect("not empty");
    let sets = set_summaries(latest);
    let rules_in_set = |group: RuleGroup| match group {
        RuleGroup::HeldOut => config.eval.test_rules,
        RuleGroup::Training => config.task.instructions,
    };
    let kinds = kind_rows(latest);
    let mut rows = rule_rows(latest);
    // The opened rule's text, taken before the table is filtered and cut.
    let opened_text = inspector.rules.rule.and_then(|(group, rule)| {
        rows.iter()
            .find(|r| r.group == group && r.rule == rule)
            .map(|r| r.text.clone())
    });
    sort_rows(&mut rows, inspector.rules.sort, inspector.rules.descending);
    if inspector.rules.failures_only {
        rows.retain(|r| r.tally.correct < r.tally.total);
    }
    let total_rows = rows.len();
    rows.truncate(*shown_rules);
    let sort_header = |key: RuleSort, label: &str, id: &str| {
        let dispatch = dispatch.clone();
        let sorted = (inspector.rules.sort == key).then_some(inspector.rules.descending);
        let mark = match sorted {
            Some(true) => " ▼",
            Some(false) => " ▲",
            None => "",
        };
        let aria_sort = sorted.map(|descending| {
            if descending {
                "descending"
            } else {
                "ascending"
            }
        });
        html! {
            <th scope="col" aria-sort={aria_sort}>
                <button class="sort" id={id.to_string()} onclick={Callback::from(move |_: MouseEvent| dispatch.dispatch(Action::Inspector(InspectorAction::SortRules(key))))}>{ format!("{label}{mark}") }</button>
            </th>
        }
    };
    let group_name = |g: RuleGroup| match g {
        RuleGroup::Training => "training",
        RuleGroup::HeldOut => "held out",
    };
    let detail = inspector.rules.rule.map(|(group, rule)| {
        let evaluations: Vec<&instruction_diversity::engine::metrics::Evaluation> =
            history.iter().map(|e| e.as_ref()).collect();
        let mut cases = rule_cases(&evaluations, group, rule);
        if inspector.rules.failures_only {
            cases.retain(RuleCase::failed);
        }
        (group, opened_text.clone(), cases)
    });
    let on_failures = {
        let dispatch = dispatch.clone();
        Callback::from(move |e: Event| {
            dispatch.dispatch(Action::Inspector(InspectorAction::FailuresOnly(
                e.target_unchecked_into::<HtmlInputElement>().checked(),
            )))
        })
    };
    html! {
        <section class="panel inspector" aria-label="Instruction inspector" id="inspector">
            <h2>{ "Instruction inspector" }</h2>
            { picker }
            <p class="muted" id="inspected-name">{ format!("{} · evaluation at step {} · {} evaluations", name.unwrap_or_else(|| "current run".into()), latest.step, history.len()) }</p>
            <div class="table-scroll">
            <table class="predictions" id="inspector-sets">
                <caption>{ format!("Each set at step {}: exact match over all its test inputs", latest.step) }</caption>
                <thead><tr>
                    <th scope="col">{ "set" }</th>
                    <th scope="col">{ "rules tested" }</th>
                    <th scope="col">{ "inputs" }</th>
                    <th scope="col">{ "exact match" }</th>
                    <th scope="col">{ format!("rules with fewer than {FEW_INPUTS} inputs") }</th>
                </tr></thead>
                <tbody>
                    { for sets.iter().map(|set| html! {
                        <tr data-set={set_key(set.group)}>
                            <th scope="row">{ set_title(set.group) }</th>
                            <td>{ format!("{} of {}", set.share.rules, rules_in_set(set.group)) }</td>
                            <td>{ set.share.inputs.total }</td>
                            <td>{ score(&set.share.inputs) }
                                if set.splits.len() > 1 {
                                    <br /><span class="muted">{ set.splits.iter().map(|(name, tally)| format!("{} {}", split_title(name), score(tally))).collect::<Vec<_>>().join(" · ") }</span>
                                }
                            </td>
                            <td>{ set.few_inputs }</td>
                        </tr>
                    }) }
                </tbody>
            </table>
            </div>
            <div class="table-scroll">
            <table class="predictions" id="inspector-kinds">
                <caption>{ format!("By kind of rule at step {}: exact match, inputs and rules", latest.step) }</caption>
                <thead><tr>
                    <th scope="col">{ "kind" }</th>
                    { for RuleGroup::ALL.into_iter().map(|group| html! { <th scope="col">{ set_title(group) }</th> }) }
                </tr></thead>
                <tbody>
                    { for kinds.iter().map(|row| html! {
                        <tr data-kind={row.kind.name()}>
                            <th scope="row">{ row.kind.name() }<span class="muted">{ format!(" ({})", row.kind.meaning()) }</span></th>
                            { for RuleGroup::ALL.into_iter().map(|group| share_cell(row.share(group))) }
                        </tr>
                    }) }
                </tbody>
            </table>
            </div>
            <p class="muted" id="rule-order">{ format!("Each rule's exact match over its own inputs. The list opens on the held-out rules, then the training rules, each with the rules scored on the most inputs first: a rule with fewer than {FEW_INPUTS} inputs says little alone. A heading sorts by its column.") }</p>
            <label class="check"><input id="failures-only" type="checkbox" checked={inspector.rules.failures_only} onchange={on_failures} />{ " only failures" }</label>
            <div class="table-scroll">
            <table class="rules" id="rule-table" aria-label={format!("Rules at step {}", latest.step)}>
                <thead><tr>
                    { sort_header(RuleSort::Group, "set", "sort-group") }
                    { sort_header(RuleSort::Rule, "rule", "sort-rule") }
                    { sort_header(RuleSort::Cases, "inputs", "sort-cases") }
                    { sort_header(RuleSort::Accuracy, "accuracy", "sort-accuracy") }
                    { sort_header(RuleSort::Kind, "kind", "sort-kind") }
                </tr></thead>
                <tbody>
                    { for rows.iter().map(|row| {
                        let key = (row.group, row.rule);
                        let dispatch = dispatch.clone();
                        let selected = inspector.rules.rule == Some(key);
                        html! {
                            <tr class={classes!(selected.then_some("selected"))}>
                                <td>{ group_name(row.group) }</td>
                                <th scope="row"><button class="open-rule mono" onclick={Callback::from(move |_: MouseEvent| dispatch.dispatch(Action::Inspector(InspectorAction::InspectRule(Some(key)))))}>{ row.text.to_string() }</button></th>
                                <td>{ row.tally.total }</td>
                                <td>{ score(&row.tally) }</td>
                                <td>{ row.kind().name() }</td>
                            </tr>
                        }
                    }) }
                </tbody>
            </table>
            </div>
            if total_rows > rows.len() {
                <button id="more-rules" onclick={{ let shown = shown_rules.clone(); Callback::from(move |_: MouseEvent| shown.set(*shown + RULE_PAGE)) }}>
                    { format!("Show more ({} of {total_rows} shown)", rows.len()) }
                </button>
            }
            if let Some((group, text, cases)) = detail {
                <div class="rule-detail" id="rule-detail">
                    <h3>{ format!("{} ({} rule)", text.as_ref().map(|t| t.to_string()).unwrap_or_default(), group_name(group)) }
                        <button class="close" onclick={{ let dispatch = dispatch.clone(); Callback::from(move |_: MouseEvent| dispatch.dispatch(Action::Inspector(InspectorAction::InspectRule(None)))) }}>{ "Close" }</button></h3>
                    <div class="table-scroll">
                    <table class="predictions" aria-label={format!("Inputs of {}", text.as_ref().map(|t| t.to_string()).unwrap_or_else(|| "the rule".into()))}>
                        <thead><tr><th scope="col">{ "input" }</th><th scope="col">{ "expected" }</th><th scope="col">{ "model (latest)" }</th><th scope="col">{ "answers at each evaluation" }</th><th scope="col"><span class="visually-hidden">{ "attention" }</span></th></tr></thead>
                        <tbody>
                            { for cases.iter().map(|case| {
                                let latest_output = case.latest().unwrap_or_default().to_string();
                                let ask = text.clone().map(|rule| {
                                    let dispatch = dispatch.clone();
                                    let z = case.z.clone();
                                    Callback::from(move |_: MouseEvent| dispatch.dispatch(Action::Ask { x: rule.x.clone(), y: rule.y.clone(), z: z.clone() }))
                                });
                                html! {
                                    <tr class={if case.failed() { "wrong" } else { "right" }}>
                                        <td class="mono">{ &case.z }{ if case.noop { " (no-op)" } else { "" } }</td>
                                        <td class="mono">{ &case.expected }</td>
                                        <td class="mono">{ diff_html(&case.expected, &latest_output) }</td>
                                        <td class="mono history">{ for case.answers.iter().map(|(step, output, correct)| html! {
                                            <span class={if *correct { "ok" } else { "ko" }} title={format!("step {step}")}>{ format!("{step}: {}{} ", if output.is_empty() { "∅" } else { output }, if *correct { "✓" } else { "✗" }) }</span>
                                        }) }</td>
                                        <td>if let Some(ask) = ask { <button class="attend" onclick={ask}>{ "Attention" }</button> }</td>
                                    </tr>
                                }
                            }) }
                        </tbody>
                    </table>
                    </div>
                    if cases.is_empty() { <p class="muted">{ "No inputs to show." }</p> }
                </div>
            }
        </section>
    }
}

/// Type a rule and an input, see the inspected model's answer and its attention.
#[derive(Properties, PartialEq)]
pub struct TryProps {
    pub inspector: Rc<Inspector>,
    /// The inspected run's settings: questions go to its model.
    pub config: Option<ExperimentConfig>,
    /// The inspected run's name, said beside the form.
    pub run_name: Option<String>,
    pub dispatch: Dispatch,
}

#[function_component(TryYourOwn)]
pub fn try_your_own(props: &TryProps) -> Html {
    let x = use_state(|| "ab".to_string());
    let y = use_state(|| "c".to_string());
    let z = use_state(|| "dabba".to_string());
    let on_text = |target: &UseStateHandle<String>| {
        let target = target.clone();
        Callback::from(move |e: InputEvent| {
            target.set(e.target_unchecked_into::<HtmlInputElement>().value())
        })
    };
    let on_ask = {
        let (x, y, z) = (x.clone(), y.clone(), z.clone());
        let dispatch = props.dispatch.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            dispatch.dispatch(Action::Ask {
                x: (*x).clone(),
                y: (*y).clone(),
                z: (*z).clone(),
            });
        })
    };
    let limits = props.config.as_ref().map(|config| {
        let t = &config.task;
        let name = props.run_name.as_deref().unwrap_or("this run");
        format!(
            "Questions go to the model of {name}. Its letters are a to {}; x has {} to {} letters, y {} to {}, z {} to {}.",
            (b'a' + t.alphabet as u8 - 1) as char,
            t.x_len.min,
            t.x_len.max,
            t.y_len.min,
            t.y_len.max,
            t.z_len.min,
            t.z_len.max
        )
    });
    html! {
        <section class="panel try" aria-label="Try your own rule" id="try">
            <h2>{ "Try your own rule" }</h2>
            <form class="try-form" onsubmit={on_ask}>
                <label for="try-x">{ "x " }<input id="try-x" class="mono" type="text" size="6" value={(*x).clone()} oninput={on_text(&x)} /></label>
                <span>{ "→" }</span>
                <label for="try-y">{ "y " }<input id="try-y" class="mono" type="text" size="6" value={(*y).clone()} oninput={on_text(&y)} /></label>
                <label for="try-z">{ "input z " }<input id="try-z" class="mono" type="text" size="14" value={(*z).clone()} oninput={on_text(&z)} /></label>
                <button id="try-ask" type="submit" disabled={props.inspector.asking}>{ if props.inspector.asking { "Asking…" } else { "Ask the model" } }</button>
            </form>
            <p class="muted">{ limits.unwrap_or_else(|| "Train a run first: the question goes to its model.".into()) }</p>
            { match &props.inspector.answer {
                None => html! {},
                Some(Err(message)) => html! { <p class="error" role="alert" id="try-error">{ message }</p> },
                Some(Ok(answer)) => answer_view(answer),
            } }
        </section>
    }
}

fn answer_view(answer: &Answer) -> Html {
    let rule = &answer.question.rule;
    html! {
        <div class="answer" id="try-answer">
            <table class="predictions">
                <tbody>
                    <tr><th>{ "rule" }</th><td class="mono">{ rule.to_string() }</td><td>{ format!("{} of this run", answer.origin.describe()) }</td></tr>
                    <tr><th>{ "input" }</th><td class="mono">{ &answer.question.z }</td><td></td></tr>
                    <tr><th>{ "correct answer" }</th><td class="mono" id="try-expected">{ &answer.expected }</td><td></td></tr>
                    <tr class={if answer.correct { "right" } else { "wrong" }}><th>{ "model" }</th>
                        <td class="mono" id="try-output">{ diff_html(&answer.expected, &answer.output) }</td>
                        <td id="try-verdict">{ if answer.correct { "✓ right" } else { "✗ wrong" } }</td></tr>
                </tbody>
            </table>
            <p class="muted">{ format!("Model at step {}. Below: where each answer token looked, per layer and head; each row is shaded against its strongest weight (hover a cell for the value). Marked columns are where x first occurs in z.", answer.step) }</p>
            { attention_view(&answer.attention, rule, &answer.question.z) }
        </div>
    }
}

/// Columns of the prompt that hold the leftmost occurrence of `x` in `z`.
fn occurrence_columns(map: &AttentionMap, x: &str, z: &str) -> std::ops::Range<usize> {
    let bar = map.columns.iter().position(|c| c == "|");
    match (bar, leftmost_occurrence(x, z)) {
        (Some(bar), Some(at)) => bar + 1 + at..bar + 1 + at + x.len(),
        _ => 0..0,
    }
}

fn attention_view(
    map: &AttentionMap,
    rule: &instruction_diversity::engine::task::Rule,
    z: &str,
) -> Html {
    let marked = occurrence_columns(map, &rule.x, z);
    html! {
        <div class="attention" id="attention">
            { for (0..map.layers).map(|layer| html! {
                <div class="attention-layer">
                    <h3>{ format!("Layer {}", layer + 1) }</h3>
                    <div class="heads">
                    { for (0..map.heads).map(|head| html! {
                        <table class="attention-head" aria-label={format!("layer {} head {}", layer + 1, head + 1)}>
                            <caption>{ format!("head {}", head + 1) }</caption>
                            <tbody>
                                { for (0..map.rows.len()).map(|row| {
                                    // Shaded against the row's strongest weight: weights spread over
                                    // twenty tokens would otherwise all look pale.
                                    let strongest = (0..map.columns.len())
                                        .map(|c| map.weight(layer, head, row, c))
                                        .fold(f32::MIN_POSITIVE, f32::max);
                                    html! {
                                    <tr>
                                        <th class="mono">{ &map.rows[row] }</th>
                                        { for (0..map.columns.len()).map(|column| {
                                            let w = map.weight(layer, head, row, column).clamp(0.0, 1.0);
                                            let shade = (w / strongest).clamp(0.0, 1.0);
                                            html! { <td style={format!("background:rgba(47,91,211,{shade:.3})")}
                                                title={format!("{} → {}: {:.2}", map.rows[row], map.columns[column], w)}></td> }
                                        }) }
                                    </tr>
                                    }
                                }) }
                                <tr><th><span class="visually-hidden">{ "token" }</span></th>{ for map.columns.iter().enumerate().map(|(i, c)| html! {
                                    <th class={classes!("mono", "column", marked.contains(&i).then_some("x-match"))}>{ c }</th>
                                }) }</tr>
                            </tbody>
                        </table>
                    }) }
                    </div>
                </div>
            }) }
        </div>
    }
}

/// Finished runs: open one, pick two or more to overlay their curves and list what differs.
#[derive(Properties, PartialEq)]
pub struct CompareProps {
    pub library: Rc<Library>,
    /// The run the inspector shows.
    pub opened: Option<usize>,
    pub active: bool,
    /// Whether the browser's storage works here (runs are kept for the next visit).
    pub kept: bool,
    pub dispatch: Dispatch,
}

#[function_component(Compare)]
pub fn compare(props: &CompareProps) -> Html {
    let library = &props.library;
    let dispatch = props.dispatch.clone();
    let storage_error = library
        .storage_error
        .as_ref()
        .map(|e| html! { <p class="error" role="alert" id="storage-error">{ e }</p> });
    let keeping = if props.kept {
        "Finished runs are listed here, to open and compare; the browser keeps them for your next visit."
    } else {
        "Finished runs are listed here, to open and compare; the browser cannot keep them here, so they are gone at a reload (export them to keep them)."
    };
    let on_clear = {
        let dispatch = dispatch.clone();
        Callback::from(move |_: MouseEvent| {
            let dispatch = dispatch.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match crate::store::clear().await {
                    Ok(()) => dispatch.dispatch(Action::ClearSaved),
                    Err((name, message)) => {
                        dispatch.dispatch(Action::Library(LibraryAction::StorageFailed(format!(
                            "clearing saved runs failed ({name}): {message}"
                        ))))
                    }
                }
            });
        })
    };
    let clear = html! {
        <button id="clear-saved" disabled={props.active} onclick={on_clear}
            title="Removes every run and sweep this page saved in the browser">{ "Clear saved runs" }</button>
    };
    if library.runs.is_empty() {
        return html! {
            <section class="panel compare" aria-label="Runs" id="compare">
                <h2>{ "Runs" }</h2>
                <p class="muted" id="runs-kept">{ keeping }</p>
                { storage_error }
            </section>
        };
    }
    let picked: Vec<usize> = library
        .compare
        .iter()
        .copied()
        .filter(|&i| i < library.runs.len())
        .collect();
    const PALETTE: [&str; 8] = [
        "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    ];
    let color = |k: usize| PALETTE[k % PALETTE.len()].to_string();
    let accuracy = LineChart {
        title: "Unseen-rule accuracy".into(),
        x_label: "step".into(),
        series: picked
            .iter()
            .enumerate()
            .map(|(k, &i)| Series {
                name: library.runs[i].name.clone(),
                color: color(k),
                points: library.runs[i]
                    .record
                    .evaluations
                    .iter()
                    .map(|e| (e.step as f64, e.unseen_accuracy))
                    .collect(),
                markers: true,
                ..Series::default()
            })
            .collect(),
        y_range: Some((0.0, 1.0)),
        ..LineChart::default()
    };
    let loss = LineChart {
        title: "Training loss".into(),
        x_label: "step".into(),
        series: picked
            .iter()
            .enumerate()
            .map(|(k, &i)| Series {
                name: library.runs[i].name.clone(),
                color: color(k),
                points: library.runs[i]
                    .record
                    .losses
                    .iter()
                    .map(|p| (p.step as f64, p.loss as f64))
                    .collect(),
                ..Series::default()
            })
            .collect(),
        ..LineChart::default()
    };
    let configs: Vec<&ExperimentConfig> = picked
        .iter()
        .map(|&i| &library.runs[i].record.config)
        .collect();
    let differences = differing_settings(&configs);
    html! {
        <section class="panel compare" aria-label="Runs" id="compare">
            <h2>{ "Runs" }</h2>
            if !props.kept {
                <p class="muted" id="runs-kept">{ keeping }</p>
            }
            { storage_error }
            <div class="table-scroll">
            <table class="predictions runs" id="runs-table">
                <thead><tr><th>{ "compare" }</th><th>{ "#" }</th><th>{ "run" }</th><th>{ "seen" }</th><th>{ "unseen" }</th><th>{ "steps" }</th><th>{ "time" }</th><th>{ "kept" }</th><th><span class="visually-hidden">{ "inspect" }</span></th></tr></thead>
                <tbody>
                    { for library.runs.iter().enumerate().map(|(i, run)| {
                        let toggle = { let dispatch = dispatch.clone(); Callback::from(move |_: Event| dispatch.dispatch(Action::Library(LibraryAction::ToggleCompare(i)))) };
                        let open = on_click(&dispatch, Action::OpenRun(Some(i)));
                        html! {
                            <tr class={classes!((props.opened == Some(i)).then_some("selected"))}>
                                <td><input type="checkbox" class="compare-pick" aria-label={format!("compare {}", run.name)} checked={library.compare.contains(&i)} onchange={toggle} /></td>
                                <td>{ format!("#{}", i + 1) }</td>
                                <td>{ &run.name }</td>
                                <td style={format!("color:{SEEN_TEXT_COLOR}")}>{ percent(run.record.result.seen_accuracy) }</td>
                                <td style={format!("color:{UNSEEN_TEXT_COLOR}")}>{ percent(run.record.result.unseen_accuracy) }</td>
                                <td>{ run.record.steps }</td>
                                <td>{ format_duration(run.record.wall_seconds) }</td>
                                <td class="kept">{ match run.kept {
                                    Kept::Pending => "saving…",
                                    Kept::Saved => "saved",
                                    Kept::Failed => "not saved",
                                    Kept::Never => "from a file",
                                } }</td>
                                <td><button class="open-run" onclick={open}>{ "Inspect" }</button></td>
                            </tr>
                        }
                    }) }
                </tbody>
            </table>
            </div>
            { clear }
            if picked.len() >= 2 {
                <div class="charts" id="compare-charts">
                    <ChartView chart={accuracy} size={CHART_SIZE} id="compare-accuracy" />
                    <ChartView chart={loss} size={CHART_SIZE} id="compare-loss" />
                </div>
                <table class="predictions" id="compare-table">
                    <caption>{ if differences.is_empty() { "These runs have the same settings." } else { "Settings that differ" } }</caption>
                    <thead><tr><th>{ "setting" }</th>{ for picked.iter().map(|&i| html! { <th>{ format!("#{} {}", i + 1, library.runs[i].name) }</th> }) }</tr></thead>
                    <tbody>
                        { for differences.iter().map(|(path, values)| html! {
                            <tr><td class="mono">{ path }</td>{ for values.iter().map(|v| html! { <td class="mono">{ v }</td> }) }</tr>
                        }) }
                    </tbody>
                </table>
            } else {
                <p class="muted">{ "Tick two or more runs to overlay their curves and list the settings that differ." }</p>
            }
        </section>
    }
}

//! The sweep builder and queue, the accuracy curve with the seeds' band, and the phase diagram.

use crate::app::{Dispatch, on_click};
use crate::field::DraftInput;
use crate::run_panel::{event_value, format_duration};
use crate::widgets::*;
use instruction_diversity::engine::config::ExperimentConfig;
use instruction_diversity::page::heatmap::ColorScale;
use instruction_diversity::page::link;
use instruction_diversity::page::state::library::Library;
use instruction_diversity::page::state::sweep::{MAX_WORKERS, SweepField, SweepQueue, SweepStatus};
use instruction_diversity::page::state::{Action, SweepAction};
use instruction_diversity::protocol::MAX_PAGE_STACK;
use instruction_diversity::study::class::ClassPlan;
use instruction_diversity::study::presets::preset;
use instruction_diversity::study::sweep::SweepSetting;
use std::rc::Rc;
use yew::prelude::*;

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
            let fragment = link::class_teacher_fragment(&config, &form, &id);
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

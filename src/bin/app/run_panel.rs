//! The run panel: controls, status, the share box, the live charts and sample predictions.

use crate::app::{Dispatch, on_click};
use crate::chart_view::ChartView;
use crate::field::DraftInput;
use instruction_diversity::engine::config::ValidConfig;
use instruction_diversity::page::chart::{LineChart, Series};
use instruction_diversity::page::diff::{DiffKind, char_diff};
use instruction_diversity::page::heatmap::COMPOSED_COLOR;
use instruction_diversity::page::link;
use instruction_diversity::page::state::restore::RestoreAction;
use instruction_diversity::page::state::run::{LiveRun, RunStatus};
use instruction_diversity::page::state::settings::{Settings, SettingsAction};
use instruction_diversity::page::state::sweep::SweepForm;
use instruction_diversity::page::state::{Action, RunAction};
use instruction_diversity::protocol::{BackendKind, SamplePrediction};
use std::rc::Rc;
use wasm_bindgen::JsCast;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

/// The full share link of a fragment.
fn share_url(fragment: &str) -> String {
    let page = web_sys::window()
        .and_then(|w| {
            let l = w.location();
            Some(format!("{}{}", l.origin().ok()?, l.pathname().ok()?))
        })
        .unwrap_or_default();
    format!("{page}#{fragment}")
}

#[derive(Properties, PartialEq)]
pub struct RunControlsProps {
    pub run: Rc<LiveRun>,
    /// The settings Start trains on: its label says what it starts.
    pub config: ValidConfig,
    pub force_cpu: bool,
    /// Anything trains (a helper worker's run of a sweep too): Start stays closed.
    pub busy: bool,
    pub view: Rc<link::View>,
    pub dispatch: Dispatch,
}

/// Start, pause, resume, step, stop, force CPU, and "go on" after a lost device.
#[function_component(RunControls)]
pub fn run_controls(props: &RunControlsProps) -> Html {
    let run = &props.run;
    let dispatch = &props.dispatch;
    let act = |action: RunAction| on_click(dispatch, Action::Run(action));
    let on_force_cpu = {
        let dispatch = dispatch.clone();
        Callback::from(move |e: Event| {
            let on = e.target_unchecked_into::<HtmlInputElement>().checked();
            dispatch.dispatch(Action::Settings(SettingsAction::ForceCpu(on)));
        })
    };
    html! {
        <>
            <div class="controls" role="toolbar" aria-label="Run controls">
                <button id="start" onclick={act(RunAction::Start)} disabled={props.busy}
                    title="One run on the settings above (not a lesson's or a sweep's several runs)">
                    { format!("Start one run ({} rules, {} steps)", props.config.task.instructions, props.config.train.steps) }
                </button>
                <button id="pause" onclick={act(RunAction::Pause)} disabled={run.status != RunStatus::Running}>{ "Pause" }</button>
                <button id="resume" onclick={act(RunAction::Resume)} disabled={run.status != RunStatus::Paused}>{ "Resume" }</button>
                <button id="step" onclick={act(RunAction::Step)} disabled={run.status != RunStatus::Paused}>{ "Step" }</button>
                <button id="stop" onclick={act(RunAction::Stop)} disabled={!run.is_active()}>{ "Stop" }</button>
                if !props.view.hides("backend") {
                    <label class="check">
                        <input id="force-cpu" type="checkbox" checked={props.force_cpu} disabled={props.view.locks("backend")} onchange={on_force_cpu} />
                        { " Force CPU" }
                    </label>
                }
            </div>
            if let (false, Some(kept)) = (run.is_active(), &run.resumable) {
                <p class="go-on">
                    <button id="go-on" onclick={on_click(dispatch, Action::Restore(RestoreAction::GoOn))}>{ format!("Go on from step {}", kept.step) }</button>
                    { " The run was kept at that step before the device was lost. Tick Force CPU first to go on without the GPU." }
                </p>
            }
        </>
    }
}

pub fn format_duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

#[derive(Properties, PartialEq)]
pub struct ShareProps {
    pub settings: Rc<Settings>,
    pub view: Rc<link::View>,
    pub lesson: Option<String>,
    pub form: SweepForm,
    /// The finished run's result fingerprint.
    pub fingerprint: Option<String>,
}

/// Copy a link that reopens these settings (optionally starting the run), and the run's fingerprint.
#[function_component(Share)]
pub fn share(props: &ShareProps) -> Html {
    let starts = use_state(|| link::LinkStarts::Nothing);
    let shown = use_state(String::new);
    let copied = use_state(|| None::<bool>);
    let hide = use_state(String::new);
    let lock = use_state(String::new);
    let embed = use_state(|| false);
    // The link's view: the page's own (a locked page's links stay locked) plus the teacher's lists.
    let (view, unknown) = props.view.with_lists(&hide, &lock, *embed);
    let on_copy = {
        let fragment = link::share_fragment(
            &props.settings,
            &view,
            props.lesson.as_deref(),
            &props.form,
            *starts,
        );
        let shown = shown.clone();
        let copied = copied.clone();
        Callback::from(move |_: MouseEvent| {
            let url = share_url(&fragment);
            shown.set(url.clone());
            let copied = copied.clone();
            // The async clipboard exists only in secure contexts; over plain http the older copy
            // command still works within the click.
            let Some(clipboard) = web_sys::window()
                .map(|w| w.navigator())
                .map(|n| js_sys::Reflect::get(&n, &"clipboard".into()).unwrap_or_default())
                .and_then(|c| c.dyn_into::<web_sys::Clipboard>().ok())
            else {
                copied.set(Some(copy_by_command(&url)));
                return;
            };
            let promise = clipboard.write_text(&url);
            wasm_bindgen_futures::spawn_local(async move {
                // Refused (no permission, or not a secure context): the link stays shown to copy by hand.
                let ok = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
                copied.set(Some(ok));
            });
        })
    };
    let on_starts = {
        let starts = starts.clone();
        Callback::from(move |e: Event| {
            starts.set(match event_value(&e).as_str() {
                "run" => link::LinkStarts::Run,
                "sweep" => link::LinkStarts::Sweep,
                _ => link::LinkStarts::Nothing,
            })
        })
    };
    let on_embed = {
        let embed = embed.clone();
        Callback::from(move |e: Event| {
            embed.set(e.target_unchecked_into::<HtmlInputElement>().checked())
        })
    };
    let names = link::control_names().collect::<Vec<_>>().join(", ");
    html! {
        <div class="share">
            <button id="copy-link" onclick={on_copy}>{ "Copy link" }</button>
            <label class="check" for="link-starts">
                { "the link opens the settings " }
                <select id="link-starts" onchange={on_starts}>
                    <option value="" selected={*starts == link::LinkStarts::Nothing}>{ "only" }</option>
                    <option value="run" selected={*starts == link::LinkStarts::Run}>{ "and starts the run" }</option>
                    <option value="sweep" selected={*starts == link::LinkStarts::Sweep}>{ "and starts the sweep below" }</option>
                </select>
            </label>
            <details class="teach">
                <summary>{ "For students: hide or lock controls" }</summary>
                <label class="field" for="teach-hide">
                    <span class="name">{ "Hide" }</span>
                    <DraftInput id="teach-hide" value={(*hide).clone()} onchange={set_text(&hide)} placeholder="model, charts" />
                </label>
                <label class="field" for="teach-lock">
                    <span class="name">{ "Lock" }</span>
                    <DraftInput id="teach-lock" value={(*lock).clone()} onchange={set_text(&lock)} placeholder="I, seed" />
                </label>
                <label class="check">
                    <input id="teach-embed" type="checkbox" checked={*embed} onchange={on_embed} />
                    { " compact layout for embedding in another page" }
                </label>
                <span class="hint">{ format!("Names: {names}. The link opens with these hidden or locked; this page does not change.") }</span>
                if !unknown.is_empty() {
                    <p class="error" role="alert">{ format!("Unknown names, left out of the link: {}", unknown.join(", ")) }</p>
                }
            </details>
            if !shown.is_empty() {
                <input id="share-link" class="mono" type="text" readonly=true value={(*shown).clone()} aria-label="Share link" />
                <span class="muted">{ match *copied {
                    Some(true) => "Copied.",
                    Some(false) if web_sys::window().is_some_and(|w| !w.is_secure_context()) => {
                        "Copy it from the box: over plain http the browser gives this page no clipboard."
                    }
                    Some(false) => "Copy it from the box: the browser refused the clipboard.",
                    None => "",
                } }</span>
            }
            if let Some(code) = &props.fingerprint {
                <p class="fingerprint">{ "Result fingerprint " }<b id="fingerprint" class="mono">{ code }</b>
                    <span class="muted">{ " — the same settings, seed and backend give the same code." }</span></p>
            }
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct RunProps {
    pub run: Rc<LiveRun>,
}

#[derive(Properties, PartialEq)]
pub struct StatusProps {
    pub run: Rc<LiveRun>,
    /// The steps the next run trains for, shown while none has started.
    pub configured_steps: usize,
}

#[function_component(Status)]
pub fn status(props: &StatusProps) -> Html {
    let run = &props.run;
    let total = if run.total_steps > 0 {
        run.total_steps
    } else {
        props.configured_steps
    };
    let (badge_class, badge) = match &run.backend {
        Some(info) if info.kind == BackendKind::WebGpu => ("badge gpu", info.description.clone()),
        Some(info) => ("badge cpu", info.description.clone()),
        None if run.status == RunStatus::Starting => ("badge", "Starting the backend…".to_string()),
        None => ("badge", "Backend chosen at start".to_string()),
    };
    let fraction = if run.total_steps > 0 {
        run.step as f64 / run.total_steps as f64
    } else {
        0.0
    };
    let latest = run.evaluations.last();
    html! {
        <div class="status" aria-live="polite">
            <span id="backend" class={badge_class}>{ badge }</span>
            <div class="progress" role="progressbar" aria-label="Training progress" aria-valuemin="0" aria-valuemax={total.to_string()} aria-valuenow={run.step.to_string()}>
                <div class="bar" style={format!("width: {:.1}%", 100.0 * fraction)}></div>
            </div>
            <p class="numbers">
                <span>{ "step " }<b id="step-count">{ run.step }</b>{ format!(" / {total}") }</span>
                <span>{ format!("{:.2} steps/s", run.steps_per_second) }</span>
                if let Some(launches) = run.launches_per_step {
                    <span id="launches" title="GPU kernels one training step launches: on a GPU, each launch costs time whatever its size">
                        { format!("{launches:.0} kernel launches a step") }
                    </span>
                }
                <span>{ run.seconds_left().map(|s| format!("{} left", format_duration(s))).unwrap_or_default() }</span>
                <span id="loss">{ run.losses.last().map(|p| format!("loss {:.4}", p.loss)).unwrap_or_default() }</span>
                <span id="status">{ format!("{:?}", run.status).to_lowercase() }</span>
                if let (true, Some(step)) = (run.is_active(), run.checkpoint_step) {
                    <span title="A reload goes on from here">
                        { "kept at step " }<b id="checkpoint-step">{ step }</b>
                        if let Some((bytes, seconds)) = run.checkpoint_cost {
                            <span id="checkpoint-cost">{ format!(" ({:.1} MB in {:.2} s)", bytes as f64 / 1e6, seconds) }</span>
                        }
                    </span>
                }
            </p>
            if let Some(e) = latest {
                <p class="accuracy" id="accuracy">
                    { format!("seen rules {:.1}% · unseen rules {:.1}% · no-ops {:.1}%{}", 100.0 * e.seen_accuracy, 100.0 * e.unseen_accuracy, 100.0 * e.noop_accuracy,
                        e.composed_accuracy.map_or(String::new(), |a| format!(" · composed {:.1}%", 100.0 * a))) }
                </p>
                // What the run has learned so far, from its latest evaluation; final once it ends.
                <p class="verdict-line">
                    { if run.is_active() { "So far: " } else { "This run: " } }
                    { crate::hero::verdict_badge(e.seen_accuracy, e.unseen_accuracy, Some("verdict")) }
                </p>
            }
            if let Some(message) = &run.error {
                <p class="error" role="alert" id="error">{ message }</p>
            }
        </div>
    }
}

pub fn loss_chart(run: &LiveRun) -> LineChart {
    LineChart {
        title: "Training loss".into(),
        x_label: "step".into(),
        series: vec![Series {
            name: "loss".into(),
            color: "#1f77b4".into(),
            points: run
                .losses
                .iter()
                .map(|p| (p.step as f64, p.loss as f64))
                .collect(),
            ..Series::default()
        }],
        ..LineChart::default()
    }
}

pub fn accuracy_chart(run: &LiveRun) -> LineChart {
    let curve =
        |name: &str,
         color: &str,
         pick: fn(&instruction_diversity::engine::metrics::EvalSummary) -> f64| {
            Series {
                name: name.into(),
                color: color.into(),
                points: run
                    .evaluations
                    .iter()
                    .map(|e| (e.step as f64, pick(e)))
                    .collect(),
                ..Series::default()
            }
        };
    let mut series = vec![
        curve("seen rules", "#2ca02c", |e| e.seen_accuracy),
        curve("unseen rules", "#d62728", |e| e.unseen_accuracy),
        curve("no-ops", "#9467bd", |e| e.noop_accuracy),
    ];
    // Programs: unseen programs built from seen rules (composition).
    if run
        .evaluations
        .iter()
        .any(|e| e.composed_accuracy.is_some())
    {
        series.push(curve("composed", COMPOSED_COLOR, |e| {
            e.composed_accuracy.unwrap_or(0.0)
        }));
    }
    LineChart {
        title: "Exact-match accuracy".into(),
        x_label: "step".into(),
        series,
        y_range: Some((0.0, 1.0)),
        ..LineChart::default()
    }
}

/// Width and height of the charts, on the page and in their SVG export.
pub const CHART_SIZE: (f64, f64) = (480.0, 240.0);

#[function_component(Charts)]
pub fn charts(props: &RunProps) -> Html {
    html! {
        <div class="charts">
            <ChartView chart={loss_chart(&props.run)} size={CHART_SIZE} id="loss-chart" />
            <ChartView chart={accuracy_chart(&props.run)} size={CHART_SIZE} id="accuracy-chart" />
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct PredictionsProps {
    pub samples: Vec<SamplePrediction>,
}

#[function_component(Predictions)]
pub fn predictions(props: &PredictionsProps) -> Html {
    if props.samples.is_empty() {
        return html! { <p class="muted">{ "Predictions appear at the first evaluation." }</p> };
    }
    html! {
        <div class="table-scroll">
        <table class="predictions">
            <caption>{ "Sample predictions (greedy decoding)" }</caption>
            <thead><tr><th>{ "split" }</th><th>{ "rule" }</th><th>{ "input" }</th><th>{ "expected" }</th><th>{ "model" }</th></tr></thead>
            <tbody>
                { for props.samples.iter().map(|s| html! {
                    <tr class={if s.correct { "right" } else { "wrong" }}>
                        <td>{ &s.split }</td>
                        <td class="mono">{ &s.rule }</td>
                        <td class="mono">{ &s.input }</td>
                        <td class="mono">{ &s.expected }</td>
                        <td class="mono">{ diff_html(&s.expected, &s.output) }</td>
                    </tr>
                }) }
            </tbody>
        </table>
        </div>
    }
}

/// A chart drawn inline at `size`. The SVG text is built from numbers and XML-escaped labels by the
/// page's chart module.
pub fn svg_html(chart: &LineChart, size: (f64, f64)) -> Html {
    Html::from_html_unchecked(AttrValue::from(chart.to_svg(size.0, size.1)))
}

/// The model's answer against the expected one: missing characters struck, extra ones marked.
pub fn diff_html(expected: &str, output: &str) -> Html {
    html! {
        { for char_diff(expected, output).into_iter().map(|seg| match seg.kind {
            DiffKind::Same => html! { <span>{ seg.text }</span> },
            DiffKind::Extra => html! { <ins>{ seg.text }</ins> },
            DiffKind::Missing => html! { <del>{ seg.text }</del> },
        }) }
    }
}

/// The value of the input or select an event came from.
pub fn event_value(e: &Event) -> String {
    e.target_dyn_into::<HtmlInputElement>()
        .map(|input| input.value())
        .or_else(|| {
            e.target_dyn_into::<HtmlSelectElement>()
                .map(|select| select.value())
        })
        .unwrap_or_default()
}

/// A field's commit handler that stores its text in `target`.
fn set_text(target: &UseStateHandle<String>) -> Callback<String> {
    let target = target.clone();
    Callback::from(move |text: String| target.set(text))
}

/// Copies `text` with the document's `copy` command from a field put on the page for the moment:
/// what a page without the async clipboard (plain http) can still do within a click. `false` when
/// the browser refused.
fn copy_by_command(text: &str) -> bool {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return false;
    };
    let (Some(body), Ok(field)) = (document.body(), document.create_element("textarea")) else {
        return false;
    };
    field.set_text_content(Some(text));
    let _ = field.set_attribute("readonly", "");
    let _ = field.set_attribute("aria-hidden", "true");
    let _ = field.set_attribute("style", "position: fixed; top: -100px; opacity: 0");
    if body.append_child(&field).is_err() {
        return false;
    }
    let select = js_sys::Reflect::get(&field, &"select".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    let exec = js_sys::Reflect::get(&document, &"execCommand".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    let copied = match (select, exec) {
        (Some(select), Some(exec)) => {
            select.call0(&field).is_ok()
                && exec
                    .call1(&document, &"copy".into())
                    .ok()
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false)
        }
        _ => false,
    };
    field.remove();
    copied
}

//! Inside the model: the head scores over training beside the run's accuracy, a grid of heads to
//! pick (a pick silences the head and shows what the model loses), the letters' embedding
//! animated over the evaluations, and, across the sweep on show, the best head score against the
//! number of rules beside unseen accuracy.

use crate::app::Dispatch;
use crate::chart_view::ChartView;
use crate::widgets::{CHART_SIZE, percent};
use instruction_diversity::engine::mechanism::{Inside, Measure};
use instruction_diversity::engine::metrics::EvalSummary;
use instruction_diversity::page::chart::escape_xml;
use instruction_diversity::page::inside::{
    PALETTE, ScoreSplit, aligned_frames, head_chart, head_name, measure_label, measure_name,
    sweep_chart, sweep_points,
};
use instruction_diversity::page::state::inside::{InsideAction, InsideView};
use instruction_diversity::page::state::inspector::Inspector;
use instruction_diversity::page::state::library::Library;
use instruction_diversity::page::state::run::LiveRun;
use instruction_diversity::page::state::sweep::SweepQueue;
use instruction_diversity::page::state::{Action, inspected_inside};
use instruction_diversity::protocol::ABLATION_EXAMPLES;
use instruction_diversity::study::record::RunRecord;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use web_sys::HtmlSelectElement;
use yew::prelude::*;

/// Milliseconds between frames of the embedding's animation.
const FRAME_MS: i32 = 400;

#[derive(Properties, PartialEq)]
pub struct InsideProps {
    pub inside: Rc<InsideView>,
    pub inspector: Rc<Inspector>,
    pub library: Rc<Library>,
    pub run: Rc<LiveRun>,
    pub sweep: Rc<SweepQueue>,
    /// The inspected run's name.
    pub run_name: Option<String>,
    pub dispatch: Dispatch,
}

#[function_component(InsidePanel)]
pub fn inside_panel(props: &InsideProps) -> Html {
    let (insides, evaluations) = inspected_inside(&props.inspector, &props.library, &props.run);
    let view = &props.inside;
    let dispatch = props.dispatch.clone();
    let on_measure = {
        let dispatch = dispatch.clone();
        Callback::from(move |e: Event| {
            let measure = match e
                .target_unchecked_into::<HtmlSelectElement>()
                .value()
                .as_str()
            {
                "copy" => Measure::Copy,
                "match_x" => Measure::MatchX,
                _ => Measure::Substitute,
            };
            dispatch.dispatch(Action::Inside(InsideAction::Measure(measure)));
        })
    };
    let on_split = {
        let dispatch = dispatch.clone();
        Callback::from(move |e: Event| {
            let split = match e
                .target_unchecked_into::<HtmlSelectElement>()
                .value()
                .as_str()
            {
                "seen" => ScoreSplit::Seen,
                _ => ScoreSplit::Unseen,
            };
            dispatch.dispatch(Action::Inside(InsideAction::Split(split)));
        })
    };
    let body = if insides.is_empty() {
        html! { <p class="muted" id="inside-empty">{ "Train a run (or open one trained with this version): its head scores appear from its first evaluation." }</p> }
    } else {
        let chart = head_chart(&insides, &evaluations, view.split, view.measure, view.head);
        html! {
            <>
                <p id="inside-run">{ format!("Run: {}", props.run_name.as_deref().unwrap_or("none")) }</p>
                <ChartView chart={chart} size={CHART_SIZE} id="inside-chart" />
                <p class="muted">{ format!("Lines: accuracy on unseen and seen rules, and the {} score on {} of the {} heads that score highest at the end (markers: the head picked).",
                    measure_label(view.measure), view.split.name(), instruction_diversity::page::inside::HEADS_SHOWN) }</p>
                { heads_grid(&insides, view, &dispatch) }
                { ablation_view(view, insides.last().map(|i| i.step)) }
                { embedding_view(&insides, view, &dispatch) }
            </>
        }
    };
    html! {
        <section class="panel inside" aria-label="Inside the model" id="inside">
            <h2>{ "Inside the model" }</h2>
            <p class="muted">{ "To follow a rule it never saw, a model must read the rule from its prompt: attend to the y letter it writes where it substitutes, and to the input letter it copies elsewhere. Each line is one attention head's share of attention on exactly that source (1: all of it), measured at every evaluation beside the run's accuracy." }</p>
            <div class="inside-controls">
                <label for="inside-measure">{ "Score " }
                    <select id="inside-measure" onchange={on_measure}>
                        { for Measure::ALL.into_iter().map(|m| html! {
                            <option value={m.name()} selected={view.measure == m}>{ measure_name(m) }</option>
                        }) }
                    </select>
                </label>
                <label for="inside-split">{ " on " }
                    <select id="inside-split" onchange={on_split}>
                        <option value="unseen" selected={view.split == ScoreSplit::Unseen}>{ ScoreSplit::Unseen.name() }</option>
                        <option value="seen" selected={view.split == ScoreSplit::Seen}>{ ScoreSplit::Seen.name() }</option>
                    </select>
                </label>
            </div>
            { body }
            { sweep_view(&props.sweep, &props.library, view.measure) }
        </section>
    }
}

/// Every head with its latest score; a click picks it and silences it.
fn heads_grid(insides: &[&Inside], view: &InsideView, dispatch: &Dispatch) -> Html {
    let Some(last) = insides.last() else {
        return html! {};
    };
    let scores = view.split.of(last);
    let values = scores.of(view.measure);
    html! {
        <div class="heads-grid">
            <p class="muted">{ format!("Heads at step {}: click one to silence it (its output set to zero) and see what the model loses. A score says where a head looks when the answer is written, not how much the answer needs it: a low-scoring first-layer head can matter more, for it may prepare what later heads read.", last.step) }</p>
            <table id="heads-grid">
                <thead><tr><th><span class="visually-hidden">{ "layer" }</span></th>
                    { for (0..scores.heads).map(|h| html! { <th scope="col">{ format!("head {}", h + 1) }</th> }) }
                </tr></thead>
                <tbody>
                { for (0..scores.layers).map(|layer| html! {
                    <tr><th scope="row">{ format!("layer {}", layer + 1) }</th>
                    { for (0..scores.heads).map(|head| {
                        let value = values.and_then(|v| v.get(layer * scores.heads + head)).copied();
                        let picked = view.head == Some((layer, head));
                        let shade = value.unwrap_or(0.0).clamp(0.0, 1.0);
                        let onclick = {
                            let dispatch = dispatch.clone();
                            Callback::from(move |_: MouseEvent| {
                                dispatch.dispatch(Action::Inside(InsideAction::Head(Some((layer, head)))));
                                dispatch.dispatch(Action::Ablate(vec![(layer, head)]));
                            })
                        };
                        html! { <td>
                            <button class={classes!("head", picked.then_some("picked"))} id={format!("head-{layer}-{head}")}
                                aria-pressed={picked.to_string()}
                                aria-label={format!("{}: {} score {}; silence it", head_name(layer, head), measure_label(view.measure), value.map_or("none".into(), |v| format!("{v:.2}")))}
                                style={format!("background:rgba(0,114,178,{:.3})", shade * 0.8)}
                                {onclick}>
                                { value.map_or("–".into(), |v| format!("{v:.2}")) }
                            </button>
                        </td> }
                    }) }
                    </tr>
                }) }
                </tbody>
            </table>
        </div>
    }
}

fn accuracy_row(label: String, summary: &EvalSummary, id: &str) -> Html {
    html! {
        <tr id={id.to_string()}><th scope="row">{ label }</th>
            <td class="seen">{ percent(summary.seen_accuracy) }</td>
            <td class="unseen">{ percent(summary.unseen_accuracy) }</td></tr>
    }
}

/// The ablation's answer; `latest` is the step of the run's latest evaluation (a run in training
/// moves on after the model was measured).
fn ablation_view(view: &InsideView, latest: Option<usize>) -> Html {
    if let Some(asked) = &view.ablating {
        return html! { <p id="ablation-status" aria-live="polite">{ format!("Silencing head {}…", asked.heads.iter().map(|&(l, h)| head_name(l, h)).collect::<Vec<_>>().join(", ")) }</p> };
    }
    match &view.ablation {
        None => html! {},
        Some(Err(message)) => {
            html! { <p class="error" role="alert" id="ablation-error">{ message }</p> }
        }
        Some(Ok(result)) => {
            let heads: Vec<String> = result
                .heads
                .split(',')
                .filter_map(|p| p.split_once('.'))
                .filter_map(|(l, h)| Some(head_name(l.parse().ok()?, h.parse().ok()?)))
                .collect();
            html! {
                <div id="ablation-result" aria-live="polite">
                    <table class="ablation">
                        <caption>{ format!("Accuracy at step {} on the first {ABLATION_EXAMPLES} examples of each split (all of a smaller one)", result.step) }</caption>
                        <thead><tr><th></th><th scope="col">{ "seen rules" }</th><th scope="col">{ "unseen rules" }</th></tr></thead>
                        <tbody>
                            { accuracy_row("every head".into(), &result.whole, "ablation-whole") }
                            { accuracy_row(format!("{} silenced", heads.join(", ")), &result.ablated, "ablation-silenced") }
                        </tbody>
                    </table>
                    <p class="muted" id="ablation-lost">{ format!(
                        "Silenced, the model changes by {} points on seen rules and {} on unseen rules (natively: idp ablate --heads {}, which counts layers and heads from 0).",
                        points(result.seen_lost()), points(result.unseen_lost()), result.heads) }</p>
                    if latest.is_some_and(|step| step > result.step) {
                        <p class="muted" id="ablation-stale">{ format!("The run has trained on since step {}: click the head again to measure the model as it is now.", result.step) }</p>
                    }
                </div>
            }
        }
    }
}

/// A change of accuracy in percentage points, signed: `-12`, `+3`, `0`.
fn points(lost: f64) -> String {
    let change = -(100.0 * lost).round();
    if change == 0.0 {
        "0".into()
    } else {
        format!("{change:+.0}")
    }
}

/// The letters' embedding at the chosen evaluation, with a slider and a play button.
fn embedding_view(insides: &[&Inside], view: &InsideView, dispatch: &Dispatch) -> Html {
    let projections: Vec<_> = insides.iter().map(|i| &i.embedding).collect();
    let frames = aligned_frames(&projections);
    let last = frames.len().saturating_sub(1);
    let at = view.frame.unwrap_or(last).min(last);
    let (Some(points), Some(inside)) = (frames.get(at), insides.get(at)) else {
        return html! {};
    };
    // Fixed axes over every frame, so the points move rather than the axes.
    let extent = frames
        .iter()
        .flatten()
        .flat_map(|p| [p[0].abs(), p[1].abs()])
        .fold(1e-6f32, f32::max);
    let (w, h) = (320.0f32, 320.0f32);
    let to_px = |p: &[f32; 2]| {
        (
            w / 2.0 + p[0] / extent * (w / 2.0 - 16.0),
            h / 2.0 - p[1] / extent * (h / 2.0 - 16.0),
        )
    };
    let marks: String = inside
        .embedding
        .labels
        .iter()
        .zip(points)
        .map(|(label, p)| {
            let (x, y) = to_px(p);
            let letter = label.chars().all(|c| c.is_ascii_lowercase());
            let color = if letter { PALETTE[0] } else { PALETTE[1] };
            format!(
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{color}"/><text x="{:.1}" y="{:.1}" font-size="12" fill="{color}">{}</text>"#,
                x + 4.0,
                y - 4.0,
                escape_xml(label)
            )
        })
        .collect();
    let svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-label="Token embedding at step {}, projected on its first two principal components"><line x1="0" x2="{w}" y1="{}" y2="{}" stroke="#e5e5e5"/><line y1="0" y2="{h}" x1="{}" x2="{}" stroke="#e5e5e5"/>{marks}</svg>"##,
        inside.step,
        h / 2.0,
        h / 2.0,
        w / 2.0,
        w / 2.0
    );
    let on_slide = {
        let dispatch = dispatch.clone();
        Callback::from(move |e: InputEvent| {
            let value = e
                .target_unchecked_into::<web_sys::HtmlInputElement>()
                .value();
            let frame = value.parse::<usize>().ok().filter(|&f| f < last);
            dispatch.dispatch(Action::Inside(InsideAction::Frame(frame)));
        })
    };
    let playing = view.playing.is_some();
    let on_play = {
        let dispatch = dispatch.clone();
        let generation = view.generation + 1;
        Callback::from(move |_: MouseEvent| {
            if playing {
                dispatch.dispatch(Action::Inside(InsideAction::Stop));
            } else {
                dispatch.dispatch(Action::Inside(InsideAction::Play));
                play_from(generation, 1, last, dispatch.clone());
            }
        })
    };
    let explained = &inside.embedding.explained;
    html! {
        <figure class="embedding" id="embedding">
            <div class="embedding-plot">{ Html::from_html_unchecked(AttrValue::from(svg)) }</div>
            <figcaption>
                { format!("The letters' (blue) and marks' (orange) input embeddings at step {}, on their first two principal components ({} and {} of the variance). ", inside.step, percent(f64::from(explained[0])), percent(f64::from(explained[1]))) }
                <label for="embedding-frame">{ "Evaluation " }
                    <input id="embedding-frame" type="range" min="0" max={last.to_string()} value={at.to_string()} oninput={on_slide}
                        aria-valuetext={format!("step {}", inside.step)} />
                </label>
                <button id="embedding-play" onclick={on_play} disabled={last == 0} aria-pressed={playing.to_string()}>{ if playing { "Stop" } else { "Play" } }</button>
            </figcaption>
        </figure>
    }
}

/// After [`FRAME_MS`], shows frame `frame` of playback `generation` (the latest when past
/// `last`), and so on to the end; the reducer drops the frames of a playback stopped meanwhile.
fn play_from(generation: u64, frame: usize, last: usize, dispatch: Dispatch) {
    let next = wasm_bindgen::closure::Closure::once_into_js(move || {
        let shown = (frame < last).then_some(frame);
        dispatch.dispatch(Action::Inside(InsideAction::Tick(generation, shown)));
        if frame < last {
            play_from(generation, frame + 1, last, dispatch);
        }
    });
    if let Some(window) = web_sys::window() {
        let _ = window
            .set_timeout_with_callback_and_timeout_and_arguments_0(next.unchecked_ref(), FRAME_MS);
    }
}

/// The sweep on show: each run's best head score against its number of rules, beside unseen
/// accuracy.
fn sweep_view(queue: &SweepQueue, library: &Library, measure: Measure) -> Html {
    let Some(sweep) = &queue.sweep else {
        return html! {};
    };
    let records: Vec<&RunRecord> = library
        .runs
        .iter()
        .filter(|r| r.sweep_key.as_deref() == Some(sweep.key.as_str()))
        .map(|r| r.record.as_ref())
        .collect();
    let points = sweep_points(&records, measure);
    if points.len() < 2 {
        return html! {};
    }
    html! {
        <div class="inside-sweep">
            <h3>{ "Across the sweep" }</h3>
            <p class="muted">{ "Each run's best head score at its end (held-out rules), mean and range over seeds, beside its unseen accuracy: does the reading of the rule appear where generalization does?" }</p>
            <ChartView chart={sweep_chart(&points, measure)} size={CHART_SIZE} id="inside-sweep-chart" />
        </div>
    }
}

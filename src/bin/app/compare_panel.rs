//! Finished runs: open one, pick two or more to overlay their curves and list what differs.

use crate::app::{Dispatch, on_click};
use crate::chart_view::ChartView;
use crate::run_panel::format_duration;
use crate::widgets::*;
use instruction_diversity::engine::config::ExperimentConfig;
use instruction_diversity::page::chart::{LineChart, Series};
use instruction_diversity::page::heatmap::{
    SEEN_TEXT_COLOR, UNSEEN_TEXT_COLOR, differing_settings,
};
use instruction_diversity::page::state::Action;
use instruction_diversity::page::state::library::{Kept, Library, LibraryAction};
use std::rc::Rc;
use yew::prelude::*;

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

//! Files in and out of the page: the shown run's metrics (CSV), its record (JSON, the CLI's format)
//! and its charts (SVG and PNG); and results files imported back.

use crate::app::Dispatch;
use crate::run_panel::{CHART_SIZE, accuracy_chart, loss_chart};
use instruction_diversity::page::chart::LineChart;
use instruction_diversity::page::state::Action;
use instruction_diversity::page::state::library::{Library, LibraryAction};
use instruction_diversity::page::state::run::LiveRun;
use instruction_diversity::study::record::{SweepReport, heads_csv, metrics_csv};
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

fn js_error(e: JsValue) -> String {
    format!("{e:?}")
}

/// An object URL for `text` as a file of type `mime`; the caller revokes it.
fn text_object_url(text: &str, mime: &str) -> Result<String, String> {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob =
        web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(js_error)?;
    web_sys::Url::create_object_url_with_blob(&blob).map_err(js_error)
}

fn document() -> Result<web_sys::Document, String> {
    web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| "no document".to_string())
}

/// Has the browser save `href` (an object or data URL) as a file named `name`.
fn save_as(href: &str, name: &str) -> Result<(), String> {
    let anchor: web_sys::HtmlAnchorElement = document()?
        .create_element("a")
        .map_err(js_error)?
        .unchecked_into();
    anchor.set_href(href);
    anchor.set_download(name);
    anchor.click();
    Ok(())
}

/// Offers `text` as a file download named `name`.
fn download(name: &str, mime: &str, text: &str) -> Result<(), String> {
    let url = text_object_url(text, mime)?;
    let saved = save_as(&url, name);
    let _ = web_sys::Url::revoke_object_url(&url);
    saved
}

/// Pixels per chart unit in PNG exports: twice the page size, sharp in slides and print.
const PNG_SCALE: f64 = 2.0;

/// Draws an SVG chart on a canvas (white background) and offers it as a PNG download.
async fn download_png(name: &str, svg: &str) -> Result<(), String> {
    let url = text_object_url(svg, "image/svg+xml")?;
    let image = web_sys::HtmlImageElement::new().map_err(js_error)?;
    let loaded = js_sys::Promise::new(&mut |resolve, reject| {
        image.set_onload(Some(&resolve));
        image.set_onerror(Some(&reject));
    });
    image.set_src(&url);
    let drawn = wasm_bindgen_futures::JsFuture::from(loaded).await;
    let _ = web_sys::Url::revoke_object_url(&url);
    drawn.map_err(|_| "the chart could not be drawn".to_string())?;
    let (width, height) = (CHART_SIZE.0 * PNG_SCALE, CHART_SIZE.1 * PNG_SCALE);
    let canvas: web_sys::HtmlCanvasElement = document()?
        .create_element("canvas")
        .map_err(js_error)?
        .unchecked_into();
    canvas.set_width(width as u32);
    canvas.set_height(height as u32);
    let context: web_sys::CanvasRenderingContext2d = canvas
        .get_context("2d")
        .map_err(js_error)?
        .ok_or("no 2d canvas")?
        .unchecked_into();
    context.set_fill_style_str("#ffffff");
    context.fill_rect(0.0, 0.0, width, height);
    context
        .draw_image_with_html_image_element_and_dw_and_dh(&image, 0.0, 0.0, width, height)
        .map_err(js_error)?;
    save_as(
        &canvas
            .to_data_url_with_type("image/png")
            .map_err(js_error)?,
        name,
    )
}

#[derive(Properties, PartialEq)]
pub struct ResultsProps {
    pub run: Rc<LiveRun>,
    pub library: Rc<Library>,
    /// A teacher's link locked the results panel: nothing can be imported.
    pub locked: bool,
    pub dispatch: Dispatch,
}

fn failed(dispatch: &Dispatch, why: String) {
    dispatch.dispatch(Action::Library(LibraryAction::ImportFailed(why)));
}

/// Export the shown run (metrics CSV, run JSON, charts SVG and PNG) and import a results file.
#[function_component(Results)]
pub fn results(props: &ResultsProps) -> Html {
    let run = &props.run;
    let library = &props.library;
    let has_metrics = !run.losses.is_empty() || !run.evaluations.is_empty();
    let export = |name: &'static str, mime: &'static str, make: fn(&LiveRun) -> String| {
        let run = run.clone();
        let dispatch = props.dispatch.clone();
        Callback::from(move |_: MouseEvent| {
            if let Err(e) = download(name, mime, &make(&run)) {
                failed(&dispatch, format!("the download failed: {e}"));
            }
        })
    };
    let export_png = |name: &'static str, chart: fn(&LiveRun) -> LineChart| {
        let run = run.clone();
        let dispatch = props.dispatch.clone();
        Callback::from(move |_: MouseEvent| {
            let svg = chart(&run).to_svg(CHART_SIZE.0, CHART_SIZE.1);
            let dispatch = dispatch.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Err(e) = download_png(name, &svg).await {
                    failed(&dispatch, format!("the PNG export failed: {e}"));
                }
            });
        })
    };
    let on_file = {
        let dispatch = props.dispatch.clone();
        Callback::from(move |e: Event| {
            let input = e.target_unchecked_into::<HtmlInputElement>();
            let Some(file) = input.files().and_then(|files| files.get(0)) else {
                return;
            };
            // The same file chosen again must fire `change` again.
            input.set_value("");
            let dispatch = dispatch.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let text = wasm_bindgen_futures::JsFuture::from(file.text())
                    .await
                    .ok()
                    .and_then(|t| t.as_string());
                match text.map(|text| SweepReport::from_json(&text)) {
                    None => failed(&dispatch, "the file could not be read".into()),
                    Some(Ok(report)) => dispatch.dispatch(Action::Import(Box::new(report))),
                    Some(Err(e)) => failed(&dispatch, e.to_string()),
                }
            });
        })
    };
    let on_pick = {
        let dispatch = props.dispatch.clone();
        Callback::from(move |e: Event| {
            let index = e.target_unchecked_into::<HtmlSelectElement>().value();
            if let Ok(index) = index.parse() {
                dispatch.dispatch(Action::ShowImported(index));
            }
        })
    };
    html! {
        <div class="results">
            // The exports and the import in one menu, so they never push the charts down.
            <details class="menu" id="files-menu">
            <summary>{ "Export and import" }</summary>
            <div class="menu-items">
            <button id="export-csv" disabled={!has_metrics} onclick={export("metrics.csv", "text/csv", |run| metrics_csv(&run.losses, &run.evaluations))}>{ "Metrics CSV" }</button>
            <button id="export-heads-csv" disabled={!has_metrics} title="Each attention head's scores at every evaluation (see Inside the model)"
                onclick={export("heads.csv", "text/csv", |run| match run.record.as_ref().filter(|r| !r.inside.is_empty()) {
                    Some(record) => heads_csv(&record.inside),
                    None => heads_csv(&run.history.iter().filter_map(|e| e.inside.clone()).collect::<Vec<_>>()),
                })}>{ "Head scores CSV" }</button>
            <button id="export-json" disabled={run.record.is_none()} title="The settings, seed, curves and per-rule results of a finished run"
                onclick={export("run.json", "application/json", |run| {
                    let backend = run.backend.as_ref().map_or("unknown backend", |b| b.description.as_str());
                    run.record.as_ref().map(|r| SweepReport::single(r.as_ref().clone(), backend).to_json()).unwrap_or_default()
                })}>{ "Run JSON" }</button>
            <button id="export-loss-svg" disabled={!has_metrics} onclick={export("loss.svg", "image/svg+xml", |run| loss_chart(run).to_svg(CHART_SIZE.0, CHART_SIZE.1))}>{ "Loss chart SVG" }</button>
            <button id="export-accuracy-svg" disabled={!has_metrics} onclick={export("accuracy.svg", "image/svg+xml", |run| accuracy_chart(run).to_svg(CHART_SIZE.0, CHART_SIZE.1))}>{ "Accuracy chart SVG" }</button>
            <button id="export-loss-png" disabled={!has_metrics} onclick={export_png("loss.png", loss_chart)}>{ "Loss chart PNG" }</button>
            <button id="export-accuracy-png" disabled={!has_metrics} onclick={export_png("accuracy.png", accuracy_chart)}>{ "Accuracy chart PNG" }</button>
            <label class="import" for="import-file">
                <span class="name">{ "Import results" }</span>
                <input id="import-file" type="file" accept=".json,application/json" disabled={run.is_active() || props.locked} onchange={on_file} />
            </label>
            </div>
            </details>
            if let Some((report, shown)) = &library.imported {
                <label class="field" for="imported-run">
                    <span class="name">{ format!("Imported: {} run(s), trained on {}", report.runs.len(), report.backend) }</span>
                    <select id="imported-run" onchange={on_pick}>
                        { for report.runs.iter().enumerate().map(|(i, run)| {
                            let name = if run.labels.is_empty() { format!("run {}", i + 1) } else { run.labels.join(" / ") };
                            html! { <option value={i.to_string()} selected={i == *shown}>{ format!("{name}: unseen {:.1}%", 100.0 * run.result.unseen_accuracy) }</option> }
                        }) }
                    </select>
                </label>
            }
            if let Some(why) = &library.import_error {
                <p class="error" role="alert" id="import-error">{ why }</p>
            }
        </div>
    }
}

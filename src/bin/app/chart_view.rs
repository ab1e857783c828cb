//! A chart the reader can read: the value under the pointer, or at the focused point (arrow keys,
//! Home and End step through the points), is shown over the chart and said to screen readers.

use instruction_diversity::page::chart::LineChart;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ChartProps {
    pub chart: LineChart,
    /// Width and height in chart units (the SVG's viewBox).
    pub size: (f64, f64),
    pub id: AttrValue,
}

/// Where the reader is: an index into the chart's x values.
#[function_component(ChartView)]
pub fn chart_view(props: &ChartProps) -> Html {
    let at = use_state(|| None::<usize>);
    let (width, height) = props.size;
    let xs = props.chart.x_values();
    let readout = at
        .and_then(|i| xs.get(i.min(xs.len().saturating_sub(1))))
        .and_then(|&x| props.chart.readout(width, height, x));
    let on_move = {
        let at = at.clone();
        let chart = props.chart.clone();
        let xs = xs.clone();
        Callback::from(move |e: MouseEvent| {
            let Some(target) = e.current_target() else {
                return;
            };
            let element: web_sys::Element = wasm_bindgen::JsCast::unchecked_into(target);
            let rect = element.get_bounding_client_rect();
            if rect.width() <= 0.0 {
                return;
            }
            let px = (f64::from(e.client_x()) - rect.left()) / rect.width() * width;
            let nearest = chart
                .readout_near(width, height, px)
                .and_then(|r| xs.iter().position(|&x| x == r.x));
            if *at != nearest {
                at.set(nearest);
            }
        })
    };
    let on_leave = {
        let at = at.clone();
        Callback::from(move |_: MouseEvent| at.set(None))
    };
    let on_key = {
        let at = at.clone();
        let count = xs.len();
        Callback::from(move |e: KeyboardEvent| {
            if count == 0 {
                return;
            }
            let last = count - 1;
            let next = match (e.key().as_str(), *at) {
                ("ArrowRight", None) | ("Home", _) => 0,
                ("ArrowLeft", None) | ("End", _) => last,
                ("ArrowRight", Some(i)) => (i + 1).min(last),
                ("ArrowLeft", Some(i)) => i.saturating_sub(1),
                ("Escape", _) => {
                    at.set(None);
                    return;
                }
                _ => return,
            };
            e.prevent_default();
            at.set(Some(next));
        })
    };
    let on_blur = {
        let at = at.clone();
        Callback::from(move |_: FocusEvent| at.set(None))
    };
    let text = readout
        .as_ref()
        .map(|r| r.text(&props.chart.x_label))
        .unwrap_or_default();
    let left = readout.as_ref().map(|r| 100.0 * r.px / width);
    let label = format!(
        "{}: move the pointer over it, or use the arrow keys, to read its values",
        props.chart.title
    );
    html! {
        <figure id={props.id.clone()} class="chart" tabindex="0" aria-label={label}
            onmousemove={on_move} onmouseleave={on_leave} onkeydown={on_key} onblur={on_blur}>
            { crate::run_panel::svg_html(&props.chart, props.size) }
            if let Some(left) = left {
                <span class="guide" style={format!("left:{left:.2}%")}></span>
                <span class={classes!("readout", (left > 60.0).then_some("leftward"))} style={format!("left:{left:.2}%")}>{ text.clone() }</span>
            }
            <span class="visually-hidden" aria-live="polite">{ text }</span>
        </figure>
    }
}

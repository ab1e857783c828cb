//! Try-your-own: a typed rule and input put to the inspected run's model, its answer, and the
//! attention behind it with each answer token's source marked.

use crate::app::Dispatch;
use crate::run_panel::diff_html;
use instruction_diversity::engine::config::ExperimentConfig;
use instruction_diversity::engine::question::{Answer, AttentionMap};
use instruction_diversity::page::state::Action;
use instruction_diversity::page::state::inside::InsideAction;
use instruction_diversity::page::state::inspector::Inspector;
use std::rc::Rc;
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// Type a rule and an input, see the inspected model's answer and its attention.
#[derive(Properties, PartialEq)]
pub struct TryProps {
    pub inspector: Rc<Inspector>,
    /// The inspected run's settings: questions go to its model.
    pub config: Option<ExperimentConfig>,
    /// The inspected run's name, said beside the form.
    pub run_name: Option<String>,
    /// Whether a head's name silences it (not where a link hides the view inside the model,
    /// which shows what it loses).
    #[prop_or(true)]
    pub ablate: bool,
    pub dispatch: Dispatch,
}

#[function_component(TryYourOwn)]
pub fn try_your_own(props: &TryProps) -> Html {
    let x = use_state(|| "ab".to_string());
    let y = use_state(|| "c".to_string());
    let z = use_state(|| "dabba".to_string());
    let program = use_state(|| "ab -> c; c -> d".to_string());
    let programs = props
        .config
        .as_ref()
        .is_some_and(|c| !c.task.program.is_single_rule());
    let on_text = |target: &UseStateHandle<String>| {
        let target = target.clone();
        Callback::from(move |e: InputEvent| {
            target.set(e.target_unchecked_into::<HtmlInputElement>().value())
        })
    };
    let on_ask = {
        let (x, y, z, program) = (x.clone(), y.clone(), z.clone(), program.clone());
        let dispatch = props.dispatch.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            dispatch.dispatch(if programs {
                Action::AskProgram {
                    program: (*program).clone(),
                    z: (*z).clone(),
                }
            } else {
                Action::Ask {
                    x: (*x).clone(),
                    y: (*y).clone(),
                    z: (*z).clone(),
                }
            });
        })
    };
    let limits = props.config.as_ref().map(|config| {
        let t = &config.task;
        let name = props.run_name.as_deref().unwrap_or("this run");
        let rules = if programs {
            format!(
                " Write its {} rules as x -> y separated by `;`{}.",
                t.program.rules,
                if t.program.terminal == instruction_diversity::engine::config::Terminal::Last {
                    ", the last as x ->. y"
                } else {
                    ""
                }
            )
        } else {
            String::new()
        };
        format!(
            "Questions go to the model of {name}. Its letters are a to {}; x has {} to {} letters, y {} to {}, z {} to {}.{rules}",
            (b'a' + t.alphabet as u8 - 1) as char,
            t.x_len.min,
            t.x_len.max,
            t.y_len.min,
            t.y_len.max,
            t.z_len.min,
            t.z_len.max
        )
    });
    let rule_fields = if programs {
        html! {
            <label for="try-program">{ "program " }<input id="try-program" class="mono" type="text" size="24" value={(*program).clone()} oninput={on_text(&program)} /></label>
        }
    } else {
        html! { <>
            <label for="try-x">{ "x " }<input id="try-x" class="mono" type="text" size="6" value={(*x).clone()} oninput={on_text(&x)} /></label>
            <span>{ "→" }</span>
            <label for="try-y">{ "y " }<input id="try-y" class="mono" type="text" size="6" value={(*y).clone()} oninput={on_text(&y)} /></label>
        </> }
    };
    html! {
        <section class="panel try" aria-label={if programs { "Try your own program" } else { "Try your own rule" }} id="try">
            <h2>{ if programs { "Try your own program" } else { "Try your own rule" } }</h2>
            <form class="try-form" onsubmit={on_ask}>
                { rule_fields }
                <label for="try-z">{ "input z " }<input id="try-z" class="mono" type="text" size="14" value={(*z).clone()} oninput={on_text(&z)} /></label>
                <button id="try-ask" type="submit" disabled={props.inspector.asking}>{ if props.inspector.asking { "Asking…" } else { "Ask the model" } }</button>
            </form>
            <p class="muted">{ limits.unwrap_or_else(|| "Train a run first: the question goes to its model.".into()) }</p>
            { match &props.inspector.answer {
                None => html! {},
                Some(Err(message)) => html! { <p class="error" role="alert" id="try-error">{ message }</p> },
                Some(Ok(answer)) => answer_view(answer, props.ablate.then_some(&props.dispatch)),
            } }
        </section>
    }
}

fn answer_view(answer: &Answer, dispatch: Option<&Dispatch>) -> Html {
    let instruction = &answer.question.instruction;
    html! {
        <div class="answer" id="try-answer">
            <table class="predictions">
                <tbody>
                    <tr><th>{ if instruction.as_rule().is_some() { "rule" } else { "program" } }</th><td class="mono">{ instruction.to_string() }</td><td>{ format!("{} of this run", answer.origin.describe(instruction.as_rule().is_none())) }</td></tr>
                    <tr><th>{ "input" }</th><td class="mono">{ &answer.question.z }</td><td></td></tr>
                    <tr><th>{ "correct answer" }</th><td class="mono" id="try-expected">{ &answer.expected }</td><td></td></tr>
                    <tr class={if answer.correct { "right" } else { "wrong" }}><th>{ "model" }</th>
                        <td class="mono" id="try-output">{ diff_html(&answer.expected, &answer.output) }</td>
                        <td id="try-verdict">{ if answer.correct { "✓ right" } else { "✗ wrong" } }</td></tr>
                </tbody>
            </table>
            <p class="muted">{ format!("Model at step {}. Below: where each answer token looked, per layer and head; each row is shaded against its strongest weight (hover a cell for the value). Marked columns are where x first occurs in z; an outlined cell is where the correct token comes from (the input letter it copies, or the y letter it substitutes).{}", answer.step,
                if dispatch.is_some() { " Click a head to silence it (see Inside the model)." } else { "" }) }</p>
            { attention_view(&answer.attention, instruction, &answer.question.z, dispatch) }
        </div>
    }
}

fn attention_view(
    map: &AttentionMap,
    instruction: &instruction_diversity::engine::task::Instruction,
    z: &str,
    dispatch: Option<&Dispatch>,
) -> Html {
    // A click on a head silences it: the view inside the model shows what the model loses.
    let ablate = |layer: usize, head: usize| {
        let dispatch = dispatch.cloned();
        Callback::from(move |_: MouseEvent| {
            let Some(dispatch) = &dispatch else {
                return;
            };
            dispatch.dispatch(Action::Inside(InsideAction::Head(Some((layer, head)))));
            dispatch.dispatch(Action::Ablate(vec![(layer, head)]));
        })
    };
    let marked = map.match_columns(instruction, z);
    html! {
        <div class="attention" id="attention">
            { for (0..map.layers).map(|layer| html! {
                <div class="attention-layer">
                    <h3>{ format!("Layer {}", layer + 1) }</h3>
                    <div class="heads">
                    { for (0..map.heads).map(|head| html! {
                        <table class="attention-head" aria-label={format!("layer {} head {}", layer + 1, head + 1)}>
                            <caption>{ match dispatch {
                                Some(_) => html! { <button class="attention-head-pick" id={format!("attention-head-{layer}-{head}")}
                                    aria-label={format!("silence layer {} head {} and see what the model loses", layer + 1, head + 1)}
                                    onclick={ablate(layer, head)}>{ format!("head {}", head + 1) }</button> },
                                None => html! { { format!("head {}", head + 1) } },
                            } }</caption>
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
                                            // The cell of the token this answer token comes from (the
                                            // letter it copies or substitutes) is outlined.
                                            let source = map.is_source(row, column);
                                            html! { <td class={classes!(source.then_some("source"))} style={format!("background:rgba(0,114,178,{shade:.3})")}
                                                title={format!("{} → {}: {:.2}{}", map.rows[row], map.columns[column], w, if source { " (its source)" } else { "" })}></td> }
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

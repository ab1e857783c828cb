//! The lessons: a menu of guided experiments, each with a prediction to make before the run.

use crate::app::{Dispatch, on_click};
use instruction_diversity::page::state::Action;
use instruction_diversity::page::state::lessons::LessonAction;
use instruction_diversity::study::lessons::{LESSON_IDS, lesson};
use yew::prelude::*;

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

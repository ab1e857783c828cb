//! The training worker: started, replaced after a failure, and fed commands once it is ready.

use crate::app::Dispatch;
use instruction_diversity::page::state::Action;
use instruction_diversity::protocol::{Command, Event as WorkerEvent};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker};

/// The worker and the commands waiting for it to be ready.
#[derive(Default)]
pub struct WorkerLink {
    worker: Option<Worker>,
    /// Counts the workers started, so the handlers of a replaced worker ignore what it still says.
    generation: u64,
    is_ready: bool,
    /// The tab's owner id, once known: every worker hears it before any other command.
    owner: Option<String>,
    waiting: Vec<String>,
}

impl WorkerLink {
    /// Posts a message now, or once the worker is ready and knows its tab.
    pub fn send(&mut self, message: String) -> Result<(), String> {
        match &self.worker {
            None => Err("it is not running; reload the page to try again".into()),
            Some(_) if !self.is_ready || self.owner.is_none() => {
                self.waiting.push(message);
                Ok(())
            }
            Some(w) => w
                .post_message(&JsValue::from_str(&message))
                .map_err(|e| format!("could not reach the worker: {e:?}")),
        }
    }

    /// The tab's owner id is known: the worker hears it, then what waited.
    pub fn own(&mut self, owner: &str) {
        self.owner = Some(owner.to_string());
        self.flush();
    }

    fn ready(&mut self) {
        self.is_ready = true;
        self.flush();
    }

    fn flush(&mut self) {
        let (Some(w), true, Some(owner)) = (&self.worker, self.is_ready, &self.owner) else {
            return;
        };
        let own = Command::Own {
            owner: owner.clone(),
        };
        let _ = w.post_message(&JsValue::from_str(&own.to_json()));
        for message in std::mem::take(&mut self.waiting) {
            let _ = w.post_message(&JsValue::from_str(&message));
        }
    }
}

/// The page's one worker link.
pub type SharedLink = Rc<RefCell<WorkerLink>>;

/// Starts a fresh worker in place of the current one (if any). After a failed run the worker is
/// replaced: a crash (a panic, a trap, a lost GPU device) can leave its wasm instance unusable, and a
/// fresh one makes the next start work again.
pub fn spawn_worker(dispatch: Dispatch, link: SharedLink) {
    let generation = {
        let mut l = link.borrow_mut();
        if let Some(old) = l.worker.take() {
            old.terminate();
        }
        l.generation += 1;
        l.is_ready = false;
        l.generation
    };
    let worker = match Worker::new("./worker-loader.js") {
        Ok(w) => w,
        Err(e) => {
            dispatch.dispatch(Action::WorkerFailed(format!(
                "could not start the worker: {e:?}"
            )));
            return;
        }
    };
    let is_current = {
        let link = link.clone();
        move || link.borrow().generation == generation
    };
    let on_message = {
        let dispatch = dispatch.clone();
        let link = link.clone();
        let is_current = is_current.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |m: MessageEvent| {
            if !is_current() {
                return;
            }
            let text = m.data().as_string().unwrap_or_default();
            match WorkerEvent::from_json(&text) {
                Ok(WorkerEvent::Ready) => link.borrow_mut().ready(),
                Ok(event) => {
                    let failed = matches!(
                        event,
                        WorkerEvent::Error { .. } | WorkerEvent::DeviceLost { .. }
                    );
                    dispatch.dispatch(Action::Worker(event));
                    if failed {
                        spawn_worker(dispatch.clone(), link.clone());
                    }
                }
                Err(e) => dispatch.dispatch(Action::WorkerFailed(e.to_string())),
            }
        })
    };
    let on_error = {
        let link = link.clone();
        Closure::<dyn FnMut(ErrorEvent)>::new(move |e: ErrorEvent| {
            if !is_current() {
                return;
            }
            let message = e.message();
            let message = if message.is_empty() {
                "an uncaught error".to_string()
            } else {
                message
            };
            // A worker that never became ready cannot load: starting another would fail the same way.
            if link.borrow().is_ready {
                dispatch.dispatch(Action::WorkerFailed(message));
                spawn_worker(dispatch.clone(), link.clone());
            } else {
                if let Some(w) = link.borrow_mut().worker.take() {
                    w.terminate();
                }
                dispatch.dispatch(Action::WorkerFailed(format!(
                    "it could not load ({message}); reload the page to try again"
                )));
            }
        })
    };
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    // The handlers live as long as the page; a replaced worker's handlers only check a number.
    on_message.forget();
    on_error.forget();
    link.borrow_mut().worker = Some(worker);
}

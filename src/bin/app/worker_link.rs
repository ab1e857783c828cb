//! The training workers: the page's own, and the helpers that train other runs of a sweep at once
//! on the CPU; each started, replaced after a failure, and fed commands once it is ready.

use crate::app::Dispatch;
use instruction_diversity::page::state::context::ContextAction;
// Which worker a link reaches: the page's own (the run panel's run, checkpointed under the tab's
// owner id) or helper `slot` (another run of the running sweep, checkpointed under the helper's own
// owner id once the tab's is known, so a reload goes on with it).
use instruction_diversity::page::state::{Action, Worker as Role};
use instruction_diversity::protocol::{BUILD, Command, Event as WorkerEvent};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker};

/// The worker and the commands waiting for it to be ready.
#[derive(Default)]
pub struct WorkerLink {
    role: Role,
    worker: Option<Worker>,
    /// Counts the workers started, so the handlers of a replaced worker ignore what it still says.
    generation: u64,
    is_ready: bool,
    /// Whether the running worker has heard [`Self::owner`].
    told_owner: bool,
    /// The owner id its checkpoints are kept under (the tab's, or a helper's), once known: the
    /// page's worker hears it before any other command, a helper as soon as it is known.
    owner: Option<String>,
    waiting: Vec<String>,
}

impl WorkerLink {
    /// The link of helper `slot`, its worker not started yet.
    pub fn helper(slot: usize) -> Self {
        Self {
            role: Role::Helper(slot),
            ..Self::default()
        }
    }

    /// Whether its worker has been started.
    pub fn is_started(&self) -> bool {
        self.worker.is_some()
    }

    /// Ends its worker at once (a stopped helper: a run in its last evaluation would otherwise go
    /// on for seconds, and its late messages could be taken for its next run's). What the old
    /// worker still says is ignored; the next command starts a fresh one.
    pub fn terminate(&mut self) {
        if let Some(w) = self.worker.take() {
            w.terminate();
        }
        self.generation += 1;
        self.is_ready = false;
        self.told_owner = false;
        self.waiting.clear();
    }

    /// Whether the worker must hear its tab's owner id before anything else.
    fn needs_owner(&self) -> bool {
        self.role == Role::Own && self.owner.is_none()
    }

    /// Posts a message now, or once the worker is ready and knows its tab.
    pub fn send(&mut self, message: String) -> Result<(), String> {
        match &self.worker {
            None => Err("it is not running; reload the page to try again".into()),
            Some(_) if !self.is_ready || self.needs_owner() => {
                self.waiting.push(message);
                Ok(())
            }
            Some(w) => w
                .post_message(&JsValue::from_str(&message))
                .map_err(|e| format!("could not reach the worker: {e:?}")),
        }
    }

    /// The owner id is known: the worker hears it, then what waited. Said again unchanged, it
    /// changes nothing.
    pub fn own(&mut self, owner: &str) {
        if self.owner.as_deref() == Some(owner) {
            return;
        }
        self.owner = Some(owner.to_string());
        self.told_owner = false;
        self.flush();
    }

    fn ready(&mut self) {
        self.is_ready = true;
        self.flush();
    }

    fn flush(&mut self) {
        let (Some(w), true, false) = (&self.worker, self.is_ready, self.needs_owner()) else {
            return;
        };
        if let Some(owner) = self.owner.clone().filter(|_| !self.told_owner) {
            let own = Command::Own { owner };
            let _ = w.post_message(&JsValue::from_str(&own.to_json()));
            self.told_owner = true;
        }
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
    let role = link.borrow().role;
    let generation = {
        let mut l = link.borrow_mut();
        if let Some(old) = l.worker.take() {
            old.terminate();
        }
        l.generation += 1;
        l.is_ready = false;
        l.told_owner = false;
        l.generation
    };
    // The build in the URL: a host that caches the worker's fixed-name files (GitHub Pages sends
    // max-age=600) still fetches this build's, since the URL is new; the loader passes it on to the
    // worker's script and wasm (www/worker-loader.js).
    let worker = match Worker::new(&format!("./worker-loader.js?build={BUILD}")) {
        Ok(w) => w,
        Err(e) => {
            dispatch.dispatch(role.failed(format!("could not start the worker: {e:?}")));
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
            let event = WorkerEvent::from_json(&text);
            // A worker of another build (a cache that ignores the URL's build) may speak another
            // protocol: refused before it hears anything, with a reload prompt.
            let stale = match &event {
                Ok(WorkerEvent::Ready { build }) if build.as_deref() != Some(BUILD) => {
                    Some(build.clone())
                }
                Err(_) if !link.borrow().is_ready => Some(None),
                _ => None,
            };
            if let Some(build) = stale {
                link.borrow_mut().terminate();
                dispatch.dispatch(Action::Context(ContextAction::StaleWorker(build, role)));
                return;
            }
            match event {
                Ok(WorkerEvent::Ready { .. }) => link.borrow_mut().ready(),
                Ok(event) => {
                    let failed = matches!(
                        event,
                        WorkerEvent::Error { .. } | WorkerEvent::DeviceLost { .. }
                    );
                    dispatch.dispatch(role.said(event));
                    if failed {
                        spawn_worker(dispatch.clone(), link.clone());
                    }
                }
                Err(e) => dispatch.dispatch(role.failed(e.to_string())),
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
                dispatch.dispatch(role.failed(message));
                spawn_worker(dispatch.clone(), link.clone());
            } else {
                if let Some(w) = link.borrow_mut().worker.take() {
                    w.terminate();
                }
                dispatch.dispatch(role.failed(format!(
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

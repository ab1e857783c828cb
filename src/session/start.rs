//! How a training starts: which runs, from which checkpoint, how many of them together, on which
//! backend.

use super::{Backend, Host, Session};
use crate::engine::config::ValidConfig;
use crate::engine::memory::check_stack;
use crate::engine::stack::{Checkpoint, Stack};
use crate::protocol::{BackendKind, BackendPreference, Event, Work};

impl<H: Host> Session<H> {
    /// The stack `work` asks for, on the backend asked for, said with [`Event::Training`] once it
    /// is ready; `None` after saying why there is none ([`Event::Error`]).
    pub(super) async fn start(
        &mut self,
        work: Work,
        preference: BackendPreference,
    ) -> Option<(Stack, Backend)> {
        // Only `Work::Saved` must go on from the checkpoint; the others fall back to a fresh start.
        let strict = matches!(work, Work::Saved);
        let (asked, saved) = match work {
            Work::Fresh { runs } => {
                // The checkpoint of an earlier training must not outlive it: a reload would resume
                // the wrong runs.
                self.host.forget_checkpoint().await;
                (runs, None)
            }
            Work::SavedIfSame { runs } => {
                let saved = self.saved().await.ok().filter(|s| s.holds(&runs));
                (runs, saved)
            }
            Work::Saved => match self.saved().await {
                Ok(saved) => (
                    saved.metas.iter().map(|m| m.config.clone()).collect(),
                    Some(saved),
                ),
                Err(why) => return self.cannot_go_on(why).await,
            },
        };
        if asked.is_empty() {
            return self.refuse("there is no run to train".into());
        }
        let backend = self.host.backend(preference).await;
        let fits = |runs: usize| check_stack(&asked[0], runs, &backend.limits);
        // A saved stack goes on whole, or not at all.
        let (runs, saved) = match saved {
            Some(saved) => match fits(saved.metas.len()) {
                Ok(_) => (saved.metas.len(), Some(saved)),
                Err(e) if strict => return self.cannot_go_on(e.to_string()).await,
                Err(_) => (self.together(&asked, &backend), None),
            },
            None => (self.together(&asked, &backend), None),
        };
        let configs = &asked[..runs];
        let stack = match saved.map(|s| Stack::resume(s, &backend.device)) {
            Some(Ok(stack)) => Ok(stack),
            Some(Err(e)) if strict => return self.cannot_go_on(e.to_string()).await,
            // A damaged saved stack is forgotten; its runs start again.
            Some(Err(_)) => {
                self.host.forget_checkpoint().await;
                Stack::within(configs, &backend.device, &backend.limits)
            }
            None => Stack::within(configs, &backend.device, &backend.limits),
        };
        match stack {
            Ok(stack) => {
                self.host.emit(Event::Training {
                    runs: stack.len(),
                    backend: backend.info.clone(),
                    step: stack.step(),
                });
                Some((stack, backend))
            }
            Err(e) => self.refuse(e.to_string()),
        }
    }

    /// The checkpoint a [`Work::Saved`] asked for cannot be used: it is forgotten (before the page
    /// hears: it replaces its worker at once), and the reason said.
    async fn cannot_go_on<T>(&mut self, why: String) -> Option<T> {
        self.host.forget_checkpoint().await;
        self.refuse(format!("the interrupted run cannot go on: {why}"))
    }

    /// How many of the runs asked for train together: at most the policy's CPU stack on a CPU; on
    /// a GPU all of them, or as many as its memory holds when the policy shrinks to fit (at least
    /// one: a run that does not fit is refused with the estimate as it starts).
    fn together(&self, asked: &[ValidConfig], backend: &Backend) -> usize {
        match backend.info.kind {
            BackendKind::Cpu => asked.len().min(self.policy.cpu_stack.max(1)),
            BackendKind::WebGpu if self.policy.shrink_to_fit => (1..=asked.len())
                .rev()
                .find(|&runs| check_stack(&asked[0], runs, &backend.limits).is_ok())
                .unwrap_or(1),
            BackendKind::WebGpu => asked.len(),
        }
    }

    /// The checkpoint kept for this session's trainer, or why there is none to go on with.
    async fn saved(&mut self) -> Result<Checkpoint, String> {
        match self.host.read_checkpoint().await {
            Ok(Some(bytes)) => Checkpoint::from_bytes(&bytes).map_err(|e| e.to_string()),
            Ok(None) => Err("there is no saved run to resume".into()),
            Err(why) => Err(format!("the saved run could not be read ({why})")),
        }
    }

    /// Says why nothing trains.
    fn refuse<T>(&mut self, message: String) -> Option<T> {
        self.host.emit(Event::Error { message });
        None
    }
}

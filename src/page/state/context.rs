//! Where the page was opened and what the browser gives it there: a secure context or plain http, a
//! frame, storage that works or why not, and a worker of this build or of another. The page finds
//! these at start and as they change, and says each one with what still works; the run never waits
//! on any of them.

use crate::page::storage::StorageProblem;

/// Why a worker's WebGPU is missing on a page opened over plain http: browsers offer WebGPU only to
/// secure contexts (https, localhost), so `navigator.gpu` is absent there even on a good GPU.
pub const NO_WEBGPU_INSECURE: &str = "this page was opened over plain http (not https or localhost), and browsers offer WebGPU only to secure pages";

/// What the page has found of where it runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PageContext {
    /// Opened over plain http from a name that is not localhost: no WebGPU, service worker, Web
    /// Locks, clipboard or `crypto.subtle` (a classroom laptop's LAN address, say).
    pub insecure: bool,
    /// Why the browser's storage cannot be used, while it cannot.
    pub storage: Option<StorageProblem>,
    /// A worker of another build was refused: the build it named (`None`: a worker from before
    /// builds were named).
    pub stale_worker: Option<Option<String>>,
}

/// A change to what the page has found.
#[derive(Clone, Debug, PartialEq)]
pub enum ContextAction {
    /// The page is not a secure context.
    Insecure,
    /// The storage's problem, or `None` once it answers again (an older tab closed, say).
    Storage(Option<StorageProblem>),
    /// A worker said it is of another build than the page (a cache kept its files across a deploy,
    /// or the page is a tab left open across one): the build it named, and which worker it was.
    StaleWorker(Option<String>, super::Worker),
}

/// One thing the page says of where it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextNotice {
    /// The element's id, for tests and for the reader's tools.
    pub id: &'static str,
    /// What it is, what it costs, and what still works.
    pub text: String,
    /// Whether a reload mends it (the notice then offers one).
    pub reload: bool,
}

impl PageContext {
    pub fn reduce(&mut self, change: ContextAction) {
        match change {
            ContextAction::Insecure => self.insecure = true,
            ContextAction::Storage(problem) => self.storage = problem,
            ContextAction::StaleWorker(build, _) => self.stale_worker = Some(build),
        }
    }

    /// What the page says, most pressing first.
    pub fn notices(&self) -> Vec<ContextNotice> {
        let mut notices = Vec::new();
        if let Some(build) = &self.stale_worker {
            let named = match build {
                Some(build) => format!("build {build}"),
                None => "an older build".into(),
            };
            notices.push(ContextNotice {
                id: "stale-worker",
                text: format!(
                    "This page and its training worker come from two builds of the page ({named} for the worker, build {} for the page: the site was updated while this tab was open, or a cache kept an old copy), so the worker was refused and its run did not start. Reload the page to get both from the same build.",
                    crate::protocol::BUILD
                ),
                reload: true,
            });
        }
        if let Some(problem) = &self.storage {
            notices.push(ContextNotice {
                id: "storage-problem",
                text: problem.describe(),
                reload: matches!(problem, StorageProblem::Replaced | StorageProblem::Newer),
            });
        }
        if self.insecure {
            // Saved runs work over plain http, unless storage itself is missing here too (said
            // above): the two notices never contradict each other.
            let works = if self.storage.is_none() {
                "Training on the CPU, share links, saved runs and exports still work here."
            } else {
                "Training on the CPU, share links and exports still work here."
            };
            notices.push(ContextNotice {
                id: "insecure-context",
                text: format!("WebGPU, offline use and resuming a closed tab's run need https or localhost; this page was opened over plain http. {works}"),
                reload: false,
            });
        }
        notices
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_where_everything_works_says_nothing() {
        assert!(PageContext::default().notices().is_empty());
    }

    #[test]
    fn each_finding_is_said_with_what_still_works_and_a_reload_where_it_mends_it() {
        let mut context = PageContext::default();
        context.reduce(ContextAction::Insecure);
        context.reduce(ContextAction::Storage(Some(StorageProblem::Blocked)));
        context.reduce(ContextAction::StaleWorker(
            Some("0123456789abcdef".into()),
            super::super::Worker::Own,
        ));
        let notices = context.notices();
        let ids: Vec<_> = notices.iter().map(|n| n.id).collect();
        assert_eq!(ids, ["stale-worker", "storage-problem", "insecure-context"]);
        assert!(notices[0].reload && notices[0].text.contains("0123456789abcdef"));
        assert!(notices[0].text.contains(crate::protocol::BUILD));
        assert!(!notices[1].reload && notices[1].text.contains("older version"));
        assert!(notices[2].text.contains("plain http") && notices[2].text.contains("still work"));
        // Storage is missing here: the plain-http notice does not promise saved runs.
        assert!(
            !notices[2].text.contains("saved runs"),
            "{}",
            notices[2].text
        );

        // Storage that answers again is no longer said; a newer tab's upgrade asks for a reload.
        context.reduce(ContextAction::Storage(None));
        assert!(context.notices().iter().all(|n| n.id != "storage-problem"));
        let insecure = context.notices().pop().unwrap();
        assert!(insecure.text.contains("saved runs"), "{}", insecure.text);
        context.reduce(ContextAction::Storage(Some(StorageProblem::Replaced)));
        let replaced = context.notices();
        let replaced = replaced.iter().find(|n| n.id == "storage-problem").unwrap();
        assert!(replaced.reload && replaced.text.contains("newer version"));
    }

    #[test]
    fn a_worker_from_before_named_builds_is_called_older() {
        let mut context = PageContext::default();
        context.reduce(ContextAction::StaleWorker(None, super::super::Worker::Own));
        assert!(context.notices()[0].text.contains("an older build"));
    }
}

//! GPU kernel launches, counted as they are issued: cubecl's launch observer (the runtime under
//! burn's wgpu and WebGPU backends) is called on the thread that launches each kernel, fused or
//! not, before it is submitted. A CPU backend launches none.

use cubecl_runtime::logging::{LaunchObservation, LaunchObserver};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
struct Count(AtomicU64);

impl LaunchObserver for Count {
    fn launched(&self, _kernel: &'static str) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts every kernel the process launches while it lives. The observer is process-wide: a
/// counter started while another is alive replaces it, and dropping the newer one puts the older
/// one back, so two must be dropped in reverse order (dropping the older first silences the newer).
/// Keep one where one thread trains (the page's worker keeps one for as long as it uses WebGPU).
pub struct LaunchCounter {
    count: Arc<Count>,
    _observation: LaunchObservation,
}

impl LaunchCounter {
    /// Starts counting at 0.
    pub fn start() -> Self {
        let count = Arc::new(Count::default());
        let observation = LaunchObservation::new(count.clone());
        Self {
            count,
            _observation: observation,
        }
    }

    /// Kernels launched since [`Self::start`].
    pub fn launched(&self) -> u64 {
        self.count.0.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for LaunchCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaunchCounter")
            .field("launched", &self.launched())
            .finish()
    }
}

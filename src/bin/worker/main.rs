//! The training worker: owns all compute, speaks the typed protocol of
//! `instruction_diversity::protocol`, trains in chunks and checks its inbox between them.

// The page's IndexedDB code; the worker uses its checkpoint part.
#[cfg(target_arch = "wasm32")]
#[path = "../app/store.rs"]
#[allow(dead_code)]
mod store;
#[cfg(target_arch = "wasm32")]
mod worker;

#[cfg(target_arch = "wasm32")]
fn main() {
    worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the training worker runs in a browser; natively, use the `idp` command");
}

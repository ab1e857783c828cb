//! All integration tests build into this one binary (ripgrep's layout): one link step, not one per file.

#![cfg(not(target_arch = "wasm32"))]

mod integration;

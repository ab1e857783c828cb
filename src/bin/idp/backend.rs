//! Choosing the compute backend natively: the CPU (burn's flex backend) or wgpu on a GPU adapter.

use burn::prelude::Device;
use instruction_diversity::engine::memory::MemoryLimits;
use std::sync::OnceLock;

/// The `--backend` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// A GPU through wgpu when one exists, else the CPU.
    Auto,
    /// burn's pure-Rust CPU backend.
    Cpu,
    /// wgpu (Vulkan, Metal or DX12); fails when no adapter exists.
    Wgpu,
}

/// A ready device and what it is, in words.
pub struct Selected {
    pub device: Device,
    pub description: String,
    /// What a run on it may take.
    pub limits: MemoryLimits,
}

/// This machine's memory, the limit of a run on the CPU.
fn machine_memory() -> Option<(u64, String)> {
    let mut system = sysinfo::System::new().ok()?;
    system.refresh_memory();
    let bytes = system.total_memory();
    (bytes > 0).then(|| (bytes, "this machine's memory".to_string()))
}

/// The wgpu device and adapter description, or why there is none. wgpu initialises once per
/// process, so the outcome is kept.
fn wgpu_device() -> &'static Result<(Device, String, bool, u64), String> {
    static WGPU: OnceLock<Result<(Device, String, bool, u64), String>> = OnceLock::new();
    WGPU.get_or_init(|| {
        // Some drivers panic instead of returning an error: treat that as "no adapter" too.
        let attempt = std::panic::catch_unwind(|| Device::wgpu_options().init_with_setup());
        match attempt {
            Ok(Ok((device, setup))) => {
                let info = setup.adapter.get_info();
                let emulated = info.device_type == burn::tensor::wgpu::wgpu::DeviceType::Cpu;
                let limits = setup.adapter.limits();
                let buffer = limits
                    .max_buffer_size
                    .min(limits.max_storage_buffer_binding_size);
                Ok((
                    device,
                    format!("wgpu: {} ({:?})", info.name, info.backend),
                    emulated,
                    buffer,
                ))
            }
            Ok(Err(e)) => Err(format!("no wgpu adapter: {e}")),
            Err(_) => Err("no wgpu adapter: the driver panicked during initialisation".into()),
        }
    })
}

fn cpu(reason: Option<&str>) -> Selected {
    let description = match reason {
        Some(why) => format!("CPU (flex), because {why}"),
        None => "CPU (flex)".to_string(),
    };
    Selected {
        device: Device::flex(),
        description,
        limits: MemoryLimits {
            total: machine_memory(),
            buffer: None,
        },
    }
}

fn gpu(device: &Device, description: &str, buffer: u64) -> Selected {
    Selected {
        device: device.clone(),
        description: description.to_string(),
        limits: MemoryLimits {
            total: machine_memory(),
            buffer: Some((buffer, "the GPU adapter's largest buffer".into())),
        },
    }
}

impl BackendChoice {
    /// Initialises the chosen backend and says which one runs.
    pub fn device(self) -> Result<Selected, String> {
        let selected = match self {
            BackendChoice::Cpu => cpu(None),
            BackendChoice::Wgpu => match wgpu_device() {
                Ok((device, description, _, buffer)) => gpu(device, description, *buffer),
                Err(why) => return Err(format!("--backend wgpu: {why}")),
            },
            BackendChoice::Auto => match wgpu_device() {
                Ok((_, description, true, _)) => cpu(Some(&format!(
                    "the only wgpu adapter is a CPU emulator ({description})"
                ))),
                Ok((device, description, false, buffer)) => gpu(device, description, *buffer),
                Err(why) => cpu(Some(why)),
            },
        };
        eprintln!("backend: {}", selected.description);
        Ok(selected)
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Measures this machine's TSC rate, for the testbed's L1 kernel.
//!
//! Under QEMU's TCG, the guest's TSC is the host's TSC. A debug (KASAN) kernel
//! running there often fails its early PIT calibration, and a built-in KVM on a
//! CPU model without `constant_tsc` keeps that early rate for every guest
//! (`kvm_timer_init()` in arch/x86/kvm/x86.c), so L2 timers fire wildly late.
//! L0 therefore measures the rate and hands it to L1 as `tsc_early_khz=`.

use core::arch::x86_64::_rdtsc;
use std::time::{Duration, Instant};

/// One measurement over `window`.
fn sample(window: Duration) -> f64 {
    let t0 = Instant::now();
    // SAFETY: RDTSC has no preconditions on x86-64 user space.
    let c0 = unsafe { _rdtsc() };
    while t0.elapsed() < window {
        std::hint::spin_loop();
    }
    // SAFETY: as above.
    let c1 = unsafe { _rdtsc() };
    let elapsed = t0.elapsed();
    (c1 - c0) as f64 / elapsed.as_secs_f64() / 1000.0
}

/// The TSC rate in kHz: the median of five 100 ms samples.
pub fn khz() -> u64 {
    let mut samples: Vec<f64> = (0..5).map(|_| sample(Duration::from_millis(100))).collect();
    samples.sort_by(f64::total_cmp);
    samples[2].round() as u64
}

// SPDX-License-Identifier: GPL-2.0

//! `covmm-user-print`: a VMRPC server in host user space, built on the
//! `covmm` crate's safe server library.
//!
//! It is the Tsukuba PRINT example moved out of the kernel: the guest passes
//! a string, and the host prints it, here on the server's standard output,
//! prefixed with the VM and vCPU. It also upper-cases a string in place, to
//! show writes into guest memory.
//!
//! Server `USER_PRINT` version 1:
//! - function 0, PRINT: prints the request (at most 4 KiB of text); returns
//!   its length;
//! - function 1, UPCASE: upper-cases the request in guest memory (the guest
//!   must pass it writable); returns its length;
//! - any other function: `ENOSYS`.
//!
//! ```sh
//! covmm-user-print --vm-pid $(pidof qemu-system-x86_64) &
//! # in the guest:
//! covmm-guest call USER_PRINT:1 0 --text "hello from the guest"
//! ```

use std::io::Write;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use clap::Parser;
use covmm::server::{Call, Errno, Server};

/// Largest request served.
const MAX_TEXT: usize = 4096;

/// Serve USER_PRINT to the guests of one VMM process.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Pid of the VMM process (for example QEMU) whose guests may call.
    #[arg(long)]
    vm_pid: i32,
    /// Server threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Wait this long before answering each call, as a slow server would.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
}

fn print(call: &Call<'_>) -> Result<u64, Errno> {
    let text = call.read_arg(MAX_TEXT)?;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(format!("[vcpu {}] ", call.vcpu()).as_bytes());
    let _ = out.write_all(&text);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
    Ok(text.len() as u64)
}

fn upcase(call: &Call<'_>) -> Result<u64, Errno> {
    let mut text = call.read_arg(MAX_TEXT)?;
    text.make_ascii_uppercase();
    call.write(call.arg(), &text)?;
    Ok(text.len() as u64)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let server = match Server::register(args.vm_pid, "USER_PRINT", 1) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("covmm-user-print: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "covmm-user-print: serving USER_PRINT v1 for VMM pid {}",
        args.vm_pid
    );
    let delay = Duration::from_millis(args.delay_ms);
    let failed = thread::scope(|s| {
        let workers: Vec<_> = (0..args.threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    server.serve(|call| {
                        thread::sleep(delay);
                        match call.func() {
                            0 => print(call),
                            1 => upcase(call),
                            _ => Err(Errno::ENOSYS),
                        }
                    })
                })
            })
            .collect();
        workers
            .into_iter()
            .filter_map(|w| w.join().ok()?.err())
            .inspect(|e| eprintln!("covmm-user-print: {e}"))
            .count()
    });
    eprintln!("covmm-user-print: the VM has gone");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

// SPDX-License-Identifier: GPL-2.0

//! CoVMM's serial-port channel between a host and a guest that cannot take
//! CoVMM's kernel modules (Windows, an appliance, an old kernel): the guest
//! runs `covmm-agent` on a serial port, the host runs `covmm com-dd`,
//! `com-get` and `com-run`. No network and no guest account are involved.
//!
//! Layers, bottom up:
//! - [`port`]: the platform layer (termios, Win32, QEMU's chardev socket);
//! - [`frame`]: COBS frames with a CRC-32, which resynchronise at the next
//!   zero byte after line noise;
//! - [`link`]: a reliable, windowed, session-bound message stream;
//! - [`msg`]: the messages (JSON requests and responses, raw bytes);
//! - [`files`]: files in transit, under partial names until checked;
//! - [`agent`] and [`client`]: the guest's service and the host's commands.
//!
//! The protocol is described in Documentation/serial-channel.md.

pub mod agent;
pub mod client;
pub mod files;
pub mod frame;
pub mod link;
pub mod msg;
pub mod port;

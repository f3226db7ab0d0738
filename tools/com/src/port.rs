// SPDX-License-Identifier: GPL-2.0

//! The platform layer: opening the byte streams a link runs on. Everything
//! above it is portable; this file alone knows termios and Win32.
//!
//! - A serial device (the guest's `/dev/ttyS1` or `COM2`, a virtio-serial
//!   port `/dev/vport0p1`, or the host's end of a QEMU pty): put in raw
//!   mode at 115,200 baud, 8N1, no flow control. Devices that are no
//!   terminal (virtio-serial ports) are used as they are.
//! - A unix socket: QEMU's `-chardev socket,server=on` for the port.
//! - With the `libvirt` feature, a libvirt domain's console or channel,
//!   through `virDomainOpenConsole` / `virDomainOpenChannel` (the API the
//!   papers' virsh commands used), bridged to a socket pair.
//!
//! It also catches Ctrl-C for the host's commands ([`catch_interrupts`]).

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::link::Line;

impl Line for File {
    fn try_clone_line(&self) -> io::Result<Box<dyn Line>> {
        Ok(Box::new(self.try_clone()?))
    }

    fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        sys::wait_readable(self, timeout)
    }

    /// A Linux virtio-serial port reads end-of-file while no host is
    /// connected, and poll() says so at once, so neither can wait for one;
    /// but a write blocks until one connects (virtio_console's
    /// wait_port_writable()). The byte written is a lone frame delimiter,
    /// which the host's splitter skips. A terminal (16550) or a Windows
    /// COM port reads nothing only when its read timeout passes: nothing
    /// to wait for.
    fn wait_for_peer(&self) -> io::Result<()> {
        use std::io::{IsTerminal, Write};
        if cfg!(windows) || self.is_terminal() {
            return Ok(());
        }
        let mut port = self;
        port.write_all(&[crate::frame::DELIMITER])
    }

    fn kick(&self) {
        if std::io::IsTerminal::is_terminal(self) {
            // Best effort: a line that cannot be kicked is no worse off.
            let _ = sys::restart_output(self);
        }
    }
}

#[cfg(unix)]
impl Line for std::os::unix::net::UnixStream {
    fn try_clone_line(&self) -> io::Result<Box<dyn Line>> {
        Ok(Box::new(self.try_clone()?))
    }

    fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        sys::wait_readable(self, timeout)
    }
}

/// Connects to QEMU's socket for a serial or virtio-serial port.
#[cfg(unix)]
pub fn open_socket(path: &Path) -> io::Result<Box<dyn Line>> {
    Ok(Box::new(std::os::unix::net::UnixStream::connect(path)?))
}

/// Opens a serial device for reading and writing, in raw mode. With
/// `exclusive`, another process holding it the same way makes this fail
/// with `WouldBlock`: a line carries one command at a time.
pub fn open_device(path: &Path, exclusive: bool) -> io::Result<Box<dyn Line>> {
    // COM10 and above open only by their device path.
    #[cfg(windows)]
    let path = &match path.to_str() {
        Some(n) if n.starts_with("COM") && n[3..].bytes().all(|b| b.is_ascii_digit()) => {
            std::path::PathBuf::from(format!(r"\\.\{n}"))
        }
        _ => path.to_path_buf(),
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    if exclusive {
        sys::lock(&file)?;
    }
    sys::make_raw(&file)?;
    Ok(Box::new(file))
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// From now on SIGINT and SIGTERM (Ctrl-C, Ctrl-Break) only set the flag
/// [`interrupted`] reads, so that a command can end its session cleanly:
/// stop a transfer where it can resume, or cancel the guest's program.
pub fn catch_interrupts() {
    sys::catch_interrupts();
}

/// Whether the user asked to stop since [`catch_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// The console (`serial1`, `console1`: an alias of a serial or console
/// device) or the named channel (`org.covmm.com.0`: a virtio-serial port)
/// of libvirt domain `domain`, as a line. `uri` picks the libvirt
/// connection, as `virsh -c` does.
#[cfg(all(unix, feature = "libvirt"))]
pub fn open_libvirt(
    uri: Option<&str>,
    domain: &str,
    device: LibvirtDevice<'_>,
) -> io::Result<Box<dyn Line>> {
    libvirt::open(uri, domain, device)
}

/// Which of a libvirt domain's character devices to open.
#[derive(Clone, Copy, Debug)]
pub enum LibvirtDevice<'a> {
    /// A serial or console device by alias; `None`: the first console.
    Console(Option<&'a str>),
    /// A channel by its target name.
    Channel(&'a str),
}

#[cfg(all(unix, feature = "libvirt"))]
mod libvirt {
    use std::io::{self, Read, Write};
    use std::net::Shutdown;
    use std::os::unix::net::UnixStream;

    use virt::connect::Connect;
    use virt::domain::Domain;
    use virt::stream::Stream;

    use super::LibvirtDevice;
    use crate::link::Line;

    /// virDomainOpenConsole's VIR_DOMAIN_CONSOLE_SAFE: refuse a console
    /// someone else (a `virsh console`, another command) holds.
    const CONSOLE_SAFE: u32 = 1 << 1;

    /// A stream handed to one of the two bridge threads.
    struct Bridged(Stream);

    // SAFETY: libvirt's objects are reference-counted and its API may be
    // called from any thread (virStreamSend and virStreamRecv from two
    // threads at once included: the remote driver passes its socket between
    // waiting threads). The crate withholds Send only for the event callback
    // a Stream may carry, and these streams never register one.
    unsafe impl Send for Bridged {}

    fn other(e: virt::error::Error) -> io::Error {
        io::Error::other(e.to_string())
    }

    pub fn open(
        uri: Option<&str>,
        domain: &str,
        device: LibvirtDevice<'_>,
    ) -> io::Result<Box<dyn Line>> {
        let conn = Connect::open(uri).map_err(other)?;
        let dom = Domain::lookup_by_name(&conn, domain).map_err(other)?;
        let stream = Stream::new(&conn, 0).map_err(other)?;
        match device {
            LibvirtDevice::Console(alias) => dom.open_console(alias, &stream, CONSOLE_SAFE),
            LibvirtDevice::Channel(name) => dom.open_channel(Some(name), &stream, 0),
        }
        .map_err(other)?;
        let (ours, theirs) = UnixStream::pair()?;
        let (rx, mut rx_sock) = (Bridged(stream.clone()), theirs.try_clone()?);
        std::thread::Builder::new()
            .name("libvirt-rx".into())
            .spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = rx.0.recv(&mut buf) {
                    if n == 0 || rx_sock.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                // The guest side ended: the link reads end-of-file.
                let _ = rx_sock.shutdown(Shutdown::Both);
            })?;
        let (tx, mut tx_sock, keep) = (Bridged(stream), theirs, (conn, dom));
        std::thread::Builder::new()
            .name("libvirt-tx".into())
            .spawn(move || {
                let _keep = keep;
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = tx_sock.read(&mut buf) {
                    if n == 0 || send_all(&tx.0, &buf[..n]).is_err() {
                        break;
                    }
                }
                // The link is gone: end the console session, which also ends
                // the receiving thread's wait.
                let _ = tx.0.abort();
            })?;
        Ok(Box::new(ours))
    }

    fn send_all(stream: &Stream, mut bytes: &[u8]) -> Result<(), virt::error::Error> {
        while !bytes.is_empty() {
            let n = stream.send(bytes)?;
            bytes = &bytes[n..];
        }
        Ok(())
    }
}

#[cfg(unix)]
mod sys {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    /// Raw mode, 115,200 baud, 8N1, no flow control; a device that is no
    /// terminal is left as it is.
    ///
    /// Linux: through the kernel's own termios2 ioctls, which set any baud
    /// rate and need no C library speed functions (the libc crate binds
    /// those to versioned symbols that a static glibc lacks, and the
    /// testbed's guests run static binaries).
    #[cfg(target_os = "linux")]
    pub fn make_raw(file: &File) -> io::Result<()> {
        let fd = file.as_raw_fd();
        // SAFETY: termios2 is plain data; all-zero is a valid value that
        // TCGETS2 overwrites.
        let mut t: libc::termios2 = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is open for the life of `file`; TCGETS2 writes one
        // termios2 to the pointer, which points to one.
        if unsafe { libc::ioctl(fd, libc::TCGETS2, &mut t) } != 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOTTY) | Some(libc::EINVAL) => Ok(()),
                _ => Err(e),
            };
        }
        // What cfmakeraw() does, then the line settings.
        t.c_iflag &= !(libc::IGNBRK
            | libc::BRKINT
            | libc::PARMRK
            | libc::ISTRIP
            | libc::INLCR
            | libc::IGNCR
            | libc::ICRNL
            | libc::IXON
            | libc::IXOFF
            | libc::IXANY);
        t.c_oflag &= !libc::OPOST;
        t.c_lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::ISIG | libc::IEXTEN);
        t.c_cflag &= !(libc::CSIZE | libc::PARENB | libc::CSTOPB | libc::CRTSCTS | libc::CBAUD);
        t.c_cflag |= libc::CS8 | libc::CLOCAL | libc::CREAD | libc::BOTHER;
        t.c_ispeed = 115_200;
        t.c_ospeed = 115_200;
        t.c_cc[libc::VMIN] = 1;
        t.c_cc[libc::VTIME] = 0;
        // SAFETY: `fd` is open; TCSETS2 reads one termios2 from the pointer.
        if unsafe { libc::ioctl(fd, libc::TCSETS2, &t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Raw mode, 115,200 baud, 8N1, no flow control; a device that is no
    /// terminal is left as it is.
    #[cfg(not(target_os = "linux"))]
    pub fn make_raw(file: &File) -> io::Result<()> {
        let fd = file.as_raw_fd();
        // SAFETY: termios is plain data; all-zero is a valid value that
        // tcgetattr overwrites.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is open for the life of `file`; `t` is writable.
        if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOTTY) | Some(libc::EINVAL) => Ok(()),
                _ => Err(e),
            };
        }
        // SAFETY: `t` is a valid termios from tcgetattr.
        unsafe {
            libc::cfmakeraw(&mut t);
            libc::cfsetspeed(&mut t, libc::B115200);
        }
        t.c_cflag |= libc::CLOCAL | libc::CREAD;
        t.c_cflag &= !(libc::CRTSCTS | libc::CSTOPB | libc::PARENB);
        t.c_iflag &= !(libc::IXON | libc::IXOFF | libc::IXANY);
        t.c_cc[libc::VMIN] = 1;
        t.c_cc[libc::VTIME] = 0;
        // SAFETY: `fd` is open; `t` is a valid termios.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits for `fd` to become readable (or hung up) for at most
    /// `timeout`.
    /// Suspends a terminal's output and resumes it (tcflow(TCOOFF), then
    /// TCOON). Linux's 8250 driver then turns its transmit interrupt off
    /// and on again, and a 16550 whose transmitter is empty raises that
    /// interrupt anew: a UART whose interrupt was lost moves again (the
    /// handler also drains waiting received bytes). With nothing to send,
    /// it changes nothing.
    pub fn restart_output(file: &File) -> io::Result<()> {
        let fd = file.as_raw_fd();
        for action in [libc::TCOOFF, libc::TCOON] {
            // TCXONC is what tcflow() does (see make_raw on glibc's
            // termios functions and static binaries).
            // SAFETY: TCXONC takes its argument by value; `fd` is open for
            // the life of `file`.
            #[cfg(target_os = "linux")]
            let r = unsafe { libc::ioctl(fd, libc::TCXONC, action) };
            // SAFETY: as above; tcflow() touches no memory of ours.
            #[cfg(not(target_os = "linux"))]
            let r = unsafe { libc::tcflow(fd, action) };
            if r != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    pub fn wait_readable(fd: &impl AsRawFd, timeout: std::time::Duration) -> io::Result<bool> {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `p` is one valid pollfd, and the count says one.
        match unsafe { libc::poll(&mut p, 1, ms) } {
            n if n < 0 => Err(io::Error::last_os_error()),
            0 => Ok(false),
            _ => Ok(true),
        }
    }

    /// An exclusive advisory lock on an open device, without waiting.
    pub fn lock(file: &File) -> io::Result<()> {
        // SAFETY: flock() on an open descriptor has no memory effects.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    extern "C" fn on_interrupt(_: libc::c_int) {
        super::INTERRUPTED.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn catch_interrupts() {
        let handler = on_interrupt as extern "C" fn(libc::c_int);
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: the handler only stores to an atomic, which is
            // async-signal-safe.
            unsafe { libc::signal(sig, handler as libc::sighandler_t) };
        }
    }

    /// Bytes free to an unprivileged writer on the filesystem holding `dir`.
    pub fn free_space(dir: &std::path::Path) -> io::Result<u64> {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: statvfs is plain data; all-zero is valid and overwritten.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a NUL-terminated path; `s` is writable.
        if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // fsblkcnt_t and c_ulong are u32 on some targets.
        #[allow(clippy::useless_conversion)]
        Ok(u64::from(s.f_bavail).saturating_mul(u64::from(s.f_frsize)))
    }
}

#[cfg(windows)]
mod sys {
    use std::fs::File;
    use std::io;
    use std::os::windows::ffi::OsStrExt;
    use std::os::windows::io::AsRawHandle;

    use windows_sys::Win32::Devices::Communication::{
        GetCommState, SetCommState, SetCommTimeouts, COMMTIMEOUTS, DCB, NOPARITY, ONESTOPBIT,
    };
    use windows_sys::Win32::Storage::FileSystem::GetDiskFreeSpaceExW;

    /// Another process holding the port already makes opening it fail
    /// (COM ports are opened exclusively).
    pub fn lock(_file: &File) -> io::Result<()> {
        Ok(())
    }

    /// The agent, the only side on Windows, has nothing to stop cleanly.
    pub fn catch_interrupts() {}

    /// A COM port's reads return by themselves (see [`make_raw`]), so
    /// there is nothing to wait for here.
    pub fn wait_readable(_file: &File, _timeout: std::time::Duration) -> io::Result<bool> {
        Ok(true)
    }

    /// Windows' serial driver keeps its UART moving itself.
    pub fn restart_output(_file: &File) -> io::Result<()> {
        Ok(())
    }

    /// 115,200 baud, 8N1, no flow control, and reads that return what has
    /// arrived instead of waiting to fill the buffer, or nothing after
    /// 100 ms, so that the reading thread sees a link that ended.
    pub fn make_raw(file: &File) -> io::Result<()> {
        let h = file.as_raw_handle();
        // SAFETY: DCB is plain data; GetCommState fills it.
        let mut dcb: DCB = unsafe { std::mem::zeroed() };
        dcb.DCBlength = std::mem::size_of::<DCB>() as u32;
        // SAFETY: `h` is an open handle for the life of `file`.
        if unsafe { GetCommState(h, &mut dcb) } == 0 {
            // Not a COM port: nothing to set.
            return Ok(());
        }
        dcb.BaudRate = 115_200;
        dcb.ByteSize = 8;
        dcb.Parity = NOPARITY;
        dcb.StopBits = ONESTOPBIT;
        // fBinary only: no parity check, no CTS/DSR/XON flow control.
        dcb._bitfield = 1;
        // SAFETY: as above; `dcb` is valid.
        if unsafe { SetCommState(h, &dcb) } == 0 {
            return Err(io::Error::last_os_error());
        }
        // Return at once with what is there, or wait up to 100 ms for the
        // first byte (the documented MAXDWORD, MAXDWORD, constant form).
        let t = COMMTIMEOUTS {
            ReadIntervalTimeout: u32::MAX,
            ReadTotalTimeoutMultiplier: u32::MAX,
            ReadTotalTimeoutConstant: 100,
            WriteTotalTimeoutMultiplier: 0,
            WriteTotalTimeoutConstant: 0,
        };
        // SAFETY: as above.
        if unsafe { SetCommTimeouts(h, &t) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn free_space(dir: &std::path::Path) -> io::Result<u64> {
        let wide: Vec<u16> = dir.as_os_str().encode_wide().chain(Some(0)).collect();
        let mut free = 0u64;
        // SAFETY: `wide` is NUL-terminated; `free` is writable; the other
        // outputs may be null.
        if unsafe {
            GetDiskFreeSpaceExW(
                wide.as_ptr(),
                &mut free,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        } == 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(free)
    }
}

pub use sys::free_space;

// SPDX-License-Identifier: GPL-2.0

//! The platform layer: opening the byte streams a link runs on. Everything
//! above it is portable; this file alone knows termios and Win32.
//!
//! - A serial device (the guest's `/dev/ttyS1` or `COM2`, a virtio-serial
//!   port `/dev/vport0p1`, or the host's end of a QEMU pty): put in raw
//!   mode at 115,200 baud, 8N1, no flow control. Devices that are no
//!   terminal (virtio-serial ports) are used as they are.
//! - A unix socket: QEMU's `-chardev socket,server=on` for the port.

use std::fs::File;
use std::io;
use std::path::Path;
use std::time::Duration;

use crate::link::Line;

impl Line for File {
    fn try_clone_line(&self) -> io::Result<Box<dyn Line>> {
        Ok(Box::new(self.try_clone()?))
    }

    fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        sys::wait_readable(self, timeout)
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

/// Opens a serial device for reading and writing, in raw mode.
pub fn open_device(path: &Path) -> io::Result<Box<dyn Line>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    sys::make_raw(&file)?;
    Ok(Box::new(file))
}

#[cfg(unix)]
mod sys {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    /// Raw mode, 115,200 baud, 8N1, no flow control; a device that is no
    /// terminal is left as it is.
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

    /// A COM port's reads return by themselves (see [`make_raw`]), so
    /// there is nothing to wait for here.
    pub fn wait_readable(_file: &File, _timeout: std::time::Duration) -> io::Result<bool> {
        Ok(true)
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

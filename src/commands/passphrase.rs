//! The passphrase of an encrypted key, asked on the terminal (not stdin,
//! which may be a pipe) with echo off, as ssh and openssl ask.

use std::io::{self, BufRead as _, Write as _};
use std::path::Path;

use zeroize::Zeroizing;

/// Asks for the passphrase of the key at `path` on the controlling terminal.
#[cfg(unix)]
pub(super) fn ask(path: &Path) -> io::Result<Zeroizing<String>> {
    use std::os::fd::AsRawFd as _;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data, filled by tcgetattr on an open fd.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    (&tty).write_all(format!("Enter the passphrase of {}: ", path.display()).as_bytes())?;
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut line = Zeroizing::new(String::new());
    let read = io::BufReader::new(&tty).read_line(&mut line);
    // Echo comes back whatever the read did.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    read?;
    Ok(Zeroizing::new(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

/// Asks for the passphrase on the console. Windows' console offers no echo
/// switch without its own API, so the passphrase shows as typed: said first.
#[cfg(not(unix))]
pub(super) fn ask(path: &Path) -> io::Result<Zeroizing<String>> {
    eprint!(
        "Enter the passphrase of {} (it shows as you type): ",
        path.display()
    );
    io::stderr().flush()?;
    let mut line = Zeroizing::new(String::new());
    io::stdin().lock().read_line(&mut line)?;
    Ok(Zeroizing::new(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

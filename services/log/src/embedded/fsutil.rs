//! Small filesystem helpers for making creates and renames durable.

use crate::LogError;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Syncs a directory so that entries created or renamed in it survive a
/// power loss (fsync of the file alone does not persist its name).
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Windows cannot open directories as files; its metadata journaling makes
/// the rename durable instead.
#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Takes an exclusive lock on `<dir>/.lock` for as long as the returned file
/// is open: a second writer on the same directory (another `closeloop
/// serve`, or a second open in this process) would interleave appends and
/// corrupt segments, so it is refused. The kernel drops the lock when the
/// process dies, so a crash never leaves the directory locked.
#[cfg(unix)]
pub(crate) fn lock_dir(dir: &Path) -> Result<File, LogError> {
    use std::os::unix::io::AsRawFd;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(".lock"))?;
    // SAFETY: flock only reads the descriptor, which `file` keeps open for
    // the duration of the call.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if locked != 0 {
        let error = io::Error::last_os_error();
        if error.kind() == io::ErrorKind::WouldBlock {
            return Err(LogError::Unavailable(format!(
                "log directory {} is in use by another writer",
                dir.display()
            )));
        }
        return Err(error.into());
    }
    Ok(file)
}

#[cfg(not(unix))]
pub(crate) fn lock_dir(dir: &Path) -> Result<File, LogError> {
    Ok(OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(".lock"))?)
}

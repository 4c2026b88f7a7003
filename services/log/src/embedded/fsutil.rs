//! Small filesystem helpers for making creates and renames durable.

use std::fs::File;
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

//! GitHub's contract and a fake that keeps to it (see each module).

pub mod contract;
pub mod fake;

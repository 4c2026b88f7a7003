//! GitLab's contract and a fake that keeps to it (see each module).

#![allow(dead_code)]

pub mod contract;
pub mod fake;

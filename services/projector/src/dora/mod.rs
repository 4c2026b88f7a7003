//! DORA's four keys from closeloop's own log: deploys reported by CI/CD
//! and incidents that closeloop attributed to them.
//!
//! The definitions follow DORA's published ones ("DORA's software delivery
//! metrics", dora.dev), computed over a window `(now - window, now]` for
//! one service in one environment:
//!
//! - **Deployment frequency**: successful deploys per day over the window
//!   (a deploy that reported `succeeded`, even if later rolled back, did
//!   reach the environment).
//! - **Lead time for changes**: for each commit, from `authored_at` to the
//!   first successful deploy that shipped it; the median over commits
//!   first deployed in the window.
//! - **Change failure rate**: deploys in the window that failed (`failed`
//!   or `rolled_back` reported) or were followed by an attributed incident,
//!   divided by the deploys in the window.
//! - **Time to restore**: from the incident's issue being filed to the
//!   alert's resolution; the median over incidents filed in the window and
//!   restored by `now`.
//!
//! Where closeloop differs from DORA:
//!
//! - An *incident* is an issue closeloop filed for an alert attributed to
//!   a suspect deploy (`IssueFiled` with `suspect_deploys`), not a failure
//!   people reported or declared; failures no rule detects, or whose alert
//!   has no suspect deploy, are not counted. One alert attributed to one
//!   deploy is one incident however many trackers got an issue for it, and
//!   a recurrence of the same alert is the same incident.
//! - A *deploy* is one version of a service in one environment: its
//!   reports (started, succeeded, rolled_back, ...) collapse into one, and
//!   a version only ever reported `started` is not a deploy. DORA counts
//!   deploys "to production"; closeloop reports every environment
//!   separately and leaves the choice of which is production to the reader.
//! - A deploy that reported `failed` counts as a deployment and as a
//!   failure (DORA counts only changes that reached users), but not towards
//!   deployment frequency.
//! - *Restored* is when the alert resolved (`AlertResolved`), not when the
//!   issue was closed: `IssueClosed` exists only for receivers whose
//!   `on_resolved` is `close`, a person closing the issue is not in the log,
//!   and DORA measures restoring service, not tidying the backlog. The
//!   restoration is the alert's first resolution at or after the issue was
//!   filed; an issue filed only after its alert had already resolved (an
//!   actuator catching up) waits for the next resolution.
//! - Lead time starts at the commit's authored time as CI reports it (DORA
//!   says "committed"); a negative lead time (clock skew) counts as zero,
//!   and commits without `authored_at` are left out.
//! - Medians, not means, for lead time and time to restore (DORA's survey
//!   asks for typical values; a median is not moved by one outlier).

mod changes;
mod figures;
mod gauges;

pub use changes::{changes, DoraChange};
pub use figures::{
    dora_figures, window_start, DoraCommit, DoraDeploy, DoraFigures, DoraIncident, DoraInputs,
    DoraQuery,
};
pub use gauges::{refresh_gauges, MAX_TARGETS, METRICS_WINDOW};

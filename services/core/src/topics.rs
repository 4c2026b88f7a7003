//! The streams of the event log (Kafka topics) and which events go where.

/// One stream of the log. Names are `<prefix>.<stream>`; the default
/// prefix is `closeloop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Samples,
    /// Pushgateway-style pushes: kept from the start, unlike samples,
    /// because a pushed group stays current until replaced or deleted.
    PushGroups,
    Deploys,
    Alerts,
    Actions,
    Outcomes,
    /// Silences: read from the start, like push groups.
    Silences,
}

pub const DEFAULT_PREFIX: &str = "closeloop";

impl Topic {
    pub const ALL: [Topic; 7] = [
        Topic::Samples,
        Topic::PushGroups,
        Topic::Deploys,
        Topic::Alerts,
        Topic::Actions,
        Topic::Outcomes,
        Topic::Silences,
    ];

    pub fn stream(self) -> &'static str {
        match self {
            Topic::Samples => "samples",
            Topic::PushGroups => "pushgroups",
            Topic::Deploys => "deploys",
            Topic::Alerts => "alerts",
            Topic::Actions => "actions",
            Topic::Outcomes => "outcomes",
            Topic::Silences => "silences",
        }
    }

    pub fn name(self, prefix: &str) -> String {
        format!("{prefix}.{}", self.stream())
    }
}

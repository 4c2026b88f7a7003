-- DORA's four keys (issue 10): what the projector needs to compute them
-- per service and environment over any window. Every upsert is
-- commutative (earliest time wins, flags only turn on), since deploys,
-- alerts and outcomes are separate topics applied in no order between
-- them.

-- One row per version of a service in an environment: its reports
-- (succeeded, failed, rolled_back; started is not a deploy) collapsed.
CREATE TABLE dora_deploys (
    service     text NOT NULL,
    environment text NOT NULL,
    version     text NOT NULL,
    -- The first finished report.
    deployed_at timestamptz NOT NULL,
    -- Once a report said succeeded: it reached the environment.
    succeeded   boolean NOT NULL DEFAULT false,
    -- Once a report said failed or rolled_back.
    failed      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (service, environment, version)
);
CREATE INDEX dora_deploys_by_time ON dora_deploys (service, environment, deployed_at);

-- Each commit with the first successful deploy that shipped it.
CREATE TABLE dora_commits (
    service           text NOT NULL,
    environment       text NOT NULL,
    sha               text NOT NULL,
    authored_at       timestamptz NOT NULL,
    first_deployed_at timestamptz NOT NULL,
    PRIMARY KEY (service, environment, sha)
);
CREATE INDEX dora_commits_by_time ON dora_commits (service, environment, first_deployed_at);

-- One incident per alert and suspect deploy, however many trackers got
-- an issue for it: the first IssueFiled that named the deploy.
CREATE TABLE dora_incidents (
    fingerprint text NOT NULL,
    service     text NOT NULL,
    environment text NOT NULL,
    version     text NOT NULL,
    filed_at    timestamptz NOT NULL,
    PRIMARY KEY (fingerprint, service, environment, version)
);
CREATE INDEX dora_incidents_by_time ON dora_incidents (service, environment, filed_at);

-- Every resolution of an alert that had fired; an incident is restored at
-- its alert's first resolution at or after it was filed.
CREATE TABLE dora_restorations (
    fingerprint text NOT NULL,
    restored_at timestamptz NOT NULL,
    PRIMARY KEY (fingerprint, restored_at)
);

-- Runs once, when the postgres service creates its database: a read-only
-- role for Grafana's datasource. closeloop creates the read-model tables
-- later (its migrations, as the closeloop role), so SELECT is granted on
-- tables that role creates from now on.
CREATE ROLE grafana LOGIN PASSWORD 'grafana';
GRANT CONNECT ON DATABASE closeloop TO grafana;
GRANT USAGE ON SCHEMA public TO grafana;
ALTER DEFAULT PRIVILEGES FOR ROLE closeloop IN SCHEMA public
    GRANT SELECT ON TABLES TO grafana;

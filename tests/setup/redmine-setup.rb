# Prepares a Debian Redmine 5 instance for closeloop's integration tests.
# Run with `bin/rails runner` from /usr/share/redmine (tests/setup/redmine.sh
# does that). Idempotent: running it twice changes nothing the second time.
# Prints exactly one line to stdout: the admin user's REST API key.

# REST is off in a fresh install; the actuator talks only REST.
Setting.rest_api_enabled = '1' unless Setting.rest_api_enabled?

admin = User.find_by(login: 'admin') or abort('redmine-setup: no admin user in this database')
# A fresh install forces a password change at first login, which would
# block the admin's API key as well.
if admin.must_change_passwd?
  admin.must_change_passwd = false
  admin.save!(validate: false)
end

# The default statuses/trackers/priorities come from "load_default_data";
# the Debian postinst loads them, but a hand-made database may not have them.
if IssueStatus.count.zero? || Tracker.count.zero?
  Redmine::DefaultData::Loader.load('en')
end

# Token#value is created on first access (api_key generates it).
puts admin.api_key

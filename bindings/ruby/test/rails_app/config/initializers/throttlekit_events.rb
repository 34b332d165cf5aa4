# frozen_string_literal: true

require "json"

# Every ThrottleKit event, one JSON line each, in $TK_EVENTS_FILE (read by the test).
if (events = ENV["TK_EVENTS_FILE"])
  ActiveSupport::Notifications.subscribe(/\.throttlekit\z/) do |name, _start, _finish, _id, payload|
    line = { "name" => name, "policy" => payload[:policy], "key" => payload[:key],
             "allowed" => payload[:decision]&.allowed?, "pid" => Process.pid }
    File.open(events, "a") { |f| f.puts(JSON.generate(line)) }
  end
end

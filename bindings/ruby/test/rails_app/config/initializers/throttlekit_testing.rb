# frozen_string_literal: true

# TK_TEST_HELPER=1: the app's own tests' way, ThrottleKit::Testing's memory door, with other
# policies (limit 1), instead of the Redis of config/throttlekit.yml.
if ENV["TK_TEST_HELPER"] == "1"
  require "throttlekit/testing"
  ThrottleKit::Testing.use_memory!(policies: File.read(File.expand_path("../policies_memory.yaml", __dir__)))
end

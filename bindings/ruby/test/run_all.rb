# frozen_string_literal: true

# Runs every test of the gem: ruby -Ilib -Itest test/run_all.rb (from bindings/ruby).
require "minitest/autorun"
Dir[File.join(__dir__, "test_*.rb")].sort.each { |f| require f unless f.end_with?("test_helper.rb") }

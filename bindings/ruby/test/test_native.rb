# frozen_string_literal: true

require_relative "test_helper"

# The FFI declarations against the header's layout, and the library lookup.
class TestNative < Minitest::Test
  include TKTest::Needs

  def offsets(struct)
    struct.members.to_h { |m| [m, struct.offset_of(m)] }
  end

  def test_struct_layouts_match_the_header
    assert_equal({ struct_size: 0, timeout_ms: 4, fail_mode: 8, local_max_keys: 12, key_namespace: 16,
                   tls_ca_file: 24, tls_cert_file: 32, tls_key_file: 40, auth_token: 48,
                   auto_pipeline: 56, shadow: 60, lease_ttl_ms: 64, lease_heartbeat: 68 },
                 offsets(ThrottleKit::Native::Options))
    assert_equal 72, ThrottleKit::Native::Options.size
    assert_equal({ allowed: 0, flags: 4, limit: 8, remaining: 16, reset_at_ms: 24,
                   retry_after_ms: 32, window_ms: 40, reserved: 48 }, offsets(ThrottleKit::Native::Decision))
    assert_equal 72, ThrottleKit::Native::Decision.size
    assert_equal 24, ThrottleKit::Native::Forecast.size
    assert_equal({ policy: 0, key: 8, cost: 16 }, offsets(ThrottleKit::Native::CheckItem))
    assert_equal 24, ThrottleKit::Native::CheckItem.size
    assert_equal 260, ThrottleKit::Native::Error.size
    assert_equal({ decision: 0, lease_id: 72, lease_expires_at_ms: 112, binding_axis: 120,
                   policy_denied: 136, reserved32: 140, reserved: 144 }, offsets(ThrottleKit::Native::Admission))
    assert_equal 176, ThrottleKit::Native::Admission.size
  end

  def test_options_init_agrees_with_our_size
    buf = FFI::MemoryPointer.new(:char, 1024)
    buf.put_bytes(0, "\xAA".b * 1024)
    ThrottleKit::Native.tk_options_init(buf)
    opts = ThrottleKit::Native::Options.new(buf)
    assert_equal ThrottleKit::Native::Options.size, opts[:struct_size]
    assert_equal "\0".b * (72 - 4), buf.get_bytes(4, 68)
  end

  def test_version_and_strerror
    header = TKTest.repo_path("include/throttlekit.h")
    assert_match(/\A\d+\.\d+\.\d+/, ThrottleKit.library_version)
    if header && File.exist?(header)
      v = %w[MAJOR MINOR PATCH].map { |p| File.read(header)[/TK_VERSION_#{p} (\d+)/, 1] }.join(".")
      assert_equal v, ThrottleKit.library_version
      assert_equal v, ThrottleKit::VERSION
    end
    (-10..0).each { |s| refute_empty ThrottleKit::Native.tk_strerror(s) }
    refute_empty ThrottleKit::Native.tk_strerror(-999)
  end

  def test_every_status_maps_to_its_class
    expect = { -1 => ThrottleKit::InvalidArgument, -2 => ThrottleKit::ClosedError,
               -3 => ThrottleKit::PolicyNotFound, -4 => ThrottleKit::Unsupported,
               -5 => ThrottleKit::Unavailable, -6 => ThrottleKit::Timeout,
               -7 => ThrottleKit::ConfigError, -8 => ThrottleKit::Forked,
               -9 => ThrottleKit::InternalError, -10 => ThrottleKit::AuthError }
    expect.each do |status, klass|
      e = ThrottleKit::Native.error_for(status, nil)
      assert_instance_of klass, e
      assert_kind_of ThrottleKit::Error, e
      assert_equal status, e.status
      refute_empty e.message
    end
    assert_instance_of ThrottleKit::Error, ThrottleKit::Native.error_for(-77, nil)
  end

  def test_library_lookup_error_says_where_it_looked
    _out, err, status = run_ruby('require "throttlekit"', env: { "THROTTLEKIT_LIB" => "/nonexistent/libthrottlekit.so" })
    refute status.success?
    assert_match(/ThrottleKit::LibraryNotFound/, err)
    assert_match(%r{/nonexistent/libthrottlekit.so}, err)
    out, err, status = run_ruby('require "throttlekit"; puts ThrottleKit::Native.library_path',
                                env: { "THROTTLEKIT_LIB" => ENV["THROTTLEKIT_LIB"] })
    assert status.success?, err
    assert_equal ENV["THROTTLEKIT_LIB"], out.strip
  end
end

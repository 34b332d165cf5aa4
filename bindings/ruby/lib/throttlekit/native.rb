# frozen_string_literal: true

require "ffi"
require_relative "errors"

module ThrottleKit
  # The raw C ABI of libthrottlekit (include/throttlekit.h), and nothing else. Every other file
  # of the gem goes through this module; nothing outside it knows a struct offset or a status
  # number.
  #
  # Loading this file dlopens libthrottlekit.so, which starts nothing: the Go core is loaded by
  # the library at the first tk_open_*, which only ThrottleKit::Client calls, lazily.
  module Native
    extend FFI::Library

    # Where the library is looked for, in order: $THROTTLEKIT_LIB (exclusively, when set), the
    # gem's own native/ directory, then the system's search path (ld.so.conf, LD_LIBRARY_PATH).
    GEM_NATIVE_DIR = File.expand_path("../../native", __dir__)
    SYSTEM_NAMES = %w[libthrottlekit.so.0 libthrottlekit.so].freeze

    def self.candidates
      env = ENV["THROTTLEKIT_LIB"]
      return [env] if env && !env.empty?

      SYSTEM_NAMES.map { |n| File.join(GEM_NATIVE_DIR, n) }.select { |p| File.exist?(p) } +
        SYSTEM_NAMES
    end

    def self.load_library
      tried = []
      candidates.each do |path|
        begin
          ffi_lib(path)
          @library_path = path
          return path
        rescue LoadError => e
          tried << "  #{path}: #{e.message.lines.first&.strip}"
        end
      end
      where = ENV["THROTTLEKIT_LIB"].to_s.empty? ? "$THROTTLEKIT_LIB (unset), #{GEM_NATIVE_DIR}, the system path" : "$THROTTLEKIT_LIB"
      raise LibraryNotFound,
            "libthrottlekit could not be loaded; looked in #{where}:\n#{tried.join("\n")}\n" \
            "Install it (Debian: apt install libthrottlekit0; from source: make install), " \
            "or build it with `make lib` and set THROTTLEKIT_LIB=<repo>/build/lib/libthrottlekit.so"
    end

    class << self
      attr_reader :library_path
    end

    load_library

    # tk_status_t
    OK = 0
    E_INVALID = -1
    E_BADHANDLE = -2
    E_NOT_FOUND = -3
    E_UNSUPPORTED = -4
    E_UNAVAILABLE = -5
    E_TIMEOUT = -6
    E_CONFIG = -7
    E_FORKED = -8
    E_INTERNAL = -9
    E_AUTH = -10

    # tk_fail_mode_t
    FAIL_ERROR = 0
    FAIL_OPEN = 1
    FAIL_CLOSED = 2

    # tk_decision_t.flags
    DECISION_SYNTHESIZED = 1
    DECISION_SHADOW = 2
    DECISION_LOCAL = 4
    DECISION_OVERRIDE = 8

    # tk_options_t: the header's field order and types, exactly. struct_size is set from this
    # layout's size (FFI computes it with the platform's alignment rules, as the C compiler).
    class Options < FFI::Struct
      layout :struct_size, :uint32,
             :timeout_ms, :int32,
             :fail_mode, :int32,
             :local_max_keys, :int32,
             :key_namespace, :pointer,
             :tls_ca_file, :pointer,
             :tls_cert_file, :pointer,
             :tls_key_file, :pointer,
             :auth_token, :pointer,
             :auto_pipeline, :int32,
             :shadow, :int32,
             :lease_ttl_ms, :int32,
             :lease_heartbeat, :int32
    end

    # tk_decision_t
    class Decision < FFI::Struct
      layout :allowed, :int32,
             :flags, :int32,
             :limit, :int64,
             :remaining, :int64,
             :reset_at_ms, :int64,
             :retry_after_ms, :int64,
             :window_ms, :int64,
             :reserved, [:int64, 3]
    end

    # tk_forecast_t
    class Forecast < FFI::Struct
      layout :spendable_now, :int64,
             :next_replenish_at_ms, :int64,
             :full_at_ms, :int64
    end

    # tk_check_item_t: one entry of tk_check_all
    class CheckItem < FFI::Struct
      layout :policy, :pointer,
             :key, :pointer,
             :cost, :int64
    end

    # tk_admission_t
    class Admission < FFI::Struct
      layout :decision, Decision,
             :lease_id, [:char, 40],
             :lease_expires_at_ms, :int64,
             :binding_axis, [:char, 16],
             :policy_denied, :int32,
             :reserved32, :int32,
             :reserved, [:int64, 4]
    end

    # tk_error_t
    class Error < FFI::Struct
      layout :status, :int32,
             :message, [:char, 256]
    end

    # Library information: never starts the Go core.
    attach_function :tk_version, [], :string
    attach_function :tk_strerror, [:int], :string
    attach_function :tk_options_init, [:pointer], :void

    # Opening and closing. Open loads the Go core on first use (slow once), free waits for the
    # calls running on the handle: both release the GVL.
    attach_function :tk_open_redis, %i[string string pointer pointer pointer], :int, blocking: true
    attach_function :tk_open_service, %i[string pointer pointer pointer], :int, blocking: true
    attach_function :tk_open_memory, %i[string pointer pointer pointer], :int, blocking: true
    attach_function :tk_free, [:uint64], :int, blocking: true

    # Decisions: network round trips, all attached blocking (the GVL is released meanwhile).
    # Policies and keys are :pointer so that any bytes reach the library (a Ruby String passed
    # as a pointer is its own NUL-terminated buffer, see Client).
    attach_function :tk_check, %i[uint64 pointer pointer int64 pointer pointer], :int, blocking: true
    attach_function :tk_check_many, %i[uint64 pointer pointer size_t int64 pointer pointer], :int,
                    blocking: true
    attach_function :tk_peek, %i[uint64 pointer pointer pointer pointer], :int, blocking: true
    attach_function :tk_forecast, %i[uint64 pointer pointer int64 pointer pointer], :int, blocking: true
    attach_function :tk_debit, %i[uint64 pointer pointer int64 pointer pointer], :int, blocking: true
    # items is a tk_check_item_t array; out n tk_decision_t; all_allowed an int32_t.
    attach_function :tk_check_all, %i[uint64 pointer size_t pointer pointer pointer], :int, blocking: true
    attach_function :tk_refund, %i[uint64 pointer pointer int64 pointer pointer], :int, blocking: true
    attach_function :tk_reset, %i[uint64 pointer pointer pointer], :int, blocking: true
    attach_function :tk_set_override, %i[uint64 pointer pointer pointer int64 pointer], :int, blocking: true
    attach_function :tk_clear_override, %i[uint64 pointer pointer pointer], :int, blocking: true

    attach_function :tk_check_at, %i[uint64 pointer pointer int64 int64 pointer pointer], :int,
                    blocking: true
    attach_function :tk_check_many_at, %i[uint64 pointer pointer size_t int64 int64 pointer pointer],
                    :int, blocking: true
    attach_function :tk_peek_at, %i[uint64 pointer pointer int64 pointer pointer], :int, blocking: true
    attach_function :tk_forecast_at, %i[uint64 pointer pointer int64 int64 pointer pointer], :int,
                    blocking: true
    attach_function :tk_debit_at, %i[uint64 pointer pointer int64 int64 pointer pointer], :int,
                    blocking: true
    attach_function :tk_check_all_at, %i[uint64 pointer size_t int64 pointer pointer pointer], :int,
                    blocking: true

    # Concurrency admission: round trips too, attached blocking.
    attach_function :tk_admit, %i[uint64 pointer pointer int64 pointer pointer], :int, blocking: true
    attach_function :tk_admit_at, %i[uint64 pointer pointer int64 int64 pointer pointer], :int,
                    blocking: true
    attach_function :tk_release, %i[uint64 pointer pointer pointer int pointer], :int, blocking: true
    attach_function :tk_release_at, %i[uint64 pointer pointer pointer int int64 pointer], :int,
                    blocking: true
    attach_function :tk_heartbeat, %i[uint64 pointer pointer pointer size_t pointer pointer pointer],
                    :int, blocking: true
    attach_function :tk_heartbeat_at,
                    %i[uint64 pointer pointer pointer size_t int64 pointer pointer pointer], :int,
                    blocking: true

    STATUS_ERRORS = {
      E_INVALID => ThrottleKit::InvalidArgument,
      E_BADHANDLE => ThrottleKit::ClosedError,
      E_NOT_FOUND => ThrottleKit::PolicyNotFound,
      E_UNSUPPORTED => ThrottleKit::Unsupported,
      E_UNAVAILABLE => ThrottleKit::Unavailable,
      E_TIMEOUT => ThrottleKit::Timeout,
      E_CONFIG => ThrottleKit::ConfigError,
      E_FORKED => ThrottleKit::Forked,
      E_INTERNAL => ThrottleKit::InternalError,
      E_AUTH => ThrottleKit::AuthError
    }.freeze

    # The exception for a failed call: its class from the status, its text the library's
    # message (tk_strerror's when the library left it empty).
    def self.error_for(status, err_struct)
      message = err_struct ? err_struct[:message].to_s : ""
      message = tk_strerror(status).to_s if message.empty?
      message = message.dup.force_encoding(Encoding::UTF_8)
      message = message.scrub unless message.valid_encoding?
      STATUS_ERRORS.fetch(status, ThrottleKit::Error).new(message, status: status)
    end
  end
end

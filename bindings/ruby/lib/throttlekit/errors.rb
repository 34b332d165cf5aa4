# frozen_string_literal: true

module ThrottleKit
  # Every error the gem raises. #status is the library's tk_status_t (nil when the error was
  # raised by the gem itself, e.g. on a closed client).
  class Error < StandardError
    attr_reader :status

    def initialize(message = nil, status: nil)
      super(message)
      @status = status
    end
  end

  class InvalidArgument < Error; end   # TK_E_INVALID: bad input, refused before any I/O
  class PolicyNotFound < Error; end    # TK_E_NOT_FOUND: unknown policy name
  class Unsupported < Error; end       # TK_E_UNSUPPORTED: operation not for this policy/door
  class Unavailable < Error; end       # TK_E_UNAVAILABLE: the backend cannot be reached
  class Timeout < Error; end           # TK_E_TIMEOUT: the per-call timeout passed
  class ConfigError < Error; end       # TK_E_CONFIG: the policies are malformed or invalid
  class AuthError < Error; end         # TK_E_AUTH: credentials or TLS refused
  class Forked < Error; end            # TK_E_FORKED: used in a child of a process that used it
  class ClosedError < Error; end       # the client was closed (or its handle freed)
  class InternalError < Error; end     # TK_E_INTERNAL: a library bug; please report it
  class LibraryNotFound < Error; end   # libthrottlekit could not be loaded
end

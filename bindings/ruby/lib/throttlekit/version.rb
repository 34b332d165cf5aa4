# frozen_string_literal: true

module ThrottleKit
  # The gem's version; it follows the C library's TK_VERSION_* (include/throttlekit.h).
  VERSION = "0.1.0"
end

# frozen_string_literal: true

# Cluster mode: a master that preloads the app, and two forked workers, each opening its own
# ThrottleKit handle on its first request.
workers 2
threads 1, 4
preload_app!
environment "production"
bind "tcp://127.0.0.1:#{ENV.fetch('PORT')}"
pidfile ENV.fetch("TK_PUMA_PIDFILE")

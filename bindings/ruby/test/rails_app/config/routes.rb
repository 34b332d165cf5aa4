# frozen_string_literal: true

Rails.application.routes.draw do
  ok = ->(_env) { [200, { "Content-Type" => "text/plain" }, ["ok #{Process.pid}\n"]] }
  get "/limited/:style", to: ok
  get "/pid", to: ok
  get "/free", to: ok
end

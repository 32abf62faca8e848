-- POST /v3/auth/tokens, password method, project-scoped (user BENCH_USER on
-- project BENCH_PROJECT, both in domain Default): one bcrypt verify per request.
local body = string.format(
  '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"%s",' ..
  '"domain":{"name":"Default"},"password":"%s"}}},"scope":{"project":{"name":"%s",' ..
  '"domain":{"name":"Default"}}}}}',
  os.getenv("BENCH_USER") or "admin", assert(os.getenv("BENCH_PASSWORD")),
  os.getenv("BENCH_PROJECT") or "admin")
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
dofile(assert(os.getenv("REPORT_LUA")))

-- POST /v3/auth/tokens, token method: exchange ADMIN_TOKEN for a new token
-- scoped to project BENCH_PROJECT (no password hashing involved).
wrk.method = "POST"
wrk.body = string.format(
  '{"auth":{"identity":{"methods":["token"],"token":{"id":"%s"}},' ..
  '"scope":{"project":{"name":"%s","domain":{"name":"Default"}}}}}',
  assert(os.getenv("ADMIN_TOKEN")), os.getenv("BENCH_PROJECT") or "admin")
wrk.headers["Content-Type"] = "application/json"
dofile(assert(os.getenv("REPORT_LUA")))

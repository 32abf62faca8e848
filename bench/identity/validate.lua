-- GET /v3/auth/tokens: the admin token (X-Auth-Token) validates the demo
-- user's project token (X-Subject-Token), as every service's auth middleware does.
wrk.method = "GET"
wrk.headers["X-Auth-Token"] = assert(os.getenv("ADMIN_TOKEN"))
wrk.headers["X-Subject-Token"] = assert(os.getenv("SUBJECT_TOKEN"))
dofile(assert(os.getenv("REPORT_LUA")))

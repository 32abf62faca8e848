-- An authenticated GET (the URL path, e.g. /v3/projects) with the admin token.
wrk.method = "GET"
wrk.headers["X-Auth-Token"] = assert(os.getenv("ADMIN_TOKEN"))
dofile(assert(os.getenv("REPORT_LUA")))

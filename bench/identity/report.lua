-- report.lua - shared done() hook: one machine-readable RESULT line per run
-- (latencies in ms), the same fields as ../shared/baselines/report.lua so the
-- two sets of figures compare line by line.
done = function(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT rps=%.2f p50_ms=%.3f p99_ms=%.3f mean_ms=%.3f max_ms=%.3f requests=%d secs=%.2f non2xx3xx=%d sockerr=%d bytes=%d\n",
    summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.mean / 1000, latency.max / 1000, summary.requests, secs,
    e.status, e.connect + e.read + e.write + e.timeout, summary.bytes))
end

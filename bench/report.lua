-- Appended to every wrk script by bench.py: print the summary as one
-- machine-readable line (done() runs once, after the test; it does not
-- slow the request path the way a response() callback would).
done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH_JSON {\"duration_us\":%d,\"requests\":%d,\"bytes\":%d," ..
      "\"connect\":%d,\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d," ..
      "\"lat_mean_us\":%.1f,\"lat_max_us\":%d,\"p50_us\":%d,\"p75_us\":%d," ..
      "\"p90_us\":%d,\"p99_us\":%d}\n",
      summary.duration, summary.requests, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.max, latency:percentile(50),
      latency:percentile(75), latency:percentile(90),
      latency:percentile(99)))
end
